//! `cargo xtask`: project automation in Rust instead of scripts.
//!
//! - `cargo xtask codegen [--check]` writes the generated files (pipeline JSON Schema,
//!   diagnostics reference); with `--check` it fails if any committed copy is stale.
//! - `cargo xtask bench` runs the benchmarks and fails when one misses its target.

mod bench;
mod codegen;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => codegen::run(args.iter().any(|a| a == "--check")),
        Some("bench") => bench::run(&codegen::root()),
        _ => {
            eprintln!("usage: cargo xtask codegen [--check] | cargo xtask bench");
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
