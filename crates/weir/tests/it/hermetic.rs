//! `weir test` and `weir dry-run` as a user relies on them: tests that touch nothing outside the
//! process and wait for nothing, and walks that show what a run would do.

use crate::{scratch, stderr, stdout, weir};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write");
}

/// Runs `weir` like [`weir`], but gives up (and fails the test) after `limit` instead of hanging.
fn weir_within(dir: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = crate::command()
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the weir binary runs");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("weir {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A request to port 1 of this machine: refused at once when it is really made.
const FETCH: &str = "name: f\nsteps:\n  - { id: fetch, uses: http, with: { url: 'http://127.0.0.1:1/orders/${{ .input.order }}' } }\n";

#[test]
fn a_thirty_second_sleep_in_a_test_case_takes_no_wall_time() {
    let dir = scratch("hermetic-sleep");
    let cases = "tests:\n  - name: waits\n    input: { order: 7 }\n    mock: { fetch: done }\n    expect: { output: done }\n";
    let wait = "  - { id: wait, uses: sleep, needs: [fetch], with: { duration: 30s } }\noutput: .steps.fetch.output\n";
    write(&dir, "f.yaml", &format!("{FETCH}{wait}{cases}"));
    // Well under the sleep's 30 s: the case runs on virtual time.
    let out = weir_within(&dir, &["test", "f.yaml"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 passed, 0 failed"), "{}", stdout(&out));
}

#[test]
#[cfg_attr(not(feature = "http"), ignore = "its external step is an `http` step")]
fn an_unmocked_http_step_fails_its_case_naming_the_call_unless_allowed() {
    let dir = scratch("hermetic-refuse");
    // It expects the run to fail, as a refused run does: the refusal must fail the case anyway.
    let cases = "tests:\n  - name: forgot the mock\n    input: { order: 7 }\n    expect: { status: failed }\n  - name: calls for real\n    input: { order: 7 }\n    allow_external: true\n    expect: { status: failed, steps: { fetch: failed } }\n";
    write(&dir, "f.yaml", &format!("{FETCH}{cases}"));
    let out = weir_within(&dir, &["test", "f.yaml"], Duration::from_secs(60));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(r#"step "fetch" would call http with {"url":"http://127.0.0.1:1/orders/7"}; mock it in the case's `mock`"#),
        "{text}"
    );
    // The allowed case called port 1 for real, was refused the connection, and passed.
    assert!(text.contains("✓ f.yaml › calls for real") && text.contains("1 passed, 1 failed"), "{text}");
    let all = weir_within(&dir, &["test", "f.yaml", "--allow-external"], Duration::from_secs(60));
    assert_eq!(all.status.code(), Some(0), "{}", stdout(&all));
}

#[test]
fn case_runs_the_named_cases_only_and_refuses_unknown_names() {
    let dir = scratch("hermetic-case");
    write(
        &dir,
        "t.yaml",
        "name: t\nsteps:\n  - { id: a, uses: pass, with: { value: 1 } }\ntests:\n  - { name: one, expect: { output: 1 } }\n  - { name: two, expect: { output: 2 } }\n",
    );
    let one = weir(&dir, &["test", "t.yaml", "--case", "one"]);
    assert_eq!(one.status.code(), Some(0), "{}", stdout(&one));
    assert!(stdout(&one).contains("1 passed, 0 failed") && !stdout(&one).contains("two"), "{}", stdout(&one));
    // Exact names: "on" is not "one".
    let unknown = weir(&dir, &["test", "t.yaml", "--case", "on"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains(r#"the cases are: "one", "two""#), "{}", stderr(&unknown));
}

#[test]
fn an_invalid_file_is_reported_as_such_not_as_zero_cases() {
    let dir = scratch("hermetic-invalid");
    write(
        &dir,
        "bad.yaml",
        "name: bad\nsteps:\n  - { id: a, uses: nope }\ntests:\n  - { name: x, expect: {} }\n",
    );
    let out = weir(&dir, &["test", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("bad.yaml is invalid: its cases did not run"), "{}", stdout(&out));
    assert!(stdout(&out).contains("0 passed, 0 failed, 1 invalid file"), "{}", stdout(&out));
    let json: Value =
        serde_json::from_slice(&weir(&dir, &["test", "bad.yaml", "--json"]).stdout).expect("JSON");
    assert_eq!(json["invalid"], json!(["bad.yaml"]));
}

#[test]
fn test_json_gives_each_problem_its_path_expected_and_found() {
    let dir = scratch("hermetic-json");
    write(
        &dir,
        "t.yaml",
        "name: t\nsteps:\n  - { id: a, uses: pass, with: { value: { n: 1, m: [1] } } }\ntests:\n  - name: wrong\n    expect: { output: { n: 2, m: [1] }, steps: { a: skipped } }\n",
    );
    let out = weir(&dir, &["test", "t.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        json["cases"][0]["problems"],
        json!([
            {"path": ".n", "expected": 2, "found": 1, "message": ".n: expected 2, got 1"},
            {"path": "steps.a", "expected": "skipped", "found": "succeeded", "message": "step a: expected skipped, got succeeded"}
        ])
    );
}
