//! `weir run --events`: one object per line, one per thing that happened.

use crate::ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_engine::LogLevel;
use weir_pipeline::Status;

/// One event of a run or of one of its sub-pipeline runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the stream of the run and its sub-pipeline runs, from 0.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    pub run_id: String,
    /// For a sub-pipeline run: the run and step (and `foreach` item) that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Parent>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parent {
    pub run_id: String,
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
}

/// The step an event is about; `item` is the index of a `foreach` item run by the step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepAt {
    pub step: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
}

/// A run's span, in hex.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
}

impl Span {
    fn of(trace: &weir_engine::TraceContext, parent: Option<weir_engine::SpanId>) -> Option<Span> {
        Some(Span {
            trace_id: trace.trace_id.hex(),
            span_id: trace.span_id.hex(),
            parent_span_id: parent.map(|p| p.hex()),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// What replaying the run needs: the pipeline's version (`sha256:…` of its text), the input
    /// and the retry-jitter seed.
    /// `trace_id` and `span_id` are the run's span (32 and 16 hex digits), `parent_span_id` the
    /// span it is a child of (absent for the root of a trace); absent in runs recorded before
    /// weir traced runs.
    RunStarted {
        pipeline: String,
        digest: String,
        input: Value,
        seed: u64,
        #[serde(flatten)]
        span: Option<Span>,
    },
    /// An interrupted run goes on (`weir resume`) on the version it started with; the steps that
    /// had ended are not run again. The span is this process's part of the run.
    RunResumed {
        pipeline: String,
        digest: String,
        #[serde(flatten)]
        span: Option<Span>,
    },
    /// An attempt begins, with its span (a child of the run's span, or of the `foreach` step's
    /// attempt for an item).
    StepStarted {
        #[serde(flatten)]
        at: StepAt,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        span_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_span_id: Option<String>,
    },
    StepRetrying {
        #[serde(flatten)]
        at: StepAt,
        attempt: u32,
        error: String,
        error_kind: String,
        delay_ms: f64,
    },
    StepMocked {
        #[serde(flatten)]
        at: StepAt,
        config: Value,
    },
    StepSucceeded {
        #[serde(flatten)]
        at: StepAt,
        attempts: u32,
        output: Value,
        duration_ms: f64,
    },
    StepFailed {
        #[serde(flatten)]
        at: StepAt,
        attempts: u32,
        error: String,
        error_kind: String,
        /// `fail`, `continue` or the id of the handler step.
        on_error: String,
        duration_ms: f64,
    },
    StepSkipped {
        #[serde(flatten)]
        at: StepAt,
        reason: String,
    },
    StepCancelled {
        #[serde(flatten)]
        at: StepAt,
    },
    StepLog {
        #[serde(flatten)]
        at: StepAt,
        level: LogLevel,
        message: String,
    },
    /// An `approval` step waits for a person: `weir approve RUN STEP` or `weir reject RUN STEP`
    /// answers it. `timeout_ms` counts from when it was first asked.
    ApprovalRequested {
        #[serde(flatten)]
        at: StepAt,
        prompt: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schema: Option<Value>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        assignees: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<f64>,
        /// `approve`, `reject` or `fail`.
        on_timeout: String,
    },
    /// The waiting step got its answer: `approved`, `rejected` or `expired` (no answer within its
    /// timeout, which fails it), from `by` (`timeout` when the timeout decided).
    ApprovalAnswered {
        #[serde(flatten)]
        at: StepAt,
        decision: String,
        by: String,
        timed_out: bool,
    },
    RunFinished {
        status: Status,
        output: Value,
        error: Option<String>,
        error_kind: Option<String>,
        duration_ms: f64,
    },
}

impl EventKind {
    /// The step the event is about; none for the events of the run itself.
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

impl From<&weir_engine::Event> for Event {
    fn from(e: &weir_engine::Event) -> Self {
        let at = e.at.duration_since(std::time::SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Event {
            seq: e.seq,
            at,
            run_id: e.run_id.to_string(),
            parent: e.parent.as_deref().map(|p| Parent {
                run_id: p.run_id.to_string(),
                step: p.step.clone(),
                item: p.item,
            }),
            kind: EventKind::from(&e.kind),
        }
    }
}

impl From<&weir_engine::StepAt> for StepAt {
    fn from(a: &weir_engine::StepAt) -> Self {
        StepAt { step: a.step.to_string(), kind: a.kind.to_string(), item: a.item }
    }
}

impl From<&weir_engine::EventKind> for EventKind {
    fn from(k: &weir_engine::EventKind) -> Self {
        use weir_engine::EventKind as E;
        match k {
            E::RunStarted { pipeline, digest, input, seed, trace, parent_span } => EventKind::RunStarted {
                pipeline: pipeline.clone(),
                digest: digest.clone(),
                input: input.clone(),
                seed: *seed,
                span: Span::of(trace, *parent_span),
            },
            E::RunResumed { pipeline, digest, trace, parent_span } => EventKind::RunResumed {
                pipeline: pipeline.clone(),
                digest: digest.clone(),
                span: Span::of(trace, *parent_span),
            },
            E::StepStarted { at, attempt, span, parent_span } => EventKind::StepStarted {
                at: at.into(),
                attempt: *attempt,
                span_id: Some(span.hex()),
                parent_span_id: Some(parent_span.hex()),
            },
            E::StepRetrying { at, attempt, error, error_kind, delay } => EventKind::StepRetrying {
                at: at.into(),
                attempt: *attempt,
                error: error.clone(),
                error_kind: error_kind.as_str().to_owned(),
                delay_ms: ms(*delay),
            },
            E::StepMocked { at, config } => EventKind::StepMocked { at: at.into(), config: config.clone() },
            E::StepSucceeded { at, attempts, output, duration } => EventKind::StepSucceeded {
                at: at.into(),
                attempts: *attempts,
                output: output.clone(),
                duration_ms: ms(*duration),
            },
            E::StepFailed { at, attempts, error, error_kind, on_error, duration } => EventKind::StepFailed {
                at: at.into(),
                attempts: *attempts,
                error: error.clone(),
                error_kind: error_kind.as_str().to_owned(),
                on_error: on_error.clone(),
                duration_ms: ms(*duration),
            },
            E::StepSkipped { at, reason } => EventKind::StepSkipped { at: at.into(), reason: reason.clone() },
            E::StepCancelled { at } => EventKind::StepCancelled { at: at.into() },
            E::StepLog { at, level, message } => {
                EventKind::StepLog { at: at.into(), level: *level, message: message.clone() }
            }
            E::ApprovalRequested { at, request } => EventKind::ApprovalRequested {
                at: at.into(),
                prompt: request.prompt.clone(),
                schema: request.schema.clone(),
                assignees: request.assignees.clone(),
                timeout_ms: request.timeout.map(ms),
                on_timeout: request.on_timeout.as_str().to_owned(),
            },
            E::ApprovalAnswered { at, decision, by, timed_out } => EventKind::ApprovalAnswered {
                at: at.into(),
                decision: decision.as_str().to_owned(),
                by: by.clone(),
                timed_out: *timed_out,
            },
            E::RunFinished { status, output, error, error_kind, duration } => EventKind::RunFinished {
                status: *status,
                output: output.clone(),
                error: error.clone(),
                error_kind: error_kind.map(|k| k.as_str().to_owned()),
                duration_ms: ms(*duration),
            },
        }
    }
}
