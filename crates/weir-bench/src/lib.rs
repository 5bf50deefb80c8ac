//! weir's benchmark harness: what `weir bench` measures with and how it judges the figures. It
//! knows nothing of pipelines: the binary hands it an iteration to repeat (a run in this
//! process, a command, a request) and gets back a `weir_api::bench` report.
//!
//! The flow: `harness` repeats an iteration (warm-up, then a count or a duration, at a
//! concurrency) and collects samples; `measure` turns them into a report's benchmark, through
//! `stats`, which summarises them (HdrHistogram percentiles, the median's bootstrap interval,
//! outliers by modified z-score) and says what to distrust; `compare` judges two sets of
//! samples (ratio of medians, Mann-Whitney U, Holm, a three-state verdict) and counters exactly;
//! `meter` reads energy and thermal state around the measurement; `resources` the CPU time and
//! peak memory, `alloc` counts allocations (the binary's global allocator) and `fingerprint`
//! names the machine and the build; `report` writes the result as a table, JSON, CSV, Bencher's
//! format, Markdown or HTML with weir's own SVG plots; `changepoint` finds where a series of
//! saved results shifts level (`weir bench history`).
//!
//! `load` (cargo feature `http`) is the load generator of `weir bench http`: requests at a fixed
//! rate or concurrency, with latency counted from when each request was due.
//!
//! The statistics are pure functions of samples and a seed: the same input gives the same report.

pub mod alloc;
mod bootstrap;
pub mod changepoint;
pub mod compare;
pub mod fingerprint;
pub mod harness;
#[cfg(feature = "http")]
pub mod load;
pub mod measure;
pub mod meter;
pub mod report;
pub mod resources;
pub mod stats;
