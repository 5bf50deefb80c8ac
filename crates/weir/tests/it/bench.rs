//! `weir bench`: pipelines, commands and a local HTTP server measured, reports written, saved,
//! compared and gated on, as a user runs them.

use crate::{json_of, scratch, stderr, stdout, weir_env};
use serde_json::Value;
use std::path::Path;

const FANOUT: &str = "name: fan
input: { type: object, required: [n] }
steps:
  - { id: start, uses: transform, with: { expr: '[range(.input.n)]' } }
  - id: each
    uses: foreach
    needs: [start]
    with:
      items: '.steps.start.output'
      step: { uses: transform, with: { expr: '.item * 2' } }
  - { id: sum, uses: transform, needs: [each], with: { expr: '.steps.each.output | add' } }
output: '.steps.sum.output'
";

fn bench(dir: &Path, args: &[&str]) -> std::process::Output {
    let home = dir.join(".weir");
    weir_env(dir, args, &[("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())])
}

#[test]
fn a_pipeline_is_measured_with_its_steps_items_breakdown_and_environment() {
    let dir = scratch("bench-run");
    std::fs::write(dir.join("fan.yaml"), FANOUT).unwrap();
    let out = bench(
        &dir,
        &["bench", "run", "fan.yaml", "-i", r#"{"n": 5}"#, "-n", "30", "--warmup", "2", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!((report["schema_version"].as_u64(), report["mode"].as_str()), (Some(1), Some("run")));
    assert!(report["environment"]["cores"].as_u64() >= Some(1));
    assert!(
        report["environment"]["git_commit"].as_str().is_some_and(|c| c.len() == 40),
        "{}",
        report["environment"]
    );
    let b = &report["benchmarks"][0];
    assert_eq!(
        (b["iterations"].as_u64(), b["warmup"].as_u64(), b["failures"].as_u64()),
        (Some(30), Some(2), Some(0))
    );
    let names: Vec<&str> =
        b["metrics"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["latency", "step.start", "step.each", "step.sum"]);
    let latency = &b["metrics"][0];
    assert_eq!(latency["samples"].as_array().unwrap().len(), 30, "every sample is kept");
    let s = &latency["summary"];
    assert!(
        s["median_ci"]["lo"].as_f64() <= s["median"].as_f64()
            && s["median"].as_f64() <= s["median_ci"]["hi"].as_f64()
    );
    assert!(
        s["p50"].as_f64() <= s["p99"].as_f64() && s["p99"].as_f64() <= s["max"].as_f64().map(|m| m * 1.001)
    );
    let runs_per_s = b["throughput"]["per_s"].as_f64().unwrap();
    let items_per_s = b["throughput"]["items_per_s"].as_f64().unwrap();
    assert!(
        (items_per_s / runs_per_s - 5.0).abs() < 1e-6,
        "5 items a run: {runs_per_s} runs/s, {items_per_s} items/s"
    );
    let split = &b["breakdown"];
    let parts: f64 =
        ["queue_wait_ms", "execution_ms", "transition_ms"].iter().map(|k| split[k].as_f64().unwrap()).sum();
    let mean = s["mean"].as_f64().unwrap();
    assert!((parts - mean).abs() <= mean * 0.05, "the parts ({parts} ms) add up to the mean run ({mean} ms)");
    assert!(split["execution_ms"].as_f64() > Some(0.0));
    assert!(b["resources"]["peak_rss_bytes"].as_u64() > Some(1 << 20));
    assert!(report["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "debug_build"));
    assert!(!dir.join(".weir/weir.db").exists(), "a throwaway store by default: `weir runs` stays clean");
}

#[test]
fn counters_and_energy_come_with_their_profiles() {
    let dir = scratch("bench-profile");
    let hello = crate::root().join("examples/hello.yaml");
    let args = ["bench", "run", hello.to_str().unwrap(), "-n", "5", "--profile", "counters,energy", "--json"];
    let out = bench(&dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let b = &json_of(&out)["benchmarks"][0];
    let counter = |name: &str| b["counters"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned();
    let allocations = counter("allocations").expect("counted");
    assert!(allocations["value"].as_f64() > Some(10.0) && allocations["per"] == "run", "{allocations}");
    if cfg!(target_os = "linux") {
        let writes = counter("io.write_calls").expect("read from /proc/self/io");
        assert!(writes["value"].as_f64() > Some(0.0), "the store writes: {writes}");
    }
    assert!(b.get("resources").is_none(), "cpu and mem were not asked for");
    let energy = &b["energy"];
    assert!(energy["joules_per_iteration"].as_f64() > Some(0.0), "{energy}");
    let quality = energy["quality"].as_str().unwrap();
    if quality == "estimated" {
        assert!(b["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "energy_estimated"));
    }
}

#[test]
fn runs_that_fail_are_measured_and_the_exit_code_says_so() {
    let dir = scratch("bench-fail");
    std::fs::write(dir.join("f.yaml"), "name: f\nsteps:\n  - { id: x, uses: fail, with: { message: no } }\n")
        .unwrap();
    let out = bench(&dir, &["bench", "run", "f.yaml", "-n", "4", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let b = &json_of(&out)["benchmarks"][0];
    assert_eq!(b["failures"], 4);
    assert!(b["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "failures"));

    std::fs::write(dir.join("typed.yaml"), FANOUT).unwrap();
    let refused = bench(&dir, &["bench", "run", "typed.yaml", "-i", "{}", "-n", "4"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("typed.yaml") && stderr(&refused).contains("n"),
        "{}",
        stderr(&refused)
    );
    let invalid = bench(&dir, &["bench", "run", "missing.yaml"]);
    assert_eq!(invalid.status.code(), Some(2), "{}", stderr(&invalid));
    let both = bench(&dir, &["bench", "run", "f.yaml", "-n", "3", "--duration", "1s"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(stderr(&both).contains("cannot be used with"), "{}", stderr(&both));
}

#[test]
fn commands_are_measured_in_turns_and_compared_with_the_first() {
    let dir = scratch("bench-cmd");
    let args =
        ["bench", "cmd", "--runs", "6", "--name", "quick", "--json", "--", "true", "--", "sleep", "0.03"];
    let out = bench(&dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["mode"], "cmd");
    let names: Vec<&str> =
        report["benchmarks"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["quick", "sleep 0.03"]);
    let sleep = &report["benchmarks"][1]["metrics"][0]["summary"];
    assert!(sleep["min"].as_f64() >= Some(30.0), "a whole process of sleep 0.03: {sleep}");
    let latency = &report["comparisons"][0]["metrics"][0];
    assert_eq!(
        (latency["metric"].as_str(), latency["verdict"].as_str()),
        (Some("latency"), Some("regressed")),
        "{latency}"
    );
    assert!(latency["ratio"].as_f64() > Some(2.0));

    let failing = bench(&dir, &["bench", "cmd", "--runs", "3", "--", "false"]);
    assert_eq!(failing.status.code(), Some(1));
    assert!(stdout(&failing).contains("3 of 3 iterations did not succeed"), "{}", stdout(&failing));
    let missing = bench(&dir, &["bench", "cmd", "--", "no-such-program-anywhere"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot run `no-such-program-anywhere`: no such program"),
        "{}",
        stderr(&missing)
    );
    let none = bench(&dir, &["bench", "cmd"]);
    assert_eq!(none.status.code(), Some(2));
}

#[test]
fn reports_are_written_by_extension_compared_and_gated() {
    let dir = scratch("bench-compare");
    let measure = |name: &str, seconds: &str| {
        let file = format!("{name}.json");
        let out = bench(
            &dir,
            &[
                "bench",
                "cmd",
                "--runs",
                "8",
                "-o",
                &file,
                "-o",
                &format!("{name}.html"),
                "--",
                "sleep",
                seconds,
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("latency"), "the table on stdout: {}", stdout(&out));
        file
    };
    let base = measure("base", "0.01");
    let slow = measure("slow", "0.03");
    let html = std::fs::read_to_string(dir.join("base.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"), "a self-contained page with plots");

    let same = bench(&dir, &["bench", "compare", &base, &base, "--json"]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert_eq!(json_of(&same)["comparisons"][0]["metrics"][0]["verdict"], "unchanged");
    let table = bench(&dir, &["bench", "compare", &base, &slow]);
    assert!(stdout(&table).contains("regressed"), "{}", stdout(&table));

    let gate = bench(&dir, &["bench", "ci", "--baseline", &base, "--new", &slow]);
    assert_eq!(gate.status.code(), Some(1), "{}", stderr(&gate));
    assert!(stderr(&gate).contains("regressed beyond 5.0%"), "{}", stderr(&gate));
    let pass = bench(&dir, &["bench", "ci", "--baseline", &slow, "--new", &base, "--format", "markdown"]);
    assert_eq!(pass.status.code(), Some(0), "{}", stderr(&pass));
    assert!(stdout(&pass).contains("| latency"), "a Markdown table: {}", stdout(&pass));

    let mut newer: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(&base)).unwrap()).unwrap();
    newer["schema_version"] = 99.into();
    std::fs::write(dir.join("newer.json"), newer.to_string()).unwrap();
    let refused = bench(&dir, &["bench", "compare", &base, "newer.json"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("99"), "{}", stderr(&refused));
    let bad_ext = bench(&dir, &["bench", "cmd", "--runs", "2", "-o", "r.xlsx", "--", "true"]);
    assert_eq!(bad_ext.status.code(), Some(2));
    assert!(stderr(&bad_ext).contains("cannot tell the format of r.xlsx"), "{}", stderr(&bad_ext));
}

#[test]
fn saved_reports_make_a_history() {
    let dir = scratch("bench-history");
    for _ in 0..2 {
        let out = bench(&dir, &["bench", "cmd", "--runs", "3", "--save", "nightly", "--", "true"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains("saved as \"nightly\""), "{}", stderr(&out));
    }
    let history = bench(&dir, &["bench", "history", "nightly", "--json"]);
    assert_eq!(history.status.code(), Some(0), "{}", stderr(&history));
    let rows = json_of(&history);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["saved_at"].as_u64() <= rows[1]["saved_at"].as_u64(), "oldest first");
    assert!(rows[1]["change"].is_number() && rows[0]["change"].is_null());
    let names = bench(&dir, &["bench", "history"]);
    assert!(stdout(&names).contains("nightly"), "{}", stdout(&names));
    let baseline = bench(&dir, &["bench", "compare", "@nightly", "@nightly", "--json"]);
    assert_eq!(baseline.status.code(), Some(0), "{}", stderr(&baseline));
    let unknown = bench(&dir, &["bench", "history", "weekly"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("no report is saved as \"weekly\""), "{}", stderr(&unknown));
}

#[test]
fn two_pipelines_are_compared_in_abba_blocks() {
    let dir = scratch("bench-ab");
    std::fs::write(dir.join("a.yaml"), "name: a\nsteps:\n  - { id: x, uses: pass }\n").unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        "name: b\nsteps:\n  - { id: x, uses: sleep, with: { duration: 5ms } }\n",
    )
    .unwrap();
    let out = bench(&dir, &["bench", "ab", "a.yaml", "b.yaml", "-n", "20", "--blocks", "5", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json_of(&out);
    assert_eq!(report["mode"], "ab");
    assert_eq!(report["benchmarks"][0]["iterations"], 20);
    assert_eq!(report["benchmarks"][1]["iterations"], 20);
    let at: Vec<f64> = report["benchmarks"][0]["metrics"][0]["at_s"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let b_first = report["benchmarks"][1]["metrics"][0]["at_s"][0].as_f64().unwrap();
    // A A | B B, then B B | A A: B's first turn comes between A's first and second.
    assert!(at[1] < b_first && b_first < at[2], "B ran between A's turns: {at:?}, B from {b_first}");
    assert_eq!(report["comparisons"][0]["metrics"][0]["verdict"], "regressed");
    let wrong = bench(&dir, &["bench", "ab", "a.yaml"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("compares two pipelines"), "{}", stderr(&wrong));
}

#[cfg(feature = "http")]
mod http {
    use super::bench;
    use crate::{json_of, scratch, stderr};
    use std::io::{BufRead, BufReader, Write};

    /// A server on 127.0.0.1 that answers every request on a connection with 200 and a short body.
    fn serve() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                        }
                    }
                });
            }
        });
        format!("http://{addr}/health")
    }

    #[test]
    fn an_http_server_is_loaded_at_a_fixed_rate() {
        let dir = scratch("bench-http");
        let url = serve();
        let out = bench(&dir, &["bench", "http", &url, "--rate", "40", "--duration", "1s", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report = json_of(&out);
        let b = &report["benchmarks"][0];
        let http = &b["http"];
        assert_eq!(http["sent"].as_u64().unwrap() + http["dropped"].as_u64().unwrap(), 40, "{http}");
        assert_eq!(http["status_counts"]["200"], http["completed"]);
        let names: Vec<&str> =
            b["metrics"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["latency", "latency.uncorrected"]);

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let refused = bench(&dir, &["bench", "http", &format!("http://{closed}/"), "--duration", "1s"]);
        assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
        assert!(stderr(&refused).contains("cannot connect to"), "{}", stderr(&refused));
        let https = bench(&dir, &["bench", "http", "https://127.0.0.1:1/", "--duration", "1s"]);
        assert_eq!(https.status.code(), Some(2));
    }
}
