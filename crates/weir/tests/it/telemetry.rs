//! What a process tells monitoring: its log lines (`--log-level`, `--log-format`,
//! `--log-file`) and the Prometheus metrics `--metrics-addr` serves.

use crate::{command_in, scratch, stderr, stdout};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const CHAIN: &str = r#"name: chain
steps:
  - { id: a, uses: transform, with: { expr: '1' } }
  - { id: b, uses: transform, needs: [a], with: { expr: '.steps.a.output + 1' } }
output: .steps.b.output
"#;

/// A step that says something, then one that does not.
const SAYS: &str = r#"name: says
steps:
  - { id: hello, uses: log, with: { message: "hello from a step" } }
  - { id: quiet, uses: transform, needs: [hello], with: { expr: '7' } }
output: .steps.quiet.output
"#;

/// `weir run says.yaml` with `flags`, in a scratch directory of its own; its stderr.
fn run_says(test: &str, flags: &[&str]) -> String {
    let dir = scratch(test);
    std::fs::write(dir.join("says.yaml"), SAYS).unwrap();
    let out = command_in(&dir, None).args([&["run", "says.yaml"], flags].concat()).output().unwrap();
    assert_eq!((out.status.code(), stdout(&out).trim()), (Some(0), "7"), "{}", stderr(&out));
    stderr(&out)
}

/// What the log step says on stderr itself, as `weir run` prints it, log lines or not.
const SAID: &str = "[info] hello: hello from a step";

/// The lines of `text` but the log step's own, each parsed as JSON.
fn json_lines(text: &str) -> Vec<Value> {
    let lines = text.lines().filter(|l| *l != SAID);
    lines.map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: `{l}` in\n{text}"))).collect()
}

#[test]
fn json_log_lines_have_weirs_field_names_and_name_the_run_and_the_step() {
    let lines = json_lines(&run_says("log-json", &["--log-format", "json", "--log-level", "info"]));
    let started = lines.iter().find(|l| l["msg"] == "run started").expect("a run started line");
    for key in ["ts", "level", "msg", "target", "run_id"] {
        assert!(started.get(key).is_some(), "no `{key}` in {started}");
    }
    assert_eq!(
        (&started["level"], &started["target"], &started["pipeline"]),
        (&"info".into(), &"weir::run".into(), &"says".into())
    );
    let said = lines.iter().find(|l| l["msg"] == "hello from a step").expect("the log step's line");
    assert_eq!((&said["step_id"], &said["run_id"]), (&"hello".into(), &started["run_id"]));
    assert!(lines.iter().all(|l| l["level"] != "debug"), "info hides debug lines");
}

#[test]
fn a_target_filter_shows_that_targets_debug_lines_only() {
    let lines = json_lines(&run_says(
        "log-filter",
        &["--log-format", "json", "--log-level", "warn,weir::step=debug"],
    ));
    let targets: std::collections::BTreeSet<&str> =
        lines.iter().filter_map(|l| l["target"].as_str()).collect();
    // A target takes in the targets beneath it (the steps' own messages), not `weir::run`.
    assert_eq!(targets.into_iter().collect::<Vec<_>>(), ["weir::step", "weir::step::log"], "{lines:?}");
    assert!(lines.iter().any(|l| l["msg"] == "step succeeded" && l["step_id"] == "quiet"), "{lines:?}");
}

#[test]
fn text_log_lines_are_for_people_and_a_run_writes_none_unless_asked() {
    let text = run_says("log-text", &["--log-format", "text", "--log-level", "info"]);
    let started = text.lines().find(|l| l.contains(" INFO weir::run: run started ")).expect("a text line");
    assert!(
        started.contains(r#"pipeline="says""#) && serde_json::from_str::<Value>(started).is_err(),
        "{text}"
    );
    // Piped, `weir run` says only what its own stderr says: no log lines by default.
    assert_eq!(run_says("log-default", &[]), format!("{SAID}\n"));
}

#[test]
fn log_lines_go_to_the_file_asked_for_as_json() {
    let dir = scratch("log-file");
    std::fs::write(dir.join("says.yaml"), SAYS).unwrap();
    let out = command_in(&dir, None).args(["run", "says.yaml", "--log-file", "weir.log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), format!("{SAID}\n"), "the lines go to the file, not stderr");
    let lines = json_lines(&std::fs::read_to_string(dir.join("weir.log")).unwrap());
    // The default level is `warn`: the info line of the log step is not written, a warning would be.
    assert!(lines.is_empty(), "{lines:?}");
    let out = command_in(&dir, None)
        .args(["run", "says.yaml", "--log-file", "weir.log", "--log-level", "info"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&std::fs::read_to_string(dir.join("weir.log")).unwrap());
    assert!(lines.iter().any(|l| l["msg"] == "hello from a step"), "{lines:?}");
}

/// `GET path` of `addr`: the status line and the body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("the metrics address answers");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// Reads `child`'s stderr until it says where its metrics are; the address.
fn metrics_addr(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("metrics: http://")?.strip_suffix("/metrics").map(str::to_owned))
        .expect("the process says where its metrics are");
    // The rest of stderr is drained, so that the process never blocks writing it.
    std::thread::spawn(move || lines.for_each(drop));
    addr
}

#[test]
fn a_worker_serves_the_metrics_of_the_runs_it_ran() {
    let dir = scratch("metrics-worker");
    std::fs::write(dir.join("chain.yaml"), CHAIN).unwrap();
    let mut worker = command_in(&dir, None)
        .args(["worker", "--poll", "20ms", "--metrics-addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weir worker starts");
    let addr = metrics_addr(&mut worker);
    let submit = command_in(&dir, None).args(["submit", "chain.yaml"]).output().unwrap();
    assert_eq!(submit.status.code(), Some(0), "{}", stderr(&submit));
    let ran = r#"weir_runs_total{pipeline="chain",status="succeeded"} 1"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, body) = loop {
        let (status, body) = get(&addr, "/metrics");
        if body.lines().any(|l| l == ran) || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (missing, _) = get(&addr, "/");
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.lines().any(|l| l == ran), "{body}");
    for step in ["a", "b"] {
        let count = format!(
            r#"weir_step_duration_seconds_count{{pipeline="chain",step="{step}",kind="transform",status="succeeded"}} 1"#
        );
        assert!(body.lines().any(|l| l == count), "no `{count}` in:\n{body}");
    }
    assert!(body.lines().any(|l| l == "weir_runs_in_flight 0"), "{body}");
    assert!(body.lines().any(|l| l.starts_with("weir_store_commit_seconds_count ")), "{body}");
    #[cfg(target_os = "linux")]
    assert!(body.lines().any(|l| l.starts_with("process_resident_memory_bytes ")), "{body}");
    assert_eq!(missing, "HTTP/1.1 404 Not Found");
}

#[test]
fn a_metrics_address_in_use_stops_the_run_before_it_starts() {
    let dir = scratch("metrics-in-use");
    std::fs::write(dir.join("chain.yaml"), CHAIN).unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = command_in(&dir, None).args(["run", "chain.yaml", "--metrics-addr", &addr]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(&format!("error: cannot listen for scrapes on {addr}: ")),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "the run did not start");
}

#[test]
fn a_run_sends_its_counters_and_timings_to_statsd() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let dir = scratch("statsd");
    std::fs::write(dir.join("chain.yaml"), CHAIN).unwrap();
    let out = command_in(&dir, None).args(["run", "chain.yaml"]).env("WEIR_STATSD", &addr).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut packets = Vec::new();
    let mut buf = [0; 1024];
    while packets.len() < 3 {
        let n = server.recv(&mut buf).expect("a StatsD packet within 10 s");
        packets.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let steps = |step: &str| {
        packets.iter().any(|p| {
            p.starts_with("weir.step_duration:")
                && p.ends_with(&format!("|ms|#pipeline:chain,step:{step},kind:transform,status:succeeded"))
        })
    };
    assert!(steps("a") && steps("b"), "{packets:?}");
    let run = packets.iter().find(|p| p.starts_with("weir.runs:")).expect("the run's packet");
    assert!(run.starts_with("weir.runs:1|c|#pipeline:chain,status:succeeded\nweir.run_duration:"), "{run}");
}

#[test]
fn a_worker_asked_for_info_logs_each_run_it_ran() {
    let dir = scratch("log-worker");
    std::fs::write(dir.join("chain.yaml"), CHAIN).unwrap();
    let submit = command_in(&dir, None).args(["submit", "chain.yaml"]).output().unwrap();
    assert_eq!(submit.status.code(), Some(0), "{}", stderr(&submit));
    let id = stdout(&submit).trim().to_owned();
    let args = ["worker", "--once", "--json", "--log-level", "info", "--log-format", "json"];
    let out = command_in(&dir, None).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<Value> = stderr(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let finished = lines.iter().find(|l| l["msg"] == "run finished").expect("the run's last line");
    assert_eq!(
        (&finished["run_id"], &finished["status"]),
        (&Value::from(id), &"succeeded".into()),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l["event"] == "ended"), "the worker's own lines stay: {lines:?}");
}

/// Waits (at most 20 s) until the text of `file` has a line `found` says yes to.
fn wait_for_line(file: &std::path::Path, what: &str, found: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(file).unwrap_or_default().lines().any(&found) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        assert!(Instant::now() < deadline, "{what} did not happen within 20 s:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_worker_follows_the_log_level_of_its_configuration_file() {
    let dir = scratch("log-reload");
    std::fs::write(dir.join("chain.yaml"), CHAIN).unwrap();
    std::fs::write(dir.join("weir.toml"), "[log]\nlevel = \"error\"\nformat = \"json\"\n").unwrap();
    let log = dir.join("worker.err");
    let mut worker = command_in(&dir, None)
        .args(["worker", "--poll", "20ms"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("weir worker starts");
    let submit = || {
        let out = command_in(&dir, None).args(["submit", "chain.yaml"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    };
    let first = submit();
    let ended = format!("run {first}: succeeded in ");
    wait_for_line(&log, "the first run", |l| l.starts_with(&ended));
    // Rewritten with another length, so the worker sees a change within a second.
    std::fs::write(dir.join("weir.toml"), "[log]\nlevel = \"info\"\nformat = \"json\"\n\n").unwrap();
    wait_for_line(&log, "the reload", |l| l.contains("the configuration changed"));
    let second = submit();
    let finished = |id: &str| {
        let id = id.to_owned();
        move |l: &str| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|v| v["msg"] == "run finished" && v["run_id"] == id.as_str())
        }
    };
    wait_for_line(&log, "the second run's log line", finished(&second));
    worker.kill().unwrap();
    worker.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.lines().any(finished(&first)), "at `error`, no line of the first run:\n{text}");
}
