//! Resuming an interrupted run: what it recorded before it stopped, which the store reads back
//! and the engine continues from.
//!
//! A resumed run keeps its id, seed and start time. The steps (and `foreach` items, and
//! sub-pipeline runs) that had ended are not run again: their recorded results stand in, and
//! they get no second terminal event. A step that was running when the process stopped runs
//! again — at least once, so a step with effects outside the process should use its
//! [`StepCx::idempotency_key`](crate::StepCx::idempotency_key). The interrupted attempt counts:
//! the step goes on from the next attempt number, and gets at least one attempt whatever its
//! `retry` allows. The run's span of this process is a new one in the trace the run started
//! in, without a parent: the spans of its first process stand as they were sent.

use crate::error::StepError;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// What [`RunOptions::resume`](crate::RunOptions::resume) continues.
#[derive(Clone, Debug)]
pub struct Resume {
    /// The run as it was recorded.
    pub run: Prior,
    /// The `seq` of the first new event: past every event the run's tree recorded.
    pub next_seq: u64,
}

/// One run as it was recorded: the root run, or a sub-pipeline run.
#[derive(Clone, Debug)]
pub struct Prior {
    pub run_id: String,
    pub seed: u64,
    /// When the run first started (`run.started_at` in its expressions).
    pub started_at: SystemTime,
    /// The trace it started in, which it goes on in; none for a run recorded before runs were
    /// traced.
    pub trace_id: Option<crate::TraceId>,
    /// What was recorded of each step, by id; steps that never started are absent.
    pub steps: HashMap<String, PriorStep>,
}

/// What was recorded of one step.
#[derive(Clone, Debug, Default)]
pub struct PriorStep {
    /// How it ended, if it did.
    pub ended: Option<Ended>,
    /// Attempts it began: the next attempt after a resume is numbered one more.
    pub begun: u32,
    /// The `foreach` items that ended, by index.
    pub items: HashMap<usize, Ended>,
    /// Attempts begun by each `foreach` item that had not ended.
    pub items_begun: HashMap<usize, u32>,
    /// The sub-pipeline runs it started (by `foreach` item; `None` for a `pipeline` step) that
    /// may be continued: the latest of each, unless it failed or was cancelled (a new attempt
    /// starts a new run then).
    pub runs: HashMap<Option<usize>, PriorRun>,
}

/// A sub-pipeline run, as recorded.
#[derive(Clone, Debug)]
pub enum PriorRun {
    /// It succeeded with this output.
    Succeeded { run_id: String, output: Value },
    /// It had not ended.
    Unfinished(Box<Prior>),
}

/// How a step or item ended.
#[derive(Clone, Debug)]
pub enum Ended {
    Succeeded { output: Value, attempts: u32, duration: Duration },
    Failed { error: StepError, attempts: u32, duration: Duration },
    Skipped,
}

impl Prior {
    /// What was recorded of `step`, if it started.
    pub(crate) fn step(&self, step: &str) -> Option<&PriorStep> {
        self.steps.get(step)
    }
}
