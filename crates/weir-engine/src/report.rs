//! What a run reports when it ends.

use crate::error::{ErrorKind, StepError};
use serde_json::Value;
use std::fmt;
use std::time::Duration;
use weir_pipeline::Status;

#[derive(Clone, Debug)]
pub struct RunReport {
    pub run_id: String,
    pub pipeline: String,
    pub status: Status,
    /// The run's output (null unless it succeeded).
    pub output: Value,
    /// Why the run failed or was cancelled.
    pub error: Option<RunFailure>,
    /// Every step, in file order.
    pub steps: Vec<StepReport>,
    pub duration: Duration,
}

/// The failure that ended a run: which step, its error and how many attempts it made.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFailure {
    /// None when the run itself failed (its `output` expression) or was cancelled.
    pub step: Option<String>,
    pub kind: ErrorKind,
    pub message: String,
    pub attempts: u32,
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.step {
            // A refused step made no attempt; "failed after 0 attempts" would hide why.
            Some(step) if self.kind == ErrorKind::Refused => {
                write!(f, "step \"{step}\" was refused: {}", self.message)
            }
            // A step can fail before any attempt: its `if` or `with` could not be evaluated.
            Some(step) if self.attempts == 0 => write!(f, "step \"{step}\" failed: {}", self.message),
            Some(step) => {
                let s = if self.attempts == 1 { "" } else { "s" };
                write!(f, "step \"{step}\" failed after {} attempt{s}: {}", self.attempts, self.message)
            }
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Clone, Debug)]
pub struct StepReport {
    pub id: String,
    pub kind: String,
    pub status: Status,
    pub attempts: u32,
    pub duration: Option<Duration>,
    pub error: Option<StepError>,
    /// The work it ran, from its last attempt: each `foreach` item (by index), or the run of a
    /// `pipeline` step.
    pub nested: Vec<NestedReport>,
}

/// One `foreach` item, or one sub-pipeline run, of a step.
#[derive(Clone, Debug, PartialEq)]
pub struct NestedReport {
    /// The item's index; none for a `pipeline` step's run.
    pub item: Option<usize>,
    /// The id of the sub-pipeline run, when it ran one.
    pub run_id: Option<String>,
    pub status: Status,
    /// Attempts of the item's step (a sub-pipeline run counts as one).
    pub attempts: u32,
    pub duration: Duration,
    pub error: Option<StepError>,
}

/// The run input does not match the pipeline's `input` schema; the run did not start.
#[derive(Clone, Debug, thiserror::Error)]
pub struct InputError {
    /// (JSON pointer into the input, message) for every violation.
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the input does not match the pipeline's `input` schema:")?;
        for (path, message) in &self.problems {
            let at = if path.is_empty() { "(root)" } else { path };
            write!(f, "\n  at {at}: {message}")?;
        }
        Ok(())
    }
}
