//! The load generator against a test server on 127.0.0.1: the schedule, coordinated omission,
//! status counts, failures at the start and in the middle, the closed model. Assertions are on
//! counts and on orders of magnitude, never on tight timings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weir_bench::load::{self, LoadConfig, LoadError, LoadResult};

/// A request as the server saw it: its number (from 0, across connections), head and body.
struct Seen {
    index: u64,
    head: String,
    body: Vec<u8>,
}

/// How the server answers one request.
struct Reply {
    status: u16,
    delay: Duration,
    /// Close the connection instead of answering.
    hang_up: bool,
}

fn ok() -> Reply {
    Reply { status: 200, delay: Duration::ZERO, hang_up: false }
}

type Behaviour = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// Serves keep-alive HTTP/1.1 on 127.0.0.1 as `behaviour` says; returns its URL.
async fn serve(behaviour: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let behaviour: Behaviour = Arc::new(behaviour);
    // Numbers requests across all connections.
    let counter = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(connection(socket, behaviour.clone(), counter.clone()));
        }
    });
    format!("http://{addr}/path?q=1")
}

async fn connection(mut socket: TcpStream, behaviour: Behaviour, counter: Arc<AtomicU64>) {
    let mut buffer = Vec::new();
    while let Some((head, body)) = read_request(&mut socket, &mut buffer).await {
        let seen = Seen { index: counter.fetch_add(1, Ordering::SeqCst), head, body };
        let reply = behaviour(&seen);
        // Even a zero sleep waits for the timer's next millisecond.
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        if reply.hang_up {
            return;
        }
        let response = format!("HTTP/1.1 {} X\r\ncontent-length: 5\r\n\r\nhello", reply.status);
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The next request on a connection (head and `content-length` body); `None` at its end.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        fill(socket, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        fill(socket, buffer).await?;
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some((head, body))
}

async fn fill(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match socket.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

fn config(url: &str, rate: Option<f64>, duration_ms: u64, connections: u32) -> LoadConfig {
    LoadConfig {
        rate,
        duration: Duration::from_millis(duration_ms),
        connections,
        timeout: Duration::from_secs(5),
        ..LoadConfig::new(url)
    }
}

async fn check(config: LoadConfig) -> LoadResult {
    let result = load::run(config, |_| {}).await.expect("the load runs");
    assert_eq!(result.sent, result.completed + result.errors, "every request sent has an outcome");
    assert_eq!(result.corrected.len() as u64, result.completed);
    assert_eq!(result.uncorrected.len() as u64, result.completed);
    assert_eq!(result.at_s.len() as u64, result.completed);
    result
}

#[tokio::test]
async fn the_open_model_sends_exactly_its_schedule() {
    let url = serve(|_| ok()).await;
    let result = check(config(&url, Some(200.0), 2_000, 4)).await;
    assert_eq!(result.sent + result.dropped, 400);
    assert!(result.sent >= 380, "a fast server gets nearly every request: {result:?}");
    assert_eq!(result.errors, 0);
    assert_eq!(result.status_counts.get(&200), Some(&result.completed));
    assert!(result.at_s.windows(2).all(|w| w[0] <= w[1]), "samples in the order they were due");
    let last = result.at_s.last().copied().unwrap_or_default();
    assert!((1.9..2.0).contains(&last), "the last request is due just before 2 s: {last}");
}

#[tokio::test]
async fn a_stalled_request_makes_the_ones_queued_behind_it_slow() {
    let url =
        serve(|seen| Reply { delay: Duration::from_millis(if seen.index == 50 { 500 } else { 0 }), ..ok() })
            .await;
    let result = check(config(&url, Some(100.0), 2_000, 1)).await;
    let slow = |samples: &[f64]| samples.iter().filter(|ms| **ms >= 100.0).count();
    let (corrected, uncorrected) = (slow(&result.corrected), slow(&result.uncorrected));
    // About 50 requests were due while one connection waited 500 ms.
    assert!(corrected >= 20, "{corrected} slow corrected latencies: {result:?}");
    assert!(uncorrected <= corrected / 4, "{uncorrected} slow uncorrected against {corrected}");
    assert!(result.uncorrected.iter().any(|ms| *ms >= 400.0), "the stalled request itself");
    assert!(result.corrected.iter().copied().fold(0.0, f64::max) >= 400.0);
    assert!(result.late >= 20, "{} late", result.late);
}

#[tokio::test]
async fn requests_still_waiting_at_the_end_are_dropped_not_lost() {
    let url = serve(|_| Reply { delay: Duration::from_millis(100), ..ok() }).await;
    // One connection answers about 10 of the 100 requests due in a second.
    let result = check(config(&url, Some(100.0), 1_000, 1)).await;
    assert_eq!(result.sent + result.dropped, 100);
    assert!(result.dropped >= 50, "{result:?}");
    assert!(result.late + 1 >= result.sent, "all but the first waited for the connection: {result:?}");
}

#[tokio::test]
async fn responses_are_counted_by_status() {
    let url = serve(|seen| Reply { status: if seen.index % 2 == 0 { 200 } else { 503 }, ..ok() }).await;
    let result = check(config(&url, None, 500, 2)).await;
    let (ok, unavailable) = (result.status_counts[&200], result.status_counts[&503]);
    assert_eq!(ok + unavailable, result.completed);
    assert!(ok.abs_diff(unavailable) <= 1, "{:?}", result.status_counts);
    let stats = result.http_stats();
    assert_eq!(stats.status_counts.get("503"), Some(&unavailable));
    assert_eq!((stats.method.as_str(), stats.rate, stats.connections), ("GET", None, 2));
}

#[tokio::test]
async fn the_closed_model_keeps_every_connection_busy() {
    let url = serve(|_| ok()).await;
    let result = check(config(&url, None, 1_000, 4)).await;
    assert!(result.completed >= 100, "{} requests in 1 s on loopback", result.completed);
    assert_eq!(result.corrected, result.uncorrected);
    assert_eq!((result.dropped, result.late, result.errors), (0, 0, 0));
    let (stats, samples) = result.into_parts();
    assert_eq!(samples.corrected.len() as u64, stats.completed);
}

#[tokio::test]
async fn method_headers_and_body_reach_the_server() {
    // The last request the server saw: head and body.
    let last = Arc::new(Mutex::new(None));
    let seen = last.clone();
    let url = serve(move |request| {
        if let Ok(mut slot) = seen.lock() {
            *slot = Some((request.head.clone(), request.body.clone()));
        }
        ok()
    })
    .await;
    let header = load::parse_header("X-Trace :  abc ").expect("a valid header");
    let result = check(LoadConfig {
        method: "POST".into(),
        headers: vec![header],
        body: Some(b"{\"n\":1}".to_vec()),
        ..config(&url, Some(50.0), 200, 1)
    })
    .await;
    assert_eq!(result.completed, 10);
    let (head, body) = last.lock().expect("not poisoned").clone().expect("a request arrived");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("post /path?q=1 http/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nx-trace: abc\r\n") && head.contains("\r\nhost: 127.0.0.1:"), "{head}");
    assert_eq!(body, b"{\"n\":1}");
}

#[tokio::test]
async fn failures_mid_run_are_counted_and_the_connection_reopened() {
    let url = serve(|seen| match seen.index {
        3 => Reply { hang_up: true, ..ok() },
        6 => Reply { delay: Duration::from_secs(5), ..ok() },
        _ => ok(),
    })
    .await;
    // The timeout is far above what an answer takes even on a busy machine, and far below the
    // stalled one's delay: exactly the two requests made to fail fail.
    let result =
        check(LoadConfig { timeout: Duration::from_millis(1_000), ..config(&url, None, 2_500, 1) }).await;
    assert_eq!(result.errors, 2, "{:?}", result.error_samples);
    assert!(result.completed > 20, "later requests succeed on a new connection: {result:?}");
    assert!(
        result.error_samples.iter().any(|e| e.contains("timed out after 1s")),
        "{:?}",
        result.error_samples
    );
    assert_eq!(result.error_samples.len(), 2);
}

#[tokio::test]
async fn a_server_that_is_not_there_fails_the_load_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let error = load::run(config(&format!("http://{addr}/"), Some(10.0), 1_000, 2), |_| {}).await;
    let message = error.map(|_| ()).err().map(|e| e.to_string());
    assert_eq!(message, Some(format!("cannot connect to {addr}: connection refused")));
}

#[tokio::test]
async fn what_cannot_be_a_load_says_why() {
    let fails = async |config: LoadConfig| load::run(config, |_| {}).await.err().map(|e| e.to_string());
    let plain = |url: &str| config(url, None, 100, 1);
    assert_eq!(
        fails(plain("https://127.0.0.1/")).await.as_deref(),
        Some("https is not supported by weir bench http yet (URL \"https://127.0.0.1/\")")
    );
    assert_eq!(fails(plain("ftp://x/")).await.as_deref(), Some("URL \"ftp://x/\" must start with http://"));
    assert_eq!(fails(plain("/relative")).await.as_deref(), Some("URL \"/relative\" must start with http://"));
    let unresolvable = fails(plain("http://no-such-host.invalid/")).await.unwrap_or_default();
    assert!(unresolvable.starts_with("cannot resolve host no-such-host.invalid: "), "{unresolvable}");
    assert_eq!(
        fails(LoadConfig { rate: Some(0.0), ..plain("http://127.0.0.1/") }).await.as_deref(),
        Some("--rate must be a positive number of requests per second, found 0")
    );
    let syntax = load::parse_header("X-Trace abc").map_err(|e| e.to_string());
    assert_eq!(syntax, Err("--header wants NAME: VALUE, found \"X-Trace abc\"".into()));
    assert!(matches!(load::parse_header("Bad Name: x"), Err(LoadError::Header { .. })));
}

#[tokio::test]
async fn warm_up_is_sent_but_not_measured() {
    // Counts every request the server answered, warm-up included.
    let served = Arc::new(AtomicU64::new(0));
    let counted = served.clone();
    let url = serve(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        ok()
    })
    .await;
    let result =
        check(LoadConfig { warmup: Duration::from_millis(500), ..config(&url, Some(100.0), 500, 2) }).await;
    assert_eq!(result.sent + result.dropped, 50);
    assert!(served.load(Ordering::SeqCst) >= result.sent + 40, "warm-up requests reached the server too");
    assert!(result.at_s.first().is_some_and(|at| *at < 0.02), "offsets count from the measurement");
}
