//! `approval` steps, `weir approvals`, `weir approve` and `weir reject`: a run that waits for a
//! person in one process and is answered from another, on SQLite and (when
//! `WEIR_TEST_DATABASE_URL` is set) PostgreSQL.

use crate::{Scratch, scratch, stderr, stdout};
use serde_json::{Value, json};
use std::io::Read;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// A build, then an approval with a schema and assignees, then a step that reads the answer.
const PIPELINE: &str = r#"name: ship
steps:
  - id: build
    uses: transform
    with: { expr: '{version: "1.2"}' }
  - id: review
    uses: approval
    needs: [build]
    with:
      prompt: "Ship ${{ .steps.build.output.version }}?"
      schema: { type: object, required: [ok], properties: { ok: { type: boolean } } }
      assignees: [ada, grace]
      TIMEOUT
  - id: done
    uses: transform
    needs: [review]
    with: { expr: '{ok: .steps.review.output.answer.ok, by: .steps.review.output.by}' }
output: .steps.done.output
"#;

/// A scratch directory with the pipeline (its `TIMEOUT` line replaced by `timeout`) and a store
/// of its own: SQLite in the directory, or the PostgreSQL schema `url` names.
struct Place {
    dir: Scratch,
    url: Option<String>,
}

impl Place {
    fn new(test: &str, timeout: &str, url: Option<String>) -> Place {
        let dir = scratch(test);
        std::fs::write(dir.join("ship.yaml"), PIPELINE.replace("TIMEOUT", timeout)).unwrap();
        Place { dir, url }
    }

    fn command(&self) -> std::process::Command {
        crate::command_in(&self.dir, self.url.as_deref())
    }

    fn weir(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("weir runs")
    }

    /// `weir run ship.yaml` in the background, its output piped.
    fn start(&self) -> Child {
        let mut cmd = self.command();
        cmd.args(["run", "ship.yaml"]).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("weir run starts")
    }

    /// The id of the run that waits, once `weir approvals` lists it.
    fn waiting_run(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.weir(&["approvals", "--json"]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            let listed: Vec<Value> = serde_json::from_str(&stdout(&out)).expect("a JSON array");
            if let Some(first) = listed.into_iter().next() {
                return first;
            }
            assert!(Instant::now() < deadline, "no approval was listed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn run_status(&self, id: &str) -> String {
        let out = self.weir(&["runs", "show", id, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
        run["status"].as_str().unwrap().to_owned()
    }
}

/// Waits for `child` to exit (at most 20 s) and returns its exit code, stdout and stderr.
fn finish(mut child: Child) -> (Option<i32>, String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run did not end");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.code(), out, err)
}

fn id(approval: &Value) -> String {
    approval["run_id"].as_str().unwrap().to_owned()
}

/// The whole flow against one store: the run waits and says how to answer; bad answers are
/// refused with their reason and change nothing; a good one lets the run go on within a second;
/// a second answer is refused.
fn answered_from_another_process(place: &Place) {
    let child = place.start();
    let asked = place.waiting_run();
    let run = id(&asked);
    assert_eq!(asked["prompt"], "Ship 1.2?");
    assert_eq!(asked["assignees"], json!(["ada", "grace"]));
    assert_eq!(asked["decision"], "pending");
    assert_eq!(place.run_status(&run), "waiting");

    let wrong = place.weir(&["approve", &run, "review", "--as", "ada", "-i", r#"{"ok": "yes"}"#]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains(r#"/ok: "yes" is not of type "boolean""#), "{}", stderr(&wrong));
    let stranger = place.weir(&["approve", &run, "review", "--as", "mallory", "--set", "ok=true"]);
    assert_eq!(stranger.status.code(), Some(2));
    assert!(stderr(&stranger).contains("mallory may not answer step review"), "{}", stderr(&stranger));
    let elsewhere = place.weir(&["approve", &run, "build", "--as", "ada", "--set", "ok=true"]);
    assert!(stderr(&elsewhere).contains("no approval at step build; its approvals are at: review"));
    assert_eq!(place.run_status(&run), "waiting", "a refused answer changes nothing");

    let answered = Instant::now();
    let yes = place.weir(&["approve", &run[..8], "review", "--as", "grace", "--set", "ok=true"]);
    assert_eq!(yes.status.code(), Some(0), "{}", stderr(&yes));
    // The waiting process goes on; it may even have finished before `approve` looked again.
    let said = stderr(&yes);
    assert!(said.contains("goes on with it") || said.contains("went on (the run is now"), "{said}");
    let (code, out, err) = finish(child);
    // The waiting process reads the answer within a second (here: 200 ms polls, or a NOTIFY).
    assert!(answered.elapsed() < Duration::from_secs(3), "took {:?}", answered.elapsed());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!({"ok": true, "by": "grace"}));
    assert!(err.contains(&format!("answer: weir approve {run} review -i JSON")), "{err}");

    let again = place.weir(&["reject", &run, "review", "--as", "ada", "--reason", "too late"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("was already answered: approved by grace"), "{}", stderr(&again));
    assert_eq!(place.run_status(&run), "succeeded");
    let listed = place.weir(&["approvals", "--json"]);
    assert_eq!(stdout(&listed).trim(), "[]");
}

#[test]
fn a_waiting_run_goes_on_when_another_process_approves() {
    answered_from_another_process(&Place::new("approve", "", None));
}

#[test]
fn a_waiting_run_on_postgres_goes_on_when_another_process_approves() {
    crate::on_postgres("approvals", |url, _, _| {
        answered_from_another_process(&Place::new("approve-pg", "", Some(url.to_owned())));
    });
}

#[test]
fn a_rejection_fails_the_step_and_its_on_error_applies() {
    let place = Place::new("reject", "", None);
    let text = std::fs::read_to_string(place.dir.join("ship.yaml")).unwrap();
    let text = text.replace("    needs: [build]\n", "    needs: [build]\n    on_error: continue\n");
    let text = text.replace("output: .steps.done.output", "output: '{review: .steps.review.error}'");
    std::fs::write(place.dir.join("ship.yaml"), text).unwrap();
    let child = place.start();
    let run = id(&place.waiting_run());
    let no = place.weir(&["reject", &run, "review", "--as", "ada", "--reason", "the totals do not add up"]);
    assert_eq!(no.status.code(), Some(0), "{}", stderr(&no));
    let (code, out, err) = finish(child);
    assert_eq!(code, Some(0), "on_error: continue lets the run succeed: {err}");
    let output: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(output, json!({"review": "rejected by ada: the totals do not add up"}));
    let shown = place.weir(&["runs", "show", &run, "--json"]);
    let shown: Value = serde_json::from_str(&stdout(&shown)).unwrap();
    let review = shown["steps"].as_array().unwrap().iter().find(|s| s["step"] == "review").unwrap();
    assert_eq!(review["status"], "failed");
    assert_eq!(review["error"]["kind"], "rejected", "{review}");
}

/// Ctrl-C while the approval waits leaves the run `waiting` (not cancelled); an answer given
/// while no process runs it is taken, and `weir resume` goes on from it without asking again.
#[test]
fn interrupting_a_waiting_run_leaves_it_waiting_for_resume() {
    let place = Place::new("interrupt", "", None);
    let child = place.start();
    let run = id(&place.waiting_run());
    assert!(signal(child.id(), 2));
    let (code, _, err) = finish(child);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("the run stays `waiting`"), "{err}");
    assert_eq!(place.run_status(&run), "waiting");

    let yes = place.weir(&["approve", &run, "review", "--as", "ada", "-i", r#"{"ok": false}"#]);
    assert_eq!(yes.status.code(), Some(0), "{}", stderr(&yes));
    assert!(stderr(&yes).contains(&format!("`weir resume {run}` continues it")), "{}", stderr(&yes));
    let resumed = place.weir(&["resume", &run]);
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    assert_eq!(serde_json::from_str::<Value>(&stdout(&resumed)).unwrap(), json!({"ok": false, "by": "ada"}));
    assert!(!stderr(&resumed).contains("waits for approval"), "answered: it does not ask again");
    let events = place.weir(&["runs", "show", &run, "--json"]);
    assert!(stdout(&events).contains("\"succeeded\""));
}

/// A timeout passes while no process runs the run: the next process to look settles it by
/// `on_timeout`, an answer after it is refused, and the resumed run fails the way it says.
#[test]
fn a_timeout_that_passes_while_nothing_runs_is_applied_by_the_next_look() {
    let place = Place::new("timeout", "timeout: 1s\n      on_timeout: reject", None);
    let child = place.start();
    let asked = place.waiting_run();
    let run = id(&asked);
    assert_eq!(asked["on_timeout"], "reject");
    assert!(signal(child.id(), 2));
    finish(child);
    std::thread::sleep(Duration::from_millis(1200));
    let listed = place.weir(&["approvals", "--json"]);
    assert_eq!(stdout(&listed).trim(), "[]", "the timeout settled it");
    let late = place.weir(&["approve", &run, "review", "--as", "ada", "--set", "ok=true"]);
    assert_eq!(late.status.code(), Some(2));
    assert!(stderr(&late).contains("timed out"), "{}", stderr(&late));
    let resumed = place.weir(&["resume", &run]);
    assert_eq!(resumed.status.code(), Some(1), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("no answer came within 1s (on_timeout: reject)"),
        "{}",
        stderr(&resumed)
    );
}

#[test]
fn an_approval_needs_a_store() {
    let place = Place::new("no-store", "", None);
    let out = place.weir(&["run", "ship.yaml", "--no-store"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("an approval waits in the run store, and this run has none"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_answer_schema_and_a_lone_on_timeout_are_validation_errors() {
    let dir = scratch("approval-validate");
    let text = "name: p\nsteps:\n  - id: a\n    uses: approval\n    with:\n      prompt: ok?\n      schema: { type: nope }\n      on_timeout: approve\n";
    std::fs::write(dir.join("p.yaml"), text).unwrap();
    let out = crate::weir(&dir, &["validate", "p.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`schema` is not a usable JSON Schema"), "{err}");
    assert!(err.contains("`on_timeout` has no effect without `timeout`"), "{err}");
}

/// Sends signal `number` to `pid`.
pub(crate) fn signal(pid: u32, number: i32) -> bool {
    std::process::Command::new("kill")
        .args([format!("-{number}"), pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}
