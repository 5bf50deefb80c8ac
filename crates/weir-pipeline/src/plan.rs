//! A validated pipeline, ready to run: steps by index, expressions compiled.

use crate::ancestry::{self, Graph};
use crate::duration::Duration;
use crate::expr::{ProgramId, Programs};
use crate::kind::Effects;
use crate::model::{Pipeline, Retry};
use crate::source::{Source, Span};
use crate::template::Template;
use std::collections::HashMap;
use std::sync::Arc;

/// A pipeline that passed validation. Produced only by [`crate::load`], and read-only after:
/// its fields are private, so a `Plan` is always a valid pipeline and the engine never re-checks.
#[derive(Debug)]
pub struct Plan {
    source: Source,
    pipeline: Pipeline,
    steps: Vec<PlanStep>,
    programs: Programs,
    output: Option<ProgramId>,
    sinks: Vec<usize>,
    input_schema: Option<InputSchema>,
    imports: Vec<Import>,
    index: HashMap<String, usize>,
    digest: String,
}

/// A compiled `input` JSON Schema.
pub(crate) struct InputSchema(pub(crate) jsonschema::Validator);

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

/// One step of a [`Plan`]: ids resolved to indices, expressions compiled.
#[derive(Debug)]
pub struct PlanStep {
    /// Shared, so the events about the step name it without a copy.
    pub(crate) id: Arc<str>,
    pub(crate) kind: Arc<str>,
    pub(crate) effects: Effects,
    pub(crate) needs: Vec<usize>,
    pub(crate) dependents: Vec<usize>,
    pub(crate) condition: Option<ProgramId>,
    pub(crate) with: Template,
    pub(crate) programs: Vec<(&'static str, ProgramId)>,
    pub(crate) nested: Option<Box<PlanStep>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<Retry>,
    pub(crate) on_error: Route,
    pub(crate) handled: Vec<usize>,
    pub(crate) reads: StepReads,
}

impl PlanStep {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The step kind's name (`uses`).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The id and the kind's name, shared: what the events about the step carry.
    pub fn names(&self) -> (&Arc<str>, &Arc<str>) {
        (&self.id, &self.kind)
    }

    pub fn effects(&self) -> Effects {
        self.effects
    }

    /// The steps it needs, by index.
    pub fn needs(&self) -> &[usize] {
        &self.needs
    }

    /// The steps that need it, by index.
    pub fn dependents(&self) -> &[usize] {
        &self.dependents
    }

    /// Its `if` expression.
    pub fn condition(&self) -> Option<ProgramId> {
        self.condition
    }

    /// The `with` block with `${{ }}` compiled; program and nested-step keys are kept as written.
    pub fn with(&self) -> &Template {
        &self.with
    }

    /// The program of one of its kind's program fields (see [`crate::KindSpec::programs`]), e.g.
    /// `expr` of a `transform` step.
    pub fn program(&self, field: &str) -> Option<ProgramId> {
        self.programs.iter().find(|(f, _)| *f == field).map(|&(_, id)| id)
    }

    /// The kind's nested step (see [`crate::KindSpec::nested_step`]).
    pub fn nested(&self) -> Option<&PlanStep> {
        self.nested.as_deref()
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub fn retry(&self) -> Option<&Retry> {
        self.retry.as_ref()
    }

    pub fn on_error(&self) -> Route {
        self.on_error
    }

    /// The steps that name this one in `on_error`: when there are any, it is a handler and runs
    /// only when one of them fails.
    pub fn handled(&self) -> &[usize] {
        &self.handled
    }

    /// The results of other steps its expressions read.
    pub fn reads(&self) -> &StepReads {
        &self.reads
    }
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
        let index = steps.iter().enumerate().map(|(i, s)| (s.id.to_string(), i)).collect();
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

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The pipeline as written.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The steps, in file order; `needs` and handlers are indices into this list.
    pub fn steps(&self) -> &[PlanStep] {
        &self.steps
    }

    /// Every expression of the pipeline, compiled together.
    pub fn programs(&self) -> &Programs {
        &self.programs
    }

    /// The `output` expression, if any.
    pub fn output(&self) -> Option<ProgramId> {
        self.output
    }

    /// Steps that no other step needs and that are not error handlers: the default output.
    pub fn sinks(&self) -> &[usize] {
        &self.sinks
    }

    /// Other pipeline files this one runs (`pipeline` steps, `foreach` with `pipeline:`).
    pub fn imports(&self) -> &[Import] {
        &self.imports
    }

    /// Checks a run's input against the `input` schema; every violation as (JSON pointer into
    /// the input, message).
    pub fn check_input(&self, input: &serde_json::Value) -> Result<(), Vec<(String, String)>> {
        let Some(schema) = &self.input_schema else {
            return Ok(());
        };
        let problems: Vec<(String, String)> = schema
            .0
            .iter_errors(input)
            .map(|e| (e.instance_path().as_str().to_owned(), e.to_string()))
            .collect();
        if problems.is_empty() { Ok(()) } else { Err(problems) }
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

    /// Step `i` and every step whose run follows from it: its dependents and the handler of its
    /// failures, and theirs, in index order. What runs again when a run is replayed from `i`.
    pub fn downstream(&self, i: usize) -> Vec<usize> {
        let mut seen = vec![false; self.steps.len()];
        let mut todo = vec![i];
        seen[i] = true;
        while let Some(j) = todo.pop() {
            let handler = match self.steps[j].on_error() {
                Route::Handler(h) => Some(h),
                Route::Continue | Route::Fail => None,
            };
            for &next in self.steps[j].dependents().iter().chain(handler.as_ref()) {
                if !std::mem::replace(&mut seen[next], true) {
                    todo.push(next);
                }
            }
        }
        (0..self.steps.len()).filter(|&j| seen[j]).collect()
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

#[cfg(test)]
mod tests {
    use crate::{KindSpec, Source};

    struct Kinds;

    static PASS: KindSpec = KindSpec {
        name: "pass",
        summary: "",
        schema: || schemars::json_schema!({}),
        programs: &[],
        nested_step: None,
        files: &[],
        effects: crate::Effects::Local,
        check: crate::kind::no_rules,
    };

    impl crate::Catalog for Kinds {
        fn kind(&self, name: &str) -> Option<&KindSpec> {
            (name == "pass").then_some(&PASS)
        }

        fn kinds(&self) -> Vec<&KindSpec> {
            vec![&PASS]
        }
    }

    #[test]
    fn downstream_is_what_follows_from_a_step_through_needs_and_handlers() {
        let text = "name: d
steps:
  - { id: a, uses: pass }
  - { id: b, uses: pass, needs: [a], on_error: h }
  - { id: side, uses: pass }
  - { id: c, uses: pass, needs: [b] }
  - { id: d, uses: pass, needs: [c, side] }
  - { id: h, uses: pass }
";
        let loaded = crate::load(Source::new("d.yaml", text), &Kinds);
        let plan = loaded.plan.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        let ids = |from: &str| -> Vec<&str> {
            let i = plan.step_index(from).unwrap();
            plan.downstream(i).into_iter().map(|j| plan.steps()[j].id()).collect()
        };
        assert_eq!(ids("b"), ["b", "c", "d", "h"], "dependents, theirs, and its handler");
        assert_eq!(ids("side"), ["side", "d"]);
        assert_eq!(ids("a"), ["a", "b", "c", "d", "h"]);
        assert_eq!(ids("d"), ["d"]);
    }
}
