//! What a run's events tell the outside world. [`Telemetry`] is an [`EventSink`]: each event
//! writes its log line (through `tracing`) and hands what its metrics and spans need to the
//! `hub` in one place, so the three never disagree about what happened. `log` sets up where
//! log lines go, `metrics` is the registry and its store timing, `exposition` serves it to
//! Prometheus, and `statsd` sends the same measurements over UDP. `trace` turns the records
//! into spans, which the hub's thread exports over OTLP/HTTP (cargo feature `otlp`).

pub mod exposition;
mod hub;
pub mod log;
pub mod metrics;
pub mod statsd;
pub mod trace;

use metrics::Metrics;
use std::sync::{Arc, Mutex, OnceLock};
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

/// The telemetry of the runs of this process: their log lines always, their metrics when a
/// registry or a StatsD exporter was given, their spans when traces are exported. The log
/// lines are written as the events come; the rest goes through the [`hub::Hub`], started by
/// the first event.
#[derive(Default)]
pub struct Telemetry {
    /// What the hub is made of, until the first event starts it.
    parts: Mutex<Option<hub::Parts>>,
    /// None when only log lines are written: an event then costs no more than this branch.
    hub: OnceLock<Option<Arc<hub::Hub>>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
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

    fn parts(&mut self) -> &mut hub::Parts {
        self.parts.get_mut().unwrap_or_else(|e| e.into_inner()).get_or_insert_default()
    }

    /// Records the runs' metrics in `metrics` too.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Telemetry {
        self.parts().metrics = Some(metrics);
        self
    }

    /// Sends the runs' counters and timings to a StatsD server too.
    pub fn with_statsd(mut self, statsd: statsd::Statsd) -> Telemetry {
        self.parts().statsd = Some(statsd);
        self
    }

    /// Exports the spans of runs as `options` say. An error says why they cannot be (this
    /// build leaves export out, a header is not valid); the rest of the telemetry stands.
    pub fn export_traces(&mut self, options: trace::Options) -> Result<(), String> {
        let sender = trace::Sender::new(&options)?;
        self.parts().traces = Some((sender, options.sampler));
        Ok(())
    }

    /// The hub, started by the first call; none when only log lines are written.
    fn hub(&self) -> Option<&Arc<hub::Hub>> {
        self.hub
            .get_or_init(|| {
                let parts = self.parts.lock().unwrap_or_else(|e| e.into_inner()).take()?;
                hub::Hub::start(parts)
            })
            .as_ref()
    }

    /// Waits, at most `timeout`, until the spans of runs that ended have been sent: what a
    /// process does before it exits.
    pub fn flush(&self, timeout: Duration) {
        if let Some(Some(hub)) = self.hub.get() {
            hub.flush(timeout);
        }
    }

    /// How many spans were dropped because too many waited to be sent.
    pub fn dropped_spans(&self) -> u64 {
        self.hub.get().and_then(Option::as_ref).map_or(0, |hub| hub.dropped())
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(Some(hub)) = self.hub.get() {
            hub.close();
        }
    }
}

impl EventSink for Telemetry {
    fn emit(&self, event: &Event) {
        // One load and a comparison: a line that would not be written costs no call (the
        // call's frame, with every line's fields, is most of a line's cost).
        if level(&event.kind) <= tracing::level_filters::LevelFilter::current() {
            log(event);
        }
        if let Some(hub) = self.hub() {
            hub.record(event);
        }
    }

    fn yielded(&self) {
        if let Some(Some(hub)) = self.hub.get() {
            hub.yielded();
        }
    }
}

/// The level of an event's log line, as [`log`] writes it.
fn level(kind: &EventKind) -> tracing::Level {
    use tracing::Level;
    match kind {
        EventKind::RunFinished { error: Some(_), .. }
        | EventKind::StepRetrying { .. }
        | EventKind::StepFailed { .. } => Level::WARN,
        EventKind::RunStarted { .. }
        | EventKind::RunResumed { .. }
        | EventKind::RunFinished { .. }
        | EventKind::StepCancelled { .. }
        | EventKind::ApprovalRequested { .. }
        | EventKind::ApprovalAnswered { .. } => Level::INFO,
        EventKind::StepStarted { .. }
        | EventKind::StepMocked { .. }
        | EventKind::StepSucceeded { .. }
        | EventKind::StepSkipped { .. } => Level::DEBUG,
        EventKind::StepLog { level, .. } => match level {
            LogLevel::Debug => Level::DEBUG,
            LogLevel::Info => Level::INFO,
            LogLevel::Warn => Level::WARN,
            LogLevel::Error => Level::ERROR,
        },
    }
}

/// The log line of one event, at [`level`]'s level. Steps are named by `step_id` (and `item`
/// inside a `foreach`); a sub-pipeline run names the run that started it as `parent_run_id`.
#[inline(never)]
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

    /// Records the level of every line written.
    struct Levels(Arc<Mutex<Vec<tracing::Level>>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Levels {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            self.0.lock().unwrap().push(*event.metadata().level());
        }
    }

    #[test]
    fn each_line_is_written_at_the_level_its_event_is_checked_against() {
        use tracing_subscriber::layer::SubscriberExt;
        let request = ApprovalRequest {
            prompt: "ok?".into(),
            schema: None,
            assignees: vec![],
            timeout: None,
            on_timeout: Default::default(),
        };
        let failure = |kind| EventKind::RunFinished {
            status: Status::Failed,
            output: Value::Null,
            error: Some("boom".into()),
            error_kind: Some(kind),
            duration: Duration::ZERO,
        };
        let (span, error_kind) = (weir_engine::TraceContext::root().span_id, weir_engine::ErrorKind::Timeout);
        let mut kinds = vec![
            started("p"),
            EventKind::RunResumed {
                pipeline: "p".into(),
                digest: "d".into(),
                trace: weir_engine::TraceContext::root(),
                parent_span: None,
            },
            finished(Status::Succeeded),
            failure(error_kind),
            EventKind::StepStarted { at: at("s", "pass"), attempt: 1, span, parent_span: span },
            EventKind::StepRetrying {
                at: at("s", "pass"),
                attempt: 1,
                error: "503".into(),
                error_kind,
                delay: Duration::ZERO,
            },
            EventKind::StepMocked { at: at("s", "pass"), config: Value::Null },
            EventKind::StepSucceeded {
                at: at("s", "pass"),
                attempts: 1,
                output: Value::Null,
                duration: Duration::ZERO,
            },
            EventKind::StepFailed {
                at: at("s", "pass"),
                attempts: 1,
                error: "no".into(),
                error_kind,
                on_error: "fail".into(),
                duration: Duration::ZERO,
            },
            EventKind::StepSkipped { at: at("s", "pass"), reason: "if".into() },
            EventKind::StepCancelled { at: at("s", "pass") },
            EventKind::ApprovalRequested { at: at("ok", "approval"), request },
            EventKind::ApprovalAnswered {
                at: at("ok", "approval"),
                decision: Decision::Rejected,
                by: "ada".into(),
                timed_out: false,
            },
        ];
        for level in [LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error] {
            kinds.push(EventKind::StepLog { at: at("s", "log"), level, message: "hi".into() });
        }
        for kind in kinds {
            let written = Arc::new(Mutex::new(Vec::new()));
            let subscriber = tracing_subscriber::registry().with(Levels(written.clone()));
            let expected = level(&kind);
            tracing::subscriber::with_default(subscriber, || log(&event("r1", None, kind)));
            assert_eq!(*written.lock().unwrap(), [expected]);
        }
    }
}
