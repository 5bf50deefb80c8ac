//! Graphviz DOT, for `dot -Tpng` and the many tools that read it.
//!
//! Nodes are named `s0`, `s1`... by position; ids, kinds and descriptions appear only in quoted
//! attributes, escaped, so no step id can change the graph's structure.

use super::{Edge, EdgeKind, Graph, Node};
use crate::model::Pipeline;
use std::fmt::Write;

/// The pipeline as a DOT digraph, top to bottom: conditional steps are hexagons, error handlers
/// dashed, the edge from a failing step to its handler is dashed and labelled `on error`, and an
/// edge from a step with `on_error: continue` is dotted and labelled `continue`.
/// Descriptions and conditions become tooltips.
pub fn dot(p: &Pipeline) -> String {
    let g = Graph::new(p);
    let mut out = format!("digraph {} {{\n", quote(g.name));
    out.push_str("    rankdir=TB;\n");
    out.push_str("    node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    out.push_str("    edge [fontname=\"Helvetica\", fontsize=10];\n");
    for (i, node) in g.nodes.iter().enumerate() {
        let _ = writeln!(out, "    s{i} [{}];", attributes(node));
    }
    for edge in &g.edges {
        let _ = writeln!(out, "    {}", arrow(edge));
    }
    out.push_str("}\n");
    out
}

fn attributes(node: &Node) -> String {
    let mut attrs = vec![format!("label={}", quote(&format!("{}\n{}", node.id, node.kind)))];
    if node.condition.is_some() {
        attrs.push("shape=hexagon".into());
    }
    if node.handler {
        attrs.push("style=\"rounded,dashed\"".into());
    }
    let tooltip: Vec<String> = node
        .description
        .into_iter()
        .map(str::to_owned)
        .chain(node.condition.map(|c| format!("if: {c}")))
        .collect();
    if !tooltip.is_empty() {
        attrs.push(format!("tooltip={}", quote(&tooltip.join("\n"))));
    }
    attrs.join(", ")
}

fn arrow(edge: &Edge) -> String {
    let style = match edge.kind {
        EdgeKind::Needs => "",
        EdgeKind::Continue => " [style=dotted, label=\"continue\"]",
        EdgeKind::OnError => " [style=dashed, label=\"on error\"]",
    };
    format!("s{} -> s{}{style};", edge.from, edge.to)
}

/// A DOT quoted string. Backslashes are doubled because Graphviz reads `\n`, `\l` and `\N` in
/// labels as escapes; real line breaks become `\n`.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::branching;

    #[test]
    fn branching_pipeline() {
        insta::assert_snapshot!(dot(&branching()));
    }

    #[test]
    fn quotes_and_backslashes_stay_inside_the_string() {
        assert_eq!(quote("a\"; b -> c \\N\n"), "\"a\\\"; b -> c \\\\N\\n\"");
    }
}
