//! What the harness adds to each in-process iteration: claiming it, reading the clock before
//! and after, and keeping its sample. Measured on an iteration that does nothing, against the
//! same loop without the harness, in one run; the target is at most 1 µs per iteration.
//! `cargo bench -p weir-bench --bench harness`.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use weir_bench::harness::{Budget, Stop};

const ITERATIONS: u64 = 2_000_000;
const TARGET: Duration = Duration::from_micros(1);

fn main() -> ExitCode {
    let bare = median(|| {
        let began = Instant::now();
        let mut kept = Vec::with_capacity(ITERATIONS as usize);
        for i in 0..ITERATIONS {
            kept.push(black_box(i));
        }
        black_box(kept);
        began.elapsed()
    });
    let harnessed = median(|| {
        let began = Instant::now();
        let budget = Budget::new(Stop::Iterations(ITERATIONS));
        let mut kept = Vec::with_capacity(ITERATIONS as usize);
        while let Some(i) = budget.claim() {
            let start = Instant::now();
            black_box(i);
            kept.push(budget.sample(i, start, true));
        }
        black_box(kept);
        began.elapsed()
    });
    let per_iteration = harnessed.saturating_sub(bare) / ITERATIONS as u32;
    let ok = per_iteration <= TARGET;
    println!(
        "harness overhead per iteration: {per_iteration:?} (target ≤ {TARGET:?}) {}",
        if ok { "ok" } else { "MISSED" }
    );
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The median of 7 timings of `f`.
fn median(f: impl Fn() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..7).map(|_| f()).collect();
    times.sort();
    times[3]
}
