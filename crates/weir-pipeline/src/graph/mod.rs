//! The shape of a pipeline as a graph, and its renderings: Mermaid and Graphviz text for other
//! tools, and an SVG that weir lays out itself.
//!
//! A [`Graph`] is built from the format type [`Pipeline`], not from a [`crate::Plan`], so a
//! pipeline can be drawn as written: needs that name unknown steps are left out rather than
//! rejected. Nothing here does I/O; `weir graph` and `weir docs` write the text out.

mod dot;
mod layout;
mod mermaid;
mod svg;

pub use dot::dot;
pub use mermaid::mermaid;
pub use svg::svg;

use crate::model::{OnError, Pipeline};
use std::collections::{HashMap, HashSet};

/// The steps of a pipeline and what connects them.
#[derive(Clone, Debug)]
pub struct Graph<'p> {
    pub name: &'p str,
    /// One node per step, in file order.
    pub nodes: Vec<Node<'p>>,
    /// `needs` edges and handler edges, in file order of the step they lead to or come from.
    pub edges: Vec<Edge>,
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<'p> {
    pub id: &'p str,
    /// The step kind (`uses`).
    pub kind: &'p str,
    /// The `if` expression, when the step has one.
    pub condition: Option<&'p str>,
    /// Whether another step names this one in `on_error`.
    pub handler: bool,
    pub description: Option<&'p str>,
}

/// An edge between two nodes, by index into [`Graph::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
}

/// What an edge says about a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// `to` needs `from`.
    Needs,
    /// `to` needs `from`, which has `on_error: continue`: `to` may run after `from` failed.
    Continue,
    /// `from` names `to` in `on_error`: `to` runs when `from` fails.
    OnError,
}

impl<'p> Graph<'p> {
    pub fn new(p: &'p Pipeline) -> Self {
        // With duplicate ids (which validation rejects) the first step wins, so the drawing of an
        // invalid file is still deterministic.
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, step) in p.steps.iter().enumerate() {
            index.entry(step.id.as_str()).or_insert(i);
        }
        let mut nodes: Vec<Node<'p>> = p.steps.iter().map(node).collect();
        let mut edges = Vec::new();
        let mut seen = HashSet::new();
        for (to, step) in p.steps.iter().enumerate() {
            for need in &step.needs {
                if let Some(&from) = index.get(need.as_str()) {
                    let kind = match p.steps[from].on_error {
                        OnError::Continue => EdgeKind::Continue,
                        _ => EdgeKind::Needs,
                    };
                    push_once(&mut edges, &mut seen, Edge { from, to, kind });
                }
            }
            if let OnError::Handler(h) = &step.on_error
                && let Some(&handler) = index.get(h.as_str())
            {
                nodes[handler].handler = true;
                push_once(&mut edges, &mut seen, Edge { from: to, to: handler, kind: EdgeKind::OnError });
            }
        }
        Self { name: &p.name, nodes, edges }
    }

    /// Steps that no step needs and that are not error handlers: the run's default output.
    pub fn sinks(&self) -> Vec<usize> {
        let mut needed = vec![false; self.nodes.len()];
        for e in self.edges.iter().filter(|e| e.kind != EdgeKind::OnError) {
            needed[e.from] = true;
        }
        (0..self.nodes.len()).filter(|&i| !needed[i] && !self.nodes[i].handler).collect()
    }
}

fn node(step: &crate::model::Step) -> Node<'_> {
    Node {
        id: &step.id,
        kind: &step.uses,
        condition: step.condition.as_deref(),
        handler: false,
        description: step.description.as_deref(),
    }
}

/// A step that lists a need twice gets one edge: the second says nothing new.
fn push_once(edges: &mut Vec<Edge>, seen: &mut HashSet<Edge>, edge: Edge) {
    if seen.insert(edge) {
        edges.push(edge);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A small pipeline with a branch, a merge, a condition and an error handler.
    pub(crate) fn branching() -> Pipeline {
        serde_json::from_value(json!({
            "name": "score-order",
            "version": "1.2.0",
            "description": "Scores an order and routes it.",
            "input": {
                "type": "object",
                "required": ["order"],
                "properties": {
                    "order": {"type": "integer", "description": "Order number."},
                    "note": {"type": ["string", "null"], "description": "Free text | may span\nlines."}
                }
            },
            "steps": [
                {"id": "fetch", "uses": "http", "description": "Reads the order.",
                 "with": {"url": "https://example.test/orders/${{ .input.order }}"}, "on_error": "alert"},
                {"id": "score", "uses": "transform", "needs": ["fetch"], "on_error": "continue",
                 "with": {"expr": "{score: (.steps.fetch.output.body.total / 100)}"}},
                {"id": "vip", "uses": "transform", "needs": ["score"],
                 "if": ".steps.score.output.score > 0.5", "with": {"expr": "\"vip\""}},
                {"id": "regular", "uses": "transform", "needs": ["score"],
                 "if": ".steps.score.output.score <= 0.5", "with": {"expr": "\"regular\""}},
                {"id": "done", "uses": "transform", "needs": ["vip", "regular"],
                 "with": {"expr": ".steps.vip.output // .steps.regular.output"}},
                {"id": "alert", "uses": "log", "description": "Tells a person | \"fetch\" failed.",
                 "with": {"message": "order fetch failed"}}
            ],
            "tests": [
                {"name": "big order is vip", "input": {"order": 7},
                 "mock": {"fetch": {"status": 200, "body": {"total": 90}}}, "expect": {"output": "vip"}}
            ]
        }))
        .expect("the test pipeline is well-formed")
    }

    /// A pipeline from (id, needs) pairs, every step a `transform`.
    pub(crate) fn from_needs(steps: &[(String, Vec<String>)]) -> Pipeline {
        let steps: Vec<_> =
            steps.iter().map(|(id, needs)| json!({"id": id, "uses": "transform", "needs": needs})).collect();
        serde_json::from_value(json!({"name": "generated", "steps": steps})).expect("well-formed")
    }

    #[test]
    fn edges_follow_needs_and_handlers() {
        let p = branching();
        let g = Graph::new(&p);
        let ids = |e: &Edge| (g.nodes[e.from].id, g.nodes[e.to].id, e.kind);
        let edges: Vec<_> = g.edges.iter().map(ids).collect();
        assert_eq!(
            edges,
            [
                ("fetch", "alert", EdgeKind::OnError),
                ("fetch", "score", EdgeKind::Needs),
                ("score", "vip", EdgeKind::Continue),
                ("score", "regular", EdgeKind::Continue),
                ("vip", "done", EdgeKind::Needs),
                ("regular", "done", EdgeKind::Needs),
            ]
        );
        assert!(g.nodes[5].handler && !g.nodes[0].handler);
        assert_eq!(g.nodes[2].condition, Some(".steps.score.output.score > 0.5"));
        assert_eq!(g.sinks(), [4]);
    }

    #[test]
    fn unknown_and_repeated_needs_are_left_out() {
        let p =
            from_needs(&[("a".into(), vec![]), ("b".into(), vec!["a".into(), "nope".into(), "a".into()])]);
        let g = Graph::new(&p);
        assert_eq!(g.edges, [Edge { from: 0, to: 1, kind: EdgeKind::Needs }]);
    }
}
