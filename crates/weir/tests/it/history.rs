//! A run's history: `weir runs logs` (and `--follow`), `weir runs cancel` and `weir replay`,
//! through the binary, on the SQLite store of a scratch directory.

use crate::{json_of, scratch, stderr, stdout, weir_in};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// What `weir ARGS` did in `dir`, with its runs stored in `dir/home`.
fn output(dir: &Path, args: &[&str]) -> Output {
    crate::output(weir_in(dir, &dir.join("home"), args))
}

/// Starts `weir run FILE` in the background.
fn start(dir: &Path, file: &str) -> Child {
    weir_in(dir, &dir.join("home"), &["run", file])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("weir starts")
}

/// Waits until the newest stored run has a step `step` with `status`; returns the run's id.
fn wait_for_step(dir: &Path, step: &str, status: &str) -> String {
    crate::wait_for_step(dir, &dir.join("home"), step, status)
}

const LOGGED: &str = "name: logged
steps:
  - { id: greet, uses: log, with: { message: 'hello ${{ .input.who }}' } }
  - { id: boom, uses: fail, needs: [greet], with: { message: 'no more ${{ .input.who }}' }, on_error: continue }
  - { id: after, uses: transform, needs: [boom], with: { expr: '\"done\"' } }
output: .steps.after.output
";

#[test]
fn the_log_of_a_finished_run_says_what_happened_and_reads_as_json_lines() {
    let dir = scratch("history-logs");
    std::fs::write(dir.join("p.yaml"), LOGGED).unwrap();
    let run = json_of(&output(&dir, &["run", "p.yaml", "--json", "-i", r#"{"who": "Ada"}"#]));
    let id = run["run_id"].as_str().unwrap();

    let text = output(&dir, &["runs", "logs", &id[..13]]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let text = stdout(&text);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("run ") && lines[0].contains(r#"started logged"#), "{text}");
    assert!(text.lines().any(|l| l.contains("greet") && l.contains("[info] hello Ada")), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("boom")
                && l.contains("failed after 1 attempts: no more Ada (step) (continuing)")),
        "{text}"
    );
    assert!(lines.last().unwrap().contains("succeeded in"), "{text}");
    let time = lines[1].split_whitespace().next().unwrap();
    assert_eq!((time.len(), &time[2..3], &time[8..9]), (12, ":", "."), "HH:MM:SS.mmm: {text}");

    let json = output(&dir, &["runs", "logs", id, "--json"]);
    let events: Vec<weir_api::Event> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.len(), lines.len(), "one JSON line per event");
    assert!(events.iter().enumerate().all(|(i, e)| e.seq == i as u64 && e.run_id == id));
    assert!(matches!(events[0].kind, weir_api::EventKind::RunStarted { .. }));
    assert!(matches!(events.last().unwrap().kind, weir_api::EventKind::RunFinished { .. }));
    let events_of_run = output(&dir, &["run", "p.yaml", "--events", "-i", r#"{"who": "Ada"}"#]);
    let first: Value = serde_json::from_str(stderr(&events_of_run).lines().next().unwrap()).unwrap();
    let logged: Value = serde_json::from_str(stdout(&json).lines().next().unwrap()).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&logged), keys(&first), "the shape of `weir run --events`");

    let missing = output(&dir, &["runs", "logs", "ffff"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no stored run has the id \"ffff\""), "{}", stderr(&missing));
}

const SLOW: &str = "name: slow
steps:
  - { id: first, uses: transform, with: { expr: '\"one\"' } }
  - { id: wait, uses: sleep, needs: [first], with: { duration: 1500ms } }
  - { id: last, uses: fail, needs: [wait], with: { message: 'the end' } }
";

#[test]
fn following_a_run_prints_its_events_until_it_ends_and_exits_as_it_did() {
    let dir = scratch("history-follow");
    std::fs::write(dir.join("p.yaml"), SLOW).unwrap();
    let mut running = start(&dir, "p.yaml");
    let id = wait_for_step(&dir, "first", "succeeded");
    let started = Instant::now();
    let followed = output(&dir, &["runs", "logs", &id, "--follow"]);
    assert!(started.elapsed() > Duration::from_millis(300), "it waited for the run to end");
    assert_eq!(running.wait().unwrap().code(), Some(1));
    assert_eq!(followed.status.code(), Some(1), "the run failed: {}", stderr(&followed));
    let text = stdout(&followed);
    assert!(text.lines().any(|l| l.contains("wait") && l.contains("succeeded in")), "{text}");
    assert!(text.lines().last().unwrap().contains("failed in"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("started slow")).count(), 1, "each event once: {text}");
}

const LONG: &str = "name: long
steps:
  - { id: first, uses: transform, with: { expr: '\"one\"' } }
  - { id: wait, uses: sleep, needs: [first], with: { duration: 60s } }
  - { id: last, uses: transform, needs: [wait], with: { expr: '\"two\"' } }
";

#[test]
fn a_run_that_has_ended_is_not_cancelled() {
    let dir = scratch("history-cancel-ended");
    std::fs::write(dir.join("p.yaml"), LOGGED).unwrap();
    let run = json_of(&output(&dir, &["run", "p.yaml", "--json", "-i", r#"{"who": "Ada"}"#]));
    let id = run["run_id"].as_str().unwrap();
    let refused = output(&dir, &["runs", "cancel", id]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("has already ended (succeeded): there is nothing to cancel"),
        "{}",
        stderr(&refused)
    );
    let show = json_of(&output(&dir, &["runs", "show", id, "--json"]));
    assert_eq!(show["status"], "succeeded", "unchanged");
}

#[test]
fn a_running_run_is_cancelled_through_its_process() {
    let dir = scratch("history-cancel-running");
    std::fs::write(dir.join("p.yaml"), LONG).unwrap();
    let mut running = start(&dir, "p.yaml");
    let id = wait_for_step(&dir, "first", "succeeded");
    let cancel = output(&dir, &["runs", "cancel", &id[..13], "--reason", "wrong input"]);
    assert_eq!(cancel.status.code(), Some(0), "{}", stderr(&cancel));
    assert_eq!(stdout(&cancel), format!("cancelled run {id}\n"));
    assert_eq!(running.wait().unwrap().code(), Some(1), "the run's process ended it, cancelled");
    let show = json_of(&output(&dir, &["runs", "show", &id, "--json"]));
    assert_eq!(
        (show["status"].as_str(), show["cancel_reason"].as_str()),
        (Some("cancelled"), Some("wrong input"))
    );
    let steps = show["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["step"] == "wait" && s["status"] == "cancelled"), "{show}");
    let last = steps.iter().find(|s| s["step"] == "last").expect("every step has an end");
    assert_eq!(
        (&last["status"], &last["started_at"]),
        (&Value::from("cancelled"), &Value::Null),
        "it never ran"
    );
}

#[test]
fn the_run_of_a_dead_process_is_cancelled_in_the_store() {
    let dir = scratch("history-cancel-dead");
    std::fs::write(dir.join("p.yaml"), LONG).unwrap();
    let mut running = start(&dir, "p.yaml");
    let id = wait_for_step(&dir, "first", "succeeded");
    running.kill().unwrap();
    running.wait().unwrap();
    let before = json_of(&output(&dir, &["runs", "show", &id, "--json"]));
    assert_eq!(before["status"], "running", "a killed process leaves its run running");

    let cancel = output(&dir, &["runs", "cancel", &id, "--reason", "the machine was replaced"]);
    assert_eq!(cancel.status.code(), Some(0), "{}", stderr(&cancel));
    let show = json_of(&output(&dir, &["runs", "show", &id, "--json"]));
    assert_eq!(show["status"], "cancelled");
    assert_eq!(show["error"]["kind"], "cancelled");
    assert_eq!(show["error"]["message"], "cancelled by `weir runs cancel`: the machine was replaced");
    let steps = show["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["status"] != "running"), "no step is left running: {show}");
    assert_eq!(steps[0]["status"], "succeeded", "what had ended stands: {show}");
    let logs = stdout(&output(&dir, &["runs", "logs", &id]));
    let last = logs.lines().last().unwrap();
    assert!(last.contains("run") && last.contains("cancelled in"), "{logs}");
    assert!(last.contains("the machine was replaced"), "{logs}");
    let again = output(&dir, &["runs", "cancel", &id]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
}

#[test]
fn a_process_cancels_its_run_when_the_store_asks() {
    let dir = scratch("history-cancel-request");
    std::fs::write(dir.join("p.yaml"), LONG).unwrap();
    let mut running = start(&dir, "p.yaml");
    let id = wait_for_step(&dir, "first", "succeeded");
    // What `weir runs cancel` records for a process on another machine, written here without a
    // signal, so only the process's own look at the store can stop the run.
    let db = rusqlite::Connection::open(dir.join("home/weir.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute("UPDATE runs SET cancel_requested_at = 1, cancel_reason = 'asked' WHERE id = ?1", [&id])
        .unwrap();
    drop(db);
    let asked = Instant::now();
    assert_eq!(running.wait().unwrap().code(), Some(1));
    assert!(asked.elapsed() < Duration::from_secs(10), "within a look or two: {:?}", asked.elapsed());
    let show = json_of(&output(&dir, &["runs", "show", &id, "--json"]));
    assert_eq!(show["status"], "cancelled");
}

/// Steps with side effects (each `http` step is one request, counted by the server by its
/// idempotency key, `<run id>/<step>`): `b` doubles the input, `side` runs beside `b` and `c`.
const REPLAYED: &str = r#"name: replayed
input:
  type: object
  required: [base, n]
  properties: { base: { type: string }, n: { type: number } }
steps:
  - { id: a, uses: http, with: { method: POST, url: '${{ .input.base }}/effect', json: { step: a } } }
  - { id: b, uses: transform, needs: [a], with: { expr: '.input.n * 2' } }
  - { id: side, uses: http, with: { method: POST, url: '${{ .input.base }}/effect', json: { step: side } } }
  - id: c
    uses: http
    needs: [b]
    with: { method: POST, url: '${{ .input.base }}/effect', json: { step: c, n: '${{ .steps.b.output }}' } }
  - { id: d, uses: transform, needs: [c, side], with: { expr: '.steps.c.output.body.did.n' } }
output: '{doubled: .steps.d.output}'
"#;

/// The steps of run `id` the server was called for.
fn called(log: &crate::resume::Log, id: &str) -> Vec<String> {
    let prefix = format!("{id}/");
    let mut steps: Vec<String> =
        log.lock().unwrap().iter().filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)).collect();
    steps.sort();
    steps
}

#[test]
fn a_replay_runs_again_from_a_step_on_the_pinned_version() {
    let dir = scratch("history-replay");
    let (base, log) = crate::resume::serve();
    std::fs::write(dir.join("p.yaml"), REPLAYED).unwrap();
    let input = serde_json::json!({"base": base, "n": 21}).to_string();
    let original = json_of(&output(&dir, &["run", "p.yaml", "--json", "-i", &input]));
    let id = original["run_id"].as_str().unwrap().to_owned();
    assert_eq!(original["output"], serde_json::json!({"doubled": 42}));
    assert_eq!(called(&log, &id), ["a", "c", "side"]);
    // A deploy changes the file: a replay still runs the version the run started with.
    std::fs::write(dir.join("p.yaml"), REPLAYED.replace("* 2", "* 3")).unwrap();

    let all = output(&dir, &["replay", &id, "--json"]);
    assert_eq!(all.status.code(), Some(0), "the same result: {}", stderr(&all));
    let all = json_of(&all);
    let again = all["run_id"].as_str().unwrap();
    assert_ne!(again, id, "a new run");
    assert_eq!((all["replay_of"].as_str(), all["same"].as_bool()), (Some(id.as_str()), Some(true)));
    assert_eq!(all["reused"], serde_json::json!([]), "without --from every step runs again");
    assert_eq!(called(&log, again), ["a", "c", "side"]);

    let from = output(&dir, &["replay", &id[..13], "--from", "b"]);
    assert_eq!(from.status.code(), Some(0), "{}", stderr(&from));
    assert_eq!(stdout(&from), "", "no differences");
    let note = stderr(&from);
    assert!(note.contains("reused the results of a, side"), "{note}");
    let new_id = note.split(" as run ").nth(1).and_then(|r| r.split(':').next()).unwrap().to_owned();
    assert_eq!(called(&log, &new_id), ["c"], "what comes before b or beside it did not run again");
    let show = json_of(&output(&dir, &["runs", "show", &new_id, "--json"]));
    assert_eq!((show["replay_of"].as_str(), show["status"].as_str()), (Some(id.as_str()), Some("succeeded")));
    assert_eq!(show["input"], serde_json::from_str::<Value>(&input).unwrap(), "the same input");
    assert_eq!(show["output"], serde_json::json!({"doubled": 42}), "the pinned version: * 2, not * 3");
    let attempts: Vec<(String, u64)> = show["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_owned(), s["attempts"].as_u64().unwrap()))
        .collect();
    let attempts_of = |step: &str| attempts.iter().find(|(s, _)| s == step).map(|(_, n)| *n);
    assert_eq!((attempts_of("a"), attempts_of("side")), (Some(0), Some(0)), "reused, not run: {attempts:?}");
    assert_eq!((attempts_of("b"), attempts_of("c"), attempts_of("d")), (Some(1), Some(1), Some(1)));
    let shown = stdout(&output(&dir, &["runs", "show", &new_id]));
    assert!(shown.contains(&format!("replays   run {id}")), "{shown}");

    let unknown = output(&dir, &["replay", &id, "--from", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("--from \"nope\": the pipeline replayed of run")
            && stderr(&unknown).contains("(its steps: a, b, side, c, d)"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn a_replay_that_ends_otherwise_prints_the_paths_that_differ_and_exits_1() {
    let dir = scratch("history-replay-diff");
    let stamped = "name: stamped
steps:
  - { id: s, uses: transform, with: { expr: '{run: .run.id, n: .input.n, same: [1, 2]}' } }
output: .steps.s.output
";
    std::fs::write(dir.join("p.yaml"), stamped).unwrap();
    let original = json_of(&output(&dir, &["run", "p.yaml", "--json", "-i", r#"{"n": 1}"#]));
    let id = original["run_id"].as_str().unwrap();
    let text = output(&dir, &["replay", id]);
    assert_eq!(text.status.code(), Some(1), "{}", stderr(&text));
    let again = stderr(&text).split(" as run ").nth(1).and_then(|r| r.split(':').next()).unwrap().to_owned();
    assert_eq!(stdout(&text), format!("~ output.run \"{id}\" -> \"{again}\"\n"));

    let json = json_of(&output(&dir, &["replay", id, "--json"]));
    assert_eq!(json["same"], false);
    let changes = json["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{json}");
    assert_eq!(
        (changes[0]["change"].as_str(), changes[0]["path"].as_str()),
        (Some("changed"), Some("output.run"))
    );
    assert_eq!(
        (changes[0]["before"].as_str(), changes[0]["after"].as_str()),
        (Some(id), json["run_id"].as_str())
    );
}

#[test]
fn a_run_on_another_machine_is_asked_to_stop_or_ended_with_force() {
    let dir = scratch("history-cancel-elsewhere");
    std::fs::write(dir.join("p.yaml"), LONG).unwrap();
    let mut running = start(&dir, "p.yaml");
    let id = wait_for_step(&dir, "first", "succeeded");
    running.kill().unwrap();
    running.wait().unwrap();
    // As if a process of another machine had run it: this one cannot tell whether it lives.
    let owner = "elsewhere.example:00000000-0000-0000-0000-000000000000:4242:1";
    let db = rusqlite::Connection::open(dir.join("home/weir.db")).unwrap();
    db.execute("UPDATE runs SET owner = ?1 WHERE id = ?2", [owner, &id]).unwrap();
    drop(db);

    let asked = output(&dir, &["runs", "cancel", &id, "--reason", "moving"]);
    assert_eq!(asked.status.code(), Some(0), "{}", stderr(&asked));
    assert_eq!(stdout(&asked), format!("asked the process running run {id} ({owner}) to cancel it\n"));
    assert!(stderr(&asked).contains(&format!("weir runs cancel {id} --force")), "{}", stderr(&asked));
    let show = json_of(&output(&dir, &["runs", "show", &id, "--json"]));
    assert_eq!(show["status"], "running", "only that process ends it");

    let forced = output(&dir, &["runs", "cancel", &id, "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    let show = json_of(&output(&dir, &["runs", "show", &id, "--json"]));
    assert_eq!(
        (show["status"].as_str(), show["cancel_reason"].as_str()),
        (Some("cancelled"), Some("moving"))
    );
}

#[test]
fn a_run_waiting_for_an_approval_is_cancelled_and_its_question_settled() {
    let dir = scratch("history-cancel-waiting");
    let asking = "name: asking
steps:
  - { id: review, uses: approval, with: { prompt: 'ship?' } }
";
    std::fs::write(dir.join("p.yaml"), asking).unwrap();
    let mut running = start(&dir, "p.yaml");
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let waiting = json_of(&output(&dir, &["runs", "list", "--status", "waiting", "--json"]));
        if let Some(id) = waiting.get(0).and_then(|r| r["run_id"].as_str()) {
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "the run did not wait within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    let cancel = output(&dir, &["runs", "cancel", &id, "--reason", "not this week"]);
    assert_eq!(cancel.status.code(), Some(0), "{}", stderr(&cancel));
    assert_ne!(running.wait().unwrap().code(), Some(0));
    let show = json_of(&output(&dir, &["runs", "show", &id, "--json"]));
    assert_eq!(show["status"], "cancelled", "{show}");
    let pending = json_of(&output(&dir, &["approvals", "--json"]));
    assert_eq!(pending, serde_json::json!([]), "no question waits any more");
    let late = output(&dir, &["approve", &id, "review"]);
    assert_eq!(late.status.code(), Some(2), "{}", stderr(&late));
}

#[test]
fn the_log_of_a_resumed_run_goes_on_past_its_first_end() {
    let dir = scratch("history-logs-resumed");
    std::fs::write(
        dir.join("p.yaml"),
        SLOW.replace("uses: fail, needs: [wait], with: { message: 'the end' }", "uses: pass, needs: [wait]"),
    )
    .unwrap();
    let mut running = start(&dir, "p.yaml");
    let id = wait_for_step(&dir, "first", "succeeded");
    assert_eq!(output(&dir, &["runs", "cancel", &id]).status.code(), Some(0));
    running.wait().unwrap();
    let resumed = output(&dir, &["resume", &id]);
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));

    let logs = output(&dir, &["runs", "logs", &id, "--follow"]);
    assert_eq!(logs.status.code(), Some(0), "it ended succeeded: {}", stderr(&logs));
    let text = stdout(&logs);
    let ends: Vec<&str> = text.lines().filter(|l| l.contains("run ") && l.contains(" in ")).collect();
    assert_eq!(ends.len(), 2, "cancelled, then succeeded: {text}");
    assert!(ends[0].contains("cancelled in") && ends[1].contains("succeeded in"), "{text}");
    assert!(text.lines().any(|l| l.contains("run") && l.ends_with("resumed")), "{text}");
}
