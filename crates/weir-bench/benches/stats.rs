//! What the statistics cost at the sizes `weir bench` reaches: the summary of 100,000 samples
//! and the comparison of two sets of 10,000, each timed over a few repetitions (best shown).

use std::time::{Duration, Instant};
use weir_api::bench::{Benchmark, Throughput};
use weir_bench::{compare, stats};

const REPETITIONS: u32 = 5;

/// Latency-like samples: 10 ms plus an exponential tail.
fn samples(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n).map(|_| 10.0 - (1.0 - rng.f64()).ln()).collect()
}

fn benchmark(name: &str, samples: Vec<f64>) -> Benchmark {
    Benchmark {
        name: name.to_owned(),
        iterations: samples.len() as u64,
        warmup: 0,
        concurrency: 1,
        wall_s: 1.0,
        failures: 0,
        metrics: vec![stats::metric("latency", "ms", samples, Vec::new(), 0)],
        throughput: Throughput::default(),
        resources: None,
        energy: None,
        thermal: Vec::new(),
        breakdown: None,
        counters: Vec::new(),
        http: None,
        warnings: Vec::new(),
    }
}

/// The fastest of [`REPETITIONS`] runs of `f`.
fn best<T>(mut f: impl FnMut() -> T) -> Duration {
    (0..REPETITIONS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let many = samples(100_000, 1);
    let summary = best(|| stats::summarize(&many, 7));
    println!("summarize, 100,000 samples: {:.1} ms", summary.as_secs_f64() * 1e3);

    let (base, new) = (benchmark("base", samples(10_000, 2)), benchmark("new", samples(10_000, 3)));
    let comparison = best(|| compare::compare(&base, &new, compare::DEFAULT_THRESHOLD, 7));
    println!("compare, 10,000 against 10,000 samples: {:.1} ms", comparison.as_secs_f64() * 1e3);
}
