//! YAML comments, which the parser skips: found in the source text and attached to what they
//! describe, so the writer can put them back after it reorders keys and changes styles.
//!
//! A comment is a `#` that starts a line or follows whitespace, outside every scalar (node spans
//! say where scalars are, so a `#` inside a string or a block scalar is not one). An end-of-line
//! comment belongs to the key or scalar before it on its line; a full-line comment belongs to
//! the next key or list item; what follows the last of them stays at the end of the file.

use super::is_alias_copy;
use crate::node::{Node, NodeValue};
use crate::source::{Source, Span};
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub(super) struct Comment {
    /// The comment from its `#`, without trailing whitespace.
    pub text: String,
    /// Byte offset of the `#`.
    pub start: usize,
    /// Whether only whitespace precedes it on its line.
    pub full_line: bool,
    /// Whether the line before it is blank.
    pub blank_before: bool,
}

/// Every comment of a file, attached to positions of its nodes.
#[derive(Debug, Default)]
pub(super) struct Comments {
    /// Full-line comments, by the start of the key or list item they stand before.
    leading: HashMap<usize, Vec<Comment>>,
    /// End-of-line comments, by the start of the key or scalar they follow.
    trailing: HashMap<usize, String>,
    /// Comments before the first key of the file, which stay at the top whatever key comes first.
    /// (The first item of a list document, or a scalar document, plays the first key's part.)
    header: Vec<Comment>,
    /// Comments after the last key or item.
    end: Vec<Comment>,
}

impl Comments {
    pub(super) fn attach(source: &Source, root: &Node) -> Self {
        let mut places = Places::default();
        places.visit(root);
        places.anchors.sort_unstable();
        places.owners.sort_by_key(|s| s.end);
        let mut out = Comments::default();
        let first = first_place(root);
        for c in scan(source, root) {
            if c.start < first {
                out.header.push(c);
                continue;
            }
            if !c.full_line
                && let Some(owner) = owner_on_line(source, &places.owners, c.start)
            {
                out.trailing.insert(owner, c.text);
                continue;
            }
            let next = places.anchors.partition_point(|&a| a <= c.start);
            match places.anchors.get(next) {
                Some(&at) => out.leading.entry(at).or_default().push(c),
                None => out.end.push(c),
            }
        }
        out
    }

    pub(super) fn take_header(&mut self) -> Vec<Comment> {
        std::mem::take(&mut self.header)
    }

    pub(super) fn take_leading(&mut self, at: usize) -> Vec<Comment> {
        self.leading.remove(&at).unwrap_or_default()
    }

    pub(super) fn take_trailing(&mut self, at: usize) -> Option<String> {
        self.trailing.remove(&at)
    }

    pub(super) fn has_leading(&self, at: usize) -> bool {
        self.leading.contains_key(&at)
    }

    pub(super) fn has_trailing(&self, at: usize) -> bool {
        self.trailing.contains_key(&at)
    }

    /// The comments after the last node, then any the writer did not place (none are expected,
    /// but a comment is never dropped), in source order.
    pub(super) fn take_rest(&mut self) -> Vec<Comment> {
        let mut rest = std::mem::take(&mut self.end);
        rest.extend(self.leading.drain().flat_map(|(_, cs)| cs));
        let mut stray: Vec<_> = self.trailing.drain().collect();
        stray.sort_by_key(|(at, _)| *at);
        rest.extend(stray.into_iter().map(|(at, text)| Comment {
            text,
            start: at,
            full_line: true,
            blank_before: false,
        }));
        rest.sort_by_key(|c| c.start);
        rest
    }
}

/// Where the document's content starts: its first key or item, or the scalar it is.
pub(super) fn first_place(root: &Node) -> usize {
    match &root.value {
        NodeValue::Map(entries) if !entries.is_empty() => entries[0].0.span.start,
        NodeValue::Seq(items) if !items.is_empty() => items[0].span.start,
        _ => root.span.start,
    }
}

/// The start of the key or scalar that ends last before `at` on the same line, if any.
fn owner_on_line(source: &Source, owners: &[Span], at: usize) -> Option<usize> {
    let before = owners.partition_point(|s| s.end <= at);
    let owner = owners[..before].last()?;
    let line = source.line_col(at).line;
    (source.line_col(owner.end - 1).line == line).then_some(owner.start)
}

/// Where comments can attach, collected outside alias copies so each place is seen once.
#[derive(Default)]
struct Places {
    /// Starts of keys and list items: what a full-line comment can stand before.
    anchors: Vec<usize>,
    /// Spans of keys and non-empty scalars: what an end-of-line comment can follow.
    owners: Vec<Span>,
}

impl Places {
    fn visit(&mut self, node: &Node) {
        match &node.value {
            _ if is_alias_copy(node) => {}
            NodeValue::Map(entries) => {
                for (key, value) in entries {
                    self.anchors.push(key.span.start);
                    self.owners.push(key.span);
                    self.visit(value);
                }
            }
            NodeValue::Seq(items) => {
                for item in items {
                    self.anchors.push(item.span.start);
                    self.visit(item);
                }
            }
            _ if node.span.end > node.span.start => self.owners.push(node.span),
            _ => {}
        }
    }
}

/// Every comment in the source, in order.
pub(super) fn scan(source: &Source, root: &Node) -> Vec<Comment> {
    let mut scalars = Vec::new();
    scalar_spans(root, &mut scalars);
    scalars.sort_by_key(|s| s.start);
    let text = source.text();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find('#') {
        let at = from + found;
        from = at + 1;
        let after_space = at == 0 || matches!(text.as_bytes()[at - 1], b' ' | b'\t' | b'\n' | b'\r');
        if !after_space || inside(&scalars, at) {
            continue;
        }
        let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
        out.push(comment(source, at, end));
        from = end;
    }
    out
}

fn comment(source: &Source, at: usize, end: usize) -> Comment {
    let text = source.text();
    let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
    let line = source.line_col(at).line;
    Comment {
        text: text[at..end].trim_end().to_owned(),
        start: at,
        full_line: text[line_start..at].trim().is_empty(),
        blank_before: line > 1 && source.line_text(line - 1).trim().is_empty(),
    }
}

/// Whether `at` falls inside one of the (sorted, non-overlapping) scalar spans.
fn inside(scalars: &[Span], at: usize) -> bool {
    let before = scalars.partition_point(|s| s.start <= at);
    scalars[..before].last().is_some_and(|s| at < s.end)
}

/// Spans of every scalar and key. Alias copies repeat spans of their original, which is harmless.
fn scalar_spans(node: &Node, out: &mut Vec<Span>) {
    match &node.value {
        NodeValue::Map(entries) => {
            for (key, value) in entries {
                out.push(key.span);
                scalar_spans(value, out);
            }
        }
        NodeValue::Seq(items) => items.iter().for_each(|n| scalar_spans(n, out)),
        _ => out.push(node.span),
    }
}
