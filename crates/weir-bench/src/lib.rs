//! weir's benchmark harness: what `weir bench` measures with and how it judges the figures. It
//! knows nothing of pipelines: the binary hands it an iteration to repeat (a run in this
//! process, a command, a request) and gets back a `weir_api::bench` report.
//!
//! The flow: `harness` repeats an iteration (warm-up, then a count or a duration, at a
//! concurrency) and collects samples; `stats` summarises them (HdrHistogram percentiles, the
//! median's bootstrap interval, outliers by modified z-score) and says what to distrust;
//! `compare` judges two sets of samples (ratio of medians, Mann-Whitney U, Holm, a three-state
//! verdict); `meter` reads energy and thermal state around the measurement; `report` writes the
//! result as a table, JSON, CSV, Bencher's format, Markdown or HTML with weir's own SVG plots.
//!
//! `load` (cargo feature `http`) is the load generator of `weir bench http`: requests at a fixed
//! rate or concurrency, with latency counted from when each request was due.

#[cfg(feature = "http")]
pub mod load;
