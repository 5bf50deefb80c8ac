//! `cargo xtask`: project automation in Rust instead of scripts.
//!
//! - `cargo xtask codegen [--check]` writes the generated files (pipeline and bench report JSON
//!   Schemas, diagnostics reference); with `--check` it fails if any committed copy is stale.
//! - `cargo xtask bench` runs the benchmarks and fails when one misses its target.
//! - `cargo xtask bench-quality` measures `weir bench` itself: A/A false positives and the
//!   detection of a calibrated 5% slowdown.
//! - `cargo xtask fuzz-seed` fills `fuzz/corpus/<target>/` with the fuzz targets' seeds.
//! - `cargo xtask jq-conformance [--verbose]` runs jq 1.7.1's test file against weir's jq.

mod bench;
mod bench_quality;
mod codegen;
mod fuzz;
mod jq;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => codegen::run(args.iter().any(|a| a == "--check")),
        Some("bench") => bench::run(&codegen::root()),
        Some("bench-quality") => bench_quality::run(&codegen::root()),
        Some("fuzz-seed") => fuzz::seed(&codegen::root()),
        Some("jq-conformance") => jq::run(&codegen::root(), args.iter().any(|a| a == "--verbose")),
        _ => {
            eprintln!(
                "usage: cargo xtask codegen [--check] | cargo xtask bench | cargo xtask bench-quality | cargo xtask fuzz-seed | cargo xtask jq-conformance [--verbose]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
