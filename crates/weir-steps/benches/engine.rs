//! In-process engine benchmarks (`cargo bench -p weir-steps --bench engine`), with the targets
//! they must meet. Each figure is the median of many runs; the process exits non-zero when a
//! target is missed, so `cargo xtask bench` can gate on it.

use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_engine::{Engine, NullSink, RunOptions, SystemClock};
use weir_pipeline::{Bundle, Source};

fn plan(text: &str) -> Bundle {
    let loaded = weir_pipeline::load(Source::new("bench.yaml", text), &weir_steps::builtin());
    Bundle::single(loaded.plan.expect("valid benchmark pipeline")).expect("runs no other file")
}

fn chain(n: usize, step: impl Fn(usize) -> String) -> String {
    let mut text = String::from("name: bench\nsteps:\n");
    for i in 0..n {
        text.push_str(&step(i));
    }
    text
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs `plan` `runs` times on a current-thread runtime; returns the median run time.
fn time_runs(plan: &Bundle, runs: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
    let opts = RunOptions::default();
    let samples = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let report =
                runtime.block_on(engine.run(plan, serde_json::json!({}), &opts, &NullSink)).expect("input");
            assert_eq!(report.status, weir_pipeline::Status::Succeeded);
            start.elapsed()
        })
        .collect();
    median(samples)
}

struct Row {
    name: &'static str,
    value: Duration,
    unit_divisor: u32,
    target: Duration,
}

#[allow(clippy::disallowed_methods)] // A benchmark binary reports a missed target by its exit code.
fn main() {
    // `cargo test --benches` passes `--bench`-less args; keep it quick then.
    let quick = std::env::args().all(|a| a != "--bench");
    let runs = if quick { 1 } else { 200 };
    let pass_chain = plan(&chain(1000, |i| match i {
        0 => "  - { id: s0, uses: pass }\n".to_owned(),
        _ => format!("  - {{ id: s{i}, uses: pass, needs: [s{}] }}\n", i - 1),
    }));
    let transform_chain = plan(&chain(1000, |i| match i {
        0 => "  - { id: s0, uses: pass, with: { value: 0 } }\n".to_owned(),
        _ => format!(
            "  - {{ id: s{i}, uses: transform, needs: [s{p}], with: {{ expr: '.steps.s{p}.output + 1' }} }}\n",
            p = i - 1
        ),
    }));
    let sleeps = plan(&format!(
        "{}output: '1'\n",
        chain(100, |i| format!("  - {{ id: s{i}, uses: sleep, with: {{ duration: 10ms }} }}\n"))
    ));
    let validate_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/regression-1000-step-chain/pipeline.yaml"
    ))
    .expect("the 1,000-step conformance case");
    let validate = median(
        (0..runs.min(50))
            .map(|_| {
                let start = Instant::now();
                let loaded = weir_pipeline::load(
                    Source::new("chain.yaml", validate_text.as_str()),
                    &weir_steps::builtin(),
                );
                assert!(loaded.plan.is_some());
                start.elapsed()
            })
            .collect(),
    );
    let rows = [
        Row {
            name: "engine overhead per step, 1,000-step chain of pass",
            value: time_runs(&pass_chain, runs),
            unit_divisor: 1000,
            target: Duration::from_micros(2),
        },
        Row {
            name: "per step, 1,000-step chain of transform (jq each step)",
            value: time_runs(&transform_chain, runs),
            unit_divisor: 1000,
            target: Duration::from_micros(20),
        },
        Row {
            name: "100 parallel `sleep 10ms` steps, whole run",
            value: time_runs(&sleeps, runs.min(50)),
            unit_divisor: 1,
            target: Duration::from_millis(20),
        },
        Row {
            name: "validate a 1,000-step pipeline, in process",
            value: validate,
            unit_divisor: 1,
            target: Duration::from_millis(100),
        },
    ];
    if quick {
        // A smoke run in a test build times nothing worth comparing with the targets.
        println!("smoke run (`cargo test`): every benchmark ran once; `cargo bench` measures them");
        return;
    }
    let mut missed = 0;
    println!("{:<58} {:>12} {:>10}", "benchmark (median)", "measured", "target");
    for row in &rows {
        let value = row.value / row.unit_divisor;
        let ok = value <= row.target;
        missed += usize::from(!ok);
        println!(
            "{:<58} {:>12} {:>10} {}",
            row.name,
            format!("{value:.2?}"),
            format!("{:?}", row.target),
            if ok { "ok" } else { "MISSED" }
        );
    }
    if missed > 0 {
        std::process::exit(1);
    }
}
