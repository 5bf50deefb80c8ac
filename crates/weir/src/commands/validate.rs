//! `weir validate`: checks pipeline files and reports every problem at once.

use crate::exit::EXIT_INVALID;
use crate::load::{self, Checked};
use crate::settings::{Settings, Style, paint};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Check pipeline files and report every problem, each with file:line:col, a code and a fix hint
///
/// Directories are searched for `.yaml`, `.yml` and `.json` files; one without any is an error.
/// Files that a pipeline runs (`pipeline` steps, `foreach` with `pipeline:`) are checked too. A
/// file that cannot be read is an error (E0121) and the other files are still checked.
/// Exit code 2 when anything is wrong.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir validate pipeline.yaml\n  weir validate --strict examples/\n  weir validate --json p.yaml | jq '.files[].diagnostics'"
)]
pub struct Args {
    /// Pipeline files or directories.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    strict: bool,
    /// Print the result as JSON on stdout: `{files: [{file, valid, diagnostics}], errors, warnings}`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    let mut checked: Vec<Checked> = Vec::new();
    for file in load::expand(&args.files)? {
        // An unreadable file is one more problem to report, not a reason to stop checking.
        let tree = load::check_tree(&file, &registry).unwrap_or_else(|e| vec![load::unreadable(&file, &e)]);
        for c in tree {
            if !checked.iter().any(|k| k.source.name() == c.source.name()) {
                checked.push(c);
            }
        }
    }
    let errors: usize = checked.iter().map(|c| c.errors(args.strict)).sum();
    let warnings: usize = checked.iter().map(Checked::warnings).sum();
    if args.json {
        let files = checked
            .iter()
            .map(|c| weir_api::FileReport {
                file: c.source.name().to_owned(),
                valid: c.errors(args.strict) == 0,
                diagnostics: c
                    .diagnostics
                    .iter()
                    .map(|d| weir_api::DiagnosticDoc::new(&c.source, d))
                    .collect(),
            })
            .collect();
        let report = weir_api::ValidateReport { files, errors, warnings };
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        load::report(&checked, args.strict, settings);
        if !settings.quiet {
            eprintln!("{}", summary(checked.len(), errors, warnings, settings.stderr_color));
        }
    }
    Ok(if errors > 0 { ExitCode::from(EXIT_INVALID) } else { ExitCode::SUCCESS })
}

/// The last line of a check: how many files, errors and warnings.
fn summary(files: usize, errors: usize, warnings: usize, color: bool) -> String {
    let text = format!(
        "{files} file{} checked: {errors} error{}, {warnings} warning{}",
        plural(files),
        plural(errors),
        plural(warnings)
    );
    paint(&text, if errors > 0 { Style::Error } else { Style::Ok }, color)
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
