//! `weir resume`: runs killed with SIGKILL at random points continue from the store, against a
//! local HTTP server that counts every side effect by its `Idempotency-Key`.

use crate::{Scratch, scratch, stderr, stdout};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pipeline whose steps each make one side effect: a chain, a `foreach` of them, two in
/// parallel, and one in a sub-pipeline.
const PIPELINE: &str = r#"name: effects
input:
  type: object
  required: [base]
  properties:
    base: { type: string }
steps:
  - id: first
    uses: http
    with: { method: POST, url: '${{ .input.base }}/effect', json: { step: first } }
  - id: fan
    uses: foreach
    needs: [first]
    with:
      items: '[range(6)]'
      concurrency: 2
      step:
        uses: http
        with: { method: POST, url: '${{ .input.base }}/effect', json: { step: fan, item: '${{ .item }}' } }
  - id: left
    uses: http
    needs: [fan]
    with: { method: POST, url: '${{ .input.base }}/effect', json: { step: left } }
  - id: right
    uses: pipeline
    needs: [fan]
    with: { file: child.yaml, input: { base: '${{ .input.base }}' } }
  - id: last
    uses: http
    needs: [left, right]
    with: { method: POST, url: '${{ .input.base }}/effect', json: { step: last } }
output: '[.steps.first.output.body, (.steps.fan.output[] | .body), .steps.left.output.body, .steps.right.output, .steps.last.output.body]'
"#;

const CHILD: &str = r#"name: child
input:
  type: object
  properties:
    base: { type: string }
steps:
  - id: inner
    uses: http
    with: { method: POST, url: '${{ .input.base }}/effect', json: { step: inner } }
output: .steps.inner.output.body
"#;

/// Every request the server received, in order: its `Idempotency-Key` header.
pub(crate) type Log = Arc<Mutex<Vec<String>>>;

/// Serves `POST /effect` on 127.0.0.1, answering `{"did": <request body>}` after 15 ms (so that
/// kills land while requests are in flight), one connection per request.
pub(crate) fn serve() -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let log: Log = Arc::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let (mut key, mut length) = (String::new(), 0usize);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        match name.to_ascii_lowercase().as_str() {
                            "idempotency-key" => key = value.trim().to_owned(),
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                seen.lock().unwrap().push(key);
                std::thread::sleep(Duration::from_millis(15));
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let payload = json!({ "did": request }).to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{payload}",
                    payload.len()
                );
                let _ = reader.get_mut().write_all(response.as_bytes());
            });
        }
    });
    (base, log)
}

/// `weir` with its runs stored in `home`.
fn weir_in(dir: &Path, home: &Path, args: &[&str]) -> Command {
    let mut command = crate::command();
    command.env("WEIR_HOME", home).current_dir(dir).args(args);
    command
}

fn output(mut command: Command) -> Output {
    command.output().expect("weir runs")
}

/// Starts `command` and kills it with SIGKILL after `after`; whether it was still running.
fn kill_after(mut command: Command, after: Duration) -> bool {
    let mut child: Child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("weir starts");
    std::thread::sleep(after);
    let running = child.try_wait().expect("wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    running
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}\n{}", stdout(output), stderr(output)))
}

/// The runs of the tree in `home` (the root first), and the keys of every step and item they
/// recorded as succeeded.
fn recorded(dir: &Path, home: &Path) -> (Vec<String>, HashSet<String>) {
    let runs = json_of(&output(weir_in(dir, home, &["runs", "list", "--all", "--json"])));
    let mut ids: Vec<(bool, String)> = runs
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| (!r["parent"].is_null(), r["run_id"].as_str().expect("an id").to_owned()))
        .collect();
    ids.sort();
    let mut done = HashSet::new();
    for (_, id) in &ids {
        let run = json_of(&output(weir_in(dir, home, &["runs", "show", id, "--json"])));
        for step in run["steps"].as_array().expect("steps") {
            if step["status"] == "succeeded" {
                let key = match step["item"].as_u64() {
                    Some(i) => format!("{id}/{}/{i}", step["step"].as_str().unwrap_or_default()),
                    None => format!("{id}/{}", step["step"].as_str().unwrap_or_default()),
                };
                done.insert(key);
            }
        }
    }
    (ids.into_iter().map(|(_, id)| id).collect(), done)
}

struct Rng(u64);

impl Rng {
    /// A number in `0..n`, from xorshift64*.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

#[test]
fn runs_killed_at_random_points_resume_without_repeating_finished_steps() {
    let dir: Scratch = scratch("resume-sigkill");
    std::fs::write(dir.join("effects.yaml"), PIPELINE).unwrap();
    std::fs::write(dir.join("child.yaml"), CHILD).unwrap();
    let (base, log) = serve();
    let input = json!({ "base": base }).to_string();
    let run_args = ["run", "effects.yaml", "-c", "-i", &input];
    let effects = 10; // first, 6 items, left, inner, last

    // The run as it goes uninterrupted: its output, and how long it takes.
    let home = dir.join("home-reference");
    let started = Instant::now();
    let reference = output(weir_in(&dir, &home, &run_args));
    let took = started.elapsed();
    assert!(reference.status.success(), "{}", stderr(&reference));
    let expected = stdout(&reference);
    assert_eq!(log.lock().unwrap().len(), effects, "one request per effect");

    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut rng = Rng(seed);
    let (mut kills, mut rounds, mut midway) = (0, 0, 0);
    while kills < 20 {
        rounds += 1;
        assert!(rounds <= 60, "only {kills} of 60 rounds were killed mid-run (seed {seed})");
        let home = dir.join(format!("home-{rounds}"));
        let from = log.lock().unwrap().len();
        let point = Duration::from_micros(rng.below(took.as_micros() as u64));
        if !kill_after(weir_in(&dir, &home, &run_args), point) {
            continue;
        }
        kills += 1;
        // After each kill, what the store holds as finished, and how far the server's log went.
        let mut checkpoints = Vec::new();
        let (runs, done) = recorded(&dir, &home);
        let Some(root) = runs.first().cloned() else {
            assert_eq!(log.lock().unwrap().len(), from, "no effect before the run is stored (seed {seed})");
            continue;
        };
        eprintln!("round {rounds}: killed at {point:?}, {} steps and items had succeeded", done.len());
        midway += usize::from(!done.is_empty() && !done.contains(&format!("{root}/last")));
        checkpoints.push((log.lock().unwrap().len(), done));
        // Every other round, the resume is killed too.
        if rng.below(2) == 0 {
            let point = Duration::from_micros(rng.below(took.as_micros() as u64));
            if kill_after(weir_in(&dir, &home, &["resume", &root]), point) {
                kills += 1;
                checkpoints.push((log.lock().unwrap().len(), recorded(&dir, &home).1));
            }
        }
        let show = json_of(&output(weir_in(&dir, &home, &["runs", "show", &root, "--json"])));
        let resumed = if show["status"] == "succeeded" {
            serde_json::to_string(&show["output"]).unwrap() + "\n"
        } else {
            let resumed = output(weir_in(&dir, &home, &["resume", &root, "-c"]));
            assert!(resumed.status.success(), "resume (seed {seed}): {}", stderr(&resumed));
            stdout(&resumed)
        };
        assert_eq!(resumed, expected, "the resumed output is the uninterrupted run's (seed {seed})");

        let requests: Vec<String> = log.lock().unwrap()[from..].to_vec();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for key in &requests {
            *counts.entry(key).or_default() += 1;
        }
        assert_eq!(counts.len(), effects, "every effect happened (seed {seed}): {counts:?}");
        for (at, done) in &checkpoints {
            let again: Vec<&String> = requests[at - from..].iter().filter(|k| done.contains(*k)).collect();
            assert!(again.is_empty(), "finished steps ran again after a kill (seed {seed}): {again:?}");
        }
        // A step runs again only when it was in flight at a kill: at most once more per kill.
        for (key, n) in &counts {
            assert!(
                *n <= 1 + checkpoints.len(),
                "{key} ran {n} times after {} kills (seed {seed})",
                checkpoints.len()
            );
        }
    }
    assert!(midway >= 5, "only {midway} kills left a run part done (seed {seed})");
}

/// Polls `weir runs list` in `home` until a run's step `step` has succeeded; returns the run id.
fn wait_until_succeeded(dir: &Path, home: &Path, step: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let list = output(weir_in(dir, home, &["runs", "list", "--json"]));
        if let Some(id) = serde_json::from_slice::<Value>(&list.stdout)
            .ok()
            .and_then(|runs| runs.get(0).and_then(|r| r["run_id"].as_str().map(str::to_owned)))
        {
            let run = json_of(&output(weir_in(dir, home, &["runs", "show", &id, "--json"])));
            let steps = run["steps"].as_array().cloned().unwrap_or_default();
            if steps.iter().any(|s| s["step"] == step && s["status"] == "succeeded") {
                return id;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("step {step} did not succeed within 20 s");
}

const VERSIONED: &str = "name: versioned
steps:
  - { id: first, uses: transform, with: { expr: '\"v1\"' } }
  - { id: wait, uses: sleep, needs: [first], with: { duration: 30s } }
  - { id: last, uses: transform, needs: [wait], with: { expr: '.steps.first.output + \" then v1\"' } }
output: .steps.last.output
";

#[test]
fn a_run_is_not_resumed_while_its_process_lives() {
    let dir = scratch("resume-alive");
    let home = dir.join("home");
    std::fs::write(dir.join("p.yaml"), VERSIONED).unwrap();
    let mut running =
        weir_in(&dir, &home, &["run", "p.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let id = wait_until_succeeded(&dir, &home, "first");
    let refused = output(weir_in(&dir, &home, &["resume", &id[..8]]));
    running.kill().unwrap();
    running.wait().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let pid = running.id().to_string();
    assert!(stderr(&refused).contains(&format!("still running, in process {pid}")), "{}", stderr(&refused));
}

#[test]
fn a_resumed_run_keeps_the_version_it_started_with() {
    let dir = scratch("resume-version");
    let home = dir.join("home");
    let v1 = VERSIONED.replace("30s", "1500ms");
    std::fs::write(dir.join("p.yaml"), &v1).unwrap();
    let mut running =
        weir_in(&dir, &home, &["run", "p.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let id = wait_until_succeeded(&dir, &home, "first");
    running.kill().unwrap();
    running.wait().unwrap();
    // A deploy changes the file while the run is parked: the run goes on with what it started.
    let v2 = v1.replace("v1", "v2");
    std::fs::write(dir.join("p.yaml"), &v2).unwrap();
    let summary = json_of(&output(weir_in(&dir, &home, &["resume", &id, "--json"])));
    assert_eq!(summary["run_id"], id.as_str());
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["output"], "v1 then v1", "the version it started with");
    assert_eq!(std::fs::read_to_string(dir.join("p.yaml")).unwrap(), v2, "the file is not touched");

    let again = output(weir_in(&dir, &home, &["resume", &id]));
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("has already succeeded"), "{}", stderr(&again));
    let missing = output(weir_in(&dir, &home, &["resume", "0000"]));
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no stored run has the id \"0000\""), "{}", stderr(&missing));
}

#[test]
fn a_run_stopped_by_sigterm_is_cancelled_and_resumes() {
    let dir = scratch("resume-cancelled");
    let home = dir.join("home");
    std::fs::write(dir.join("p.yaml"), VERSIONED.replace("30s", "2s")).unwrap();
    let mut running =
        weir_in(&dir, &home, &["run", "p.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let id = wait_until_succeeded(&dir, &home, "first");
    let kill = Command::new("kill").args(["-TERM", &running.id().to_string()]).status().unwrap();
    assert!(kill.success());
    assert_eq!(running.wait().unwrap().code(), Some(1));
    let show = json_of(&output(weir_in(&dir, &home, &["runs", "show", &id, "--json"])));
    assert_eq!(show["status"], "cancelled");

    let resumed = output(weir_in(&dir, &home, &["resume", &id, "-r"]));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(stdout(&resumed), "v1 then v1\n");
    let show = json_of(&output(weir_in(&dir, &home, &["runs", "show", &id, "--json"])));
    assert_eq!((show["status"].as_str(), show["error"].is_null()), (Some("succeeded"), true));
}
