//! `weir submit` and `weir worker`: runs queued in one process and run by others, on SQLite and
//! (when `WEIR_TEST_DATABASE_URL` is set) PostgreSQL — drains, runs taken over from a worker
//! killed with SIGKILL, and runs left waiting for an answer that a worker continues.

use crate::approvals::signal;
use crate::{Scratch, command_in, on_postgres, scratch, stderr, stdout};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Three steps in a chain; the input needs a number.
const CHAIN: &str = r#"name: chain
input: { type: object, required: [n], properties: { n: { type: number } } }
steps:
  - { id: a, uses: transform, with: { expr: '.input.n + 1' } }
  - { id: b, uses: transform, needs: [a], with: { expr: '.steps.a.output * 2' } }
  - { id: c, uses: transform, needs: [b], with: { expr: '{n: .steps.b.output}' } }
output: .steps.c.output
"#;

/// A step, a sleep of SLEEP, and a step.
const SLOW: &str = r#"name: slow
steps:
  - { id: a, uses: transform, with: { expr: '"a"' } }
  - { id: nap, uses: sleep, needs: [a], with: { duration: SLEEP } }
  - { id: c, uses: transform, needs: [nap], with: { expr: '.steps.a.output + " then c"' } }
output: .steps.c.output
"#;

const FAILS: &str = "name: fails\nsteps:\n  - { id: boom, uses: fail, with: { message: no luck } }\n";

/// An approval, then a step that reads its answer.
const SHIP: &str = r#"name: ship
steps:
  - id: review
    uses: approval
    with: { prompt: "Ship it?" }
  - id: done
    uses: transform
    needs: [review]
    with: { expr: '{ok: .steps.review.output.answer.ok}' }
output: .steps.done.output
"#;

/// A directory with the test's pipelines, and its store: SQLite in the directory, or the
/// PostgreSQL schema `url` names.
struct Place {
    dir: Scratch,
    url: Option<String>,
}

impl Place {
    fn new(test: &str, url: Option<String>) -> Place {
        let dir = scratch(test);
        std::fs::write(dir.join("chain.yaml"), CHAIN).unwrap();
        std::fs::write(dir.join("fails.yaml"), FAILS).unwrap();
        std::fs::write(dir.join("ship.yaml"), SHIP).unwrap();
        Place { dir, url }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = command_in(&self.dir, self.url.as_deref());
        cmd.args(args);
        cmd
    }

    fn weir(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("weir runs")
    }

    /// `weir submit`; the run id it prints.
    fn submit(&self, args: &[&str]) -> String {
        let out = self.weir(&[&["submit"], args].concat());
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let id = stdout(&out).trim().to_owned();
        assert_eq!(id.len(), 36, "a run id: {id}");
        id
    }

    /// `weir worker --json` in the background (polling every 20 ms unless `args` say), its
    /// progress written to `log`.
    fn worker(&self, log: &str, args: &[&str]) -> Worker {
        let path = self.dir.join(log);
        let file = std::fs::File::create(&path).unwrap();
        let poll: &[&str] = if args.contains(&"--poll") { &[] } else { &["--poll", "20ms"] };
        let mut cmd = self.command(&[&["worker", "--json"], poll, args].concat());
        let child = cmd.stdout(Stdio::null()).stderr(file).spawn().expect("weir worker starts");
        Worker { child, log: path }
    }

    fn show(&self, id: &str) -> Value {
        let out = self.weir(&["runs", "show", id, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    }

    fn list(&self, status: &str) -> Vec<Value> {
        let out = self.weir(&["runs", "list", "--status", status, "--limit", "1000", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    }

    /// Waits (at most 20 s) until `done` says yes.
    fn until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "{what} did not happen within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A `weir worker` started by a test, killed when dropped.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    /// Its progress lines so far.
    fn lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The runs of its progress lines with event `event`.
    fn runs(&self, event: &str) -> HashSet<String> {
        let lines = self.lines().into_iter().filter(|l| l["event"] == event);
        lines.filter_map(|l| l["run_id"].as_str().map(str::to_owned)).collect()
    }

    /// Waits for it to exit (at most 20 s); its exit code.
    fn exit(&mut self) -> Option<i32> {
        exit_within(&mut self.child, Duration::from_secs(20))
    }
}

/// Waits for `child` to exit, at most `limit` (then kills it and fails); its exit code.
fn exit_within(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The rows of the SQLite store's `table`.
fn rows(place: &Place, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(place.dir.join(".weir/weir.db")).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

#[test]
fn submitted_runs_wait_queued_until_a_worker_runs_them() {
    let place = Place::new("workers-once", None);
    let ids: Vec<String> =
        (1..=3).map(|n| place.submit(&["chain.yaml", "--set", &format!("n={n}")])).collect();
    let queued = place.list("queued");
    assert_eq!(queued.len(), 3, "{queued:?}");
    assert!(queued.iter().all(|r| r["status"] == "pending"));

    let bad = place.weir(&["submit", "chain.yaml", "-i", r#"{"n": "seven"}"#]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("does not match the pipeline's `input` schema"), "{}", stderr(&bad));
    let early = place.weir(&["resume", &ids[0]]);
    assert_eq!(early.status.code(), Some(2));
    assert!(stderr(&early).contains("is queued and has not started"), "{}", stderr(&early));

    let once = place.weir(&["worker", "--once"]);
    assert_eq!(once.status.code(), Some(0), "{}", stderr(&once));
    for (n, id) in (1..=3).zip(&ids) {
        assert!(stderr(&once).contains(&format!("run {id}: succeeded")), "{}", stderr(&once));
        let run = place.show(id);
        assert_eq!(run["status"], "succeeded");
        assert_eq!(run["output"], json!({"n": (n + 1) * 2}), "the input it was submitted with");
    }
    assert!(place.list("pending").is_empty());
    assert_eq!(rows(&place, "queue"), 0, "finished runs leave the queue");
    assert_eq!(rows(&place, "workers"), 0, "a worker that stops removes its row");
    let check = place.weir(&["admin", "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));

    let id = place.submit(&["chain.yaml", "--set", "n=0"]);
    // Power-safe commits change what they wait for, not what a run does.
    let quiet = place.weir(&["worker", "--once", "--quiet", "--durability", "full"]);
    assert_eq!((quiet.status.code(), stderr(&quiet).as_str()), (Some(0), ""), "--quiet: no progress");
    assert_eq!(place.show(&id)["output"], json!({"n": 2}));
}

#[test]
fn submit_wait_prints_what_a_running_worker_computed() {
    let place = Place::new("workers-wait", None);
    let mut worker = place.worker("worker.log", &[]);
    let out = place.weir(&["submit", "chain.yaml", "--set", "n=4", "--wait", "-c"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"n\":10}\n");
    let failed = place.weir(&["submit", "fails.yaml", "--wait"]);
    assert_eq!(failed.status.code(), Some(1), "as `weir run`: {}", stderr(&failed));
    assert!(stderr(&failed).contains("error: run failed"), "{}", stderr(&failed));
    assert!(stderr(&failed).contains("no luck"), "{}", stderr(&failed));

    assert!(signal(worker.child.id(), 15));
    assert_eq!(worker.exit(), Some(0));
    let events: Vec<String> =
        worker.lines().iter().map(|l| l["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events.first().map(String::as_str), Some("started"));
    assert_eq!(events.last().map(String::as_str), Some("stopped"));
    assert_eq!(worker.runs("ended").len(), 2);
}

#[test]
fn sigterm_lets_runs_in_flight_end_then_exits() {
    let place = Place::new("workers-drain", None);
    std::fs::write(place.dir.join("slow.yaml"), SLOW.replace("SLEEP", "700ms")).unwrap();
    let mut worker = place.worker("worker.log", &[]);
    let id = place.submit(&["slow.yaml"]);
    place.until("the claim", || worker.runs("claimed").contains(&id));
    assert!(signal(worker.child.id(), 15));
    assert_eq!(worker.exit(), Some(0));
    assert_eq!(place.show(&id)["status"], "succeeded", "drained: the run ended before the worker did");
    let events: Vec<String> =
        worker.lines().iter().map(|l| l["event"].as_str().unwrap().to_owned()).collect();
    assert!(events.contains(&"draining".to_owned()), "{events:?}");
    assert_eq!(rows(&place, "queue"), 0);
}

#[test]
fn a_run_still_in_flight_after_the_grace_period_goes_back_and_resumes_in_another_worker() {
    let place = Place::new("workers-grace", None);
    std::fs::write(place.dir.join("slow.yaml"), SLOW.replace("SLEEP", "1500ms")).unwrap();
    let mut worker = place.worker("worker.log", &["--grace", "100ms"]);
    let id = place.submit(&["slow.yaml"]);
    place.until("step a", || place.show(&id)["steps"][0]["status"] == "succeeded");
    assert!(signal(worker.child.id(), 15));
    assert_eq!(worker.exit(), Some(0));
    assert!(worker.runs("released").contains(&id), "{:?}", worker.lines());
    assert_eq!(place.show(&id)["status"], "running", "stopped where its last commit left it");
    assert_eq!(rows(&place, "queue"), 1, "back in the queue");

    let once = place.weir(&["worker", "--once"]);
    assert_eq!(once.status.code(), Some(0), "{}", stderr(&once));
    let run = place.show(&id);
    assert_eq!((run["status"].as_str(), run["output"].as_str()), (Some("succeeded"), Some("a then c")));
    assert_eq!(run["steps"][0]["attempts"], 1, "the step that had ended did not run again");
    let events = place.weir(&["runs", "show", &id, "--json"]);
    assert!(stdout(&events).contains("succeeded"));
    assert_eq!(rows(&place, "queue"), 0);
}

#[test]
fn a_second_signal_stops_a_draining_worker_at_once() {
    let place = Place::new("workers-second", None);
    std::fs::write(place.dir.join("slow.yaml"), SLOW.replace("SLEEP", "30s")).unwrap();
    let mut worker = place.worker("worker.log", &[]);
    let id = place.submit(&["slow.yaml"]);
    place.until("step a", || place.show(&id)["steps"][0]["status"] == "succeeded");
    assert!(signal(worker.child.id(), 15));
    place.until("the drain", || worker.lines().iter().any(|l| l["event"] == "draining"));
    // The code is the second signal's: Ctrl-C's here.
    let stopped = Instant::now();
    assert!(signal(worker.child.id(), 2));
    assert_eq!(worker.exit(), Some(130));
    assert!(stopped.elapsed() < Duration::from_secs(5));
    assert_eq!(place.show(&id)["status"], "running", "taken over once its lease passes");
}

#[test]
fn a_worker_that_lost_its_lease_stops_the_run() {
    let place = Place::new("workers-lost", None);
    std::fs::write(place.dir.join("slow.yaml"), SLOW.replace("SLEEP", "30s")).unwrap();
    let worker = place.worker("worker.log", &["--lease", "1s"]);
    let id = place.submit(&["slow.yaml"]);
    place.until("step a", || place.show(&id)["steps"][0]["status"] == "succeeded");
    // As if its lease had passed while it stalled, and another worker had claimed the run.
    let conn = rusqlite::Connection::open(place.dir.join(".weir/weir.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute("UPDATE queue SET worker = 'elsewhere'", []).unwrap();
    place.until("the lost lease", || {
        worker.lines().iter().any(|l| l["event"] == "lost" && l["to"] == "elsewhere")
    });
    assert_eq!(place.show(&id)["status"], "running", "left to the worker that holds it");
    assert!(worker.runs("ended").is_empty());
}

/// The id of the first approval `weir approvals` lists, once it lists one.
fn waiting_run(place: &Place) -> String {
    let mut id = None;
    place.until("the approval", || {
        let listed: Vec<Value> =
            serde_json::from_str(&stdout(&place.weir(&["approvals", "--json"]))).unwrap();
        id = listed.first().and_then(|a| a["run_id"].as_str()).map(str::to_owned);
        id.is_some()
    });
    id.unwrap()
}

#[test]
fn a_worker_continues_a_run_left_waiting_once_it_is_answered() {
    let place = Place::new("workers-answered", None);
    let mut run =
        place.command(&["run", "ship.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let id = waiting_run(&place);
    assert!(signal(run.id(), 2));
    assert_eq!(run.wait().unwrap().code(), Some(130));
    assert_eq!(place.show(&id)["status"], "waiting");
    let nothing = place.weir(&["worker", "--once"]);
    assert_eq!(nothing.status.code(), Some(0), "{}", stderr(&nothing));
    assert_eq!(place.show(&id)["status"], "waiting", "not answered yet: left alone");

    let yes = place.weir(&["approve", &id, "review", "--set", "ok=true", "--as", "ada"]);
    assert_eq!(yes.status.code(), Some(0), "{}", stderr(&yes));
    let once = place.weir(&["worker", "--once"]);
    assert_eq!(once.status.code(), Some(0), "{}", stderr(&once));
    let shown = place.show(&id);
    assert_eq!((shown["status"].as_str(), &shown["output"]), (Some("succeeded"), &json!({"ok": true})));

    // A queued run that comes to an approval is given back while it waits, and is run on once
    // it has its answer.
    let queued = place.submit(&["ship.yaml"]);
    let asked = place.weir(&["worker", "--once"]);
    assert_eq!(asked.status.code(), Some(0), "{}", stderr(&asked));
    assert_eq!(place.show(&queued)["status"], "waiting");
    assert_eq!(waiting_run(&place), queued);
    let no = place.weir(&["reject", &queued, "review", "--reason", "not today", "--as", "ada"]);
    assert_eq!(no.status.code(), Some(0), "{}", stderr(&no));
    let once = place.weir(&["worker", "--once"]);
    assert_eq!(once.status.code(), Some(0), "{}", stderr(&once));
    let shown = place.show(&queued);
    assert_eq!(shown["status"], "failed");
    assert!(shown["error"]["message"].as_str().unwrap_or_default().contains("not today"), "{shown}");
    assert_eq!(rows(&place, "queue"), 0);
}

/// Three side effects in a chain, each one request to the test's server.
const EFFECTS: &str = r#"name: effects
input: { type: object, required: [base], properties: { base: { type: string } } }
steps:
  - { id: a, uses: http, with: { method: POST, url: '${{ .input.base }}/effect', json: { step: a } } }
  - { id: b, uses: http, needs: [a], with: { method: POST, url: '${{ .input.base }}/effect', json: { step: b } } }
  - { id: c, uses: http, needs: [b], with: { method: POST, url: '${{ .input.base }}/effect', json: { step: c } } }
output: '[.steps.a.output.body.did.step, .steps.b.output.body.did.step, .steps.c.output.body.did.step]'
"#;

/// Rows of a query through a connection of the test's own: the first two columns, as text.
fn pg_rows(url: &str, sql: &str) -> Vec<(String, String)> {
    crate::admin::with_postgres(url, async |client| {
        let rows = client.query(sql, &[]).await.unwrap();
        rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect()
    })
}

/// On PostgreSQL a submit wakes an idle worker at once (`NOTIFY`), whatever its poll.
#[test]
fn an_idle_worker_on_postgres_is_woken_by_a_submit() {
    on_postgres("wakeup", |url, _, _| {
        let place = Place::new("workers-wakeup", Some(url.to_owned()));
        let mut worker = place.worker("worker.log", &["--poll", "1h"]);
        place.until("the worker to start", || worker.lines().iter().any(|l| l["event"] == "started"));
        // Its first look at the queue, at once, is past; the next poll is an hour away.
        std::thread::sleep(Duration::from_millis(200));
        let mut submit = place
            .command(&["submit", "chain.yaml", "--set", "n=1", "--wait"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        assert_eq!(exit_within(&mut submit, Duration::from_secs(5)), Some(0), "woken, not polled");
        assert!(signal(worker.child.id(), 15));
        assert_eq!(worker.exit(), Some(0));
    });
}

/// Three workers on PostgreSQL, 200 submitted runs whose steps each make one request, and one
/// worker killed with SIGKILL while runs are in flight on it: every run completes; every effect
/// happened once, except those in flight on the killed worker, which happened at most twice.
#[test]
fn three_workers_on_postgres_finish_every_run_when_one_is_killed() {
    on_postgres("workers", three_workers);
}

fn three_workers(url: &str, schema: &str, server: &str) {
    const RUNS: usize = 200;
    let place = Place::new("workers-pg", Some(url.to_owned()));
    std::fs::write(place.dir.join("effects.yaml"), EFFECTS).unwrap();
    let (base, log) = crate::resume::serve();
    let input = json!({ "base": base }).to_string();
    let mut workers: Vec<Worker> = (0..3)
        .map(|i| place.worker(&format!("worker-{i}.log"), &["--lease", "2s", "--concurrency", "8"]))
        .collect();
    let started = Instant::now();
    // Submitted by four processes at once, 50 runs each, while the workers run.
    let place_ref = &place;
    let ids: Vec<String> = std::thread::scope(|s| {
        let submit = || {
            let out = place_ref.weir(&[
                "submit",
                "effects.yaml",
                "-i",
                &input,
                "--repeat",
                &(RUNS / 4).to_string(),
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            stdout(&out).lines().map(str::to_owned).collect::<Vec<_>>()
        };
        let submitters: Vec<_> = (0..4).map(|_| s.spawn(submit)).collect();
        submitters.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(ids.len(), RUNS);

    // Once a third of the effects happened, the worker with the most runs in flight dies.
    place.until("a third of the effects", || log.lock().unwrap().len() >= RUNS);
    let in_flight = |w: &Worker| {
        let ended = w.runs("ended");
        w.runs("claimed").into_iter().filter(|id| !ended.contains(id)).collect::<HashSet<String>>()
    };
    let victim = (0..3).max_by_key(|&i| in_flight(&workers[i]).len()).unwrap();
    workers[victim].child.kill().unwrap();
    workers[victim].child.wait().unwrap();
    let flying = in_flight(&workers[victim]);
    assert!(!flying.is_empty(), "the killed worker had runs in flight");
    let at_kill = log.lock().unwrap().len();
    // What the store held as finished when the worker died: those steps must not run again.
    let finished: HashSet<String> =
        pg_rows(server, &format!("SELECT run_id, step FROM {schema}.steps WHERE status = 'succeeded'"))
            .into_iter()
            .map(|(run, step)| format!("{run}/{step}"))
            .collect();

    let succeeded = || place.list("succeeded").len();
    place.until("every run to succeed", || succeeded() == RUNS);
    eprintln!("{RUNS} runs in {:?}; {} were in flight on the killed worker", started.elapsed(), flying.len());
    for (i, worker) in workers.iter_mut().enumerate().filter(|(i, _)| *i != victim) {
        assert!(signal(worker.child.id(), 15));
        assert_eq!(worker.exit(), Some(0), "worker {i}");
    }
    let queue = pg_rows(server, &format!("SELECT CAST(COUNT(*) AS TEXT), '' FROM {schema}.queue"));
    assert_eq!(queue[0].0, "0", "finished runs left the queue");
    for id in ids.iter().take(3) {
        assert_eq!(place.show(id)["output"], json!(["a", "b", "c"]));
    }

    let requests = log.lock().unwrap().clone();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for key in &requests {
        *counts.entry(key).or_default() += 1;
    }
    assert_eq!(counts.len(), RUNS * 3, "every effect happened");
    for id in &ids {
        for step in ["a", "b", "c"] {
            assert!(counts.contains_key(format!("{id}/{step}").as_str()), "{id}/{step} never ran");
        }
    }
    let doubled: Vec<(&str, usize)> = counts.iter().filter(|(_, n)| **n > 1).map(|(k, n)| (*k, *n)).collect();
    for (key, n) in &doubled {
        assert!(*n <= 2, "{key} ran {n} times");
        let run = key.split('/').next().unwrap();
        assert!(flying.contains(run), "{key} ran twice, but its run was not in flight on the killed worker");
        assert!(!finished.contains(*key), "{key} ran again after the store held it as finished");
        assert!(
            requests[..at_kill].contains(&(*key).to_owned()),
            "{key} was first requested before the kill"
        );
    }
    let resumed = pg_rows(
        server,
        &format!("SELECT DISTINCT run_id, type FROM {schema}.events WHERE type = 'run_resumed'"),
    );
    assert!(!resumed.is_empty(), "runs of the killed worker were taken over");
    for (run, _) in &resumed {
        assert!(flying.contains(run), "run {run} was resumed, but it was not in flight on the killed worker");
    }
    eprintln!("{} effects ran twice, {} runs were taken over", doubled.len(), resumed.len());
}

/// `weir runs cancel` of a run a worker holds stops that run alone, for good: the worker goes
/// on with the next, and nothing continues the cancelled one. A queued run is cancelled in the
/// store, and no worker starts it.
#[test]
fn a_cancelled_run_of_a_worker_ends_for_good_and_the_worker_goes_on() {
    let place = Place::new("workers-cancel", None);
    std::fs::write(place.dir.join("slow.yaml"), SLOW.replace("SLEEP", "30s")).unwrap();
    let queued = place.submit(&["slow.yaml"]);
    let cancelled = place.weir(&["runs", "cancel", &queued, "--reason", "not needed"]);
    assert_eq!(cancelled.status.code(), Some(0), "{}", stderr(&cancelled));
    assert_eq!(place.show(&queued)["status"], "cancelled");
    assert_eq!(rows(&place, "queue"), 0, "a cancelled queued run leaves the queue");

    let worker = place.worker("worker.log", &[]);
    let id = place.submit(&["slow.yaml"]);
    place.until("the claim", || worker.runs("claimed").contains(&id));
    // Step `a` is committed before the sleep starts.
    place.until("step a", || place.show(&id)["steps"].as_array().is_some_and(|s| !s.is_empty()));
    let asked = Instant::now();
    let out = place.weir(&["runs", "cancel", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("cancelled run {id}"));
    assert!(asked.elapsed() < Duration::from_secs(5), "took {:?}", asked.elapsed());
    assert_eq!(place.show(&id)["status"], "cancelled");
    assert!(worker.runs("cancelling").contains(&id));
    assert_eq!(rows(&place, "queue"), 0, "no worker continues it");

    let next = place.submit(&["chain.yaml", "--set", "n=1"]);
    place.until("the next run", || place.show(&next)["status"] == "succeeded");
    assert!(!worker.runs("claimed").contains(&queued), "the run cancelled while queued never started");
}
