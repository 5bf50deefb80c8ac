//! The engine of weir: runs a validated [`Plan`](weir_pipeline::Plan) with DESIGN.md's
//! semantics — readiness and skip propagation, conditions, concurrency, retries with backoff,
//! timeouts, error routing, cancellation — and reports what happens as typed [`Event`]s.
//!
//! It knows no SQL, no HTTP server and no config files. Time comes from an injected [`Clock`];
//! step kinds from a [`Registry`]; sub-pipeline files from a [`PipelineLoader`]; what happens
//! goes to an [`EventSink`]. Persistence and telemetry hang off those seams.

mod cancel;
pub mod clock;
mod context;
pub mod event;
mod kind;
mod report;
mod run;

pub use cancel::Cancel;
pub use clock::{Clock, ManualClock, SystemClock};
pub use event::{Collector, Event, EventKind, EventSink, LogLevel, NullSink};
pub use kind::{Registry, StepCx, StepError, StepKind};
pub use report::{InputError, RunFailure, RunReport, StepReport};
pub use run::{Engine, NoLoader, PipelineLoader, RunOptions};
