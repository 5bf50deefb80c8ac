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
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether a mock stood in for it.
    #[serde(default)]
    pub mocked: bool,
    /// The resolved configuration a mocked step would have run with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_call: Option<Value>,
}
