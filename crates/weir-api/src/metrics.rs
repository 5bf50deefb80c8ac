//! `weir metrics --json` (and the per-pipeline part of `weir status --json`): what the stored
//! runs of a window add up to, computed from the store so that every process reports the same.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The runs of a window, per pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// Runs started at or after this time (milliseconds since the Unix epoch) are counted.
    pub since_ms: u64,
    /// Where the start came from: `window` (`--window`), `reset` (the last `weir metrics
    /// reset`) or `all` (neither: every stored run).
    pub window: String,
    /// The window as a sentence: "over the last 1h", "since the reset at …", "over every stored run".
    pub described: String,
    pub pipelines: Vec<PipelineMetrics>,
}

/// One pipeline's root runs in a window (a sub-pipeline run counts as the root's step that ran it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineMetrics {
    pub pipeline: String,
    pub runs: u64,
    /// Runs by their status now (`succeeded`, `failed`, `running`, …).
    pub by_status: BTreeMap<String, u64>,
    /// Failed runs over ended runs (succeeded, failed or cancelled); 0 when none ended.
    pub failure_rate: f64,
    /// The durations of the runs that ended.
    pub duration_ms: Percentiles,
    /// Per step, in the order steps first started; empty in `weir status`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepMetrics>,
}

/// Percentiles of a set of durations, in milliseconds (nearest rank); all 0 for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// One step of a pipeline across the runs of a window (the step itself, not its `foreach` items).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: String,
    /// Attempts in all, and those beyond each run's first (attempts − 1, summed).
    pub attempts: u64,
    pub retries: u64,
    /// Runs in which the step failed (after its retries).
    pub failures: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
}
