//! SVG drawings that weir lays out itself, so a picture of a pipeline needs no Graphviz.
//!
//! The geometry comes from [`super::layout`]; this module sizes the boxes from their labels,
//! and writes boxes, curves and text. Labels use a monospace font, whose advance of about 0.6em
//! per character lets the box widths be computed without font metrics. All text is XML-escaped,
//! and the output depends only on the pipeline, so the same file always gives the same bytes.

use super::layout::{self, NODE_HEIGHT, Point, Route};
use super::{EdgeKind, Graph, Node};
use crate::model::Pipeline;
use std::fmt::Write;

const MARGIN: f64 = 24.0;
const TITLE_HEIGHT: f64 = 40.0;
const ID_SIZE: f64 = 14.0;
const KIND_SIZE: f64 = 12.0;
/// Advance of one monospace character, in ems.
const CHAR_EM: f64 = 0.6;
const PADDING: f64 = 16.0;
const MIN_WIDTH: f64 = 96.0;

const STYLE: &str = "
  text { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: #1f2933; }
  .title { font-size: 18px; font-weight: bold; }
  .version { font-weight: normal; fill: #616e7c; }
  .step rect { fill: #ffffff; stroke: #52606d; stroke-width: 1.5; }
  .step.conditional rect { fill: #fffbea; stroke: #b44d12; }
  .step.handler rect { stroke: #c0392b; }
  .id { font-size: 14px; font-weight: bold; text-anchor: middle; }
  .kind { font-size: 12px; fill: #616e7c; text-anchor: middle; }
  .badge { fill: #f7c948; stroke: #b44d12; }
  .badge-text { font-size: 8px; font-weight: bold; text-anchor: middle; }
  .edge { fill: none; stroke: #7b8794; stroke-width: 1.5; }
  .edge.on-error { stroke: #c0392b; stroke-dasharray: 6 4; }
  .edge.continue { stroke-dasharray: 2 3; }
  .edge-label { font-size: 10px; fill: #616e7c; text-anchor: middle; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; }
  .edge-label.on-error { fill: #c0392b; }
";

/// The pipeline drawn as an SVG document: one box per step (id in bold, kind below), needs as
/// arrows from a step down to the steps that need it (dotted and labelled `continue` from a step
/// with `on_error: continue`), and dashed red arrows labelled `on error` from a step to its error
/// handler. Conditional steps are tinted and carry an `if` badge; hovering a box shows
/// its description and condition.
pub fn svg(p: &Pipeline) -> String {
    let g = Graph::new(p);
    let widths: Vec<f64> = g.nodes.iter().map(box_width).collect();
    let layout = layout::layout(&g, &widths);
    let title = p.name.chars().count() + p.version.as_ref().map_or(0, |v| v.chars().count() + 1);
    let title_width = text_width(title, 18.0);
    let width = layout.width.max(title_width) + 2.0 * MARGIN;
    let height = layout.height + 2.0 * MARGIN + TITLE_HEIGHT;
    let shift = |pt: Point| Point { x: pt.x + MARGIN, y: pt.y + MARGIN + TITLE_HEIGHT };
    let mut out = header(p, width, height);
    out.push_str("<g class=\"edges\">\n");
    let mut labels = String::new();
    for (edge, route) in g.edges.iter().zip(&layout.routes) {
        let (class, marker, label) = match edge.kind {
            EdgeKind::Needs => ("edge", "weir-arrow", None),
            EdgeKind::Continue => ("edge continue", "weir-arrow", Some(("edge-label", "continue"))),
            EdgeKind::OnError => {
                ("edge on-error", "weir-arrow-error", Some(("edge-label on-error", "on error")))
            }
        };
        let (from, to) = (escape(g.nodes[edge.from].id), escape(g.nodes[edge.to].id));
        let _ = writeln!(
            out,
            "<path class=\"{class}\" data-from=\"{from}\" data-to=\"{to}\" d=\"{}\" marker-end=\"url(#{marker})\"/>",
            path(route, shift)
        );
        if let Some((class, text)) = label {
            let at = shift(label_point(route));
            let _ = writeln!(
                labels,
                "<text class=\"{class}\" x=\"{}\" y=\"{}\">{text}</text>",
                num(at.x),
                num(at.y)
            );
        }
    }
    out.push_str(&labels);
    out.push_str("</g>\n<g class=\"steps\">\n");
    for ((node, &centre), &w) in g.nodes.iter().zip(&layout.nodes).zip(&widths) {
        out.push_str(&step_box(node, shift(centre), w));
    }
    out.push_str("</g>\n</svg>\n");
    out
}

fn header(p: &Pipeline, width: f64, height: f64) -> String {
    let name = escape(&p.name);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">\n",
        w = num(width),
        h = num(height)
    );
    let _ = writeln!(out, "<title>{name}</title>");
    if let Some(description) = &p.description {
        let _ = writeln!(out, "<desc>{}</desc>", escape(description));
    }
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str("<defs>\n");
    out.push_str(&marker("weir-arrow", "#7b8794"));
    out.push_str(&marker("weir-arrow-error", "#c0392b"));
    out.push_str("</defs>\n");
    let _ = writeln!(
        out,
        "<text class=\"title\" x=\"{}\" y=\"{}\">{name}{}</text>",
        num(MARGIN),
        num(MARGIN + 18.0),
        version_label(p)
    );
    out
}

/// The version after the name. Renderers drop a leading space in a `tspan`, so the gap is a
/// `dx` of one character.
fn version_label(p: &Pipeline) -> String {
    let version = p.version.as_deref().map(escape);
    version.map(|v| format!("<tspan class=\"version\" dx=\"11\">{v}</tspan>")).unwrap_or_default()
}

fn marker(id: &str, color: &str) -> String {
    format!(
        "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" \
         orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{color}\"/></marker>\n"
    )
}

/// Curves leave and enter boxes vertically: each control point shares its end's x and sits
/// halfway between the ends' y, so a route is smooth where its pieces meet, and each piece stays
/// within the band between its ends' y (a Bézier curve stays inside its control points' hull).
fn path(route: &Route, shift: impl Fn(Point) -> Point) -> String {
    match route {
        Route::Curve(points) => {
            let start = shift(points[0]);
            let mut d = format!("M{},{}", num(start.x), num(start.y));
            for pair in points.windows(2) {
                let (a, b) = (shift(pair[0]), shift(pair[1]));
                let mid = num((a.y + b.y) / 2.0);
                let _ = write!(d, " C{},{mid} {},{mid} {},{}", num(a.x), num(b.x), num(b.x), num(b.y));
            }
            d
        }
        Route::Loop(a, b) => {
            let (mut a, mut b) = (shift(*a), shift(*b));
            if a == b {
                // An edge from a step to itself: a small loop under the box.
                a.x -= 10.0;
                b.x += 10.0;
            }
            let below = num(a.y.max(b.y) + 36.0);
            format!(
                "M{},{} C{},{below} {},{below} {},{}",
                num(a.x),
                num(a.y),
                num(a.x),
                num(b.x),
                num(b.x),
                num(b.y)
            )
        }
    }
}

/// Where an edge's label goes: halfway along its first piece, which crosses the gap below its
/// source where there are no boxes; under a loop.
fn label_point(route: &Route) -> Point {
    match route {
        Route::Curve(points) => {
            let (a, b) = (points[0], points.get(1).copied().unwrap_or(points[0]));
            Point { x: (a.x + b.x) / 2.0, y: (a.y + b.y) / 2.0 + 3.0 }
        }
        Route::Loop(a, b) => Point { x: (a.x + b.x) / 2.0, y: a.y.max(b.y) + 30.0 },
    }
}

fn step_box(node: &Node, centre: Point, width: f64) -> String {
    let mut class = String::from("step");
    if node.condition.is_some() {
        class.push_str(" conditional");
    }
    if node.handler {
        class.push_str(" handler");
    }
    let (left, top) = (centre.x - width / 2.0, centre.y - NODE_HEIGHT / 2.0);
    let mut out = format!("<g class=\"{class}\" data-id=\"{}\">\n", escape(node.id));
    let _ = writeln!(out, "<title>{}</title>", escape(&tooltip(node)));
    let _ = writeln!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\"/>",
        num(left),
        num(top),
        num(width),
        num(NODE_HEIGHT)
    );
    let x = num(centre.x);
    let _ = writeln!(
        out,
        "<text class=\"id\" x=\"{x}\" y=\"{}\">{}</text>",
        num(centre.y - 2.0),
        escape(node.id)
    );
    let _ = writeln!(
        out,
        "<text class=\"kind\" x=\"{x}\" y=\"{}\">{}</text>",
        num(centre.y + 15.0),
        escape(node.kind)
    );
    if node.condition.is_some() {
        out.push_str(&badge(Point { x: left + width, y: top }));
    }
    out.push_str("</g>\n");
    out
}

/// A small diamond reading `if` on the box's top-right corner.
fn badge(at: Point) -> String {
    let (x, y) = (at.x, at.y);
    format!(
        "<path class=\"badge\" d=\"M{},{} L{},{} L{},{} L{},{} z\"/>\n<text class=\"badge-text\" x=\"{}\" y=\"{}\">if</text>\n",
        num(x),
        num(y - 10.0),
        num(x + 10.0),
        num(y),
        num(x),
        num(y + 10.0),
        num(x - 10.0),
        num(y),
        num(x),
        num(y + 3.0)
    )
}

fn tooltip(node: &Node) -> String {
    let mut lines = vec![format!("{} ({})", node.id, node.kind)];
    lines.extend(node.condition.map(|c| format!("if: {c}")));
    lines.extend(node.description.map(str::to_owned));
    lines.join("\n")
}

fn box_width(node: &Node) -> f64 {
    let id = text_width(node.id.chars().count(), ID_SIZE);
    let kind = text_width(node.kind.chars().count(), KIND_SIZE);
    (id.max(kind) + 2.0 * PADDING).max(MIN_WIDTH).ceil()
}

/// Width of `chars` monospace characters. Wide (e.g. CJK) characters take about twice this;
/// their labels may overflow their box, which is cheaper than shipping font metrics.
fn text_width(chars: usize, size: f64) -> f64 {
    chars as f64 * size * CHAR_EM
}

/// A coordinate with one decimal: enough for the eye, and stable across platforms.
fn num(v: f64) -> String {
    // Adding 0.0 turns -0.0 into 0.0.
    format!("{:.1}", (v * 10.0).round() / 10.0 + 0.0)
}

/// Text for XML content or a quoted attribute. Characters XML 1.0 forbids (most control
/// characters) are dropped, since no escape can carry them.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::{branching, from_needs};
    use std::collections::HashMap;

    /// A start or end tag of the output, with its attributes.
    struct Tag {
        name: String,
        attrs: HashMap<String, String>,
        closing: bool,
        empty: bool,
    }

    impl Tag {
        fn num(&self, attr: &str) -> f64 {
            self.attrs[attr].parse().expect("a number")
        }
    }

    /// The tags of a document, in order. Enough for our output, whose attribute values never
    /// hold a raw `>` because [`escape`] rewrites it.
    fn tags(doc: &str) -> Vec<Tag> {
        doc.split('<').skip(1).map(|part| tag(part.split_once('>').expect("tag is closed").0)).collect()
    }

    fn tag(inner: &str) -> Tag {
        let closing = inner.starts_with('/');
        let empty = inner.ends_with('/');
        let inner = inner.trim_start_matches('/').trim_end_matches('/');
        let (name, mut rest) = inner.split_once(' ').unwrap_or((inner, ""));
        let mut attrs = HashMap::new();
        while let Some((key, after)) = rest.split_once("=\"") {
            let (value, tail) = after.split_once('"').expect("attribute value is closed");
            attrs.insert(key.trim().to_owned(), value.to_owned());
            rest = tail;
        }
        Tag { name: name.to_owned(), attrs, closing, empty }
    }

    /// Every tag is closed in order, there is one root, and every `&` starts an entity.
    fn assert_well_formed(doc: &str) {
        let mut open: Vec<String> = Vec::new();
        let mut roots = 0;
        for t in tags(doc) {
            if t.closing {
                assert_eq!(open.pop().as_deref(), Some(t.name.as_str()), "unbalanced </{}>", t.name);
            } else if !t.empty {
                roots += usize::from(open.is_empty());
                open.push(t.name);
            }
        }
        assert!(open.is_empty(), "unclosed tags: {open:?}");
        assert_eq!(roots, 1);
        for (i, _) in doc.match_indices('&') {
            let entity = doc[i..].split_once(';').expect("entity ends").0;
            assert!(["&amp", "&lt", "&gt", "&quot", "&apos"].contains(&entity), "bad entity {entity}");
        }
    }

    /// The box of each step, by id: (left, top, width, height).
    fn boxes(doc: &str) -> Vec<(String, [f64; 4])> {
        let all = tags(doc);
        let mut out = Vec::new();
        for (i, t) in all.iter().enumerate() {
            if t.name == "g"
                && !t.closing
                && t.attrs.get("class").is_some_and(|c| c.split(' ').any(|w| w == "step"))
            {
                let rect = all[i..].iter().find(|r| r.name == "rect").expect("a box");
                let geometry = ["x", "y", "width", "height"].map(|a| rect.num(a));
                out.push((t.attrs["data-id"].clone(), geometry));
            }
        }
        out
    }

    /// Edges as (from, to, points sampled along the curve).
    fn edges(doc: &str) -> Vec<(String, String, Vec<Point>)> {
        tags(doc)
            .into_iter()
            .filter(|t| t.name == "path" && t.attrs.get("class").is_some_and(|c| c.starts_with("edge")))
            .map(|t| (t.attrs["data-from"].clone(), t.attrs["data-to"].clone(), sample(&t.attrs["d"])))
            .collect()
    }

    /// Points along a path of `M` and `C` commands, 20 per curve.
    fn sample(d: &str) -> Vec<Point> {
        let nums: Vec<f64> = d
            .split([' ', ',', 'M', 'C'])
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().expect("a number"))
            .collect();
        let pts: Vec<Point> = nums.chunks(2).map(|c| Point { x: c[0], y: c[1] }).collect();
        let mut out = vec![pts[0]];
        for seg in pts[1..].chunks(3) {
            let (p0, [p1, p2, p3]) = (*out.last().unwrap(), [seg[0], seg[1], seg[2]]);
            for i in 1..=20 {
                let t = f64::from(i) / 20.0;
                let (a, b, c, e) =
                    ((1.0 - t).powi(3), 3.0 * t * (1.0 - t).powi(2), 3.0 * t * t * (1.0 - t), t.powi(3));
                out.push(Point {
                    x: a * p0.x + b * p1.x + c * p2.x + e * p3.x,
                    y: a * p0.y + b * p1.y + c * p2.y + e * p3.y,
                });
            }
        }
        out
    }

    fn overlap(a: [f64; 4], b: [f64; 4]) -> bool {
        a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]
    }

    fn inside(p: Point, b: [f64; 4]) -> bool {
        p.x > b[0] && p.x < b[0] + b[2] && p.y > b[1] && p.y < b[1] + b[3]
    }

    /// What a reader of the picture relies on: one box per step, no two boxes on top of each
    /// other, every edge pointing down to a lower layer (a step below its needs, a handler below
    /// the steps that name it), and no edge running through a box it does not touch.
    fn check(p: &Pipeline) -> String {
        let doc = svg(p);
        assert_well_formed(&doc);
        let boxes = boxes(&doc);
        let ids: Vec<&str> = boxes.iter().map(|(id, _)| id.as_str()).collect();
        let expected: Vec<String> = p.steps.iter().map(|s| escape(&s.id)).collect();
        assert_eq!(ids, expected, "one box per step, in file order");
        for (i, (a, ga)) in boxes.iter().enumerate() {
            for (b, gb) in &boxes[i + 1..] {
                assert!(!overlap(*ga, *gb), "{a} and {b} overlap");
            }
        }
        let by_id: HashMap<&str, [f64; 4]> = boxes.iter().map(|(id, g)| (id.as_str(), *g)).collect();
        for (from, to, points) in edges(&doc) {
            let (first, last) = (points[0], points[points.len() - 1]);
            assert!(first.y < last.y, "{from} -> {to} does not point down");
            assert!(by_id[from.as_str()][1] < by_id[to.as_str()][1], "{to} is not below {from}");
            for (id, b) in &boxes {
                if *id != from && *id != to {
                    assert!(!points.iter().any(|&p| inside(p, *b)), "{from} -> {to} runs through {id}");
                }
            }
        }
        doc
    }

    fn chain(n: usize) -> Pipeline {
        let steps: Vec<_> = (0..n)
            .map(|i| (format!("s{i}"), if i == 0 { vec![] } else { vec![format!("s{}", i - 1)] }))
            .collect();
        from_needs(&steps)
    }

    #[test]
    fn branching_pipeline() {
        let doc = check(&branching());
        assert!(doc.contains("<title>score-order</title>"));
        assert!(doc.contains(">score-order<tspan class=\"version\" dx=\"11\">1.2.0</tspan></text>"));
        assert!(doc.contains("<g class=\"step conditional\" data-id=\"vip\">"));
        assert!(doc.contains("<g class=\"step handler\" data-id=\"alert\">"));
        assert!(doc.contains("class=\"edge on-error\" data-from=\"fetch\" data-to=\"alert\""));
        assert!(doc.contains("class=\"edge continue\" data-from=\"score\" data-to=\"vip\""));
        assert!(doc.contains("class=\"edge\" data-from=\"vip\" data-to=\"done\""));
        let labels = |class: &str| doc.matches(&format!("<text class=\"{class}\"")).count();
        assert_eq!(labels("edge-label on-error"), 1, "the handler edge says `on error`");
        assert_eq!(labels("edge-label"), 2, "each `continue` edge says so");
        assert_eq!(doc, svg(&branching()), "the same pipeline gives the same bytes");
    }

    #[test]
    fn long_edges_go_around_boxes() {
        // `last` needs every earlier step, so its edges from `a` and `b` pass the layers of `c` and `d`.
        let p = from_needs(&[
            ("a".into(), vec![]),
            ("b".into(), vec!["a".into()]),
            ("c".into(), vec!["b".into()]),
            ("d".into(), vec!["c".into()]),
            ("last".into(), vec!["a".into(), "b".into(), "c".into(), "d".into()]),
        ]);
        check(&p);
    }

    #[test]
    fn a_tangled_dag_stays_readable() {
        // Every step needs two earlier ones, picked by a fixed linear congruential sequence.
        let mut seed: u64 = 7;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let steps: Vec<_> = (0..60)
            .map(|i| {
                let needs =
                    if i == 0 { vec![] } else { vec![format!("s{}", next(i)), format!("s{}", next(i))] };
                (format!("s{i}"), needs)
            })
            .collect();
        check(&from_needs(&steps));
    }

    #[test]
    fn text_is_escaped() {
        let mut p = chain(2);
        p.name = "a<b>&\"c'".into();
        p.steps[0].id = "x<y>&\"z'\u{1}".into();
        p.steps[0].uses = "<script>".into();
        p.steps[1].needs = vec![p.steps[0].id.clone()];
        let doc = check(&p);
        assert!(doc.contains("data-id=\"x&lt;y&gt;&amp;&quot;z&apos;\""));
        assert!(doc.contains(">&lt;script&gt;</text>"));
    }

    #[test]
    fn a_long_chain_runs_down_the_page() {
        let doc = check(&chain(1000));
        let tops: Vec<f64> = boxes(&doc).iter().map(|(_, g)| g[1]).collect();
        assert!(tops.windows(2).all(|w| w[0] < w[1]));
        // Far past any recursion depth the stack would allow.
        assert_eq!(boxes(&svg(&chain(10_000))).len(), 10_000);
    }

    #[test]
    fn a_wide_fan_out_and_in() {
        let mut steps = vec![("root".to_owned(), vec![])];
        steps.extend((0..300).map(|i| (format!("leaf{i}"), vec!["root".to_owned()])));
        steps.push(("merge".to_owned(), (0..300).map(|i| format!("leaf{i}")).collect()));
        let doc = check(&from_needs(&steps));
        let boxes = boxes(&doc);
        let (root, merge) = (boxes[0].1, boxes[301].1);
        assert!((root[0] - merge[0]).abs() < 1.0, "root and merge are centred on the same column");
    }

    #[test]
    fn cycles_and_self_needs_still_draw() {
        // Invalid, but `weir graph` may be pointed at a file mid-edit.
        let p = from_needs(&[
            ("a".into(), vec!["c".into()]),
            ("b".into(), vec!["a".into(), "b".into()]),
            ("c".into(), vec!["b".into()]),
        ]);
        let doc = svg(&p);
        assert_well_formed(&doc);
        assert_eq!(boxes(&doc).len(), 3);
        assert_eq!(edges(&doc).len(), 4);
    }

    #[test]
    fn an_empty_pipeline_is_just_a_title() {
        let doc = svg(&from_needs(&[]));
        assert_well_formed(&doc);
        assert!(boxes(&doc).is_empty());
    }
}
