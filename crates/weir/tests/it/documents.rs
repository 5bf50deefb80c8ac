//! The JSON documents weir prints (`run --json`, `run --events`, `validate --json`, `test --json`,
//! `dry-run --json`) as snapshots, each read back as its `weir_api` type. Values that change from
//! run to run (ids, times, durations) are replaced by stable placeholders; run ids are numbered
//! in order of appearance, so which event belongs to which run stays visible.

use crate::{root, weir};
use serde_json::Value;
use std::collections::HashMap;

const CUSTOMERS: &str = r#"{"customers": [{"email": "A@X.IO"}, {"email": " b@y.io "}]}"#;

fn normalize(value: &mut Value, ids: &mut HashMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match (key.as_str(), &*v) {
                    ("run_id", Value::String(id)) => {
                        let n = ids.len() + 1;
                        *v = Value::String(
                            ids.entry(id.clone()).or_insert_with(|| format!("<run {n}>")).clone(),
                        );
                    }
                    ("at" | "duration_ms", Value::Number(_)) => *v = Value::from(0),
                    _ => normalize(v, ids),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, ids)),
        _ => {}
    }
}

fn pretty(mut value: Value) -> String {
    normalize(&mut value, &mut HashMap::new());
    serde_json::to_string_pretty(&value).expect("JSON")
}

#[test]
fn run_summary_lists_items_and_sub_pipeline_runs() {
    let out = weir(&root(), &["run", "examples/batch.yaml", "--json", "--seed", "1", "-i", CUSTOMERS]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let summary: weir_api::RunSummary = serde_json::from_slice(&out.stdout).expect("a RunSummary");
    assert_eq!(summary.steps[0].nested.len(), 2, "one entry per item");
    insta::assert_snapshot!("run-json", pretty(serde_json::from_slice(&out.stdout).unwrap()));
}

#[test]
fn events_cover_items_and_sub_pipeline_runs() {
    // Ephemeral: a stored run awaits its commits, so its concurrent branches interleave by
    // timing; without a store the stream's order is the same every time.
    let args = ["run", "examples/batch.yaml", "--events", "--seed", "1", "-i", CUSTOMERS, "--no-store"];
    let out = weir(&root(), &args);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| {
            serde_json::from_str::<weir_api::Event>(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            serde_json::from_str(l).expect("JSON")
        })
        .collect();
    let children = lines.iter().filter(|e| e["type"] == "run_started" && !e["parent"].is_null()).count();
    assert_eq!(children, 3, "a run per item and one for the pipeline step");
    insta::assert_snapshot!("run-events", pretty(Value::Array(label_spans(lines))));
}

/// The events with their random trace and span ids replaced by labels in order of appearance
/// (`[trace 1]`, `[span 3]`): the snapshot shows which span is whose parent, and stays the same.
fn label_spans(mut events: Vec<Value>) -> Vec<Value> {
    let mut labels: std::collections::HashMap<String, String> = Default::default();
    for event in &mut events {
        for field in ["trace_id", "span_id", "parent_span_id"] {
            let Some(Value::String(id)) = event.get_mut(field) else { continue };
            let what = if field == "trace_id" { "trace" } else { "span" };
            let n = labels.len() + 1;
            *id = labels.entry(id.clone()).or_insert_with(|| format!("[{what} {n}]")).clone();
        }
    }
    events
}

#[test]
fn validate_test_and_dry_run_documents() {
    let dir = root().join("tests/diagnostics");
    let out = weir(&dir, &["validate", "--json", "many-problems.yaml"]);
    let _: weir_api::ValidateReport = serde_json::from_slice(&out.stdout).expect("a ValidateReport");
    insta::assert_snapshot!("validate-json", pretty(serde_json::from_slice(&out.stdout).unwrap()));

    let out = weir(&root(), &["test", "--json", "examples/score-order.yaml"]);
    let _: weir_api::TestReport = serde_json::from_slice(&out.stdout).expect("a TestReport");
    insta::assert_snapshot!("test-json", pretty(serde_json::from_slice(&out.stdout).unwrap()));

    let out = weir(&root(), &["dry-run", "--json", "examples/score-order.yaml", "-i", r#"{"order": 7}"#]);
    let _: weir_api::DryRunReport = serde_json::from_slice(&out.stdout).expect("a DryRunReport");
    insta::assert_snapshot!("dry-run-json", pretty(serde_json::from_slice(&out.stdout).unwrap()));
}
