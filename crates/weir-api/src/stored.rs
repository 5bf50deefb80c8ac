//! `weir runs list --json` and `weir runs show --json`: runs as the store keeps them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_pipeline::Status;

/// A stored run, without its values: one line of `weir runs list`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredRun {
    pub run_id: String,
    pub pipeline: String,
    /// The version of the pipeline the run started with: `sha256:` of its text, which the store
    /// keeps.
    pub digest: String,
    /// `running` until the run's end is recorded; a run whose process died stays `running`.
    pub status: Status,
    /// For a sub-pipeline run: the run and step (and `foreach` item) that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<crate::Parent>,
    /// Milliseconds since the Unix epoch.
    pub started_at: u64,
    pub finished_at: Option<u64>,
    pub duration_ms: Option<f64>,
    pub error: Option<crate::StepError>,
}

/// A stored run with its values, its steps and the sub-pipeline runs it started:
/// `weir runs show --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredRunDetail {
    #[serde(flatten)]
    pub run: StoredRun,
    /// The retry-jitter seed, as a string: it may not fit a JSON number exactly.
    pub seed: String,
    pub input: Value,
    /// Null until the run ends, and unless it succeeded.
    pub output: Value,
    /// Each step that got as far as an event, in the order it first did; the items of a
    /// `foreach` step follow it, with their `item`.
    pub steps: Vec<StoredStep>,
    pub children: Vec<StoredRun>,
    /// For a run of `weir replay`: the run it ran again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// The reason `weir runs cancel --reason` gave for stopping it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// The trace the run is in (32 hex digits); absent for runs recorded before weir traced
    /// them, and for a submitted run not yet started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// For a run submitted to the queue: the W3C `traceparent` of the submitter, whose trace the
    /// run joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_parent: Option<String>,
}

/// One step of a stored run, or one item of a `foreach` step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredStep {
    pub step: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    pub status: Status,
    pub attempts: u32,
    /// Milliseconds since the Unix epoch; null for a step that never started.
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub duration_ms: Option<f64>,
    /// Null unless it succeeded.
    pub output: Value,
    pub error: Option<crate::StepError>,
}
