//! The run context that expressions see: `{input, steps: {<id>: {output, status, error,
//! attempts}}, run: {id, pipeline, started_at}}`, kept as jq values.
//!
//! Each step gets a context of its own, holding only the results of steps that have certainly
//! finished before it (its ancestors; see `weir_pipeline::Plan::visible`), and of those only the
//! ones its expressions read when validation could prove which. A step that has not finished is
//! never in it, so what an expression sees does not depend on timing.
//!
//! Values are reference-counted: building a step's context copies a few pointers, not results.

use jaq_json::{Map, Val};
use serde_json::Value;
use weir_pipeline::Status;
use weir_pipeline::expr::{key, to_json, to_val};

/// The finished steps' results and what every context shares.
pub(crate) struct Context {
    keys: Keys,
    input: Val,
    run: Val,
    /// Each finished step's entry `{output, status, error, attempts}`, by step index.
    results: Vec<Option<Val>>,
}

/// Keys used on every update, built once.
struct Keys {
    input: Val,
    steps: Val,
    run: Val,
    output: Val,
    status: Val,
    error: Val,
    attempts: Val,
    /// Step ids, by step index.
    ids: Vec<Val>,
    /// The status words, by `Status` order.
    statuses: Vec<Val>,
}

impl Context {
    pub(crate) fn new<'s>(ids: impl Iterator<Item = &'s str>, input: &Value, run: &Value) -> Self {
        let keys = Keys {
            input: key("input"),
            steps: key("steps"),
            run: key("run"),
            output: key("output"),
            status: key("status"),
            error: key("error"),
            attempts: key("attempts"),
            ids: ids.map(key).collect(),
            statuses: Status::ALL.iter().map(|s| key(s.as_str())).collect(),
        };
        let results = vec![None; keys.ids.len()];
        Self { keys, input: to_val(input), run: to_val(run), results }
    }

    /// Records a finished step.
    pub(crate) fn finish(
        &mut self,
        step: usize,
        status: Status,
        output: Val,
        error: Option<&str>,
        attempts: u32,
    ) {
        let k = &self.keys;
        let status = k.statuses[Status::ALL.iter().position(|x| *x == status).unwrap_or(0)].clone();
        let mut m = Map::default();
        m.insert(k.output.clone(), output);
        m.insert(k.status.clone(), status);
        m.insert(k.error.clone(), error.map_or(Val::Null, key));
        m.insert(k.attempts.clone(), Val::from(attempts as isize));
        self.results[step] = Some(Val::obj(m));
    }

    /// The context with the results of `steps` (those of them that finished).
    pub(crate) fn scope(&self, steps: impl IntoIterator<Item = usize>) -> Val {
        let k = &self.keys;
        let entries: Map =
            steps.into_iter().filter_map(|i| Some((k.ids[i].clone(), self.results[i].clone()?))).collect();
        let mut root = Map::default();
        root.insert(k.input.clone(), self.input.clone());
        root.insert(k.steps.clone(), Val::obj(entries));
        root.insert(k.run.clone(), self.run.clone());
        Val::obj(root)
    }

    /// The context with every finished step's result: what the run's `output` sees.
    pub(crate) fn all(&self) -> Val {
        self.scope(0..self.results.len())
    }

    /// A finished step's output as JSON (null when it has none).
    pub(crate) fn output(&self, step: usize) -> Value {
        match &self.results[step] {
            // Outputs are stored from JSON, so they convert back without loss.
            Some(Val::Obj(entry)) => {
                entry.get(&self.keys.output).and_then(|v| to_json(v).ok()).unwrap_or_default()
            }
            _ => Value::Null,
        }
    }
}

/// The context seen by a nested step: the step's context plus `item` and `index`.
pub(crate) fn with_item(scope: &Val, item: &Value, index: usize) -> Val {
    let mut scope = scope.clone();
    if let Val::Obj(root) = &mut scope {
        let root = jaq_json::Rc::make_mut(root);
        root.insert(key("item"), to_val(item));
        root.insert(key("index"), Val::from(index as isize));
    }
    scope
}
