//! `weir status --json`: what a store holds now — runs in flight, the last runs, each
//! pipeline's numbers over a window, approvals waiting, workers and the store's size.

use crate::{PipelineMetrics, StoredRun};
use serde::{Deserialize, Serialize};
use weir_pipeline::Status;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// When it was read (milliseconds since the Unix epoch); ages are counted back from it.
    pub now_ms: u64,
    /// The window of `pipelines`, in milliseconds back from `now_ms`.
    pub window_ms: u64,
    /// Root runs `pending` (queued), `running` or `waiting` (for an approval), oldest first.
    pub in_flight: Vec<InFlight>,
    /// The last 10 root runs, newest first.
    pub recent: Vec<StoredRun>,
    /// Per pipeline, the root runs started within the window.
    pub pipelines: Vec<PipelineMetrics>,
    pub approvals: ApprovalsWaiting,
    pub workers: Vec<WorkerStatus>,
    pub store: StoreSize,
}

/// A run that has not ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    pub run_id: String,
    pub pipeline: String,
    pub status: Status,
    pub started_at: u64,
    pub age_ms: u64,
    /// The process recording it (host, boot, pid, start), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Questions of `approval` steps without an answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalsWaiting {
    pub count: u64,
    /// When the oldest was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_at: Option<u64>,
}

/// A registered `weir worker`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub id: String,
    pub owner: String,
    pub heartbeat_at: u64,
    /// Time since its last heartbeat.
    pub age_ms: u64,
    /// No heartbeat for three default leases (90 s): the worker is probably gone.
    pub stale: bool,
}

/// How much room the store takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreSize {
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub bytes: u64,
    /// What was measured: `file + WAL` (SQLite) or `pg_database_size` (PostgreSQL, the whole
    /// database the store is in).
    pub measured: String,
}
