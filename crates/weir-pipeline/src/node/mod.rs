//! A YAML or JSON document as a tree of nodes that remember where they stand in the source.
//!
//! Each format has its own reader, held to its own standard: [`json`] reads RFC 8259 JSON and
//! nothing more, [`yaml`] reads YAML 1.2. Both build the same tree, with the same spans and the
//! same rule for numbers ([`number`]), so what follows them cannot tell the formats apart.

mod json;
mod number;
mod yaml;

use crate::code::Code;
use crate::diag::Diagnostic;
use crate::source::{Source, Span};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

pub(crate) use yaml::resolve_plain;

/// How deep mappings and sequences may nest; deeper documents are rejected rather than risking the stack.
const MAX_DEPTH: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// How a string scalar was written; a span of a quoted string includes its quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// One step of a path into a document: a mapping key or a sequence index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

impl Node {
    /// A short name of the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Number(_) => "a number",
            NodeValue::String(..) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s, _) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    /// The span of a mapping key (falling back to the whole node).
    pub fn key_span(&self, key: &str) -> Span {
        self.as_map().and_then(|m| m.iter().find(|(k, _)| k.name == key)).map_or(self.span, |(k, _)| k.span)
    }

    /// The node at `path`, or the deepest node on the way to it when the path leaves the tree.
    pub fn at(&self, path: &[Seg<'_>]) -> &Node {
        let mut node = self;
        for seg in path {
            let next = match (seg, &node.value) {
                (Seg::Key(k), NodeValue::Map(_)) => node.get(k),
                (Seg::Index(i), NodeValue::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// The span of the text inside a string scalar, without its quotes.
    pub fn content_span(&self) -> Span {
        match &self.value {
            NodeValue::String(_, Style::SingleQuoted | Style::DoubleQuoted)
                if self.span.end > self.span.start + 1 =>
            {
                Span::new(self.span.start + 1, self.span.end - 1)
            }
            _ => self.span,
        }
    }

    /// The plain JSON value of this node.
    pub fn to_value(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s, _) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries.iter().map(|(k, v)| (k.name.clone(), v.to_value())).collect::<Map<_, _>>(),
            ),
        }
    }
}

/// Which standard a file is read by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// By the file's extension: `.json` is JSON, `.yaml`/`.yml` YAML. A name with neither (a
    /// pipeline on stdin) is JSON when its first character (past blanks) is `{`, else YAML.
    pub fn of(source: &Source) -> Format {
        let name = source.name().to_ascii_lowercase();
        if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if source.text().trim_start_matches(['\u{FEFF}', ' ', '\t', '\r', '\n']).starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// A document read far enough to be checked further.
#[derive(Debug)]
pub struct Parsed {
    pub root: Node,
    /// Errors that leave the tree readable (a key twice in one mapping): reported with whatever
    /// else is wrong with the file, so one does not hide the others.
    pub problems: Vec<Diagnostic>,
}

/// Reads a pipeline file by its [`Format`]. A syntax error ends the reading (a reader cannot
/// meaningfully go on after one) and is the only diagnostic; the errors that leave a tree come
/// back with it.
pub fn read(source: &Source) -> Result<Parsed, Vec<Diagnostic>> {
    match Format::of(source) {
        Format::Json => json::parse(source),
        Format::Yaml => yaml::parse(source),
    }
}

/// The tree of a document without errors: [`read`], with its problems as errors.
pub fn parse(source: &Source) -> Result<Node, Vec<Diagnostic>> {
    let parsed = read(source)?;
    if parsed.problems.is_empty() { Ok(parsed.root) } else { Err(parsed.problems) }
}

/// The diagnostic of a file with no value in it.
fn empty() -> Diagnostic {
    Diagnostic::new(Code::Syntax, Span::point(0), "the file is empty")
        .with_hint("a pipeline needs at least `name:` and `steps:`")
}

/// The entries of a mapping being read, with the index of each key for finding duplicates in
/// constant time.
#[derive(Default)]
struct Entries {
    entries: Vec<(Key, Node)>,
    index: HashMap<String, usize>,
}

impl Entries {
    /// Adds an entry; a key already there is kept (both are in the tree) and reported.
    fn insert(&mut self, source: &Source, key: Key, node: Node) -> Option<Diagnostic> {
        let duplicate = match self.index.get(&key.name) {
            Some(&first) => {
                let first = source.line_col(self.entries[first].0.span.start);
                let message = format!("duplicate key \"{}\"", key.name);
                let hint = format!("the first \"{}\" is on line {}", key.name, first.line);
                Some(Diagnostic::new(Code::DuplicateKey, key.span, message).with_hint(hint))
            }
            None => {
                self.index.insert(key.name.clone(), self.entries.len());
                None
            }
        };
        self.entries.push((key, node));
        duplicate
    }

    fn last_end(&self) -> Option<usize> {
        self.entries.last().map(|(_, n)| n.span.end)
    }

    fn into_vec(self) -> Vec<(Key, Node)> {
        self.entries
    }
}

/// The character of the `\uXXXX` escape at `at` (on its backslash), and the bytes it takes: a
/// high surrogate followed by a `\u` low surrogate is one character of 12 bytes; a surrogate
/// without its other half is an error (both JSON and YAML strings hold characters, and half a
/// pair is none).
fn unicode_escape(bytes: &[u8], at: usize) -> Result<(char, usize), (Span, String)> {
    let hex = |from: usize| -> Option<u32> {
        let digits = bytes.get(from..from + 4)?;
        digits
            .iter()
            .all(u8::is_ascii_hexdigit)
            .then(|| digits.iter().fold(0, |n, d| n * 16 + char::from(*d).to_digit(16).unwrap_or(0)))
    };
    let Some(code) = hex(at + 2) else {
        let end =
            (at + 2..(at + 6).min(bytes.len())).find(|&i| !bytes[i].is_ascii_hexdigit()).unwrap_or(at + 6);
        return Err((
            Span::new(at, end.min(bytes.len())),
            "`\\u` must be followed by four hex digits".to_owned(),
        ));
    };
    match code {
        0xD800..=0xDBFF => {
            let low = (bytes.get(at + 6..at + 8) == Some(b"\\u")).then(|| hex(at + 8)).flatten();
            match low {
                Some(low @ 0xDC00..=0xDFFF) => {
                    let c = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    Ok((char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER), 12))
                }
                _ => Err((
                    Span::new(at, at + 6),
                    format!(
                        "lone surrogate `\\u{code:04X}`: a high surrogate must be followed by a low one (`\\uDC00` to `\\uDFFF`)"
                    ),
                )),
            }
        }
        0xDC00..=0xDFFF => Err((
            Span::new(at, at + 6),
            format!(
                "lone surrogate `\\u{code:04X}`: a low surrogate must follow a high one (`\\uD800` to `\\uDBFF`)"
            ),
        )),
        _ => Ok((char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER), 6)),
    }
}

#[cfg(test)]
mod tests;
