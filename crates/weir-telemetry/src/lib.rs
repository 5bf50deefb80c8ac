//! What a run's events tell the outside world. [`Telemetry`] is an [`EventSink`]: each event
//! writes its log line (through `tracing`), its metrics and its span data in one place, so the
//! three never disagree about what happened. `log` sets up where log lines go, `metrics` is the
//! registry and its store timing, `exposition` serves it to Prometheus, and `statsd` sends the
//! same measurements over UDP. `trace` turns the events into spans and exports them over
//! OTLP/HTTP from a thread of its own (cargo feature `otlp`).

pub mod exposition;
pub mod log;
pub mod metrics;
pub mod statsd;
pub mod trace;

use metrics::{Metrics, RetryLabels, RunLabels, StepLabels};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weir_engine::{Event, EventKind, EventSink, LogLevel, StepAt};

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

/// The telemetry of the runs of this process: their log lines always, their metrics when a
/// registry or a StatsD exporter was given, their spans when traces are exported.
#[derive(Debug, Default)]
pub struct Telemetry {
    metrics: Option<Arc<Metrics>>,
    statsd: Option<statsd::Statsd>,
    /// Locked for the lookups and changes of one event.
    state: Mutex<State>,
    /// The spans of sampled runs, when traces are exported; with none, an event costs no more
    /// than this branch.
    traces: Option<trace::Spans>,
}

#[derive(Debug, Default)]
struct State {
    /// The runs in flight, by id: step and end events name their run, not its pipeline.
    runs: HashMap<Arc<str>, InFlight, Fx>,
    steps: Steps,
}

/// The metric handles of the steps of the pipelines run so far.
#[derive(Debug, Default)]
struct Steps {
    /// Each pipeline's steps, by id: where their handles are in `handles`. A run finds its
    /// pipeline's by index, looked up once when it starts.
    pipelines: Vec<HashMap<Arc<str>, usize, Fx>>,
    /// The index of each pipeline's steps in `pipelines`.
    index: HashMap<String, usize>,
    /// The metric handles of steps, resolved on a step's first end, at most
    /// [`metrics::MAX_SERIES`]: the steps beyond resolve theirs each time.
    handles: Vec<StepHandles>,
    /// Where a step's handles are, by the address of the id its events carry: the plan's own,
    /// shared by every event about the step, so the next ends find them by a pointer rather
    /// than by hashing and comparing the id. Emptied when full: it only saves the lookup by id.
    by_address: HashMap<Pinned, usize, Fx>,
}

/// What the metrics of a run's later events need to know of it.
#[derive(Debug)]
struct InFlight {
    pipeline: String,
    /// Where its pipeline's steps are in `Steps::pipelines`; none beyond the cap.
    steps: Option<usize>,
    /// Approvals it asked for and has no answer to yet.
    approvals: i64,
}

/// One step's metrics, each resolved when first needed (a step that never failed has no
/// `failed` series).
#[derive(Debug, Default)]
struct StepHandles {
    /// The kind the handles are labelled with: a step of the same id and another kind (a new
    /// version of the pipeline, the nested step of a `foreach`) resolves its own each time.
    kind: Arc<str>,
    succeeded: Option<Histogram>,
    failed: Option<Histogram>,
    retries: Option<Counter>,
}

impl Steps {
    /// Where the steps of `pipeline` are, made on its first run while there is room.
    fn pipeline(&mut self, pipeline: &str) -> Option<usize> {
        if let Some(&at) = self.index.get(pipeline) {
            return Some(at);
        }
        if self.pipelines.len() >= metrics::MAX_SERIES {
            return None;
        }
        self.pipelines.push(HashMap::default());
        self.index.insert(pipeline.to_owned(), self.pipelines.len() - 1);
        Some(self.pipelines.len() - 1)
    }

    /// The handles of step `at` of the pipeline whose steps are `pipelines[steps]`, made on its
    /// first sight while there is room; none when there is not, or the kind differs.
    fn handles(&mut self, steps: usize, at: &StepAt) -> Option<&mut StepHandles> {
        let slot = match self.by_address.get(&Pinned::address(&at.step)) {
            Some(&slot) => slot,
            None => {
                let slot = match self.pipelines[steps].get(&*at.step) {
                    Some(&slot) => slot,
                    None if self.handles.len() >= metrics::MAX_SERIES => return None,
                    None => {
                        self.handles.push(StepHandles { kind: at.kind.clone(), ..StepHandles::default() });
                        self.pipelines[steps].insert(at.step.clone(), self.handles.len() - 1);
                        self.handles.len() - 1
                    }
                };
                if self.by_address.len() >= metrics::MAX_SERIES {
                    self.by_address.clear();
                }
                self.by_address.insert(Pinned::new(&at.step), slot);
                slot
            }
        };
        let handles = &mut self.handles[slot];
        // The plan's own name, mostly: the same pointer.
        (Arc::ptr_eq(&handles.kind, &at.kind) || handles.kind == at.kind).then_some(handles)
    }
}

/// A shared name as a key by its address. It holds the name, so the address is not reused
/// while it is a key; a map of them is looked up by the address alone (`Borrow<usize>`).
#[derive(Debug)]
pub(crate) struct Pinned {
    address: usize,
    _name: Arc<str>,
}

impl Pinned {
    pub(crate) fn new(name: &Arc<str>) -> Pinned {
        Pinned { address: Pinned::address(name), _name: name.clone() }
    }

    pub(crate) fn address(name: &Arc<str>) -> usize {
        Arc::as_ptr(name).cast::<u8>() as usize
    }
}

impl PartialEq for Pinned {
    fn eq(&self, other: &Pinned) -> bool {
        self.address == other.address
    }
}

impl Eq for Pinned {}

impl std::hash::Hash for Pinned {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.address.hash(state);
    }
}

impl std::borrow::Borrow<usize> for Pinned {
    fn borrow(&self) -> &usize {
        &self.address
    }
}

impl Telemetry {
    pub fn new() -> Telemetry {
        Telemetry::default()
    }

    /// Records the runs' metrics in `metrics` too.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Telemetry {
        self.metrics = Some(metrics);
        self
    }

    /// Sends the runs' counters and timings to a StatsD server too.
    pub fn with_statsd(mut self, statsd: statsd::Statsd) -> Telemetry {
        self.statsd = Some(statsd);
        self
    }

    /// Exports the spans of runs as `options` say, from a thread of their own. An error says why
    /// they cannot be (this build leaves export out, a header is not valid); the rest of the
    /// telemetry stands.
    pub fn export_traces(&mut self, options: trace::Options) -> Result<(), String> {
        self.traces = Some(trace::Spans::start(options)?);
        Ok(())
    }

    /// Waits, at most `timeout`, until the spans of runs that ended have been sent: what a
    /// process does before it exits.
    pub fn flush(&self, timeout: Duration) {
        if let Some(traces) = &self.traces {
            traces.flush(timeout);
        }
    }

    /// How many spans' records were dropped because the exporter's queue was full.
    pub fn dropped_spans(&self) -> u64 {
        self.traces.as_ref().map_or(0, trace::Spans::dropped)
    }

    /// The metrics of one event: only those of run ends, step ends, retries and approvals.
    fn measure(&self, event: &Event) {
        // Most events of a run measure nothing: they do not take the lock.
        if matches!(
            event.kind,
            EventKind::StepStarted { .. }
                | EventKind::StepMocked { .. }
                | EventKind::StepSkipped { .. }
                | EventKind::StepCancelled { .. }
                | EventKind::StepLog { .. }
        ) {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *state;
        let metrics = self.metrics.as_deref();
        match &event.kind {
            EventKind::RunStarted { pipeline, .. } | EventKind::RunResumed { pipeline, .. } => {
                let steps = state.steps.pipeline(pipeline);
                let run = InFlight { pipeline: pipeline.clone(), steps, approvals: 0 };
                if state.runs.insert(event.run_id.clone(), run).is_none() {
                    metrics.inspect(|m| m.run_started());
                }
            }
            EventKind::RunFinished { status, duration, .. } => {
                let Some(run) = state.runs.remove(&event.run_id) else { return };
                let status = status.as_str();
                if let Some(m) = metrics {
                    m.approvals_pending(-run.approvals);
                    m.run_finished(RunLabels { pipeline: run.pipeline.clone(), status }, *duration);
                }
                if let Some(s) = &self.statsd {
                    s.run_finished(&run.pipeline, status, *duration);
                }
            }
            EventKind::StepSucceeded { at, duration, .. } | EventKind::StepFailed { at, duration, .. } => {
                let State { runs, steps } = state;
                let Some(run) = runs.get(&event.run_id) else { return };
                let succeeded = matches!(event.kind, EventKind::StepSucceeded { .. });
                let status = if succeeded { "succeeded" } else { "failed" };
                if let Some(m) = metrics {
                    let labels = || StepLabels {
                        pipeline: run.pipeline.clone(),
                        step: at.step.to_string(),
                        kind: at.kind.to_string(),
                        status,
                    };
                    let seconds = duration.as_secs_f64();
                    match run.steps.and_then(|i| steps.handles(i, at)) {
                        Some(h) => {
                            let slot = if succeeded { &mut h.succeeded } else { &mut h.failed };
                            slot.get_or_insert_with(|| m.step_duration(labels())).observe(seconds);
                        }
                        None => m.step_duration(labels()).observe(seconds),
                    }
                }
                if let Some(s) = &self.statsd {
                    s.step_ended(&run.pipeline, at, status, *duration);
                }
            }
            EventKind::StepRetrying { at, .. } => {
                let State { runs, steps } = state;
                let Some(run) = runs.get(&event.run_id) else { return };
                if let Some(m) = metrics {
                    let labels = || RetryLabels {
                        pipeline: run.pipeline.clone(),
                        step: at.step.to_string(),
                        kind: at.kind.to_string(),
                    };
                    match run.steps.and_then(|i| steps.handles(i, at)) {
                        Some(h) => h.retries.get_or_insert_with(|| m.step_retries(labels())).inc(),
                        None => m.step_retries(labels()).inc(),
                    };
                }
                if let Some(s) = &self.statsd {
                    s.step_retried(&run.pipeline, at);
                }
            }
            EventKind::ApprovalRequested { .. } => {
                let Some(run) = state.runs.get_mut(&event.run_id) else { return };
                run.approvals += 1;
                metrics.inspect(|m| m.approvals_pending(1));
            }
            EventKind::ApprovalAnswered { .. } => {
                let Some(run) = state.runs.get_mut(&event.run_id).filter(|r| r.approvals > 0) else { return };
                run.approvals -= 1;
                metrics.inspect(|m| m.approvals_pending(-1));
            }
            EventKind::StepStarted { .. }
            | EventKind::StepMocked { .. }
            | EventKind::StepSkipped { .. }
            | EventKind::StepCancelled { .. }
            | EventKind::StepLog { .. } => {}
        }
    }
}

impl EventSink for Telemetry {
    fn emit(&self, event: &Event) {
        // With no subscriber, one load instead of a check per line.
        if log::enabled() {
            log(event);
        }
        if self.metrics.is_some() || self.statsd.is_some() {
            self.measure(event);
        }
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
    let step_id = at.map(|a| &*a.step);
    let item = at.and_then(|a| a.item);
    let kind = at.map(|a| &*a.kind);
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

/// The hash of the lookups of every event (run ids, step ids): FxHash's multiply-rotate, a
/// few nanoseconds for a short key where std's SipHash takes several times that. Its keys are
/// weir's own run ids and the ids of the pipelines this process runs, not an attacker's choice,
/// so SipHash's resistance to collisions chosen on purpose buys nothing here.
pub(crate) type Fx = std::hash::BuildHasherDefault<FxHasher>;

#[derive(Default)]
pub(crate) struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        // The last few bytes as one word, zero-padded: a hash, not an identity (the strings'
        // own terminator tells "a" from "a\0" apart).
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::time::{Duration, SystemTime};
    use weir_engine::{ApprovalRequest, Decision, Parent, StepAt};
    use weir_pipeline::Status;

    fn event(run_id: &str, parent: Option<&str>, kind: EventKind) -> Event {
        let parent = parent.map(|p| Arc::new(Parent { run_id: p.into(), step: "sub".into(), item: None }));
        Event { seq: 0, at: SystemTime::UNIX_EPOCH, run_id: run_id.into(), parent, kind }
    }

    fn at(step: &str, kind: &str) -> StepAt {
        StepAt { step: step.into(), kind: kind.into(), item: None }
    }

    fn started(pipeline: &str) -> EventKind {
        let (trace, parent_span) = (weir_engine::TraceContext::root(), None);
        EventKind::RunStarted {
            pipeline: pipeline.into(),
            digest: "d".into(),
            input: Value::Null,
            seed: 1,
            trace,
            parent_span,
        }
    }

    fn finished(status: Status) -> EventKind {
        EventKind::RunFinished {
            status,
            output: Value::Null,
            error: None,
            error_kind: None,
            duration: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_runs_events_become_its_metrics_under_its_own_pipeline() {
        let metrics = Arc::new(Metrics::new());
        let telemetry = Telemetry::new().with_metrics(metrics.clone());
        let request = ApprovalRequest {
            prompt: "ok?".into(),
            schema: None,
            assignees: vec![],
            timeout: None,
            on_timeout: Default::default(),
        };
        let events = [
            event("r1", None, started("orders")),
            event("r2", Some("r1"), started("billing")),
            event(
                "r2",
                Some("r1"),
                EventKind::StepRetrying {
                    at: at("charge", "http"),
                    attempt: 1,
                    error: "503".into(),
                    error_kind: weir_engine::ErrorKind::Timeout,
                    delay: Duration::ZERO,
                },
            ),
            event(
                "r2",
                Some("r1"),
                EventKind::StepSucceeded {
                    at: at("charge", "http"),
                    attempts: 2,
                    output: Value::Null,
                    duration: Duration::from_millis(30),
                },
            ),
            event("r2", Some("r1"), finished(Status::Succeeded)),
            event("r1", None, EventKind::ApprovalRequested { at: at("ok", "approval"), request }),
        ];
        events.iter().for_each(|e| telemetry.emit(e));
        let text = metrics.render();
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        has(r#"weir_runs_total{pipeline="billing",status="succeeded"} 1"#);
        has(r#"weir_step_retries_total{pipeline="billing",step="charge",kind="http"} 1"#);
        has(
            r#"weir_step_duration_seconds_count{pipeline="billing",step="charge",kind="http",status="succeeded"} 1"#,
        );
        has("weir_runs_in_flight 1");
        has("weir_approvals_pending 1");
        let answered = EventKind::ApprovalAnswered {
            at: at("ok", "approval"),
            decision: Decision::Approved,
            by: "ada".into(),
            timed_out: false,
        };
        telemetry.emit(&event("r1", None, answered));
        telemetry.emit(&event("r1", None, finished(Status::Failed)));
        let text = metrics.render();
        for line in [
            "weir_runs_in_flight 0",
            "weir_approvals_pending 0",
            r#"weir_runs_total{pipeline="orders",status="failed"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
    }

    #[test]
    fn a_steps_later_ends_add_to_its_series_whatever_its_kind_is_now() {
        let metrics = Arc::new(Metrics::new());
        let telemetry = Telemetry::new().with_metrics(metrics.clone());
        let ended = |kind: &str| EventKind::StepSucceeded {
            at: at("s", kind),
            attempts: 1,
            output: Value::Null,
            duration: Duration::from_millis(1),
        };
        for (run, kind) in [("r1", "pass"), ("r2", "pass"), ("r3", "http")] {
            telemetry.emit(&event(run, None, started("p")));
            telemetry.emit(&event(run, None, ended(kind)));
            telemetry.emit(&event(run, None, finished(Status::Succeeded)));
        }
        let text = metrics.render();
        for (kind, n) in [("pass", 2), ("http", 1)] {
            let line = format!(
                r#"weir_step_duration_seconds_count{{pipeline="p",step="s",kind="{kind}",status="succeeded"}} {n}"#
            );
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
    }
}
