//! `weir schedule list --json` and `weir schedule add --json`: schedules as the store keeps them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_pipeline::Status;

/// A pipeline version that runs at the ticks of a cron expression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredSchedule {
    pub name: String,
    /// The cron expression, in UTC.
    pub cron: String,
    /// The pipeline's `name`.
    pub pipeline: String,
    /// The file it was added from, as given.
    pub file: String,
    /// The digest of the pipeline's version, and of the bundle of pinned versions (it and the
    /// pipelines it runs) that every tick runs.
    pub digest: String,
    pub bundle: String,
    pub input: Value,
    /// `latest`, `all` or `skip`: what ticks missed while no worker ran become.
    pub catch_up: String,
    pub paused: bool,
    /// Milliseconds since the Unix epoch: the next tick.
    pub next_at: u64,
    /// Ticks that passed without a run (by the catch-up policy, or while paused).
    pub missed: u64,
    pub created_at: u64,
    /// The last tick that fired, its run, and the run's status now (none once the run was
    /// cleaned up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tick_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<Status>,
}
