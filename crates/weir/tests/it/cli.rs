//! CLI behaviour a user relies on: exit codes, stdout hygiene, JSON outputs, signals, generated files.

use crate::{root, scratch, stderr, weir};
use serde_json::Value;
use std::path::Path;

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write");
}

#[test]
fn run_prints_only_the_output_on_stdout() {
    let out = weir(&root(), &["run", "examples/hello.yaml", "--set-str", "who=Ada"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "\"Hello, Ada!\"");
}

#[test]
fn raw_prints_a_string_output_without_quotes() {
    let out = weir(&root(), &["run", "-r", "examples/hello.yaml", "--set-str", "who=Ada"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(crate::stdout(&out), "Hello, Ada!\n");
}

#[test]
fn a_set_value_that_is_not_json_is_refused_with_a_hint() {
    let out = weir(&root(), &["run", "examples/hello.yaml", "--set", "who=Ada"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing ran");
    let stderr = stderr(&out);
    assert!(stderr.contains("--set \"who=Ada\": the value is not JSON"), "{stderr}");
    assert!(stderr.contains("--set-str who=Ada") && stderr.contains(r#"--set 'who="Ada"'"#), "{stderr}");
    let quoted = weir(&root(), &["run", "examples/hello.yaml", "--set", r#"who="Ada""#]);
    assert_eq!(crate::stdout(&quoted).trim(), "\"Hello, Ada!\"");
}

#[test]
fn run_json_summary_has_the_documented_shape() {
    let out = weir(&root(), &["run", "examples/resilient.yaml", "--json", "-i", r#"{"failures": 5}"#]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for key in ["run_id", "status", "output", "error", "steps"] {
        assert!(summary.get(key).is_some(), "missing {key}");
    }
    let charge =
        summary["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == "charge")).expect("charge");
    assert_eq!(charge["status"], "failed");
    assert_eq!(charge["attempts"], 3);
    assert!(charge["duration_ms"].is_number());
}

#[test]
fn exit_codes_tell_failed_runs_from_invalid_input() {
    let dir = scratch("cli-exit");
    write(&dir, "fails.yaml", "name: f\nsteps:\n  - { id: a, uses: fail, with: { message: boom } }\n");
    write(&dir, "invalid.yaml", "name: f\nsteps:\n  - { id: a, uses: nope }\n");
    let failed = weir(&dir, &["run", "fails.yaml"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(failed.stdout.is_empty(), "a failed run prints nothing on stdout");
    assert!(String::from_utf8_lossy(&failed.stderr).contains("step \"a\" failed after 1 attempt: boom"));
    assert_eq!(weir(&dir, &["run", "invalid.yaml"]).status.code(), Some(2));
    assert_eq!(weir(&dir, &["validate", "invalid.yaml"]).status.code(), Some(2));
    assert_eq!(weir(&dir, &["run", "missing.yaml"]).status.code(), Some(2));
    assert_eq!(weir(&dir, &["run", "fails.yaml", "-i", "{not json"]).status.code(), Some(2));
    assert_eq!(weir(&dir, &["frobnicate"]).status.code(), Some(2));
}

#[test]
fn validate_reports_locations_codes_and_hints() {
    let dir = scratch("cli-validate");
    write(
        &dir,
        "p.yaml",
        "name: p\nsteps:\n  - id: fetch\n    uses: pass\n  - id: score\n    uses: pass\n    needs: [fech]\n",
    );
    let out = weir(&dir, &["validate", "p.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[E0102]: unknown need \"fech\" in step \"score\""), "{stderr}");
    assert!(stderr.contains("p.yaml:7:13"), "{stderr}");
    assert!(stderr.contains("did you mean \"fetch\"?"), "{stderr}");
    let json = weir(&dir, &["validate", "--json", "p.yaml"]);
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["errors"], 1);
    assert_eq!(report["files"][0]["diagnostics"][0]["line"], 7);
}

#[test]
fn an_unreadable_file_does_not_hide_the_problems_of_the_others() {
    let dir = scratch("cli-unreadable");
    write(&dir, "bad.yaml", "name: bad\nsteps:\n  - { id: a, uses: nope }\n");
    write(&dir, "good.yaml", "name: good\nsteps:\n  - { id: a, uses: pass }\n");
    let out = weir(&dir, &["validate", "missing.yaml", "bad.yaml", "good.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(text.contains("error[E0121]: cannot read missing.yaml"), "{text}");
    assert!(text.contains("bad.yaml:3:") && text.contains("\"nope\""), "the other files are checked: {text}");
    assert!(text.contains("3 files checked: 2 errors"), "{text}");
    let json = weir(&dir, &["validate", "--json", "missing.yaml", "bad.yaml", "good.yaml"]);
    assert_eq!(json.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let files: Vec<(&str, bool)> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (f["file"].as_str().unwrap_or(""), f["valid"] == true))
        .collect();
    assert_eq!(files, [("missing.yaml", false), ("bad.yaml", false), ("good.yaml", true)]);
    let missing = &report["files"][0]["diagnostics"][0];
    assert_eq!((&missing["severity"], &missing["code"]), (&Value::from("error"), &Value::from("E0121")));
}

#[test]
fn a_directory_without_pipelines_is_an_error_not_a_pass() {
    let dir = scratch("cli-empty-dir");
    std::fs::create_dir(dir.join("empty")).expect("mkdir");
    write(&dir.join("empty"), "notes.txt", "not a pipeline\n");
    for command in ["validate", "test"] {
        let out = weir(&dir, &[command, "empty"]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(stderr(&out).contains("no pipeline files found under empty"), "{command}: {}", stderr(&out));
    }
}

#[test]
fn strict_turns_warnings_into_errors() {
    let dir = scratch("cli-strict");
    write(
        &dir,
        "w.yaml",
        "name: w\nsteps:\n  - { id: unused, uses: pass, with: { value: 1 } }\n  - { id: out, uses: log, with: { message: hi } }\noutput: '1'\n",
    );
    assert_eq!(weir(&dir, &["validate", "w.yaml"]).status.code(), Some(0));
    let strict = weir(&dir, &["validate", "--strict", "w.yaml"]);
    assert_eq!(strict.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("W0201"));
}

#[test]
fn imports_are_checked_with_the_file_that_runs_them() {
    let dir = scratch("cli-imports");
    write(
        &dir,
        "a.yaml",
        "name: a\nsteps:\n  - { id: b, uses: pipeline, with: { file: b.yaml } }\n  - { id: c, uses: pipeline, with: { file: nowhere.yaml } }\n",
    );
    write(&dir, "b.yaml", "name: b\nsteps:\n  - { id: back, uses: pipeline, with: { file: a.yaml } }\n");
    let out = weir(&dir, &["validate", "a.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("E0121") && stderr.contains("nowhere.yaml"), "{stderr}");
    assert!(stderr.contains("E0122"), "{stderr}");
}

#[test]
fn test_command_fails_with_a_diff() {
    let dir = scratch("cli-test");
    write(
        &dir,
        "t.yaml",
        "name: t\nsteps:\n  - { id: a, uses: pass, with: { value: { n: 1 } } }\ntests:\n  - name: wrong\n    expect: { output: { n: 2 } }\n",
    );
    let out = weir(&dir, &["test", "t.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(".n: expected 2, got 1"), "{stdout}");
}

/// A pipeline that logs `started`, then waits a minute in `wait`.
const LONG: &str = "name: long\nsteps:\n  - { id: hello, uses: log, with: { message: started } }\n  - { id: wait, uses: sleep, needs: [hello], with: { duration: 1m } }\n";

/// A pipeline that logs `started`, then computes for minutes in `spin` inside one built-in call
/// (`indices` of a long string in a longer one), where no check of weir's reaches: a step that
/// cancellation cannot stop, as a hung step would be.
const STUCK: &str = "name: stuck\nsteps:\n  - { id: hello, uses: log, with: { message: started } }\n  - { id: spin, uses: transform, needs: [hello], with: { expr: '\"x\" * 2000000 | indices(\"x\" * 1000000) | length' } }\n";

/// A pipeline that logs `started`, then computes forever in `spin` (in a loop of jq's), with
/// `extra` lines of that step.
fn endless(expr: &str, extra: &str) -> String {
    format!(
        "name: endless\nsteps:\n  - {{ id: hello, uses: log, with: {{ message: started }} }}\n  - id: spin\n    uses: transform\n    needs: [hello]\n    with: {{ expr: '{expr}' }}\n{extra}"
    )
}

/// How long a test waits for a line or an exit before it fails instead of hanging.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// `weir run` of `pipeline` in the background, with the lines of its stderr.
struct Running {
    child: std::process::Child,
    /// The lines of its stderr, read by a thread, so waiting for one can give up.
    stderr: std::sync::mpsc::Receiver<String>,
    _dir: crate::Scratch,
}

impl Running {
    fn start(name: &str, pipeline: &str, args: &[&str]) -> Running {
        let dir = scratch(name);
        write(&dir, "p.yaml", pipeline);
        let mut child = crate::command()
            .args(["run", "p.yaml"])
            .args(args)
            .current_dir(&*dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().expect("stderr")));
        let (send, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || lines.map_while(Result::ok).try_for_each(|line| send.send(line)));
        Running { child, stderr, _dir: dir }
    }

    /// Reads stderr up to a line containing `text`.
    fn wait_for(&mut self, text: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(e) => {
                    let _ = self.child.kill();
                    panic!("no {text:?} on stderr: {e}");
                }
            }
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let kill = std::process::Command::new("kill").args([&format!("-{name}"), &pid]).status();
        assert!(kill.expect("kill runs").success());
    }

    /// The exit code and stdout. A run still going after [`PATIENCE`] is killed and fails the
    /// test, rather than hanging it for the minute its step lasts (or forever).
    fn finish(mut self) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + PATIENCE;
        while self.child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("weir run did not end after the signal");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = self.child.wait_with_output().expect("wait");
        (out.status.code(), crate::stdout(&out))
    }
}

/// The status of step `id` in a `--json` summary.
fn step_status<'a>(summary: &'a Value, id: &str) -> &'a Value {
    let steps = summary["steps"].as_array().expect("steps");
    &steps.iter().find(|s| s["id"] == id).expect("the step is listed")["status"]
}

#[test]
fn ctrl_c_and_sigterm_cancel_the_run_and_still_print_the_summary() {
    for signal in ["INT", "TERM"] {
        let mut run = Running::start(&format!("cli-cancel-{signal}"), LONG, &["--json"]);
        run.wait_for("started");
        run.signal(signal);
        let (code, stdout) = run.finish();
        assert_eq!(code, Some(1), "SIG{signal}");
        let summary: Value = serde_json::from_str(&stdout).expect("a JSON summary");
        assert_eq!(summary["status"], "cancelled", "SIG{signal}");
        assert_eq!(step_status(&summary, "wait"), "cancelled", "SIG{signal}");
        assert_eq!(step_status(&summary, "hello"), "succeeded", "SIG{signal}");
        let wait =
            summary["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == "wait")).expect("wait");
        assert_eq!(wait["attempts"], 1, "the attempt that started is counted");
        assert_eq!(summary["error"]["message"], "cancelled while step \"wait\" was running");
    }
}

#[test]
fn a_timeout_stops_an_endless_expression_promptly() {
    let started = std::time::Instant::now();
    let run = Running::start(
        "cli-endless-timeout",
        &endless("last(range(1e10))", "    timeout: 1s\n"),
        &["--json"],
    );
    let (code, stdout) = run.finish();
    assert_eq!(code, Some(1));
    let summary: Value = serde_json::from_str(&stdout).expect("a JSON summary");
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["error"]["kind"], "timeout", "{summary}");
    assert_eq!(step_status(&summary, "spin"), "failed");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn sigterm_and_another_steps_failure_stop_an_endless_expression() {
    for expr in ["def f: f; f", "last(limit(1e12; repeat(1)))"] {
        let mut run = Running::start("cli-endless-term", &endless(expr, ""), &["--json"]);
        run.wait_for("started");
        run.signal("TERM");
        let (code, stdout) = run.finish();
        assert_eq!(code, Some(1), "{expr}");
        let summary: Value = serde_json::from_str(&stdout).expect("a JSON summary");
        assert_eq!(summary["status"], "cancelled", "{expr}: {summary}");
        assert_eq!(step_status(&summary, "spin"), "cancelled", "{expr}");
    }
    let failing = endless(
        "def f: f; f",
        "  - { id: wait, uses: sleep, with: { duration: 300ms } }\n  - { id: boom, uses: fail, needs: [wait] }\n",
    );
    let (code, stdout) = Running::start("cli-endless-fail", &failing, &["--json"]).finish();
    assert_eq!(code, Some(1));
    let summary: Value = serde_json::from_str(&stdout).expect("a JSON summary");
    assert_eq!(summary["status"], "failed", "{summary}");
    assert_eq!(summary["error"]["step"], "boom", "{summary}");
    assert_eq!(step_status(&summary, "spin"), "cancelled");
}

#[test]
fn a_second_signal_stops_a_stuck_run_at_once() {
    for (first, second, code) in [("TERM", "TERM", 143), ("INT", "INT", 130), ("INT", "TERM", 143)] {
        let mut run = Running::start(&format!("cli-stuck-{first}-{second}"), STUCK, &["--json"]);
        run.wait_for("started");
        run.signal(first);
        run.wait_for("interrupt again to stop at once");
        run.signal(second);
        let (status, stdout) = run.finish();
        assert_eq!(status, Some(code), "SIG{first} then SIG{second}");
        assert!(stdout.is_empty(), "a run stopped at once prints no summary: {stdout}");
    }
}

#[test]
#[cfg_attr(not(feature = "http"), ignore = "the committed schema describes the `http` kind")]
fn the_committed_schema_is_fresh_and_accepts_every_example() {
    let out = weir(&root(), &["schema"]);
    let generated = String::from_utf8_lossy(&out.stdout).into_owned();
    let committed = std::fs::read_to_string(root().join("schema/pipeline.schema.json")).expect("schema file");
    assert!(generated == committed, "schema/pipeline.schema.json is stale: run `cargo xtask codegen`");
    let schema: Value = serde_json::from_str(&committed).expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    for entry in std::fs::read_dir(root().join("examples")).expect("examples") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let node = weir_pipeline::node::parse(&weir_pipeline::Source::new("x", text)).expect("parses");
        let errors: Vec<String> = validator.iter_errors(&node.to_value()).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    let bad = serde_json::json!({"name": "x", "steps": [{"id": "a", "uses": "http", "with": {"urll": "x"}}]});
    assert!(!validator.is_valid(&bad), "the schema checks `with` by kind");
}

#[test]
fn graph_writes_the_format_its_file_names_and_refuses_others() {
    let dir = scratch("cli-graph");
    write(&dir, "p.yaml", "name: p\nsteps:\n  - { id: a, uses: pass }\n");
    let png = weir(&dir, &["graph", "p.yaml", "-o", "p.png"]);
    assert_eq!(png.status.code(), Some(2));
    assert!(stderr(&png).contains("weir graph writes .svg, .dot"), "{}", stderr(&png));
    assert!(!dir.join("p.png").exists(), "nothing is written");
    assert_eq!(weir(&dir, &["graph", "p.yaml", "-o", "FLOW.md"]).status.code(), Some(0));
    let page = std::fs::read_to_string(dir.join("FLOW.md")).expect("FLOW.md");
    assert!(page.starts_with("```mermaid\nflowchart TD\n") && page.ends_with("```\n"), "{page}");
    assert_eq!(weir(&dir, &["graph", "p.yaml", "-o", "p.svg"]).status.code(), Some(0));
    assert!(std::fs::read_to_string(dir.join("p.svg")).expect("p.svg").starts_with("<svg"));
}

#[test]
fn completions_are_generated() {
    let out = weir(&root(), &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry-run"));
}

#[test]
#[cfg_attr(not(feature = "http"), ignore = "its external step is an `http` step")]
fn dry_run_shows_the_walk_without_calling_anything() {
    let dir = scratch("cli-dry-run");
    write(
        &dir,
        "p.yaml",
        "name: p\nsteps:\n  - { id: fetch, uses: http, with: { url: 'http://192.0.2.1/orders/${{ .input.order }}' } }\n  - { id: big, uses: pass, needs: [fetch], if: '.steps.fetch.output.body.total > 50', with: { value: big } }\n  - { id: small, uses: pass, needs: [fetch], if: '(.steps.fetch.output.body.total // 0) <= 50', with: { value: small } }\n  - { id: done, uses: transform, needs: [big, small], with: { expr: '.steps.big.output // .steps.small.output' } }\n",
    );
    let out = weir(&dir, &["dry-run", "p.yaml", "--set", "order=7"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = crate::stdout(&out);
    assert!(text.contains(r#"would call http with {"url":"http://192.0.2.1/orders/7"}"#), "{text}");
    assert!(text.contains("big") && text.contains("skipped: condition is false"), "{text}");
    assert!(text.contains("output: \"small\""), "{text}");
    let mocked = weir(&dir, &["dry-run", "p.yaml", "--json", "--mock", r#"fetch={"body": {"total": 90}}"#]);
    let walk: Value = serde_json::from_slice(&mocked.stdout).expect("JSON");
    assert_eq!(walk["output"], "big");
    assert_eq!(walk["steps"][0]["id"], "fetch");
    assert_eq!(walk["steps"][0]["mocked"], true);
    assert_eq!(weir(&dir, &["dry-run", "p.yaml", "--mock", "nope=1"]).status.code(), Some(2));
}

#[test]
fn dry_run_shows_mocked_values_every_item_and_steps_not_reached() {
    let dir = scratch("cli-dry-run-items");
    write(
        &dir,
        "p.yaml",
        "name: p\nenv: [SHOP_TOKEN]\nsteps:\n  - id: fetch\n    uses: http\n    with: { url: 'http://192.0.2.1/orders', headers: { authorization: 'Bearer ${{ $ENV.SHOP_TOKEN }}' } }\n  - id: each\n    uses: foreach\n    needs: [fetch]\n    with:\n      items: .steps.fetch.output.ids\n      step: { uses: http, with: { url: 'http://192.0.2.1/items/${{ .item }}' } }\n  - { id: check, uses: transform, needs: [each], with: { expr: 'error(\"no stock\")' } }\n  - { id: ship, uses: pass, needs: [check] }\n",
    );
    let env = [("NO_COLOR", "1"), ("WEIR_ENV_ALLOW", "SHOP_TOKEN"), ("SHOP_TOKEN", "tok-1234567")];
    let out = crate::weir_env(&dir, &["dry-run", "p.yaml", "--mock", r#"fetch={"ids": [3, 5]}"#], &env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = crate::stdout(&out);
    assert!(text.contains(r#"mocked → {"ids":[3,5]} (instead of http with"#), "the mocked value: {text}");
    assert!(text.contains("Bearer ***") && !text.contains("tok-1234567"), "the secret is hidden: {text}");
    assert!(
        text.contains(r#"item 1 of 2 (index 0): would call http with {"url":"http://192.0.2.1/items/3"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"item 2 of 2 (index 1): would call http with {"url":"http://192.0.2.1/items/5"}"#),
        "{text}"
    );
    assert!(text.contains("ship") && text.contains("not reached"), "{text}");
    assert!(!text.contains("cancelled"), "nothing was running when the run failed: {text}");

    let out = crate::weir_env(&dir, &["dry-run", "p.yaml", "--json"], &env);
    let walk: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(walk["steps"][0]["would_call"]["headers"]["authorization"], "Bearer ***");
    assert_eq!(walk["steps"][1]["status"], "failed", "no ids without a mock");
    assert_eq!(walk["steps"].as_array().unwrap().last().unwrap()["status"], "not_reached");

    let batch = r#"{"customers": [{"email": "A@X.IO", "name": " Ada "}, {"email": "b@y.io", "name": "Bo"}]}"#;
    let out = weir(&root(), &["dry-run", "examples/batch.yaml", "--json", "-i", batch]);
    let walk: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let each = &walk["steps"][0];
    assert_eq!(
        (each["items"][1]["index"].clone(), each["items"][1]["kind"].clone()),
        (1.into(), "pipeline".into())
    );
    assert_eq!(each["items"][1]["steps"][0]["output"]["email"], "b@y.io", "each item's run is walked");
    assert_eq!(walk["steps"][1]["steps"][0]["id"], "clean", "and the run of a `pipeline` step");

    let out = weir(&dir, &["dry-run", "p.yaml", "--mock", "fetch=ok"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(r#"--mock 'fetch="ok"'"#), "{}", stderr(&out));
}

#[test]
fn rules_across_with_keys_stop_validate_and_dry_run_before_anything_runs() {
    let dir = scratch("cli-rules");
    write(
        &dir,
        "item.yaml",
        "name: item\nsteps:\n  - { id: echo, uses: transform, with: { expr: '.input' } }\n",
    );
    write(
        &dir,
        "p.yaml",
        "name: p\nsteps:\n  - id: each\n    uses: foreach\n    with:\n      items: '[1, 2]'\n      pipeline: item.yaml\n      step: { uses: log, with: { message: hi } }\n",
    );
    for command in ["validate", "dry-run"] {
        let out = weir(&dir, &[command, "p.yaml"]);
        let stderr = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("error[E0110]: a `foreach` step takes `step` or `pipeline`, not both"),
            "{stderr}"
        );
        assert!(stderr.contains("p.yaml:8:7"), "{command} points at the second key: {stderr}");
        assert!(crate::stdout(&out).is_empty(), "{command} walks nothing");
    }
}

#[test]
fn input_comes_from_stdin_and_version_prints() {
    use std::io::Write;
    let mut child = crate::command()
        .args(["run", "examples/hello.yaml", "-i", "@-", "--compact"])
        .current_dir(root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(br#"{"who": "stdin"}"#).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(crate::stdout(&out).trim(), "\"Hello, stdin!\"");
    for flag in ["--version", "-V"] {
        let version = weir(&root(), &[flag]);
        assert_eq!(crate::stdout(&version).trim(), concat!("weir ", env!("CARGO_PKG_VERSION")));
    }
    let misplaced = weir(&root(), &["run", "-V", "examples/hello.yaml"]);
    assert_eq!(misplaced.status.code(), Some(2), "only `weir` itself takes -V");
    assert!(crate::stdout(&misplaced).is_empty());
}

/// Runs `weir` in `dir` with `stdin` on its standard input.
fn weir_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = crate::command()
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write");
    child.wait_with_output().expect("wait")
}

#[test]
fn a_pipeline_from_stdin_runs_files_from_the_current_directory() {
    let dir = scratch("cli-stdin-pipeline");
    std::fs::create_dir(dir.join("lib")).expect("mkdir");
    write(
        &dir.join("lib"),
        "twice.yaml",
        "name: twice\nsteps:\n  - { id: t, uses: transform, with: { expr: '.input.n * 2' } }\n",
    );
    let pipeline = "name: main\nsteps:\n  - { id: sub, uses: pipeline, with: { file: lib/twice.yaml, input: { n: '${{ .input.n }}' } } }\n";
    let out = weir_with_stdin(&dir, &["run", "-", "--set", "n=21"], pipeline);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(crate::stdout(&out).trim(), "42");
    let invalid = weir_with_stdin(&dir, &["run", "-"], "name: bad\nsteps:\n  - { id: a, uses: nope }\n");
    assert_eq!(invalid.status.code(), Some(2));
    assert!(stderr(&invalid).contains("--> <stdin>:3:"), "{}", stderr(&invalid));
    let both = weir_with_stdin(&dir, &["run", "-", "-i", "@-"], pipeline);
    assert_eq!(both.status.code(), Some(2));
    assert!(stderr(&both).contains("not both"), "{}", stderr(&both));
}

/// The retry waits of a run, in event order, from `--events`.
fn retry_delays(out: &std::process::Output) -> Vec<f64> {
    stderr(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "step_retrying")
        .filter_map(|e| e["delay_ms"].as_f64())
        .collect()
}

#[test]
fn seed_repeats_a_runs_retry_waits_exactly() {
    let dir = scratch("cli-seed");
    write(
        &dir,
        "flaky.yaml",
        "name: flaky\nsteps:\n  - id: each\n    uses: foreach\n    with:\n      items: '[1, 2, 3]'\n      step:\n        uses: fail\n        with: { times: 1, output: ok }\n        retry: { attempts: 2, backoff: { initial: 20ms, jitter: true } }\n",
    );
    let run = |seed: &str| weir(&dir, &["run", "flaky.yaml", "--events", "--seed", seed]);
    let first = retry_delays(&run("9"));
    assert_eq!(first.len(), 3, "each item retried once");
    assert_eq!(retry_delays(&run("9")), first, "the same seed, the same waits");
    assert_ne!(retry_delays(&run("10")), first, "another seed, other waits");
    let seed = stderr(&run("9")).lines().next().and_then(|l| serde_json::from_str::<Value>(l).ok());
    assert_eq!(seed.map(|e| e["seed"].clone()), Some(Value::from(9)), "run_started records the seed");
}

#[test]
fn strict_validation_refuses_reads_it_cannot_check() {
    let dir = scratch("cli-unproven");
    write(
        &dir,
        "keys.yaml",
        "name: keys\nsteps:\n  - { id: a, uses: pass }\n  - { id: b, uses: transform, needs: [a], with: { expr: '.steps | keys' } }\n",
    );
    let lenient = weir(&dir, &["validate", "keys.yaml"]);
    assert_eq!(lenient.status.code(), Some(0), "a warning: {}", stderr(&lenient));
    assert!(stderr(&lenient).contains("warning[W0202]"), "{}", stderr(&lenient));
    let strict = weir(&dir, &["validate", "--strict", "keys.yaml"]);
    assert_eq!(strict.status.code(), Some(2));
    let run = weir(&dir, &["run", "keys.yaml"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim().replace([' ', '\n'], ""), r#"["a"]"#);
}

#[test]
fn pipelines_read_only_declared_and_allowed_environment_variables() {
    let dir = scratch("cli-env");
    write(
        &dir,
        "env.yaml",
        "name: env\nenv: [API_TOKEN]\nsteps:\n  - { id: say, uses: log, with: { message: 'token ${{ env.API_TOKEN }}' } }\n  - { id: read, uses: transform, with: { expr: '{token: env.API_TOKEN, home: env.HOME, all: ($ENV | keys)}' } }\noutput: '.steps.read.output'\n",
    );
    let secret = [("API_TOKEN", "t0k3n-secret"), ("HOME", "/home/someone")];
    let refused = crate::weir_env(&dir, &["run", "env.yaml"], &secret);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("WEIR_ENV_ALLOW=API_TOKEN"), "{}", stderr(&refused));
    let allowed = [secret[0], secret[1], ("WEIR_ENV_ALLOW", "API_TOKEN")];
    let out = crate::weir_env(&dir, &["run", "env.yaml", "--events"], &allowed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let output: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(output, serde_json::json!({"token": "t0k3n-secret", "home": null, "all": ["API_TOKEN"]}));
    assert!(!stderr(&out).contains("t0k3n-secret"), "events and logs hide the value: {}", stderr(&out));
    assert!(stderr(&out).contains("token ***"), "{}", stderr(&out));
}

#[test]
fn a_json_pipeline_as_python_writes_it_runs_and_keeps_its_characters() {
    let dir = scratch("cli-python-json");
    // `json.dump` escapes every non-ASCII character, an emoji as a surrogate pair.
    let pipeline = r#"{"name": "launch", "steps": [{"id": "say", "uses": "transform", "with": {"expr": "\"Lift-off \ud83d\ude80 \u00e9\""}}]}"#;
    write(&dir, "launch.json", pipeline);
    let out = weir(&dir, &["run", "launch.json", "-r"]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    assert_eq!(crate::stdout(&out).trim(), "Lift-off 🚀 é");
    // The same text with a lone half of the pair is refused at the escape.
    write(&dir, "lone.json", &pipeline.replace(r"\ude80", ""));
    let out = weir(&dir, &["validate", "lone.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = crate::stderr(&out);
    assert!(err.contains("lone surrogate `\\uD83D`") && err.contains("lone.json:1:94"), "{err}");
}

#[test]
fn debug_and_stderr_show_in_the_runs_log_and_events_with_secrets_hidden() {
    let dir = scratch("cli-debug");
    write(
        &dir,
        "debug.yaml",
        "name: debug\nenv: [API_TOKEN]\nsteps:\n  - { id: show, uses: transform, with: { expr: '{token: env.API_TOKEN} | debug | \"done\" | stderr | 1' } }\n",
    );
    let env = [("API_TOKEN", "t0k3n-secret"), ("WEIR_ENV_ALLOW", "API_TOKEN")];
    let out = crate::weir_env(&dir, &["run", "debug.yaml"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains(r#"[debug] show: ["DEBUG:",{"token":"***"}]"#), "{}", stderr(&out));
    assert!(stderr(&out).contains("[info] show: done"), "{}", stderr(&out));
    let out = crate::weir_env(&dir, &["run", "debug.yaml", "--events"], &env);
    assert!(!stderr(&out).contains("t0k3n-secret"), "{}", stderr(&out));
    let events: Vec<Value> =
        stderr(&out).lines().map(|l| serde_json::from_str(l).expect("one JSON event a line")).collect();
    let logged: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["message"].is_string())
        .map(|e| (e["level"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(logged, [("debug", r#"["DEBUG:",{"token":"***"}]"#), ("info", "done")], "{events:?}");
}
