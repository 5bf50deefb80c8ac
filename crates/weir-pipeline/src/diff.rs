//! Structural comparison of two pipelines: what changed in meaning, not how the text moved.
//! Steps are matched by id and test cases by name, so reordering or reformatting a file is no
//! change (execution order comes from `needs`, not from the file). `with` blocks, retry
//! policies, input schemas and test cases are compared value by value and reported per JSON
//! path (`with.headers.accept`); the dependency graph is compared as a set of edges.
//!
//! This module compares format types and does no I/O; `weir diff` loads and validates the two
//! files, then prints a [`PipelineDiff`] as text ([`PipelineDiff::lines`]) or as JSON
//! ([`PipelineDiff::to_json`]).

use crate::model::{Expect, OnError, Pipeline, Retry, Status, Step, TestCase};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Everything that differs between two pipelines, each list in a stable order: fields in
/// format order, steps by id, edges by their ends, tests by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PipelineDiff {
    /// Top-level fields: `name`, `version`, `description`, `input` (per path), `concurrency`, `output`.
    pub fields: Vec<FieldChange>,
    pub steps: Vec<StepChange>,
    pub edges: Vec<EdgeChange>,
    pub tests: Vec<TestChange>,
}

/// One value that differs, at a JSON path such as `version`, `with.url` or `retry.backoff.max`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub path: String,
    /// The value before; `None` when the field was not set.
    pub before: Option<Value>,
    /// The value after; `None` when the field is no longer set.
    pub after: Option<Value>,
}

/// A step added, removed, or changed (same id on both sides).
#[derive(Clone, Debug, PartialEq)]
pub enum StepChange {
    Added {
        id: String,
        uses: String,
    },
    Removed {
        id: String,
        uses: String,
    },
    /// The step's changed fields, with paths relative to the step (`uses`, `with.url`, `on_error`).
    Changed {
        id: String,
        fields: Vec<FieldChange>,
    },
}

/// A test case added, removed, or changed (same name on both sides).
#[derive(Clone, Debug, PartialEq)]
pub enum TestChange {
    Added {
        name: String,
    },
    Removed {
        name: String,
    },
    /// The case's changed fields, with paths relative to the case (`input.order`, `expect.output`).
    Changed {
        name: String,
        fields: Vec<FieldChange>,
    },
}

/// An edge of the step graph: `from` comes before `to`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeKind {
    /// `to` lists `from` in its `needs`.
    Needs,
    /// `from` names `to` as its `on_error` handler.
    OnError,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EdgeChange {
    Added(Edge),
    Removed(Edge),
}

/// Whether a rendered line adds, removes or changes something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Added,
    Removed,
    Changed,
}

/// One line of the human rendering, without its mark; `Display` for [`PipelineDiff`] joins them.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub mark: Mark,
    pub text: String,
}

/// Compares pipeline `a` (before) with pipeline `b` (after).
pub fn diff(a: &Pipeline, b: &Pipeline) -> PipelineDiff {
    PipelineDiff {
        fields: header(a, b),
        steps: steps(&a.steps, &b.steps),
        edges: edges(a, b),
        tests: test_cases(&a.tests, &b.tests),
    }
}

fn header(a: &Pipeline, b: &Pipeline) -> Vec<FieldChange> {
    let mut f = Fields::default();
    f.whole("name", json!(a.name), json!(b.name));
    f.whole("version", text(&a.version), text(&b.version));
    f.whole("description", text(&a.description), text(&b.description));
    f.deep("input".into(), a.input.as_ref(), b.input.as_ref());
    f.whole("concurrency", a.concurrency.map(Value::from), b.concurrency.map(Value::from));
    f.whole("output", text(&a.output), text(&b.output));
    f.0
}

fn steps(a: &[Step], b: &[Step]) -> Vec<StepChange> {
    let id = |s: &Step| s.id.clone();
    let change = |key: String, before: Option<&Step>, after: Option<&Step>| match (before, after) {
        (None, Some(s)) => Some(StepChange::Added { id: key, uses: s.uses.clone() }),
        (Some(s), None) => Some(StepChange::Removed { id: key, uses: s.uses.clone() }),
        (Some(x), Some(y)) => {
            let fields = step_fields(x, y);
            (!fields.is_empty()).then_some(StepChange::Changed { id: key, fields })
        }
        (None, None) => None,
    };
    paired(a, b, id).into_iter().filter_map(|(k, x, y)| change(k, x, y)).collect()
}

fn step_fields(a: &Step, b: &Step) -> Vec<FieldChange> {
    let mut f = Fields::default();
    f.whole("uses", json!(a.uses), json!(b.uses));
    f.whole("description", text(&a.description), text(&b.description));
    // `needs` is a set: listing the same steps in another order changes nothing.
    f.whole("needs", sorted(&a.needs), sorted(&b.needs));
    f.whole("if", text(&a.condition), text(&b.condition));
    f.deep("with".into(), Some(&Value::Object(a.with.clone())), Some(&Value::Object(b.with.clone())));
    let timeout = |s: &Step| s.timeout.map(|t| json!(t.to_string()));
    f.whole("timeout", timeout(a), timeout(b));
    f.deep("retry".into(), retry(&a.retry).as_ref(), retry(&b.retry).as_ref());
    f.whole("on_error", json!(a.on_error.as_str()), json!(b.on_error.as_str()));
    f.0
}

/// A retry policy as JSON, with defaults filled in, so that writing a default out is no change.
fn retry(retry: &Option<Retry>) -> Option<Value> {
    retry.as_ref().map(|r| {
        json!({
            "attempts": r.attempts,
            "backoff": {
                "initial": r.backoff.initial.to_string(),
                "factor": r.backoff.factor,
                "max": r.backoff.max.to_string(),
                "jitter": r.backoff.jitter,
            }
        })
    })
}

fn test_cases(a: &[TestCase], b: &[TestCase]) -> Vec<TestChange> {
    let name = |c: &TestCase| c.name.clone();
    let change = |key: String, before: Option<&TestCase>, after: Option<&TestCase>| match (before, after) {
        (None, Some(_)) => Some(TestChange::Added { name: key }),
        (Some(_), None) => Some(TestChange::Removed { name: key }),
        (Some(x), Some(y)) => {
            let mut f = Fields::default();
            f.deep(String::new(), Some(&case(x)), Some(&case(y)));
            (!f.0.is_empty()).then_some(TestChange::Changed { name: key, fields: f.0 })
        }
        (None, None) => None,
    };
    paired(a, b, name).into_iter().filter_map(|(k, x, y)| change(k, x, y)).collect()
}

/// A test case as JSON, normalised the way `weir test` reads it: no input is `{}`, no expected
/// status is `succeeded`.
fn case(c: &TestCase) -> Value {
    let input = if c.input.is_null() { json!({}) } else { c.input.clone() };
    json!({"input": input, "mock": c.mock, "expect": expect(&c.expect)})
}

fn expect(e: &Expect) -> Value {
    let mut out = Map::new();
    if let Some(output) = &e.output {
        out.insert("output".into(), output.clone());
    }
    out.insert("status".into(), json!(e.status.unwrap_or(Status::Succeeded).as_str()));
    if let Some(error) = &e.error {
        out.insert("error".into(), json!(error));
    }
    out.insert("steps".into(), Value::Object(e.steps.clone()));
    Value::Object(out)
}

/// The items of both lists matched by key, sorted by key; the first of duplicate keys wins.
fn paired<'a, T>(
    a: &'a [T],
    b: &'a [T],
    key: impl Fn(&T) -> String,
) -> Vec<(String, Option<&'a T>, Option<&'a T>)> {
    let index = |items: &'a [T]| {
        let mut map = BTreeMap::new();
        for item in items.iter().rev() {
            map.insert(key(item), item);
        }
        map
    };
    let (a, b) = (index(a), index(b));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().map(|k| (k.clone(), a.get(k).copied(), b.get(k).copied())).collect()
}

fn edges(a: &Pipeline, b: &Pipeline) -> Vec<EdgeChange> {
    let (a, b) = (edge_set(a), edge_set(b));
    let mut out: Vec<EdgeChange> = b
        .difference(&a)
        .cloned()
        .map(EdgeChange::Added)
        .chain(a.difference(&b).cloned().map(EdgeChange::Removed))
        .collect();
    out.sort_by(|x, y| x.edge().cmp(y.edge()));
    out
}

fn edge_set(p: &Pipeline) -> BTreeSet<Edge> {
    let edge = |from: &str, to: &str, kind| Edge { from: from.to_owned(), to: to.to_owned(), kind };
    let mut set = BTreeSet::new();
    for step in &p.steps {
        set.extend(step.needs.iter().map(|n| edge(n, &step.id, EdgeKind::Needs)));
        if let OnError::Handler(h) = &step.on_error {
            set.insert(edge(&step.id, h, EdgeKind::OnError));
        }
    }
    set
}

/// Collects changed fields.
#[derive(Default)]
struct Fields(Vec<FieldChange>);

impl Fields {
    /// Compares two values as a whole.
    fn whole(&mut self, path: &str, before: impl Into<Option<Value>>, after: impl Into<Option<Value>>) {
        let (before, after) = (before.into(), after.into());
        let same = match (&before, &after) {
            (Some(x), Some(y)) => same(x, y),
            (x, y) => x.is_none() && y.is_none(),
        };
        if !same {
            let path = path.to_owned();
            self.0.push(FieldChange { path, before, after });
        }
    }

    /// Compares two values key by key, and item by item for lists of the same length; a list
    /// that grew or shrank is reported whole, since per-index changes would all be shifted.
    fn deep(&mut self, path: String, before: Option<&Value>, after: Option<&Value>) {
        match (before, after) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    self.deep(join(&path, k), x.get(k), y.get(k));
                }
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    self.deep(format!("{path}[{i}]"), Some(x), Some(y));
                }
            }
            _ => self.whole(&path, before.cloned(), after.cloned()),
        }
    }
}

/// JSON equality where numbers compare by value: `2` and `2.0` are the same factor.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// `path.key`, or `path["key"]` when the key is not a plain identifier (as jq writes paths).
fn join(path: &str, key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", json!(key)),
    }
}

fn text(value: &Option<String>) -> Option<Value> {
    value.as_ref().map(|s| json!(s))
}

fn sorted(ids: &[String]) -> Value {
    let set: BTreeSet<&String> = ids.iter().collect();
    json!(set)
}

impl PipelineDiff {
    /// Whether the two pipelines mean the same.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.steps.is_empty() && self.edges.is_empty() && self.tests.is_empty()
    }

    /// The human rendering, one change per line: fields, steps, edges, then tests.
    pub fn lines(&self) -> Vec<Line> {
        let mut out: Vec<Line> = self.fields.iter().map(|f| changed(f.render())).collect();
        out.extend(self.steps.iter().flat_map(StepChange::lines));
        out.extend(self.edges.iter().map(EdgeChange::line));
        out.extend(self.tests.iter().flat_map(TestChange::lines));
        out
    }

    /// The JSON form: `{identical, fields, steps, edges, tests}`, every change tagged with
    /// `change` (`added`, `removed`, `changed`); a field's `before`/`after` is absent when unset.
    pub fn to_json(&self) -> Value {
        json!({
            "identical": self.is_empty(),
            "fields": fields_json(&self.fields),
            "steps": self.steps.iter().map(StepChange::to_json).collect::<Vec<_>>(),
            "edges": self.edges.iter().map(EdgeChange::to_json).collect::<Vec<_>>(),
            "tests": self.tests.iter().map(TestChange::to_json).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for PipelineDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{} {}", line.mark.symbol(), line.text)?;
        }
        Ok(())
    }
}

impl Mark {
    pub fn symbol(self) -> char {
        match self {
            Mark::Added => '+',
            Mark::Removed => '-',
            Mark::Changed => '~',
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Added => "added",
            Mark::Removed => "removed",
            Mark::Changed => "changed",
        }
    }
}

fn changed(text: String) -> Line {
    Line { mark: Mark::Changed, text }
}

/// Every path at which two JSON values differ (objects key by key, lists of the same length
/// item by item, numbers by value): a structural diff of any two documents, such as the outputs
/// of two runs. The path of the values themselves is `.`.
pub fn values(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut fields = Fields::default();
    fields.deep(String::new(), Some(before), Some(after));
    for change in &mut fields.0 {
        if change.path.is_empty() {
            change.path = ".".into();
        }
    }
    fields.0
}

impl FieldChange {
    /// Whether the value was added (not set before), removed (not set after) or changed.
    pub fn mark(&self) -> Mark {
        match (&self.before, &self.after) {
            (None, _) => Mark::Added,
            (_, None) => Mark::Removed,
            _ => Mark::Changed,
        }
    }

    /// `path before -> after`, values as compact JSON and `(unset)` for a missing one.
    pub fn render(&self) -> String {
        let show = |v: &Option<Value>| v.as_ref().map_or_else(|| "(unset)".to_owned(), Value::to_string);
        format!("{} {} -> {}", self.path, show(&self.before), show(&self.after))
    }

    /// `{path, before, after}`, without the side on which it is not set.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("path".into(), json!(self.path));
        if let Some(v) = &self.before {
            out.insert("before".into(), v.clone());
        }
        if let Some(v) = &self.after {
            out.insert("after".into(), v.clone());
        }
        Value::Object(out)
    }
}

fn fields_json(fields: &[FieldChange]) -> Vec<Value> {
    fields.iter().map(FieldChange::to_json).collect()
}

impl StepChange {
    fn lines(&self) -> Vec<Line> {
        let line = |mark, text| vec![Line { mark, text }];
        match self {
            StepChange::Added { id, uses } => line(Mark::Added, format!("step {id} ({uses})")),
            StepChange::Removed { id, uses } => line(Mark::Removed, format!("step {id} ({uses})")),
            StepChange::Changed { id, fields } => {
                fields.iter().map(|f| changed(format!("step {id}: {}", f.render()))).collect()
            }
        }
    }

    fn to_json(&self) -> Value {
        match self {
            StepChange::Added { id, uses } => json!({"change": "added", "id": id, "uses": uses}),
            StepChange::Removed { id, uses } => json!({"change": "removed", "id": id, "uses": uses}),
            StepChange::Changed { id, fields } => {
                json!({"change": "changed", "id": id, "fields": fields_json(fields)})
            }
        }
    }
}

impl TestChange {
    fn lines(&self) -> Vec<Line> {
        let line = |mark, name: &str| vec![Line { mark, text: format!("test {}", json!(name)) }];
        match self {
            TestChange::Added { name } => line(Mark::Added, name),
            TestChange::Removed { name } => line(Mark::Removed, name),
            TestChange::Changed { name, fields } => {
                fields.iter().map(|f| changed(format!("test {}: {}", json!(name), f.render()))).collect()
            }
        }
    }

    fn to_json(&self) -> Value {
        match self {
            TestChange::Added { name } => json!({"change": "added", "name": name}),
            TestChange::Removed { name } => json!({"change": "removed", "name": name}),
            TestChange::Changed { name, fields } => {
                json!({"change": "changed", "name": name, "fields": fields_json(fields)})
            }
        }
    }
}

impl EdgeKind {
    fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Needs => "needs",
            EdgeKind::OnError => "on_error",
        }
    }
}

impl fmt::Display for Edge {
    /// `a -> b` for a need, `a -> h (on_error)` for an error handler.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)?;
        if self.kind == EdgeKind::OnError {
            f.write_str(" (on_error)")?;
        }
        Ok(())
    }
}

impl EdgeChange {
    pub fn edge(&self) -> &Edge {
        match self {
            EdgeChange::Added(e) | EdgeChange::Removed(e) => e,
        }
    }

    fn mark(&self) -> Mark {
        match self {
            EdgeChange::Added(_) => Mark::Added,
            EdgeChange::Removed(_) => Mark::Removed,
        }
    }

    fn line(&self) -> Line {
        Line { mark: self.mark(), text: format!("edge {}", self.edge()) }
    }

    fn to_json(&self) -> Value {
        let e = self.edge();
        json!({"change": self.mark().as_str(), "from": e.from, "to": e.to, "kind": e.kind.as_str()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Source, node};

    #[test]
    fn values_differ_by_path_added_removed_or_changed() {
        let before = json!({"total": 2, "items": ["a", "b"], "gone": true, "same": {"x": 1}});
        let after = json!({"total": 3.5, "items": ["a", "c"], "new": null, "same": {"x": 1.0}});
        let changes: Vec<(Mark, String)> =
            values(&before, &after).iter().map(|c| (c.mark(), c.render())).collect();
        assert_eq!(
            changes,
            [
                (Mark::Removed, "gone true -> (unset)".to_owned()),
                (Mark::Changed, "items[1] \"b\" -> \"c\"".to_owned()),
                (Mark::Added, "new (unset) -> null".to_owned()),
                (Mark::Changed, "total 2 -> 3.5".to_owned()),
            ]
        );
        assert!(values(&before, &before).is_empty());
        assert_eq!(
            values(&json!(1), &json!("1"))[0].to_json(),
            json!({"path": ".", "before": 1, "after": "1"})
        );
    }

    fn pipeline(yaml: &str) -> Pipeline {
        let root = node::parse(&Source::new("test.yaml", yaml)).expect("the test YAML parses");
        serde_json::from_value(root.to_value()).expect("the test YAML is a pipeline")
    }

    /// Compares the rendering of `diff(a, b)` with `expected`, one change per line (indentation
    /// and blank lines in `expected` are ignored).
    fn check(a: &str, b: &str, expected: &str) {
        let d = diff(&pipeline(a), &pipeline(b));
        let expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let actual = d.to_string();
        assert_eq!(actual.lines().collect::<Vec<_>>(), expected, "\n{actual}");
        assert_eq!(d.is_empty(), expected.is_empty());
    }

    const SCORE: &str = r#"
        name: score
        version: 1.0.0
        steps:
          - id: fetch
            uses: http
            with:
              url: "https://example.test/orders/${{ .input.order }}"
              headers: { accept: application/json, x-trace: "on" }
            timeout: 5s
            retry: { attempts: 3, backoff: { initial: 100ms, factor: 2 } }
          - id: score
            uses: transform
            needs: [fetch]
            with: { expr: '.steps.fetch.output.body.total' }
          - id: done
            uses: transform
            needs: [fetch, score]
            with: { expr: '.steps.score.output' }
        tests:
          - name: scores
            input: { order: 7 }
            mock: { fetch: { status: 200, body: { total: 90 } } }
            expect: { output: 90 }
    "#;

    #[test]
    fn order_and_formatting_are_no_change() {
        let reordered = r#"
            {"name": "score", "version": "1.0.0",
             "tests": [{"name": "scores", "input": {"order": 7.0},
                        "mock": {"fetch": {"body": {"total": 90}, "status": 200}},
                        "expect": {"output": 90, "status": "succeeded"}}],
             "steps": [
               {"id": "done", "uses": "transform", "needs": ["score", "fetch"],
                "with": {"expr": ".steps.score.output"}, "on_error": "fail"},
               {"id": "score", "uses": "transform", "needs": ["fetch"],
                "with": {"expr": ".steps.fetch.output.body.total"}},
               {"id": "fetch", "uses": "http", "timeout": "5000ms",
                "retry": {"attempts": 3, "backoff": {"initial": "0.1s", "factor": 2.0, "max": "30s"}},
                "with": {"headers": {"x-trace": "on", "accept": "application/json"},
                         "url": "https://example.test/orders/${{ .input.order }}"}}]}
        "#;
        check(SCORE, reordered, "");
    }

    #[test]
    fn added_and_removed_steps_come_with_their_edges() {
        let b = r#"
            name: score
            version: 1.0.0
            steps:
              - id: fetch
                uses: http
                with:
                  url: "https://example.test/orders/${{ .input.order }}"
                  headers: { accept: application/json, x-trace: "on" }
                timeout: 5s
                retry: { attempts: 3, backoff: { initial: 100ms, factor: 2 } }
              - { id: score, uses: transform, needs: [fetch], with: { expr: '.steps.fetch.output.body.total' } }
              - { id: notify, uses: log, needs: [score], with: { message: scored } }
              - { id: done, uses: transform, needs: [fetch, notify], with: { expr: '.steps.score.output' } }
            tests:
              - name: scores
                input: { order: 7 }
                mock: { fetch: { status: 200, body: { total: 90 } } }
                expect: { output: 90 }
        "#;
        check(
            SCORE,
            b,
            r#"
            ~ step done: needs ["fetch","score"] -> ["fetch","notify"]
            + step notify (log)
            + edge notify -> done
            - edge score -> done
            + edge score -> notify
            "#,
        );
        let without_score = r#"
            name: score
            version: 1.0.0
            steps:
              - { id: fetch, uses: http, with: { url: "https://example.test/orders/${{ .input.order }}", headers: { accept: application/json, x-trace: "on" } }, timeout: 5s, retry: { attempts: 3 } }
              - { id: done, uses: transform, needs: [fetch], with: { expr: '.steps.fetch.output' } }
        "#;
        check(
            SCORE,
            without_score,
            r#"
            ~ step done: needs ["fetch","score"] -> ["fetch"]
            ~ step done: with.expr ".steps.score.output" -> ".steps.fetch.output"
            - step score (transform)
            - edge fetch -> score
            - edge score -> done
            - test "scores"
            "#,
        );
    }

    #[test]
    fn with_blocks_are_compared_per_path() {
        let b = SCORE
            .replace("orders/${{", "v2/orders/${{")
            .replace("accept: application/json, x-trace: \"on\"", "accept: text/plain, x-api-key: k")
            .replace(
                "with: { expr: '.steps.fetch.output.body.total' }",
                "with: { expr: '.steps.fetch.output.body.total' }\n            description: Reads the total.",
            );
        check(
            SCORE,
            &b,
            r#"
            ~ step fetch: with.headers.accept "application/json" -> "text/plain"
            ~ step fetch: with.headers["x-api-key"] (unset) -> "k"
            ~ step fetch: with.headers["x-trace"] "on" -> (unset)
            ~ step fetch: with.url "https://example.test/orders/${{ .input.order }}" -> "https://example.test/v2/orders/${{ .input.order }}"
            ~ step score: description (unset) -> "Reads the total."
            "#,
        );
    }

    #[test]
    fn nested_lists_and_retry_policies() {
        let a = r#"
            name: fan
            steps:
              - id: each
                uses: foreach
                with:
                  items: '.input.xs'
                  step: { uses: http, with: { url: "https://a.test", accept: [404, 409] } }
        "#;
        let b = r#"
            name: fan
            steps:
              - id: each
                uses: foreach
                with:
                  items: '.input.xs'
                  step: { uses: http, with: { url: "https://a.test", accept: [404, 410] } }
                  concurrency: 4
                timeout: 1m
                retry: { attempts: 2 }
        "#;
        check(
            a,
            b,
            r#"
            ~ step each: with.concurrency (unset) -> 4
            ~ step each: with.step.with.accept[1] 409 -> 410
            ~ step each: timeout (unset) -> "1m"
            ~ step each: retry (unset) -> {"attempts":2,"backoff":{"initial":"100ms","factor":2.0,"max":"30s","jitter":false}}
            "#,
        );
        let c = b
            .replace("accept: [404, 410]", "accept: [404]")
            .replace("attempts: 2", "attempts: 5, backoff: { jitter: true }");
        check(
            b,
            &c,
            r#"
            ~ step each: with.step.with.accept [404,410] -> [404]
            ~ step each: retry.attempts 2 -> 5
            ~ step each: retry.backoff.jitter false -> true
            "#,
        );
    }

    #[test]
    fn error_handlers_are_edges() {
        let a = r#"
            name: h
            steps:
              - { id: work, uses: fail, with: { message: boom } }
              - { id: cleanup, uses: log, with: { message: cleaning up } }
              - { id: alert, uses: log, with: { message: alerting } }
        "#;
        let b = a.replace(
            "{ id: work, uses: fail, with: { message: boom } }",
            "{ id: work, uses: fail, with: { message: boom }, on_error: cleanup }",
        );
        check(
            a,
            &b,
            r#"
            ~ step work: on_error "fail" -> "cleanup"
            + edge work -> cleanup (on_error)
            "#,
        );
        let c = b.replace("on_error: cleanup", "on_error: alert");
        check(
            &b,
            &c,
            r#"
            ~ step work: on_error "cleanup" -> "alert"
            + edge work -> alert (on_error)
            - edge work -> cleanup (on_error)
            "#,
        );
        let d = b.replace("on_error: cleanup", "on_error: continue");
        check(
            &b,
            &d,
            r#"
            ~ step work: on_error "cleanup" -> "continue"
            - edge work -> cleanup (on_error)
            "#,
        );
    }

    #[test]
    fn metadata_and_tests() {
        let a = r#"
            name: score
            version: 1.0.0
            steps:
              - { id: done, uses: transform, with: { expr: '.input.order' } }
            tests:
              - { name: scores, input: { order: 7 }, expect: { output: 7 } }
              - { name: rejects, input: { order: -1 }, expect: { status: failed } }
        "#;
        let b = r#"
            name: score-v2
            version: 1.1.0
            description: Scores orders.
            input: { type: object, required: [order] }
            concurrency: 4
            steps:
              - { id: done, uses: transform, with: { expr: '.input.order' } }
            output: .steps.done.output
            tests:
              - { name: scores, input: { order: 8 }, expect: { output: 8, steps: { done: succeeded } } }
              - { name: fails without an order, expect: { status: failed } }
        "#;
        check(
            a,
            b,
            r#"
            ~ name "score" -> "score-v2"
            ~ version "1.0.0" -> "1.1.0"
            ~ description (unset) -> "Scores orders."
            ~ input (unset) -> {"type":"object","required":["order"]}
            ~ concurrency (unset) -> 4
            ~ output (unset) -> ".steps.done.output"
            + test "fails without an order"
            - test "rejects"
            ~ test "scores": expect.output 7 -> 8
            ~ test "scores": expect.steps.done (unset) -> "succeeded"
            ~ test "scores": input.order 7 -> 8
            "#,
        );
        let c = b.replace("required: [order]", "required: [order, customer]");
        check(b, &c, r#"~ input.required ["order"] -> ["order","customer"]"#);
    }

    #[test]
    fn json_form_tags_changes_and_omits_unset_values() {
        let b = SCORE.replace("          - id: done", "          - id: extra\n            uses: sleep\n            with: { duration: 1s }\n          - id: done");
        let b = b.replace("version: 1.0.0", "version: 1.0.1");
        let d = diff(&pipeline(SCORE), &pipeline(&b));
        assert_eq!(
            d.to_json(),
            json!({
                "identical": false,
                "fields": [{"path": "version", "before": "1.0.0", "after": "1.0.1"}],
                "steps": [{"change": "added", "id": "extra", "uses": "sleep"}],
                "edges": [],
                "tests": [],
            })
        );
        let added = FieldChange { path: "timeout".into(), before: None, after: Some(json!("5s")) };
        assert_eq!(added.to_json(), json!({"path": "timeout", "after": "5s"}));
        assert_eq!(diff(&pipeline(SCORE), &pipeline(SCORE)).to_json()["identical"], true);
    }
}
