//! What a run's events tell the outside world. [`Telemetry`] is an [`EventSink`]: each event
//! writes its log line (through `tracing`), its metrics and its span data in one place, so the
//! three never disagree about what happened. `trace` turns the events into spans and exports
//! them over OTLP/HTTP from a thread of its own (cargo feature `otlp`).

pub mod trace;

use std::time::Duration;
use weir_engine::{Event, EventKind, EventSink, LogLevel};

/// The targets weir's log lines are filed under, for `--log-level` filters such as
/// `weir::step=debug`.
pub mod target {
    /// A run started, resumed or finished.
    pub const RUN: &str = "weir::run";
    /// A step attempt started, retried, ended or was skipped.
    pub const STEP: &str = "weir::step";
    /// What a step said: a `log` step's message, an expression's `debug` or `stderr`.
    pub const STEP_LOG: &str = "weir::step::log";
    /// An approval was asked for or answered.
    pub const APPROVAL: &str = "weir::approval";
    /// What became of the spans sent to the collector.
    pub const TRACES: &str = "weir::traces";
}

/// The telemetry of the runs of this process.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// The spans of sampled runs, when traces are exported; with none, an event costs no more
    /// than this branch.
    traces: Option<trace::Spans>,
}

impl Telemetry {
    pub fn new() -> Telemetry {
        Telemetry::default()
    }

    /// Exports the spans of runs as `options` say, from a thread of their own. An error says why
    /// they cannot be (this build leaves export out, a header is not valid).
    pub fn with_traces(mut self, options: trace::Options) -> Result<Telemetry, String> {
        self.traces = Some(trace::Spans::start(options)?);
        Ok(self)
    }

    /// Waits, at most `timeout`, until the spans of runs that ended have been sent: what a
    /// process does before it exits.
    pub fn flush(&self, timeout: Duration) {
        if let Some(traces) = &self.traces {
            traces.flush(timeout);
        }
    }
}

impl EventSink for Telemetry {
    fn emit(&self, event: &Event) {
        log(event);
        if let Some(traces) = &self.traces {
            traces.record(event);
        }
    }
}

/// The log line of one event. Steps are named by `step_id` (and `item` inside a `foreach`);
/// a sub-pipeline run names the run that started it as `parent_run_id`.
fn log(event: &Event) {
    use tracing::{debug, error, info, warn};
    let run_id = &*event.run_id;
    let parent_run_id = event.parent.as_ref().map(|p| &*p.run_id);
    let at = event.kind.step();
    let step_id = at.map(|a| a.step.as_str());
    let item = at.and_then(|a| a.item);
    let kind = at.map(|a| a.kind.as_str());
    match &event.kind {
        EventKind::RunStarted { pipeline, digest, trace, .. } => {
            info!(target: target::RUN, run_id, parent_run_id, pipeline, version = digest, trace_id = ?trace.trace_id, span_id = ?trace.span_id, "run started");
        }
        EventKind::RunResumed { pipeline, digest, trace, .. } => {
            info!(target: target::RUN, run_id, parent_run_id, pipeline, version = digest, trace_id = ?trace.trace_id, span_id = ?trace.span_id, "run resumed");
        }
        EventKind::RunFinished { status, error, error_kind, duration, .. } => {
            let status = status.as_str();
            let duration_ms = millis(*duration);
            let error_kind = error_kind.map(|k| k.as_str());
            match error {
                Some(error) => {
                    warn!(target: target::RUN, run_id, parent_run_id, status, duration_ms, error, error_kind, "run finished")
                }
                None => {
                    info!(target: target::RUN, run_id, parent_run_id, status, duration_ms, "run finished")
                }
            }
        }
        EventKind::StepStarted { attempt, span, .. } => {
            debug!(target: target::STEP, run_id, step_id, item, kind, attempt, span_id = ?span, "step started");
        }
        EventKind::StepRetrying { attempt, error, error_kind, delay, .. } => {
            let error_kind = error_kind.as_str();
            let delay_ms = millis(*delay);
            warn!(target: target::STEP, run_id, step_id, item, kind, attempt, error, error_kind, delay_ms, "step will be retried");
        }
        EventKind::StepMocked { .. } => {
            debug!(target: target::STEP, run_id, step_id, item, kind, "step mocked");
        }
        EventKind::StepSucceeded { attempts, duration, .. } => {
            let duration_ms = millis(*duration);
            debug!(target: target::STEP, run_id, step_id, item, kind, attempts, duration_ms, "step succeeded");
        }
        EventKind::StepFailed { attempts, error, error_kind, on_error, duration, .. } => {
            let error_kind = error_kind.as_str();
            let duration_ms = millis(*duration);
            warn!(target: target::STEP, run_id, step_id, item, kind, attempts, error, error_kind, on_error, duration_ms, "step failed");
        }
        EventKind::StepSkipped { reason, .. } => {
            debug!(target: target::STEP, run_id, step_id, item, kind, reason, "step skipped");
        }
        EventKind::StepCancelled { .. } => {
            info!(target: target::STEP, run_id, step_id, item, kind, "step cancelled");
        }
        EventKind::StepLog { level, message, .. } => match level {
            LogLevel::Debug => debug!(target: target::STEP_LOG, run_id, step_id, item, "{message}"),
            LogLevel::Info => info!(target: target::STEP_LOG, run_id, step_id, item, "{message}"),
            LogLevel::Warn => warn!(target: target::STEP_LOG, run_id, step_id, item, "{message}"),
            LogLevel::Error => error!(target: target::STEP_LOG, run_id, step_id, item, "{message}"),
        },
        EventKind::ApprovalRequested { .. } => {
            info!(target: target::APPROVAL, run_id, step_id, item, "approval requested");
        }
        EventKind::ApprovalAnswered { decision, by, timed_out, .. } => {
            let decision = decision.as_str();
            info!(target: target::APPROVAL, run_id, step_id, item, decision, by, timed_out, "approval answered");
        }
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
