//! The `http` kind against a real HTTP server on 127.0.0.1 (a test double of an external API).

use crate::{engine, plan};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use weir_engine::{NullSink, RunOptions, RunReport, SystemClock};
use weir_pipeline::Status;

/// Serves: `/order` JSON; `/echo` the request back as JSON; `/missing` 404; `/flaky` 503 on the
/// first request then 200; `/flaky-key` the same, each with the request's `Idempotency-Key`; `/slow` after 2 s. Returns the base URL.
async fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let flaky = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let flaky = flaky.clone();
            tokio::spawn(async move {
                let Some((head, body)) = read_request(&mut socket).await else {
                    return;
                };
                let (status, ctype, payload) = respond(&head, &body, &flaky).await;
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\nx-test: yes\r\n\r\n{payload}",
                    payload.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = socket.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..]).into_owned();
            return Some((head, body));
        }
    }
}

async fn respond(head: &str, body: &str, flaky: &AtomicUsize) -> (&'static str, &'static str, String) {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/order" => ("200 OK", "application/json", json!({"total": 90}).to_string()),
        "/echo" => {
            let auth = head.lines().find_map(|l| l.strip_prefix("authorization: ")).unwrap_or_default();
            let key = header(head, "idempotency-key");
            let echo = json!({"method": method, "query": query, "body": body, "auth": auth, "key": key});
            ("200 OK", "application/json; charset=utf-8", echo.to_string())
        }
        "/missing" => ("404 Not Found", "text/plain", "no such order".into()),
        "/flaky" if flaky.fetch_add(1, Ordering::SeqCst) == 0 => {
            ("503 Service Unavailable", "text/plain", "busy".into())
        }
        "/flaky" => ("200 OK", "text/plain", "ok now".into()),
        "/flaky-key" if flaky.fetch_add(1, Ordering::SeqCst) == 0 => {
            ("503 Service Unavailable", "text/plain", header(head, "idempotency-key"))
        }
        "/flaky-key" => ("200 OK", "text/plain", header(head, "idempotency-key")),
        "/slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            ("200 OK", "text/plain", "late".into())
        }
        _ => ("500 Internal Server Error", "text/plain", "unexpected".into()),
    }
}

/// The value of header `name` (lowercase) in a request head.
fn header(head: &str, name: &str) -> String {
    let value = head.lines().find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)));
    value.map(|(_, v)| v.trim().to_owned()).unwrap_or_default()
}

fn run(yaml: &str, base: &str) -> RunReport {
    let p = plan(&yaml.replace("BASE", base));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let engine = engine(Arc::new(SystemClock::default()));
        engine.run(&p, json!({"n": 7}), &RunOptions::default(), &NullSink).await.expect("valid input")
    })
}

fn with_server<T>(f: impl FnOnce(&str) -> T) -> T {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let base = runtime.block_on(serve());
    let out = f(&base);
    runtime.shutdown_background();
    out
}

#[test]
fn json_responses_are_parsed_into_status_headers_body() {
    let report = with_server(|base| {
        run("name: t\nsteps:\n  - { id: get, uses: http, with: { url: 'BASE/order' } }\n", base)
    });
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.error);
    assert_eq!(report.output["status"], 200);
    assert_eq!(report.output["body"], json!({"total": 90}));
    assert_eq!(report.output["headers"]["x-test"], "yes");
}

#[test]
fn method_query_headers_and_json_body_are_sent() {
    let yaml = "name: t\nsteps:\n  - id: post\n    uses: http\n    with:\n      method: post\n      url: 'BASE/echo'\n      query: { order: '${{ .input.n }}', fast: true }\n      headers: { authorization: 'Bearer ${{ .input.n }}' }\n      json: { n: '${{ .input.n }}' }\n";
    let report = with_server(|base| run(yaml, base));
    let body = &report.output["body"];
    assert_eq!(body["method"], "POST");
    assert_eq!(body["query"], "fast=true&order=7");
    assert_eq!(body["auth"], "Bearer 7");
    assert_eq!(
        serde_json::from_str::<Value>(body["body"].as_str().unwrap_or_default()).ok(),
        Some(json!({"n": 7}))
    );
}

#[test]
fn error_statuses_fail_unless_accepted_and_4xx_is_not_retried() {
    let yaml = "name: t\nsteps:\n  - id: get\n    uses: http\n    with: { url: 'BASE/missing' }\n    retry: { attempts: 3, backoff: { initial: 1ms } }\n";
    let report = with_server(|base| run(yaml, base));
    assert_eq!(report.status, Status::Failed);
    let error = report.error.expect("an error");
    assert_eq!(error.attempts, 1, "a 404 is not retried");
    assert!(error.message.contains("404") && error.message.contains("no such order"), "{}", error.message);

    let accepted = with_server(|base| {
        run(
            "name: t\nsteps:\n  - { id: get, uses: http, with: { url: 'BASE/missing', accept: [404] } }\n",
            base,
        )
    });
    assert_eq!(accepted.status, Status::Succeeded);
    assert_eq!(accepted.output["status"], 404);
    assert_eq!(accepted.output["body"], "no such order");
}

#[test]
fn server_errors_are_retried() {
    let yaml = "name: t\nsteps:\n  - id: get\n    uses: http\n    with: { url: 'BASE/flaky' }\n    retry: { attempts: 2, backoff: { initial: 1ms } }\n";
    let report = with_server(|base| run(yaml, base));
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.error);
    assert_eq!(report.steps[0].attempts, 2);
    assert_eq!(report.output["body"], "ok now");
}

#[test]
fn request_timeout_and_unreachable_hosts_are_step_errors() {
    let slow = with_server(|base| {
        run("name: t\nsteps:\n  - { id: get, uses: http, with: { url: 'BASE/slow', timeout: 50ms } }\n", base)
    });
    assert_eq!(slow.status, Status::Failed);
    // A port nothing listens on.
    let refused =
        run("name: t\nsteps:\n  - { id: get, uses: http, with: { url: 'http://127.0.0.1:9/x' } }\n", "");
    assert_eq!(refused.status, Status::Failed);
    assert!(refused.error.expect("error").message.contains("127.0.0.1:9"));
}

#[test]
fn every_attempt_sends_the_steps_idempotency_key() {
    let yaml = "name: t
steps:
  - id: get
    uses: http
    with: { url: 'BASE/flaky-key' }
    retry: { attempts: 2, backoff: { initial: 1ms } }
  - id: each
    uses: foreach
    needs: [get]
    with: { items: '[1, 2]', step: { uses: http, with: { url: 'BASE/echo' } } }
  - id: own
    uses: http
    needs: [each]
    with: { url: 'BASE/echo', headers: { Idempotency-Key: mine } }
output: '[.steps.get.output.body, (.steps.each.output[] | .body.key), .steps.own.output.body.key]'
";
    let events = weir_engine::Collector::default();
    let report = with_server(|base| {
        let p = plan(&yaml.replace("BASE", base));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let engine = engine(Arc::new(SystemClock::default()));
            engine.run(&p, json!({}), &RunOptions::default(), &events).await.expect("valid input")
        })
    });
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.error);
    let id = &report.run_id;
    let expected = [format!("{id}/get"), format!("{id}/each/0"), format!("{id}/each/1"), "mine".into()];
    assert_eq!(report.output, json!(expected), "one key per step and item; a key set in `headers` wins");
    let first_attempt = events.events().iter().find_map(|e| match &e.kind {
        weir_engine::EventKind::StepRetrying { error, .. } => Some(error.clone()),
        _ => None,
    });
    assert_eq!(
        first_attempt,
        Some(format!("HTTP 503 Service Unavailable: {id}/get")),
        "the same key on retry"
    );
}
