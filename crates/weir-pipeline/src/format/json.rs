//! The JSON writer: two-space indentation, one element per line, the format's key order, and
//! numbers as they were written (`1.50` stays `1.50`) when that is valid JSON.

use super::{Shape, ordered};
use crate::node::{Node, NodeValue};
use crate::source::Source;
use serde_json::{Number, Value};

pub(super) fn write(source: &Source, root: &Node) -> String {
    let mut out = String::new();
    value(source, root, Shape::Pipeline, 0, &mut out);
    out.push('\n');
    out
}

fn value(source: &Source, node: &Node, shape: Shape, indent: usize, out: &mut String) {
    match &node.value {
        NodeValue::Null => out.push_str("null"),
        NodeValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        NodeValue::Number(n) => out.push_str(&number(source.slice(node.span), n)),
        NodeValue::String(s, _) => out.push_str(&string(s)),
        NodeValue::Seq(items) if items.is_empty() => out.push_str("[]"),
        NodeValue::Map(entries) if entries.is_empty() => out.push_str("{}"),
        NodeValue::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                element_start(i, indent + 2, out);
                value(source, item, shape.item(), indent + 2, out);
            }
            element_end(indent, ']', out);
        }
        NodeValue::Map(entries) => {
            out.push('{');
            for (i, (key, item)) in ordered(entries, shape).into_iter().enumerate() {
                element_start(i, indent + 2, out);
                out.push_str(&string(&key.name));
                out.push_str(": ");
                value(source, item, shape.field(&key.name), indent + 2, out);
            }
            element_end(indent, '}', out);
        }
    }
}

fn element_start(i: usize, indent: usize, out: &mut String) {
    if i > 0 {
        out.push(',');
    }
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent));
}

fn element_end(indent: usize, close: char, out: &mut String) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent));
    out.push(close);
}

fn string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The number as written when that is JSON for the same number, otherwise serde_json's spelling.
fn number(written: &str, n: &Number) -> String {
    match serde_json::from_str::<Number>(written) {
        Ok(m) if m == *n => written.to_owned(),
        _ => n.to_string(),
    }
}
