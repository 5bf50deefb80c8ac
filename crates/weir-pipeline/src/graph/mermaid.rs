//! Mermaid flowcharts, for Markdown pages (`weir docs`) and anything else that renders Mermaid.
//!
//! Nodes are named `s0`, `s1`... by position, never by step id, so no id can break the syntax;
//! ids and kinds appear only inside quoted labels, escaped with Mermaid's entity codes.

use super::{Edge, EdgeKind, Graph, Node};
use crate::model::Pipeline;
use std::fmt::Write;

/// The pipeline as a Mermaid `flowchart TD`: conditional steps are hexagons, error handlers are
/// dashed, the edge from a failing step to its handler is dotted and labelled `on error`, and an
/// edge from a step with `on_error: continue` is dotted and labelled `continue`.
pub fn mermaid(p: &Pipeline) -> String {
    let g = Graph::new(p);
    let mut out = String::from("flowchart TD\n");
    for (i, node) in g.nodes.iter().enumerate() {
        let _ = writeln!(out, "    {}", declaration(i, node));
    }
    for edge in &g.edges {
        let _ = writeln!(out, "    {}", arrow(edge));
    }
    let handlers: Vec<String> =
        (0..g.nodes.len()).filter(|&i| g.nodes[i].handler).map(|i| format!("s{i}")).collect();
    if !handlers.is_empty() {
        out.push_str("    classDef handler stroke-dasharray: 5 5\n");
        let _ = writeln!(out, "    class {} handler", handlers.join(","));
    }
    out
}

fn declaration(i: usize, node: &Node) -> String {
    let label = format!("{}<br/>{}", escape(node.id), escape(node.kind));
    if node.condition.is_some() { format!("s{i}{{{{\"{label}\"}}}}") } else { format!("s{i}[\"{label}\"]") }
}

fn arrow(edge: &Edge) -> String {
    let (from, to) = (edge.from, edge.to);
    match edge.kind {
        EdgeKind::Needs => format!("s{from} --> s{to}"),
        EdgeKind::Continue => format!("s{from} -. continue .-> s{to}"),
        EdgeKind::OnError => format!("s{from} -. on error .-> s{to}"),
    }
}

/// Text for a quoted label. `#` starts Mermaid's entity codes, so it is escaped first; `<`, `>`
/// and `&` would be read as HTML; a backtick could end the Markdown fence around the chart.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::branching;

    #[test]
    fn branching_pipeline() {
        insta::assert_snapshot!(mermaid(&branching()));
    }

    #[test]
    fn ids_cannot_break_out_of_labels() {
        assert_eq!(
            escape("a\"]; click s0 \"evil\" <b>#`"),
            "a#quot;]; click s0 #quot;evil#quot; #lt;b#gt;#35;#96;"
        );
    }
}
