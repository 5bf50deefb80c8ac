//! The run context that expressions see: `{input, steps: {<id>: {output, status, error,
//! attempts}}, run: {id, pipeline, started_at}}`, kept as a jq value and updated in place.
//!
//! Values are reference-counted; the engine is the only holder of the top-level maps between
//! evaluations, so an update touches one entry instead of copying the context.

use jaq_json::{Map, Rc, Val};
use serde_json::Value;
use weir_pipeline::Status;
use weir_pipeline::expr::{key, to_val};

/// Keys used on every update, built once.
pub(crate) struct Keys {
    steps: Val,
    output: Val,
    status: Val,
    error: Val,
    attempts: Val,
    /// Step ids, by step index.
    pub(crate) ids: Vec<Val>,
    /// The status words, by `Status` order.
    statuses: Vec<Val>,
}

impl Keys {
    pub(crate) fn new<'s>(ids: impl Iterator<Item = &'s str>) -> Self {
        Self {
            steps: key("steps"),
            output: key("output"),
            status: key("status"),
            error: key("error"),
            attempts: key("attempts"),
            ids: ids.map(key).collect(),
            statuses: Status::ALL.iter().map(|s| key(s.as_str())).collect(),
        }
    }

    fn status(&self, s: Status) -> Val {
        self.statuses[Status::ALL.iter().position(|x| *x == s).unwrap_or(0)].clone()
    }

    /// The entry of a step that has not run.
    fn pending(&self) -> Val {
        self.entry(Status::Pending, Val::Null, Val::Null, 0)
    }

    fn entry(&self, status: Status, output: Val, error: Val, attempts: u32) -> Val {
        let mut m = Map::default();
        m.insert(self.output.clone(), output);
        m.insert(self.status.clone(), self.status(status));
        m.insert(self.error.clone(), error);
        m.insert(self.attempts.clone(), Val::from(attempts as isize));
        Val::obj(m)
    }
}

/// Builds the context at the start of a run.
pub(crate) fn new(keys: &Keys, input: &Value, run: Value) -> Val {
    let pending = keys.pending();
    let steps: Map = keys.ids.iter().map(|id| (id.clone(), pending.clone())).collect();
    let mut root = Map::default();
    root.insert(key("input"), to_val(input));
    root.insert(keys.steps.clone(), Val::obj(steps));
    root.insert(key("run"), to_val(&run));
    Val::obj(root)
}

/// Records a finished step.
pub(crate) fn finish(
    ctx: &mut Val,
    keys: &Keys,
    step: usize,
    status: Status,
    output: Val,
    error: Option<&str>,
    attempts: u32,
) {
    let error = error.map_or(Val::Null, key);
    let entry = keys.entry(status, output, error, attempts);
    if let Val::Obj(root) = ctx
        && let Some(Val::Obj(steps)) = Rc::make_mut(root).get_mut(&keys.steps)
    {
        Rc::make_mut(steps).insert(keys.ids[step].clone(), entry);
    }
}

/// The context seen by a nested step: the run context plus `item` and `index`.
pub(crate) fn with_item(scope: &Val, item: &Value, index: usize) -> Val {
    let mut scope = scope.clone();
    if let Val::Obj(root) = &mut scope {
        let root = Rc::make_mut(root);
        root.insert(key("item"), to_val(item));
        root.insert(key("index"), Val::from(index as isize));
    }
    scope
}
