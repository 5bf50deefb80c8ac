//! weir's wire types: the JSON documents that `weir run --json`, `--events`, `validate --json`,
//! `test --json`, `dry-run --json`, `runs list|show --json`, `status --json`, `metrics --json`,
//! `health --json` and `bench … --json` print, and that the server will
//! send. They are plain data (serde, both ways), converted explicitly from the domain types of
//! the engine and the pipeline crate, which do not serialize themselves: a change to the wire is
//! a change to this crate.
//!
//! Conventions: durations are `*_ms` numbers of milliseconds (microsecond precision); times are
//! milliseconds since the Unix epoch; statuses are the lowercase words of `weir_pipeline::Status`;
//! error kinds are the labels of `weir_engine::ErrorKind`.

mod admin;
mod approval;
pub mod bench;
mod dry_run;
mod event;
mod health;
mod metrics;
mod run;
mod schedule;
mod status;
mod stored;
mod test;
mod validate;

pub use admin::{CleanupReport, CleanupRows, Problem};
pub use approval::StoredApproval;
pub use dry_run::{DryRunItem, DryRunOutcome, DryRunReport, DryRunStep, Walked};
pub use event::{Event, EventKind, Parent, StepAt};
pub use health::{Check, CheckStatus, HealthReport, Overall};
pub use metrics::{MetricsReport, Percentiles, PipelineMetrics, StepMetrics};
pub use run::{NestedSummary, RunError, RunSummary, StepError, StepSummary};
pub use schedule::StoredSchedule;
pub use status::{ApprovalsWaiting, InFlight, StatusReport, StoreSize, WorkerStatus};
pub use stored::{StoredRun, StoredRunDetail, StoredStep};
pub use test::{CaseProblem, CaseReport, TestReport};
pub use validate::{DiagnosticDoc, FileReport, ValidateReport};

/// A duration as milliseconds, rounded to the microsecond.
pub(crate) fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
