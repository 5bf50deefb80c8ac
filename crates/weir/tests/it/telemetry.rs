//! What a process tells monitoring: the Prometheus metrics `--metrics-addr` serves.

use crate::{command_in, scratch, stderr};
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
