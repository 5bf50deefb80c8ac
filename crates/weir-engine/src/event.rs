//! The typed events of a run. The CLI renders them; persistence and telemetry consume them too.
//!
//! Invariants: every step of a run gets exactly one terminal event (succeeded, failed, skipped or
//! cancelled), and so does every item a `foreach` starts; `RunFinished` comes last in each run.
//! Sub-pipeline runs report into the same stream, with their own `run_id` and a [`Parent`], and
//! `seq` orders the whole stream.

use crate::approval::{ApprovalRequest, Decision};
use crate::error::ErrorKind;
use crate::trace::{SpanId, TraceContext};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use weir_pipeline::Status;

/// One thing that happened in a run.
#[derive(Clone, Debug)]
pub struct Event {
    /// Position in the stream of the run and its sub-pipeline runs, from 0.
    pub seq: u64,
    /// Wall-clock time.
    pub at: SystemTime,
    pub run_id: Arc<str>,
    /// For a sub-pipeline run, the run and step that started it.
    pub parent: Option<Arc<Parent>>,
    pub kind: EventKind,
}

/// Where a sub-pipeline run was started: a `pipeline` step, or one item of a `foreach`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parent {
    pub run_id: Arc<str>,
    pub step: String,
    pub item: Option<usize>,
}

/// Which step an event is about: its id and kind, and for the nested step of a `foreach`, the
/// item's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepAt {
    /// Shared with the plan (and the other events about the step): naming it copies nothing.
    pub step: Arc<str>,
    pub kind: Arc<str>,
    pub item: Option<usize>,
}

#[derive(Clone, Debug)]
pub enum EventKind {
    /// What a run needs to be replayed: the pipeline's version, its input and the jitter seed.
    RunStarted {
        pipeline: String,
        digest: String,
        input: Value,
        seed: u64,
        /// The run's span; `parent_span` is the span it is a child of, if any: the caller's (a
        /// `traceparent` the run was given) or the attempt that started a sub-pipeline run.
        trace: TraceContext,
        parent_span: Option<SpanId>,
    },
    /// An interrupted run goes on (see [`crate::resume`]), on the version it started with: what
    /// had ended stands, and the steps that had not run now.
    RunResumed {
        pipeline: String,
        digest: String,
        /// The span of this run of the process, in the trace the run started in.
        trace: TraceContext,
        parent_span: Option<SpanId>,
    },
    /// An attempt begins: its span, a child of the run's span (of the `foreach` step's attempt,
    /// for an item).
    StepStarted {
        at: StepAt,
        attempt: u32,
        span: SpanId,
        parent_span: SpanId,
    },
    /// An attempt failed and the step will be tried again after `delay_ms`.
    StepRetrying {
        at: StepAt,
        attempt: u32,
        error: String,
        error_kind: ErrorKind,
        delay: Duration,
    },
    /// The step was not run: a mock or a dry run gave its output. `config` is its resolved `with`.
    StepMocked {
        at: StepAt,
        config: Value,
    },
    StepSucceeded {
        at: StepAt,
        attempts: u32,
        output: Value,
        duration: Duration,
    },
    StepFailed {
        at: StepAt,
        attempts: u32,
        error: String,
        error_kind: ErrorKind,
        /// What the run does about it: `fail`, `continue` or the handler's id.
        on_error: String,
        duration: Duration,
    },
    StepSkipped {
        at: StepAt,
        reason: String,
    },
    StepCancelled {
        at: StepAt,
    },
    /// A `log` step's message, or what one of the step's expressions said with `debug` or
    /// `stderr` (see `eval`).
    StepLog {
        at: StepAt,
        level: LogLevel,
        message: String,
    },
    /// An `approval` step asks a person and waits (its run is `waiting`) until it is answered.
    /// A step asks again when it runs again after a resume; the first question stands.
    ApprovalRequested {
        at: StepAt,
        request: ApprovalRequest,
    },
    /// The answer the waiting step got, from a person or from its timeout.
    ApprovalAnswered {
        at: StepAt,
        decision: Decision,
        by: String,
        timed_out: bool,
    },
    RunFinished {
        status: Status,
        output: Value,
        error: Option<String>,
        error_kind: Option<ErrorKind>,
        duration: Duration,
    },
}

impl EventKind {
    /// The step the event is about, for step events.
    pub fn step(&self) -> Option<&StepAt> {
        match self {
            EventKind::StepStarted { at, .. }
            | EventKind::StepRetrying { at, .. }
            | EventKind::StepMocked { at, .. }
            | EventKind::StepSucceeded { at, .. }
            | EventKind::StepFailed { at, .. }
            | EventKind::StepSkipped { at, .. }
            | EventKind::StepCancelled { at }
            | EventKind::StepLog { at, .. }
            | EventKind::ApprovalRequested { at, .. }
            | EventKind::ApprovalAnswered { at, .. } => Some(at),
            EventKind::RunStarted { .. } | EventKind::RunResumed { .. } | EventKind::RunFinished { .. } => {
                None
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Receives a run's events as they happen. Called from the run's task; keep it quick.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &Event);

    /// The run's future is about to return, because it waits or because it ended: the events
    /// emitted on this thread since the last call are all of them until it is polled again,
    /// perhaps on another thread. A sink that keeps events per thread hands them on here.
    fn yielded(&self) {}
}

impl<T: EventSink + ?Sized> EventSink for Arc<T> {
    fn emit(&self, event: &Event) {
        (**self).emit(event);
    }

    fn yielded(&self) {
        (**self).yielded();
    }
}

/// Drops every event.
#[derive(Debug, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _: &Event) {}
}

/// Sends every event to both sinks, the first first.
#[derive(Debug, Default)]
pub struct Tee<A, B>(pub A, pub B);

impl<A: EventSink, B: EventSink> EventSink for Tee<A, B> {
    fn emit(&self, event: &Event) {
        self.0.emit(event);
        self.1.emit(event);
    }

    fn yielded(&self) {
        self.0.yielded();
        self.1.yielded();
    }
}

/// Keeps every event, for tests and for rendering after the fact.
#[derive(Debug, Default)]
pub struct Collector(Mutex<Vec<Event>>);

impl Collector {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl EventSink for Collector {
    fn emit(&self, event: &Event) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event.clone());
    }
}
