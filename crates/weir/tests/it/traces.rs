//! Traces as a collector sees them: `weir run` against a receiver on 127.0.0.1 that decodes
//! the OTLP/HTTP protobuf it is sent with the published message types.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// An HTTP/1.1 server on a port of its own that answers 200 to everything and keeps what it was
/// sent: the collector, or the service an `http` step calls.
struct Receiver {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Receiver { url, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Every span sent to the collector, with the resource attributes of its request.
    fn spans(&self) -> Vec<(Span, HashMap<String, String>)> {
        let mut spans = Vec::new();
        for request in self.requests() {
            assert_eq!(request.path, "/v1/traces");
            let export = ExportTraceServiceRequest::decode(&*request.body).expect("an OTLP request");
            for resource_spans in export.resource_spans {
                let resource = resource_spans.resource.map(|r| attributes(&r.attributes)).unwrap_or_default();
                for scope in resource_spans.scope_spans {
                    spans.extend(scope.spans.into_iter().map(|s| (s, resource.clone())));
                }
            }
        }
        spans
    }
}

/// Reads the requests of one connection (kept alive) and answers each.
fn serve(stream: std::net::TcpStream, kept: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let Some((name, value)) = header.trim_end().split_once(':') else { break };
            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
        let length = headers.get("content-length").map_or(0, |l| l.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        kept.lock().unwrap().push(Request { path, headers, body });
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}")
            .unwrap();
    }
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map_or_else(String::new, text))).collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    attributes(&span.attributes).remove(key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A directory with `files` written in it.
fn pipelines(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-it-traces-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

const PARENT: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN: &str = "b7ad6b7169203331";

const MAIN: &str = "name: main
steps:
  - id: each
    uses: foreach
    with: { items: '[1, 2]', pipeline: child.yaml }
  - id: flaky
    uses: fail
    with: { times: 1, output: ok, message: transient }
    retry: { attempts: 2, backoff: { initial: 1ms } }
";

const CHILD: &str = "name: child
steps:
  - id: double
    uses: transform
    with: { expr: '.input * 2' }
";

fn run(dir: &Path, file: &str, env: &[(&str, &str)]) -> Output {
    crate::weir_env(dir, &["run", "--no-store", file], &[&[("NO_COLOR", "1")], env].concat())
}

#[test]
fn traces_have_a_run_span_with_attempt_spans_and_child_runs_under_their_step() {
    let collector = Receiver::start();
    let dir = pipelines("tree", &[("main.yaml", MAIN), ("child.yaml", CHILD)]);
    let traceparent = format!("00-{PARENT}-{PARENT_SPAN}-01");
    let out = run(
        &dir,
        "main.yaml",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret%21"),
            ("OTEL_SERVICE_NAME", "billing"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
            ("TRACEPARENT", &traceparent),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let requests = collector.requests();
    assert!(!requests.is_empty(), "weir run sent its spans before it exited");
    assert!(requests.iter().all(|r| r.headers.get("x-api-key").map(String::as_str) == Some("s3cret!")));
    let spans = collector.spans();
    let resource = &spans[0].1;
    assert_eq!(resource.get("service.name").map(String::as_str), Some("billing"));
    assert_eq!(resource.get("deployment.environment").map(String::as_str), Some("test"));
    assert!(spans.iter().all(|(s, _)| hex(&s.trace_id) == PARENT), "one trace, the caller's");

    let spans: Vec<Span> = spans.into_iter().map(|(s, _)| s).collect();
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let [root] = named("run main")[..] else { panic!("one run span: {spans:#?}") };
    assert_eq!(hex(&root.parent_span_id), PARENT_SPAN, "the run is a child of TRACEPARENT's span");
    assert_eq!(attribute(root, "weir.pipeline").as_deref(), Some("main"));
    assert!(attribute(root, "weir.pipeline.version").is_some_and(|v| v.starts_with("sha256:")));
    assert_eq!(attribute(root, "weir.status").as_deref(), Some("succeeded"));

    let flaky = named("step flaky");
    assert_eq!(flaky.len(), 2, "one span per attempt");
    for (attempt, span) in flaky.iter().enumerate() {
        assert_eq!(span.parent_span_id, root.span_id);
        assert_eq!(attribute(span, "weir.step.kind").as_deref(), Some("fail"));
        assert_eq!(attribute(span, "weir.step.attempt"), Some((attempt + 1).to_string()));
    }
    let failed = flaky.iter().find(|s| attribute(s, "weir.step.attempt").as_deref() == Some("1")).unwrap();
    let status = failed.status.as_ref().expect("the failed attempt has a status");
    assert_eq!((status.code, status.message.as_str()), (StatusCode::Error as i32, "transient"));

    let [each] = named("step each")[..] else { panic!("one attempt of the foreach step") };
    assert_eq!(each.parent_span_id, root.span_id);
    let children = named("run child");
    assert_eq!(children.len(), 2, "a run per item");
    for child in children {
        assert_eq!(child.parent_span_id, each.span_id, "an item's run is a child of its step's attempt");
        let steps: Vec<_> = spans.iter().filter(|s| s.parent_span_id == child.span_id).collect();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].name, "step double");
    }
}

#[test]
fn without_a_trace_parent_the_run_span_is_a_root() {
    let collector = Receiver::start();
    let dir = pipelines("root", &[("child.yaml", CHILD)]);
    let out = crate::weir_env(
        &dir,
        &["run", "--no-store", "child.yaml", "-i", "2"],
        &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &format!("{}/v1/traces", collector.url))],
    );
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let spans = collector.spans();
    let root = spans.iter().find(|(s, _)| s.name == "run child").expect("a run span");
    assert!(root.0.parent_span_id.is_empty());
    assert_eq!(root.1.get("service.name").map(String::as_str), Some("weir"));
}

#[test]
fn nothing_is_sent_when_sampled_out_or_disabled() {
    let collector = Receiver::start();
    let dir = pipelines("off", &[("child.yaml", CHILD)]);
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str());
    for off in [("OTEL_TRACES_SAMPLER", "always_off"), ("OTEL_SDK_DISABLED", "true")] {
        let out = crate::weir_env(&dir, &["run", "--no-store", "child.yaml", "-i", "2"], &[endpoint, off]);
        assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    }
    assert!(collector.requests().is_empty());
}

#[test]
fn a_collector_that_is_down_does_not_hold_up_the_run() {
    // A port nothing listens on: bound, then closed.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = pipelines("down", &[("child.yaml", CHILD)]);
    let started = Instant::now();
    let out = crate::weir_env(
        &dir,
        &["run", "--no-store", "child.yaml", "-i", "2"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{closed}")),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
            ("WEIR_LOG", "warn"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4");
    let warned = crate::stderr(&out).matches("cannot export spans").count();
    assert_eq!(warned, 1, "one warning: {}", crate::stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10), "the run does not wait for the exporter's timeout");
}

#[test]
fn an_http_step_sends_the_traceparent_of_its_attempt() {
    let service = Receiver::start();
    let collector = Receiver::start();
    let pipeline = format!(
        "name: call\nsteps:\n  - id: call\n    uses: http\n    with: {{ url: '{}/hook' }}\n",
        service.url
    );
    let dir = pipelines("http", &[("call.yaml", &pipeline)]);
    let traceparent = format!("00-{PARENT}-{PARENT_SPAN}-01");
    let out = run(
        &dir,
        "call.yaml",
        &[("TRACEPARENT", &traceparent), ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let [call] = &service.requests()[..] else { panic!("one call") };
    let sent = call.headers.get("traceparent").expect("a traceparent header");
    let spans = collector.spans();
    let attempt = spans.iter().find(|(s, _)| s.name == "step call").expect("the attempt's span");
    assert_eq!(*sent, format!("00-{PARENT}-{}-01", hex(&attempt.0.span_id)));
}

#[test]
fn the_trace_id_is_stored_with_the_run_and_a_submitted_run_joins_its_submitters_trace() {
    let dir = pipelines("stored", &[("child.yaml", CHILD)]);
    let home = dir.join("home");
    let traceparent = format!("00-{PARENT}-{PARENT_SPAN}-01");
    let env = [("NO_COLOR", "1"), ("WEIR_HOME", home.to_str().unwrap())];
    let with_parent = [&env[..], &[("TRACEPARENT", traceparent.as_str())]].concat();
    let show = |run: &str| {
        let out = crate::weir_env(&dir, &["runs", "show", "--json", run], &env);
        assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };

    let out = crate::weir_env(&dir, &["run", "--json", "child.yaml", "-i", "2"], &with_parent);
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = summary["run_id"].as_str().unwrap();
    assert_eq!(show(run)["trace_id"], PARENT);
    let table = crate::weir_env(&dir, &["runs", "show", run], &env);
    assert!(String::from_utf8_lossy(&table.stdout).contains(&format!("trace     {PARENT}")));

    let submit = crate::weir_env(&dir, &["submit", "child.yaml", "-i", "3"], &with_parent);
    assert_eq!(submit.status.code(), Some(0), "{}", crate::stderr(&submit));
    let queued = String::from_utf8_lossy(&submit.stdout).trim().to_owned();
    let collector = Receiver::start();
    let exporting = [&env[..], &[("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str())]].concat();
    let worker = crate::weir_env(&dir, &["worker", "--once"], &exporting);
    assert_eq!(worker.status.code(), Some(0), "{}", crate::stderr(&worker));
    let ran = show(&queued);
    assert_eq!(ran["status"], "succeeded", "{ran}");
    assert_eq!(ran["trace_id"], PARENT, "the worker's run is in the submitter's trace");
    let spans = collector.spans();
    let run = spans.iter().find(|(s, _)| s.name == "run child").expect("the worker exports the run's span");
    assert_eq!(
        (hex(&run.0.trace_id), hex(&run.0.parent_span_id)),
        (PARENT.to_owned(), PARENT_SPAN.to_owned())
    );
}

#[test]
fn weir_toml_configures_traces_and_a_resource_service_name_stands_unless_one_is_set() {
    let collector = Receiver::start();
    let toml = format!("[traces]\nendpoint = \"{}\"\n", collector.url);
    let dir = pipelines("toml", &[("child.yaml", CHILD), ("weir.toml", &toml)]);
    let attributes = ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes");
    let out = crate::weir_env(&dir, &["run", "--no-store", "child.yaml", "-i", "2"], &[attributes]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let spans = collector.spans();
    assert!(!spans.is_empty(), "the file's endpoint is used");
    assert!(spans.iter().all(|(_, r)| r.get("service.name").map(String::as_str) == Some("from-attributes")));

    let toml = format!("[traces]\nendpoint = \"{}\"\nsampler = \"always_off\"\n", collector.url);
    std::fs::write(dir.join("weir.toml"), toml).unwrap();
    let before = collector.requests().len();
    let out = crate::weir_env(&dir, &["run", "--no-store", "child.yaml", "-i", "2"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    assert_eq!(collector.requests().len(), before, "always_off sends nothing");
}
