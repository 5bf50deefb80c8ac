//! What a measurement gives (`Measured`: the samples and what was counted around them), turned
//! into a report's `Benchmark` with its statistics and warnings. Energy, thermal events and
//! counters come from elsewhere and are added by the caller.

use crate::harness::{Sample, ms};
use crate::resources::Usage;
use crate::stats::{self, WarnContext};
use std::time::Duration;
use weir_api::bench::{Benchmark, Breakdown, Resources, Throughput, Warning};

/// One pipeline, command or URL, measured.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub name: String,
    pub warmup: u64,
    pub concurrency: u32,
    /// The measured iterations, in the order they were claimed.
    pub samples: Vec<Sample>,
    /// From the first measured iteration's start to the last one's end.
    pub wall: Duration,
    /// Other metrics: name, unit and samples (`step.<id>` in milliseconds).
    pub extra: Vec<(String, String, Vec<f64>)>,
    /// `foreach` items over all measured iterations, when the pipeline has any.
    pub items: Option<u64>,
    pub breakdown: Option<Breakdown>,
    /// CPU and memory of what ran the iterations, when profiled.
    pub usage: Option<Usage>,
    /// The 1-minute load average before and after, for the busy-machine warning.
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
}

/// `measured` as a report has it, its statistics drawn with `seed`.
pub fn benchmark(measured: Measured, cores: u32, seed: u64) -> Benchmark {
    let Measured { name, warmup, concurrency, samples, wall, extra, items, breakdown, usage, .. } = &measured;
    let latency = stats::metric(
        "latency",
        "ms",
        samples.iter().map(|s| ms(s.elapsed)).collect(),
        samples.iter().map(|s| s.at.as_secs_f64()).collect(),
        seed,
    );
    let context = WarnContext {
        wall_s: wall.as_secs_f64(),
        load_before: measured.load_before,
        load_after: measured.load_after,
        cores,
    };
    let mut warnings = stats::warnings(&latency, &context);
    let failures = samples.iter().filter(|s| !s.ok).count() as u64;
    if failures > 0 {
        warnings.push(Warning {
            code: "failures".into(),
            message: format!(
                "{failures} of {} iterations did not succeed; their times are measured like the others'",
                samples.len()
            ),
        });
    }
    let mut metrics = vec![latency];
    metrics.extend(
        extra.iter().map(|(name, unit, values)| stats::metric(name, unit, values.clone(), Vec::new(), seed)),
    );
    let per_s = |n: f64| if wall.is_zero() { 0.0 } else { n / wall.as_secs_f64() };
    Benchmark {
        name: name.clone(),
        iterations: samples.len() as u64,
        warmup: *warmup,
        concurrency: *concurrency,
        wall_s: wall.as_secs_f64(),
        failures,
        metrics,
        throughput: Throughput {
            per_s: per_s(samples.len() as f64),
            items_per_s: items.map(|n| per_s(n as f64)),
        },
        resources: usage.map(|u| Resources {
            cpu_user_s: u.user.as_secs_f64(),
            cpu_sys_s: u.sys.as_secs_f64(),
            peak_rss_bytes: u.max_rss_bytes,
        }),
        energy: None,
        thermal: Vec::new(),
        breakdown: breakdown.clone(),
        counters: Vec::new(),
        http: None,
        warnings,
    }
}

impl Measured {
    /// Adds the iterations of `block`, which started `offset` after the first block: what an
    /// interleaved measurement (`weir bench ab`) collects slot by slot.
    pub fn append(&mut self, block: Measured, offset: Duration) {
        let before = self.samples.len() as u64;
        let weight = |n: usize| n as f64;
        if let Some(split) = block.breakdown {
            let (old, new) = (weight(self.samples.len()), weight(block.samples.len()));
            let total = (old + new).max(1.0);
            let mine = self.breakdown.get_or_insert_with(Breakdown::default);
            let mix = |a: f64, b: f64| (a * old + b * new) / total;
            mine.queue_wait_ms = mix(mine.queue_wait_ms, split.queue_wait_ms);
            mine.execution_ms = mix(mine.execution_ms, split.execution_ms);
            mine.transition_ms = mix(mine.transition_ms, split.transition_ms);
        }
        self.samples.extend(block.samples.into_iter().map(|mut s| {
            s.index += before;
            s.at += offset;
            s
        }));
        for (name, unit, values) in block.extra {
            match self.extra.iter_mut().find(|(n, _, _)| *n == name) {
                Some((_, _, mine)) => mine.extend(values),
                None => self.extra.push((name, unit, values)),
            }
        }
        self.wall += block.wall;
        self.items = match (self.items, block.items) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.usage = match (self.usage, block.usage) {
            (Some(a), Some(b)) => Some(Usage {
                user: a.user + b.user,
                sys: a.sys + b.sys,
                max_rss_bytes: a.max_rss_bytes.max(b.max_rss_bytes),
            }),
            (a, b) => a.or(b),
        };
        self.load_before = self.load_before.or(block.load_before);
        self.load_after = block.load_after.or(self.load_after);
    }
}
