//! What the harness adds to each in-process iteration: claiming it, reading the clock before
//! and after, and keeping its sample. Measured on an iteration that does nothing, against the
//! same loop without the harness, in one run; the target is at most 1 µs per iteration.
//! `cargo bench -p weir-bench --bench harness`.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use weir_bench::harness::{Budget, Stop};

const TARGET: Duration = Duration::from_micros(1);

fn main() -> ExitCode {
    // `cargo test --benches` runs this without `--bench`: a quick pass that checks it runs,
    // with no target (timing belongs in benchmarks, not in tests).
    let quick = std::env::args().all(|a| a != "--bench");
    let iterations: u64 = if quick { 10_000 } else { 2_000_000 };
    let bare = median(|| {
        let began = Instant::now();
        let mut kept = Vec::with_capacity(iterations as usize);
        for i in 0..iterations {
            kept.push(black_box(i));
        }
        black_box(kept);
        began.elapsed()
    });
    let harnessed = median(|| {
        let began = Instant::now();
        let budget = Budget::new(Stop::Iterations(iterations));
        let mut kept = Vec::with_capacity(iterations as usize);
        while let Some(i) = budget.claim() {
            let start = Instant::now();
            black_box(i);
            kept.push(budget.sample(i, start, true));
        }
        black_box(kept);
        began.elapsed()
    });
    let per_iteration = harnessed.saturating_sub(bare) / iterations as u32;
    let ok = per_iteration <= TARGET;
    println!(
        "harness overhead per iteration: {per_iteration:?} (target ≤ {TARGET:?}) {}",
        if ok { "ok" } else { "MISSED" }
    );
    if ok || quick { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The median of 7 timings of `f`.
fn median(f: impl Fn() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..7).map(|_| f()).collect();
    times.sort();
    times[3]
}
