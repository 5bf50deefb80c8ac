//! What telemetry costs a run (`cargo bench -p weir-telemetry --bench overhead`), against the
//! targets it must meet: with no exporter configured, at most 1% on the engine's per-step time;
//! with log lines, metrics and spans all on, at most 3%. The pipeline is the engine benchmark's
//! 1,000 `pass` steps in a chain, the cheapest step there is, so telemetry's share is at its
//! largest. Runs of each configuration are interleaved, so a machine that slows down slows all
//! of them alike; each figure is the median of many runs. The process exits non-zero when a
//! target is missed, so `cargo xtask bench` can gate on it.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_engine::{Engine, EventSink, NullSink, RunOptions, SystemClock};
use weir_pipeline::{Bundle, Source};
use weir_telemetry::Telemetry;
use weir_telemetry::metrics::Metrics;

const STEPS: usize = 1000;

fn chain() -> Bundle {
    let mut text = String::from("name: overhead\nsteps:\n  - { id: s0, uses: pass }\n");
    for i in 1..STEPS {
        text.push_str(&format!("  - {{ id: s{i}, uses: pass, needs: [s{}] }}\n", i - 1));
    }
    let loaded = weir_pipeline::load(Source::new("overhead.yaml", text.as_str()), &weir_steps::builtin());
    Bundle::single(loaded.plan.expect("valid benchmark pipeline")).expect("runs no other file")
}

/// Median run time of each sink, `rounds` runs each, taken in turns (each round in another
/// order, so none always follows the same one). `settle` runs after each run, untimed: it
/// lets the spans' exporter finish with a run's spans before the next run is timed.
fn interleaved(plan: &Bundle, sinks: &[&dyn EventSink], rounds: usize, settle: &dyn Fn()) -> Vec<Duration> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
    let options = RunOptions::default();
    let mut samples = vec![Vec::with_capacity(rounds); sinks.len()];
    for round in 0..rounds + 2 {
        for turn in 0..sinks.len() {
            let i = (turn + round) % sinks.len();
            let start = Instant::now();
            let report =
                runtime.block_on(engine.run(plan, serde_json::json!({}), &options, sinks[i])).expect("input");
            let took = start.elapsed();
            assert_eq!(report.status, weir_pipeline::Status::Succeeded);
            settle();
            // The first two rounds warm caches and the metrics' handles.
            if round >= 2 {
                samples[i].push(took);
            }
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort();
            s[s.len() / 2]
        })
        .collect()
}

/// An OTLP/HTTP collector that takes every request and answers 200, on a thread of its own.
fn collector() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}/v1/traces", listener.local_addr().expect("its address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    url
}

/// Reads requests off one kept-alive connection and answers each with an empty 200.
fn answer(stream: std::net::TcpStream) {
    let mut writer = stream.try_clone().expect("a second handle");
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err()
            || writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err()
        {
            return;
        }
    }
}

struct Row {
    name: &'static str,
    base: Duration,
    with: Duration,
    target: f64,
}

impl Row {
    fn overhead(&self) -> f64 {
        self.with.as_secs_f64() / self.base.as_secs_f64() - 1.0
    }
}

#[allow(clippy::disallowed_methods)] // A benchmark binary reports a missed target by its exit code.
fn main() {
    // `cargo test --benches` runs it without `--bench`: keep it quick then.
    let quick = std::env::args().all(|a| a != "--bench");
    let rounds = if quick { 3 } else { 200 };
    let plan = chain();

    // No exporter configured: no subscriber, no registry, no spans.
    let bare = Telemetry::new();
    let none = interleaved(&plan, &[&NullSink, &bare], rounds, &|| {});

    // JSON log lines at `info` into a file, and the metrics registry.
    let dir = std::env::temp_dir().join(format!("weir-overhead-{}", std::process::id()));
    let options = weir_telemetry::log::Options {
        level: "info".to_owned(),
        format: weir_telemetry::log::Format::Json,
        color: false,
        file: Some(weir_telemetry::log::File {
            path: dir.join("weir.log"),
            rotation: weir_telemetry::log::Rotation::Never,
            max_size: u64::MAX,
            retention: 1,
        }),
    };
    let guard = weir_telemetry::log::init(&options).expect("the log subscriber");
    let measured = Telemetry::new().with_metrics(Arc::new(Metrics::new()));
    let logged = interleaved(&plan, &[&NullSink, &measured], rounds, &|| {});

    // The same, and spans sent to a collector. The exporter's work after a run ends is left
    // out of its time (it is flushed before the next run starts); what it does while the run
    // goes on, on the machine's other core, is in.
    let mut all = Telemetry::new().with_metrics(Arc::new(Metrics::new()));
    all.export_traces(weir_telemetry::trace::Options {
        url: collector(),
        headers: Vec::new(),
        timeout: Duration::from_secs(5),
        resource: vec![("service.name".to_owned(), "weir-overhead".to_owned())],
        sampler: weir_telemetry::trace::Sampler::AlwaysOn,
    })
    .expect("the span exporter");
    let traced = interleaved(&plan, &[&NullSink, &all], rounds, &|| all.flush(Duration::from_secs(5)));
    let dropped = all.dropped_spans();
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);

    let rows = [
        Row { name: "no exporter configured", base: none[0], with: none[1], target: 0.01 },
        Row { name: "logs and metrics on", base: logged[0], with: logged[1], target: 0.03 },
        Row { name: "logs, metrics and spans on", base: traced[0], with: traced[1], target: 0.03 },
    ];
    println!(
        "{:<40} {:>12} {:>12} {:>9} {:>7}",
        "telemetry, 1,000 pass steps (median)", "off", "on", "overhead", "target"
    );
    let per_step = |d: Duration| format!("{:.0} ns/step", d.as_nanos() as f64 / STEPS as f64);
    let mut missed = false;
    for row in &rows {
        let overhead = row.overhead();
        let ok = quick || overhead <= row.target;
        missed |= !ok;
        println!(
            "{:<40} {:>12} {:>12} {:>8.1}% {:>6.0}% {}",
            row.name,
            per_step(row.base),
            per_step(row.with),
            overhead * 100.0,
            row.target * 100.0,
            if ok { "" } else { "MISSED" }
        );
    }
    println!("spans dropped because the exporter fell behind: {dropped}");
    // A dropped span costs less than an exported one: the figure holds only with none.
    missed |= !quick && dropped > 0;
    if missed {
        std::process::exit(1);
    }
}
