//! Repeating an iteration: warm-up first, then a count or a duration of measured iterations,
//! claimed by as many concurrent workers as the plan says. What an iteration is (a run in this
//! process, a process, a request) is the caller's; the harness only hands out indices and keeps
//! the times, at a cost of an atomic add and two clock reads per iteration
//! (`benches/harness.rs` measures it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When the measured iterations end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this many.
    Iterations(u64),
    /// When no iteration has started for this long since the first: an iteration that started
    /// before the deadline still counts.
    Duration(Duration),
}

/// What to run, and how much of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Iterations run first and not measured (caches, connections, the allocator's pools).
    pub warmup: u64,
    pub stop: Stop,
    /// Iterations in flight at once.
    pub concurrency: u32,
}

/// The iterations still to run, shared by the workers that run them concurrently: each worker
/// claims the next index until the plan says stop.
#[derive(Debug)]
pub struct Budget {
    stop: Stop,
    /// The next index to hand out; past the end once the plan is done.
    claimed: AtomicU64,
    start: Instant,
}

impl Budget {
    /// Measured iterations from now on.
    pub fn new(stop: Stop) -> Budget {
        Budget { stop, claimed: AtomicU64::new(0), start: Instant::now() }
    }

    /// The index of the next iteration to run, or `None` when the plan is done.
    pub fn claim(&self) -> Option<u64> {
        match self.stop {
            Stop::Iterations(n) => {
                // Relaxed: the counter hands out indices and orders nothing else.
                let i = self.claimed.fetch_add(1, Ordering::Relaxed);
                (i < n).then_some(i)
            }
            Stop::Duration(d) if self.start.elapsed() >= d => None,
            Stop::Duration(_) => Some(self.claimed.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// How far the measurement is, from 0 to 1, for a progress bar.
    pub fn progress(&self) -> f64 {
        let fraction = match self.stop {
            Stop::Iterations(0) => 1.0,
            Stop::Iterations(n) => self.claimed.load(Ordering::Relaxed) as f64 / n as f64,
            Stop::Duration(d) => self.start.elapsed().as_secs_f64() / d.as_secs_f64().max(1e-9),
        };
        fraction.min(1.0)
    }

    /// When the measurement started: what samples' `at` counts from.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Times one iteration `index` that began at `began`, from now.
    pub fn sample(&self, index: u64, began: Instant, ok: bool) -> Sample {
        let elapsed = began.elapsed();
        Sample { index, at: began.saturating_duration_since(self.start), elapsed, ok }
    }
}

/// One measured iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub index: u64,
    /// When it began, from the start of the measurement.
    pub at: Duration,
    pub elapsed: Duration,
    /// Whether it succeeded (a run that succeeded, a command that exited 0).
    pub ok: bool,
}

/// The samples of every worker, in the order the iterations were claimed.
pub fn merge(mut parts: Vec<Vec<Sample>>) -> Vec<Sample> {
    let mut all: Vec<Sample> = parts.drain(..).flatten().collect();
    all.sort_unstable_by_key(|s| s.index);
    all
}

/// Milliseconds, the unit of every latency metric.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_hands_out_each_index_once_across_workers() {
        let budget = Budget::new(Stop::Iterations(1000));
        let parts: Vec<Vec<u64>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| std::iter::from_fn(|| budget.claim()).collect::<Vec<_>>()))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
        });
        let mut all: Vec<u64> = parts.into_iter().flatten().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(budget.progress(), 1.0);
    }

    #[test]
    fn a_duration_stops_handing_out_once_it_passed() {
        let budget = Budget::new(Stop::Duration(Duration::from_millis(20)));
        assert_eq!(budget.claim(), Some(0));
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(budget.claim(), None);
        assert_eq!(budget.progress(), 1.0);
    }

    #[test]
    fn merged_samples_are_in_claim_order() {
        let at = |index| Sample { index, at: Duration::ZERO, elapsed: Duration::ZERO, ok: true };
        let merged = merge(vec![vec![at(1), at(3)], vec![at(0), at(2)]]);
        assert_eq!(merged.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
    }
}
