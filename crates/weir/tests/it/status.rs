//! `weir status` and `weir metrics`: the numbers a user checks after a few runs, read back from
//! the store, and `weir metrics reset` starting a new window without deleting a run.

use crate::{scratch, stderr, stdout, weir_env};
use serde_json::Value;
use std::path::Path;

const OK: &str = "name: ok
steps:
  - { id: hello, uses: pass }
";

const FLAKY: &str = "name: flaky
steps:
  - { id: first, uses: pass }
  - id: boom
    uses: fail
    needs: [first]
    with: { message: 'no luck' }
    retry: { attempts: 3, backoff: { initial: 1ms, jitter: false } }
";

/// A directory with the two pipelines, and a store under it holding 3 runs of `ok` and 1 of `flaky`.
fn runs(dir: &Path, env: &[(&str, &str)]) {
    std::fs::write(dir.join("ok.yaml"), OK).unwrap();
    std::fs::write(dir.join("flaky.yaml"), FLAKY).unwrap();
    for _ in 0..3 {
        let out = weir_env(dir, &["run", "ok.yaml"], env);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = weir_env(dir, &["run", "flaky.yaml"], env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

fn json(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = weir_env(dir, args, env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

#[test]
fn metrics_count_runs_failures_and_retries_and_reset_keeps_the_runs() {
    let dir = scratch("metrics");
    let home = dir.join("home");
    let env = [("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())];
    runs(&dir, &env);

    let report: weir_api::MetricsReport =
        serde_json::from_value(json(&dir, &["metrics", "--format", "json"], &env)).unwrap();
    assert_eq!(report.window, "all");
    let ok = &report.pipelines[1];
    assert_eq!((ok.pipeline.as_str(), ok.runs, ok.failure_rate), ("ok", 3, 0.0));
    let flaky = &report.pipelines[0];
    assert_eq!((flaky.pipeline.as_str(), flaky.runs, flaky.failure_rate), ("flaky", 1, 1.0));
    let boom = flaky.steps.iter().find(|s| s.step == "boom").unwrap();
    assert_eq!((boom.attempts, boom.retries, boom.failures), (3, 2, 1));

    let one = json(&dir, &["metrics", "--format", "json", "--pipeline", "ok", "--window", "1h"], &env);
    assert_eq!(one["pipelines"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["described"], "over the last 1h");

    let csv = weir_env(&dir, &["metrics", "--format", "csv"], &env);
    assert!(
        stdout(&csv).starts_with(
            "pipeline,step,runs,succeeded,failed,failure_rate,attempts,retries,failures,p50_ms,p95_ms,p99_ms,max_ms\r\n"
        ),
        "{}",
        stdout(&csv)
    );
    assert!(stdout(&csv).contains("\r\nflaky,boom,,,,,3,2,1,"), "{}", stdout(&csv));
    let file = dir.join("metrics.md");
    let md = weir_env(&dir, &["metrics", "--format", "md", "--output", file.to_str().unwrap()], &env);
    assert_eq!(md.status.code(), Some(0), "{}", stderr(&md));
    assert!(std::fs::read_to_string(&file).unwrap().contains("| ok | 3 | 3 | 0 | 0.0% |"));

    let table = stdout(&weir_env(&dir, &["metrics"], &env));
    assert!(table.starts_with("metrics over every stored run"), "{table}");
    assert!(table.contains("ok: 3 runs (3 succeeded, 0 failed), failure rate 0.0%"), "{table}");
    assert!(table.contains("flaky: 1 run (0 succeeded, 1 failed), failure rate 100.0%"), "{table}");

    let reset = weir_env(&dir, &["metrics", "reset"], &env);
    assert_eq!(reset.status.code(), Some(0), "{}", stderr(&reset));
    let after = json(&dir, &["metrics", "--format", "json"], &env);
    assert_eq!(after["window"], "reset");
    assert!(after["described"].as_str().unwrap().starts_with("since the reset at "), "{after}");
    assert_eq!(after["pipelines"], Value::Array(Vec::new()), "no runs since the reset");
    let listed = json(&dir, &["runs", "list", "--json"], &env);
    assert_eq!(listed.as_array().map(Vec::len), Some(4), "the reset deleted nothing");
    let windowed = json(&dir, &["metrics", "--format", "json", "--window", "1h"], &env);
    assert_eq!(windowed["pipelines"].as_array().map(Vec::len), Some(2), "--window overrides the reset");

    let bad = weir_env(&dir, &["metrics", "--window", "soon"], &env);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn status_shows_recent_runs_pipelines_and_the_store() {
    let dir = scratch("status");
    let home = dir.join("home");
    let env = [("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())];
    runs(&dir, &env);

    let report = json(&dir, &["status", "--json"], &env);
    let parsed: weir_api::StatusReport = serde_json::from_value(report.clone()).unwrap();
    assert!(parsed.in_flight.is_empty());
    assert_eq!(parsed.recent.len(), 4);
    assert_eq!(parsed.approvals.count, 0);
    assert_eq!((parsed.store.backend.as_str(), parsed.store.measured.as_str()), ("sqlite", "file + WAL"));
    assert!(parsed.store.bytes > 0);
    insta::assert_snapshot!("status-json", pretty(report));

    let table = stdout(&weir_env(&dir, &["status"], &env));
    assert!(table.contains("in flight: 0"), "{table}");
    assert!(table.contains("pipelines over the last 1h:"), "{table}");
    assert!(table.contains("store: sqlite"), "{table}");

    let unreachable = [("NO_COLOR", "1"), ("WEIR_DATABASE_URL", "postgres://ada@127.0.0.1:1/weir")];
    assert_eq!(weir_env(&dir, &["status"], &unreachable).status.code(), Some(3));
}

/// The document with what changes from run to run replaced: ids, times, durations, sizes.
fn pretty(mut value: Value) -> String {
    fn normalize(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    match key.as_str() {
                        "run_id" | "digest" => *v = Value::from("<id>"),
                        "now_ms" | "started_at" | "finished_at" | "duration_ms" | "bytes" | "p50" | "p95"
                        | "p99" | "max"
                            if v.is_number() =>
                        {
                            *v = Value::from(0)
                        }
                        _ => normalize(v),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(normalize),
            _ => {}
        }
    }
    normalize(&mut value);
    serde_json::to_string_pretty(&value).expect("JSON")
}

#[test]
fn a_queued_run_is_in_flight_until_a_worker_runs_it() {
    let dir = scratch("status-queue");
    let home = dir.join("home");
    let env = [("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())];
    std::fs::write(dir.join("ok.yaml"), OK).unwrap();
    let submit = weir_env(&dir, &["submit", "ok.yaml"], &env);
    assert_eq!(submit.status.code(), Some(0), "{}", stderr(&submit));

    let queued = json(&dir, &["status", "--json"], &env);
    let in_flight = queued["in_flight"].as_array().unwrap();
    assert_eq!(in_flight.len(), 1, "{queued}");
    assert_eq!(
        (&in_flight[0]["status"], &in_flight[0]["pipeline"]),
        (&Value::from("pending"), &Value::from("ok"))
    );
    let table = stdout(&weir_env(&dir, &["status"], &env));
    assert!(table.contains("in flight: 1"), "{table}");

    let worker = weir_env(&dir, &["worker", "--once"], &env);
    assert_eq!(worker.status.code(), Some(0), "{}", stderr(&worker));
    let done = json(&dir, &["status", "--json"], &env);
    assert_eq!(done["in_flight"], Value::Array(Vec::new()), "{done}");
    assert_eq!(done["pipelines"][0]["by_status"]["succeeded"], 1, "{done}");
}

#[test]
fn on_postgres_status_reads_the_same_numbers_and_the_database_size() {
    crate::on_postgres("status", |url, _, _| {
        let dir = scratch("status-pg");
        let env = [("NO_COLOR", "1"), ("WEIR_DATABASE_URL", url)];
        runs(&dir, &env);
        let report: weir_api::StatusReport =
            serde_json::from_value(json(&dir, &["status", "--json"], &env)).unwrap();
        assert_eq!(
            (report.store.backend.as_str(), report.store.measured.as_str()),
            ("postgres", "pg_database_size")
        );
        assert!(report.store.bytes > 0);
        let runs: Vec<(&str, u64)> = report.pipelines.iter().map(|p| (p.pipeline.as_str(), p.runs)).collect();
        assert_eq!(runs, [("flaky", 1), ("ok", 3)]);
        let metrics = json(&dir, &["metrics", "--format", "json", "--pipeline", "flaky"], &env);
        assert_eq!(metrics["pipelines"][0]["steps"][1]["retries"], 2, "{metrics}");
    });
}

#[test]
fn a_run_waiting_for_an_answer_is_in_flight_and_its_question_is_counted() {
    let dir = scratch("status-approval");
    let home = dir.join("home");
    let env = [("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())];
    std::fs::write(
        dir.join("gate.yaml"),
        "name: gate\nsteps:\n  - id: ask\n    uses: approval\n    with:\n      prompt: ok?\n",
    )
    .unwrap();
    let submit = weir_env(&dir, &["submit", "gate.yaml"], &env);
    assert_eq!(submit.status.code(), Some(0), "{}", stderr(&submit));
    // A worker run `--once` gives back a run that waits for a person.
    let worker = weir_env(&dir, &["worker", "--once"], &env);
    assert_eq!(worker.status.code(), Some(0), "{}", stderr(&worker));

    let report: weir_api::StatusReport =
        serde_json::from_value(json(&dir, &["status", "--json"], &env)).unwrap();
    let waiting: Vec<(&str, weir_pipeline::Status)> =
        report.in_flight.iter().map(|r| (r.pipeline.as_str(), r.status)).collect();
    assert_eq!(waiting, [("gate", weir_pipeline::Status::Waiting)]);
    assert_eq!(report.approvals.count, 1);
    assert!(report.approvals.oldest_at.is_some_and(|at| at <= report.now_ms));
    let table = stdout(&weir_env(&dir, &["status"], &env));
    assert!(table.contains("approvals waiting: 1, the oldest asked "), "{table}");
}
