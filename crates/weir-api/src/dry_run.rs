//! `weir dry-run --json`: the walk through a pipeline with its side effects mocked.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_pipeline::Status;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DryRunReport {
    pub status: Status,
    pub output: Value,
    pub error: Option<String>,
    /// The pipeline's steps in the order they finished.
    pub steps: Vec<DryRunStep>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DryRunStep {
    /// 1 for the first step to finish.
    pub order: usize,
    pub id: String,
    pub kind: String,
    #[serde(flatten)]
    pub outcome: DryRunOutcome,
    /// Why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether a mock stood in for it: its `output` is the mock's (`--mock`), or null.
    #[serde(default)]
    pub mocked: bool,
    /// A `foreach` step's items, by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<DryRunItem>,
}

/// One item of a `foreach` step: its nested step, or the walk of the pipeline it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DryRunItem {
    /// From 0, as jq counts.
    pub index: usize,
    /// The kind of the nested step, or `pipeline` for a run of the pipeline.
    pub kind: String,
    #[serde(flatten)]
    pub outcome: DryRunOutcome,
}

/// How a step or an item ended in the walk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DryRunOutcome {
    pub status: Walked,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resolved configuration it would have run with, when a mock stood in for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_call: Option<Value>,
    /// The walk of the pipeline it ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<DryRunStep>,
}

/// How far the walk got with a step or an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Walked {
    Succeeded,
    Failed,
    Skipped,
    /// Stopped while it ran, when another step failed.
    Cancelled,
    /// Never started: the run ended before the walk reached it.
    NotReached,
}

impl std::fmt::Display for Walked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Walked::Succeeded => "succeeded",
            Walked::Failed => "failed",
            Walked::Skipped => "skipped",
            Walked::Cancelled => "cancelled",
            Walked::NotReached => "not reached",
        })
    }
}

impl From<Status> for Walked {
    /// The end of a step or run as the walk shows it; one that never ended was not reached.
    fn from(status: Status) -> Self {
        match status {
            Status::Succeeded => Walked::Succeeded,
            Status::Failed => Walked::Failed,
            Status::Skipped => Walked::Skipped,
            Status::Cancelled => Walked::Cancelled,
            Status::Pending | Status::Running | Status::Waiting => Walked::NotReached,
        }
    }
}
