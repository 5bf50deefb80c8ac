//! What weir's fuzz targets do with one input. `fuzz/` (a `cargo fuzz` project outside the
//! workspace) calls these functions with the bytes libFuzzer makes up; the test suite calls them
//! with every seed and every input a fuzz run ever found to crash (`fuzz/regressions/`), so CI
//! checks on the stable toolchain that none of them crashes again.
//!
//! Each function only returns or panics: a panic, an abort or a hang is a finding. Like the
//! binary's commands, they need a large stack (jq's parser and compiler recurse on nesting up to
//! weir's limits): the tests call them on a thread of [`STACK`] bytes, fuzzing runs with
//! `ulimit -s` raised to as much (docs/fuzzing.md).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use weir_engine::{Cancel, Engine, NullSink, RunOptions, SystemClock};
use weir_pipeline::{Bundle, PlanStep, Source};

/// The two targets, by the name of their corpus directory.
pub const TARGETS: &[&str] = &["validate", "run"];

/// How long one run of the `run` target may take before it is cancelled.
pub const RUN_LIMIT: Duration = Duration::from_millis(200);

/// The stack the functions need: the binary runs its commands on this much too.
pub const STACK: usize = 256 << 20;

fn registry() -> &'static weir_engine::Registry {
    static REGISTRY: OnceLock<weir_engine::Registry> = OnceLock::new();
    REGISTRY.get_or_init(weir_steps::builtin)
}

/// Parses and validates `data` as a pipeline file (YAML, or JSON when it starts with `{`: the name
/// ends in `.json` then, so the strict JSON reader reads it), and renders every diagnostic as
/// `weir validate` prints it.
pub fn validate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let name = if text.trim_start().starts_with('{') { "fuzz.json" } else { "fuzz.yaml" };
    let source = Source::new(name, text);
    let loaded = weir_pipeline::load(source.clone(), registry());
    for d in &loaded.diagnostics {
        let _ = weir_pipeline::diag::render(&source, d, false);
    }
}

/// Validates `data` (a pipeline file; after a NUL byte, the run's input as JSON) and, when it is
/// valid and every step is pure (`transform`, `pass`, `log`, `fail`, `sleep`, `foreach` over those), runs
/// it, cancelling it after [`RUN_LIMIT`]. A run that does not end soon after is a hang.
pub fn run(data: &[u8]) {
    let (pipeline, input) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"{}"[..]),
    };
    let (Ok(text), Ok(input)) = (std::str::from_utf8(pipeline), serde_json::from_slice(input)) else {
        return;
    };
    let loaded = weir_pipeline::load(Source::new("fuzz.yaml", text), registry());
    let Some(plan) = loaded.plan else { return };
    let pure = |s: &PlanStep| is_pure(s.kind()) && s.nested().is_none_or(|n| is_pure(n.kind()));
    if !plan.steps().iter().all(pure) || !plan.imports().is_empty() {
        return;
    }
    let Ok(bundle) = Bundle::new(vec![Arc::new(plan)], &[]) else { return };
    run_cancelled_after(&bundle, input, RUN_LIMIT);
}

fn is_pure(kind: &str) -> bool {
    matches!(kind, "transform" | "pass" | "log" | "fail" | "sleep" | "foreach")
}

/// Runs `bundle` on the system clock, cancelling the run once `limit` has passed.
fn run_cancelled_after(bundle: &Bundle, input: serde_json::Value, limit: Duration) {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime builds");
    let engine = Engine::new(Arc::new(weir_steps::builtin()), Arc::new(SystemClock::default()));
    let cancel = Cancel::new();
    let opts = RunOptions { cancel: cancel.clone(), ..RunOptions::default() };
    runtime.block_on(async {
        // Cancelling only sets the signal: the run still ends by itself, cancelled.
        let stop = async {
            tokio::time::sleep(limit).await;
            cancel.cancel();
            std::future::pending::<()>().await;
        };
        let run = engine.run(bundle, input, &opts, &NullSink);
        let _ = futures_util::future::select(std::pin::pin!(run), std::pin::pin!(stop)).await;
    });
}

/// The seed inputs of target `target`: every pipeline file under `examples/` and `tests/data/`,
/// then the inputs fuzzing found to crash (`fuzz/regressions/<target>/`), sorted.
pub fn seeds(root: &Path, target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["examples", "tests/data"] {
        collect(&root.join(dir), &mut files, &|p| {
            matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
        });
    }
    collect(&root.join("fuzz/regressions").join(target), &mut files, &|_| true);
    files.sort();
    files
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>, keep: &dyn Fn(&Path) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files, keep);
        } else if keep(&path) {
            files.push(path);
        }
    }
}
