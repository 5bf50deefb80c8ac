//! What the validator needs to know about step kinds. The kinds themselves (and how they run)
//! live in `weir-steps`; the validator only sees their [`KindSpec`]s through a [`Catalog`].

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
    /// A `with` key holding a nested step (`uses`, `with`, `timeout`, `retry`) that the kind runs
    /// itself, with `item` and `index` added to the context.
    pub nested_step: Option<&'static str>,
    /// `with` keys naming another pipeline file, relative to this one.
    pub files: &'static [&'static str],
    pub effects: Effects,
}

/// What running a step of a kind does outside the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effects {
    /// Nothing: the step only computes its output. Such steps run for real in `weir dry-run`,
    /// and one whose output nothing reads is reported.
    None,
    /// Something outside the run (a request, a log line, time passing): mocked in `weir dry-run`.
    External,
    /// Whatever the steps it runs do (`foreach`, `pipeline`): those follow their own rule.
    Nested,
}

/// The set of step kinds a pipeline may use.
pub trait Catalog {
    fn kind(&self, name: &str) -> Option<&KindSpec>;
    fn kinds(&self) -> Vec<&KindSpec>;
}

impl Catalog for [&'static KindSpec] {
    fn kind(&self, name: &str) -> Option<&KindSpec> {
        self.iter().copied().find(|k| k.name == name)
    }

    fn kinds(&self) -> Vec<&KindSpec> {
        self.to_vec()
    }
}
