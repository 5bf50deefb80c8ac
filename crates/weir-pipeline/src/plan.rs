//! A validated pipeline, ready to run: steps by index, expressions compiled.

use crate::ancestry::{self, Graph};
use crate::duration::Duration;
use crate::expr::{ProgramId, Programs};
use crate::kind::Effects;
use crate::model::{Pipeline, Retry};
use crate::source::{Source, Span};
use crate::template::Template;
use std::collections::HashMap;

/// A pipeline that passed validation. Produced only by [`crate::load`].
#[derive(Debug)]
pub struct Plan {
    pub source: Source,
    /// The pipeline as written.
    pub pipeline: Pipeline,
    /// The steps, in file order; `needs` and handlers are indices into this list.
    pub steps: Vec<PlanStep>,
    pub programs: Programs,
    /// The `output` expression, if any.
    pub output: Option<ProgramId>,
    /// Steps that no other step needs and that are not error handlers: the default output.
    pub sinks: Vec<usize>,
    pub input_schema: Option<InputSchema>,
    /// Other pipeline files this one runs (`pipeline` steps, `foreach` with `pipeline:`).
    pub imports: Vec<Import>,
    index: HashMap<String, usize>,
    digest: String,
}

/// A compiled `input` JSON Schema.
pub struct InputSchema(pub jsonschema::Validator);

impl std::fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InputSchema")
    }
}

/// A reference to another pipeline file, as written (relative to this file).
#[derive(Clone, Debug)]
pub struct Import {
    pub file: String,
    pub span: Span,
}

#[derive(Debug)]
pub struct PlanStep {
    pub id: String,
    pub kind: String,
    pub effects: Effects,
    pub needs: Vec<usize>,
    pub dependents: Vec<usize>,
    pub condition: Option<ProgramId>,
    /// The `with` block with `${{ }}` compiled; program and nested-step keys are kept as written.
    pub with: Template,
    /// The kind's jq program fields (see [`crate::KindSpec::programs`]).
    pub programs: Vec<(&'static str, ProgramId)>,
    /// The kind's nested step (see [`crate::KindSpec::nested_step`]).
    pub nested: Option<Box<PlanStep>>,
    pub timeout: Option<Duration>,
    pub retry: Option<Retry>,
    pub on_error: Route,
    /// The steps that name this one in `on_error`: when there are any, it is a handler and runs
    /// only when one of them fails.
    pub handled: Vec<usize>,
    /// The results of other steps its expressions read.
    pub reads: StepReads,
}

/// Which results of other steps a step's expressions read. Either way they are results of steps
/// that have finished before it starts, so what a step sees never depends on timing.
#[derive(Clone, Debug, PartialEq)]
pub enum StepReads {
    /// Exactly these steps, by index (none for a step without expressions).
    Only(Vec<usize>),
    /// A read that could not be proven: every step that has finished before it.
    Visible,
}

impl PlanStep {
    pub fn is_handler(&self) -> bool {
        !self.handled.is_empty()
    }

    /// Whether any of its expressions runs, so it needs a run context at all.
    pub fn has_expressions(&self) -> bool {
        self.condition.is_some()
            || !self.with.is_static()
            || !self.programs.is_empty()
            || self.nested.is_some()
    }
}

impl Graph for [PlanStep] {
    fn needs(&self, step: usize) -> &[usize] {
        &self[step].needs
    }

    fn handled(&self, step: usize) -> &[usize] {
        &self[step].handled
    }

    fn len(&self) -> usize {
        <[PlanStep]>::len(self)
    }
}

/// Where a step's failure goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Fail,
    Continue,
    Handler(usize),
}

impl Plan {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        source: Source,
        pipeline: Pipeline,
        steps: Vec<PlanStep>,
        programs: Programs,
        output: Option<ProgramId>,
        input_schema: Option<InputSchema>,
        imports: Vec<Import>,
    ) -> Self {
        let index = steps.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        let sinks =
            (0..steps.len()).filter(|&i| steps[i].dependents.is_empty() && !steps[i].is_handler()).collect();
        let digest = digest(source.text());
        Self { source, pipeline, steps, programs, output, sinks, input_schema, imports, index, digest }
    }

    /// `sha256:` and the hex SHA-256 of the file's text: which version of the pipeline ran.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    pub fn name(&self) -> &str {
        &self.pipeline.name
    }

    /// The index of the step with this id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The steps whose results step `i` may read: those that have certainly finished when it
    /// starts.
    pub fn visible(&self, i: usize) -> Vec<usize> {
        ancestry::visible(&self.steps[..], i)
    }

    /// The program of a kind's program field, e.g. `expr` of a `transform` step.
    pub fn program(step: &PlanStep, field: &str) -> Option<ProgramId> {
        step.programs.iter().find(|(f, _)| *f == field).map(|&(_, id)| id)
    }
}

fn digest(text: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}
