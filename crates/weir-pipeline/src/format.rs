//! The canonical text of a pipeline file, as `weir fmt` writes it.
//!
//! Formatting works on the spanned node tree from [`node::parse`], not on the typed model, so it
//! formats pipelines that do not validate and never drops a key it does not know. Blocks the
//! format defines (the pipeline, steps, `retry`, `backoff`, test cases, `expect`) get the
//! format's key order; everything else keeps the user's order. YAML comments, which the parser
//! does not report, are found in the source text and put back next to what they described
//! (see `comments`). JSON files stay JSON.
//!
//! Two promises, both tested: formatting is idempotent, and the formatted text parses to the
//! same value as the original. Anchors and aliases are expanded by the parser, so an alias comes
//! out as a copy of what it pointed to.

mod comments;
mod json;
mod scalar;
#[cfg(test)]
mod tests;
mod yaml;

use crate::code::Code;
use crate::decode::{BACKOFF_KEYS, EXPECT_KEYS, PIPELINE_KEYS, RETRY_KEYS, STEP_KEYS, TEST_KEYS};
use crate::diag::Diagnostic;
use crate::node::{self, Key, Node, NodeValue};
use crate::source::{Source, Span};

/// The canonical text of a pipeline file. Syntax errors come back as [`node::parse`] reports them.
///
/// A file whose first value starts with `{` is JSON and is written as pretty JSON; anything else
/// is YAML. A JSON file with `#` comments is refused, since JSON output cannot keep them.
pub fn format(source: &Source) -> Result<String, Vec<Diagnostic>> {
    let root = node::parse(source)?;
    if !is_json(source.text()) {
        return Ok(yaml::write(source, &root));
    }
    if let Some(c) = comments::scan(source, &root).first() {
        return Err(vec![
            Diagnostic::new(
                Code::Syntax,
                Span::new(c.start, c.start + 1),
                "this file is JSON (it starts with `{`) but holds a `#` comment, which JSON cannot keep",
            )
            .with_hint("remove the comments, or write the pipeline in YAML"),
        ]);
    }
    Ok(json::write(source, &root))
}

/// Whether the first thing in the text, after whitespace and comments, opens a JSON object.
fn is_json(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .is_some_and(|line| line.starts_with('{'))
}

/// Where a node stands in a pipeline, which decides the order of its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Pipeline,
    Steps,
    Step,
    Retry,
    Backoff,
    Tests,
    Test,
    Expect,
    /// Anything else (`with`, `input`, mocks, values): the user's order is kept.
    Free,
}

impl Shape {
    /// The known keys of a mapping of this shape, in the order they are written.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Shape::Pipeline => PIPELINE_KEYS,
            Shape::Step => STEP_KEYS,
            Shape::Retry => RETRY_KEYS,
            Shape::Backoff => BACKOFF_KEYS,
            Shape::Test => TEST_KEYS,
            Shape::Expect => EXPECT_KEYS,
            Shape::Steps | Shape::Tests | Shape::Free => &[],
        }
    }

    /// The shape of the value under `key` in a mapping of this shape.
    fn field(self, key: &str) -> Shape {
        match (self, key) {
            (Shape::Pipeline, "steps") => Shape::Steps,
            (Shape::Pipeline, "tests") => Shape::Tests,
            (Shape::Step, "retry") => Shape::Retry,
            (Shape::Retry, "backoff") => Shape::Backoff,
            (Shape::Test, "expect") => Shape::Expect,
            _ => Shape::Free,
        }
    }

    /// The shape of an item of a sequence of this shape.
    fn item(self) -> Shape {
        match self {
            Shape::Steps => Shape::Step,
            Shape::Tests => Shape::Test,
            _ => Shape::Free,
        }
    }

    /// Whether the items of a sequence of this shape are set apart by blank lines.
    fn spaced(self) -> bool {
        matches!(self, Shape::Steps | Shape::Tests)
    }
}

/// The entries of a mapping in the order they are written: known keys in the format's order,
/// then unknown keys in the order they came (the sort is stable).
fn ordered(entries: &[(Key, Node)], shape: Shape) -> Vec<&(Key, Node)> {
    let keys = shape.keys();
    let mut out: Vec<_> = entries.iter().collect();
    out.sort_by_key(|(k, _)| keys.iter().position(|known| *known == k.name).unwrap_or(keys.len()));
    out
}

/// Whether a collection is the expansion of an alias. Its children then stand elsewhere in the
/// source (under the anchor), and comments found there belong to the anchored original.
fn is_alias_copy(node: &Node) -> bool {
    let outside = |s: Span| s.start < node.span.start || s.end > node.span.end;
    match &node.value {
        NodeValue::Map(entries) => entries.first().is_some_and(|(k, _)| outside(k.span)),
        NodeValue::Seq(items) => {
            items.iter().find(|n| n.span.end > n.span.start).is_some_and(|n| outside(n.span))
        }
        _ => false,
    }
}
