//! The conformance suite: every directory under `tests/data/` is one case, run through the
//! `weir` binary. A case holds `pipeline.yaml` (or `pipeline.json`), optionally `input.json`,
//! and `expected.json`:
//!
//! - `exit_code` (required): the process exit code;
//! - `status`, `output`, `error_contains`: the run summary (`weir run --json`);
//! - `steps` `{id: status}` and `attempts` `{id: n}`: per-step results;
//! - `max_running_at_least` / `max_running_at_most`: how many steps ran at once, computed from
//!   the event stream (`--events`) — overlap is asserted by event order, never by wall time;
//! - `before`: pairs `[a, b]`: step a finished before step b started;
//! - `codes`: diagnostic codes `weir validate --json` must report (for invalid pipelines);
//! - `stderr_contains`: text the error output must contain;
//! - `features`: cargo features of `weir` the case needs (such as `http`); a build without one of
//!   them skips the case.

use serde_json::Value;
use std::path::Path;

#[test]
fn conformance_suite() {
    let data = crate::root().join("tests/data");
    let mut cases: Vec<_> =
        std::fs::read_dir(&data).expect("tests/data").map(|e| e.expect("entry").path()).collect();
    cases.sort();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(why) = check(case) {
            failures.push(format!("{}: {why}", case.file_name().unwrap_or_default().to_string_lossy()));
        }
    }
    assert!(cases.len() >= 30, "expected the full suite, found {} cases", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn check(case: &Path) -> Result<(), String> {
    let expected: Value = read_json(&case.join("expected.json"))?;
    if !has_features(&expected)? {
        return Ok(());
    }
    let pipeline = ["pipeline.yaml", "pipeline.json"]
        .into_iter()
        .find(|f| case.join(f).exists())
        .ok_or("no pipeline file")?;
    let mut args = vec!["run", pipeline, "--json", "--events"];
    if case.join("input.json").exists() {
        args.extend(["-i", "@input.json"]);
    }
    let out = crate::weir(case, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    let want_code = expected["exit_code"].as_i64().ok_or("expected.json needs exit_code")?;
    if i64::from(code) != want_code {
        return Err(format!("exit code {code}, expected {want_code}\nstderr:\n{stderr}"));
    }
    if let Some(text) = expected.get("stderr_contains").and_then(Value::as_str)
        && !stderr.contains(text)
    {
        return Err(format!("stderr does not contain {text:?}:\n{stderr}"));
    }
    if let Some(codes) = expected.get("codes") {
        return check_codes(case, pipeline, codes);
    }
    if code == 2 {
        // Rejected before the run: nothing else to check.
        return Ok(());
    }
    let summary: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("stdout is not the JSON summary: {e}\n{stderr}"))?;
    let events: Vec<Value> = stderr.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    check_summary(&expected, &summary)?;
    check_events(&expected, &events)
}

/// Whether this build of `weir` has every cargo feature the case needs.
fn has_features(expected: &Value) -> Result<bool, String> {
    let mut all = true;
    for feature in expected.get("features").and_then(Value::as_array).into_iter().flatten() {
        all &= match feature.as_str() {
            Some("http") => cfg!(feature = "http"),
            _ => return Err(format!("unknown feature {feature} in expected.json")),
        };
    }
    Ok(all)
}

fn check_summary(expected: &Value, summary: &Value) -> Result<(), String> {
    if let Some(status) = expected.get("status")
        && summary["status"] != *status
    {
        return Err(format!("status {}, expected {status}; error: {}", summary["status"], summary["error"]));
    }
    if let Some(output) = expected.get("output")
        && !same(output, &summary["output"])
    {
        return Err(format!("output {}, expected {output}", summary["output"]));
    }
    if let Some(text) = expected.get("error_contains").and_then(Value::as_str) {
        let error = summary["error"].to_string();
        if !error.contains(text) {
            return Err(format!("error {error} does not contain {text:?}"));
        }
    }
    let step = |id: &str| summary["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == id)).cloned();
    for (field, key) in [("steps", "status"), ("attempts", "attempts")] {
        for (id, want) in expected.get(field).and_then(Value::as_object).into_iter().flatten() {
            let got = step(id).map(|s| s[key].clone()).unwrap_or(Value::Null);
            if got != *want {
                return Err(format!("step {id}: {key} {got}, expected {want}"));
            }
        }
    }
    Ok(())
}

fn check_events(expected: &Value, events: &[Value]) -> Result<(), String> {
    if events.last().map(|e| &e["type"]) != Some(&Value::from("run_finished")) {
        return Err("the event stream does not end with run_finished".into());
    }
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    if seqs.iter().enumerate().any(|(i, &s)| s != i as u64) {
        return Err("event sequence numbers are not 0, 1, 2, …".into());
    }
    let (mut running, mut max) = (0i64, 0i64);
    for e in events.iter().filter(|e| is_own(e)) {
        match e["type"].as_str() {
            Some("step_started") if e["attempt"] == 1 => running += 1,
            Some("step_succeeded" | "step_failed") if e["attempts"].as_u64() > Some(0) => running -= 1,
            _ => {}
        }
        max = max.max(running);
    }
    if let Some(n) = expected.get("max_running_at_least").and_then(Value::as_i64)
        && max < n
    {
        return Err(format!("at most {max} steps ran at once, expected at least {n}"));
    }
    if let Some(n) = expected.get("max_running_at_most").and_then(Value::as_i64)
        && max > n
    {
        return Err(format!("{max} steps ran at once, expected at most {n}"));
    }
    for pair in expected.get("before").and_then(Value::as_array).into_iter().flatten() {
        let (a, b) = (&pair[0], &pair[1]);
        let finished = events.iter().position(|e| is_own(e) && e["step"] == *a && is_terminal(e));
        let started = events.iter().position(|e| is_own(e) && e["step"] == *b && e["type"] == "step_started");
        match (finished, started) {
            (Some(f), Some(s)) if f < s => {}
            _ => return Err(format!("expected {a} to finish before {b} started")),
        }
    }
    // Exactly one terminal event per step of every run, and per `foreach` item.
    let mut terminal = std::collections::HashMap::new();
    for e in events.iter().filter(|e| is_terminal(e)) {
        let key = format!("{} in run {} (item {})", e["step"], e["run_id"], e["item"]);
        *terminal.entry(key).or_insert(0) += 1;
    }
    if let Some((step, n)) = terminal.iter().find(|&(_, &n)| n != 1) {
        return Err(format!("step {step} has {n} terminal events, expected exactly one"));
    }
    let started = |e: &&Value| e["type"] == "step_started" && e["attempt"] == 1;
    for e in events.iter().filter(started) {
        let key = format!("{} in run {} (item {})", e["step"], e["run_id"], e["item"]);
        if !terminal.contains_key(&key) {
            return Err(format!("step {key} started but has no terminal event"));
        }
    }
    Ok(())
}

/// Whether an event is about a step of the pipeline run itself (not a sub-pipeline run's step,
/// not a `foreach` item).
fn is_own(e: &Value) -> bool {
    e["parent"].is_null() && e["item"].is_null()
}

fn is_terminal(e: &Value) -> bool {
    matches!(e["type"].as_str(), Some("step_succeeded" | "step_failed" | "step_skipped" | "step_cancelled"))
}

fn check_codes(case: &Path, pipeline: &str, codes: &Value) -> Result<(), String> {
    let out = crate::weir(case, &["validate", "--json", pipeline]);
    let report: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("validate --json: {e}"))?;
    let found: Vec<&str> = report["files"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["diagnostics"].as_array().into_iter().flatten())
        .filter_map(|d| d["code"].as_str())
        .collect();
    for code in codes.as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !found.contains(&code) {
            return Err(format!("expected diagnostic {code}, found {found:?}"));
        }
    }
    Ok(())
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
