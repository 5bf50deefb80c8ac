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

/// One pipeline's root runs in a window (sub-pipeline runs count under their root's steps).
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

/// Nearest-rank percentiles of a set of durations, in milliseconds; all 0 for none.
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

impl Percentiles {
    /// The percentiles of `durations` (any order).
    pub fn of(durations: &mut [f64]) -> Percentiles {
        durations.sort_by(f64::total_cmp);
        let at = |p: f64| nearest_rank(durations, p);
        Percentiles {
            p50: at(50.0),
            p95: at(95.0),
            p99: at(99.0),
            max: durations.last().copied().unwrap_or(0.0),
        }
    }
}

/// The nearest-rank `p`th percentile of `sorted`: the smallest value with at least `p`% of the
/// values at or below it; 0 for none.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut d: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(Percentiles::of(&mut d), Percentiles { p50: 50.0, p95: 95.0, p99: 99.0, max: 100.0 });
        assert_eq!(Percentiles::of(&mut [7.0]), Percentiles { p50: 7.0, p95: 7.0, p99: 7.0, max: 7.0 });
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
        assert_eq!(nearest_rank(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
    }
}
