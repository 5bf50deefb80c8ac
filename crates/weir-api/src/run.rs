//! `weir run --json`: the summary of a run.

use crate::ms;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_pipeline::Status;

/// How a run ended, step by step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub pipeline: String,
    pub status: Status,
    /// The run's output; null unless it succeeded.
    pub output: Value,
    pub error: Option<RunError>,
    pub duration_ms: f64,
    /// Every step, in file order.
    pub steps: Vec<StepSummary>,
}

/// Why a run failed or was cancelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunError {
    /// The step whose failure ended the run; null when the run's `output` failed or the run was
    /// cancelled.
    pub step: Option<String>,
    pub kind: String,
    pub message: String,
    pub attempts: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    pub id: String,
    pub kind: String,
    pub status: Status,
    pub attempts: u32,
    /// Null for a step that never started.
    pub duration_ms: Option<f64>,
    pub error: Option<StepError>,
    /// Each `foreach` item of the last attempt, or a `pipeline` step's run; omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nested: Vec<NestedSummary>,
}

/// A step's error: its kind (a label such as `timeout`) and message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    pub kind: String,
    pub message: String,
}

/// One `foreach` item, or one sub-pipeline run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NestedSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub status: Status,
    pub attempts: u32,
    pub duration_ms: f64,
    pub error: Option<StepError>,
}

impl From<&weir_engine::RunReport> for RunSummary {
    fn from(r: &weir_engine::RunReport) -> Self {
        RunSummary {
            run_id: r.run_id.clone(),
            pipeline: r.pipeline.clone(),
            status: r.status,
            output: r.output.clone(),
            error: r.error.as_ref().map(|e| RunError {
                step: e.step.clone(),
                kind: e.kind.as_str().to_owned(),
                message: e.message.clone(),
                attempts: e.attempts,
            }),
            duration_ms: ms(r.duration),
            steps: r.steps.iter().map(StepSummary::from).collect(),
        }
    }
}

impl From<&weir_engine::StepReport> for StepSummary {
    fn from(s: &weir_engine::StepReport) -> Self {
        StepSummary {
            id: s.id.clone(),
            kind: s.kind.clone(),
            status: s.status,
            attempts: s.attempts,
            duration_ms: s.duration.map(ms),
            error: s.error.as_ref().map(StepError::from),
            nested: s.nested.iter().map(NestedSummary::from).collect(),
        }
    }
}

impl From<&weir_engine::NestedReport> for NestedSummary {
    fn from(n: &weir_engine::NestedReport) -> Self {
        NestedSummary {
            item: n.item,
            run_id: n.run_id.clone(),
            status: n.status,
            attempts: n.attempts,
            duration_ms: ms(n.duration),
            error: n.error.as_ref().map(StepError::from),
        }
    }
}

impl From<&weir_engine::StepError> for StepError {
    fn from(e: &weir_engine::StepError) -> Self {
        StepError { kind: e.kind.as_str().to_owned(), message: e.message.clone() }
    }
}
