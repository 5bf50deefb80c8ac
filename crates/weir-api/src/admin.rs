//! `weir admin cleanup --json` and `weir admin check --json`: what maintenance did or found.

use serde::{Deserialize, Serialize};

/// What `weir admin cleanup` deleted, or with `--dry-run` would delete: the same set either way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupReport {
    pub dry_run: bool,
    /// Runs started before this time (milliseconds since the Unix epoch) were candidates.
    pub before: u64,
    /// The ids of the runs, sub-pipeline runs included, sorted.
    pub runs: Vec<String>,
    /// The rows of each table.
    pub rows: CleanupRows,
}

/// Rows per table that a cleanup deletes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupRows {
    pub runs: u64,
    pub steps: u64,
    pub attempts: u64,
    pub events: u64,
    /// Values no row names any more.
    pub blobs: u64,
    /// The questions of `approval` steps, answered or not.
    pub approvals: u64,
    /// The record of the schedule ticks that started the runs.
    pub schedule_ticks: u64,
}

/// One thing in a store that does not hold together: `weir admin check`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The table of the row at fault.
    pub table: String,
    /// The row's key, its columns joined by `/` (`run/step/item` for a `foreach` item's step row).
    pub key: String,
    pub problem: String,
}
