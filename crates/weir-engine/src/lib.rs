//! The engine of weir: runs a validated pipeline [`Bundle`](weir_pipeline::Bundle) with
//! DESIGN.md's semantics — readiness and skip propagation, conditions, concurrency, retries with
//! backoff, timeouts, error routing, cancellation, `foreach` items and sub-pipeline runs — and
//! reports what happens as typed [`Event`]s.
//!
//! It knows no SQL, no HTTP server, no config files, and reads no file: the plans a run needs
//! come resolved in the bundle. Time comes from an injected [`Clock`]; step kinds from a
//! [`Registry`]; what happens goes to an [`EventSink`] and, to be durable, to a [`RunStore`].
//! Persistence and telemetry hang off those seams.

pub mod approval;
mod cancel;
pub mod clock;
mod context;
mod error;
mod eval;
pub mod event;
mod kind;
mod report;
pub mod resume;
mod run;
mod scheduler;
mod store;
pub mod trace;

pub use approval::{Answer, ApprovalRequest, Decision, OnTimeout};
pub use cancel::Cancel;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ErrorKind, StepError};
pub use event::{Collector, Event, EventKind, EventSink, LogLevel, NullSink, Parent, StepAt, Tee};
pub use kind::{Registry, StepCx, StepKind};
pub use report::{InputError, NestedReport, RunFailure, RunReport, StepReport};
pub use resume::Resume;
pub use run::{Engine, External, RunOptions, new_run_id};
pub use store::{RunStore, StoreError};
pub use trace::{SpanId, TraceContext, TraceId};
