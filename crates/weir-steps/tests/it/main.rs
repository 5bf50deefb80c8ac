//! Step kinds and the engine together: virtual-time behaviour (retries, backoff, timeouts,
//! cancellation, concurrency), the `http` kind against a local server, what a build without
//! a feature's kinds says about them, the kinds' specs against their schemas, and nested work
//! (`foreach` items, sub-pipeline runs) with what each step sees, hostile expressions, and what
//! expressions say with `debug` and `stderr`, and what
//! the engine commits to a store when.

mod checkpoints;
mod engine;
mod errors;
mod features;
mod hostile;
#[cfg(feature = "http")]
mod http;
mod log;
mod nested;
mod specs;

use std::sync::Arc;
use weir_engine::{Clock, Collector, Engine, RunOptions, RunReport};
use weir_pipeline::{Bundle, Plan, Source};

/// Validates a pipeline written inline; panics with the diagnostics if it is invalid.
pub fn validated(name: &str, yaml: &str) -> Arc<Plan> {
    let loaded = weir_pipeline::load(Source::new(name, yaml), &weir_steps::builtin());
    let errors: Vec<String> =
        loaded.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    Arc::new(loaded.plan.unwrap_or_else(|| panic!("invalid test pipeline: {errors:?}")))
}

/// A pipeline written inline that runs no other file.
pub fn plan(yaml: &str) -> Bundle {
    Bundle::new(vec![validated("test.yaml", yaml)], &[]).expect("runs no other file")
}

pub fn engine(clock: Arc<dyn Clock>) -> Engine {
    Engine::new(Arc::new(weir_steps::builtin()), clock)
}

/// Runs a bundle on virtual time and returns the report and every event.
pub fn run_virtual(plan: &Bundle, opts: RunOptions) -> (RunReport, Vec<weir_engine::Event>) {
    let clock = weir_engine::ManualClock::new();
    let engine = engine(clock.clone());
    let sink = Collector::default();
    let report =
        clock.block_on(engine.run(plan, serde_json::json!({}), &opts, &sink)).expect("input is valid");
    (report, sink.events())
}
