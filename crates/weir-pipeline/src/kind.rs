//! What the validator needs to know about step kinds. The kinds themselves (and how they run)
//! live in `weir-steps`; the validator only sees their [`KindSpec`]s through a [`Catalog`].

pub use crate::decode::NESTED_STEP_KEYS;
use serde_json::{Map, Value};

/// Static description of a step kind.
#[derive(Debug)]
pub struct KindSpec {
    pub name: &'static str,
    /// One line for `--help`, docs and "unknown kind" messages.
    pub summary: &'static str,
    /// JSON Schema of the kind's `with` block, generated from its config type.
    pub schema: fn() -> schemars::Schema,
    /// `with` keys that hold jq programs (not `${{ }}` templates), compiled at validation and
    /// evaluated by the kind itself.
    pub programs: &'static [&'static str],
    /// A `with` key holding a nested step ([`NESTED_STEP_KEYS`]: `uses`, `with`, `timeout`,
    /// `retry`) that the kind runs itself, with `item` and `index` added to the context.
    pub nested_step: Option<&'static str>,
    /// `with` keys naming another pipeline file, relative to this one.
    pub files: &'static [&'static str],
    pub effects: Effects,
    /// Rules that span several `with` keys, which a schema per key cannot say (e.g. "exactly one
    /// of `step` and `pipeline`"). The validator runs it on every step of the kind, so a `Plan`
    /// never holds a step that breaks one and the kind need not check again when it runs.
    /// Kinds without such rules use [`no_rules`].
    pub check: fn(With<'_>) -> Vec<Problem>,
}

/// A step's `with` block as written, before any `${{ }}` in it is evaluated. An expression's
/// value is known only when the step runs, but whether a key is there is always known, and that
/// is what most rules across keys need.
#[derive(Clone, Copy, Debug)]
pub struct With<'a>(&'a Map<String, Value>);

impl<'a> With<'a> {
    pub fn new(block: &'a Map<String, Value>) -> Self {
        Self(block)
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The value of `key` as written: a `${{ }}` string stands for a value of any type.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key)
    }
}

/// A rule across `with` keys that a step breaks, found by [`KindSpec::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The keys the rule is about. The diagnostic points at the one written last (of two keys
    /// that exclude each other, the second), or at the `with` block when none is written.
    pub keys: &'static [&'static str],
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(keys: &'static [&'static str], message: impl Into<String>) -> Self {
        Self { keys, message: message.into(), hint: None }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// [`KindSpec::check`] of a kind whose `with` keys are each checked on their own by its schema.
pub fn no_rules(_: With<'_>) -> Vec<Problem> {
    Vec::new()
}

/// What running a step of a kind does outside the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effects {
    /// Nothing: the step only computes its output. Such steps run for real in `weir dry-run`,
    /// and one whose output nothing reads is reported.
    None,
    /// Something seen outside the run that stays in the process (a log line, time passing):
    /// mocked in `weir dry-run`, run by `weir test`, whose virtual time makes waiting free.
    Local,
    /// A call outside the process (a request): mocked in `weir dry-run`, and refused by
    /// `weir test` unless mocked or allowed, so that tests do not depend on the world.
    External,
    /// Whatever the steps it runs do (`foreach`, `pipeline`): those follow their own rule.
    Nested,
}

impl Effects {
    /// Whether `weir dry-run` mocks a step of this effect instead of running it: every effect
    /// seen outside the run, local or not.
    pub fn mocked_in_dry_run(self) -> bool {
        matches!(self, Effects::Local | Effects::External)
    }
}

/// The set of step kinds a pipeline may use.
pub trait Catalog {
    fn kind(&self, name: &str) -> Option<&KindSpec>;
    fn kinds(&self) -> Vec<&KindSpec>;

    /// What it takes to have a kind this catalogue leaves out (say, a cargo feature the build went
    /// without), to tell the user in place of "did you mean".
    fn unavailable(&self, name: &str) -> Option<&str> {
        let _ = name;
        None
    }
}

impl Catalog for [&'static KindSpec] {
    fn kind(&self, name: &str) -> Option<&KindSpec> {
        self.iter().copied().find(|k| k.name == name)
    }

    fn kinds(&self) -> Vec<&KindSpec> {
        self.to_vec()
    }
}
