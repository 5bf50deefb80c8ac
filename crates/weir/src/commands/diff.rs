//! `weir diff`: compares two pipeline files by meaning (steps by id, values per path, graph
//! edges), not by text, and exits like diff(1).

use crate::exit::{EXIT_DIFFERENT, EXIT_INVALID};
use crate::settings::{Settings, Style, paint};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use weir_pipeline::diff::{Mark, PipelineDiff};

/// Show what changed between two pipelines: fields, steps, graph edges and tests
///
/// Steps are matched by id and tests by name, so reordering steps or reformatting the file is no
/// change. Each changed value is shown with its path (`with.url`, `retry.backoff.max`); a change
/// to `needs` or to an `on_error` handler also shows as edges of the step graph added or removed.
///
/// Lines start with `+` (added), `-` (removed) or `~` (changed). Both files are validated first.
/// Exit codes: 0 the pipelines are the same, 1 they differ, 2 a file is invalid.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir diff score.yaml score-v2.yaml\n  git show HEAD:score.yaml > /tmp/old.yaml && weir diff /tmp/old.yaml score.yaml\n  weir diff a.yaml b.json --json | jq '.steps[] | select(.change == \"changed\")'"
)]
pub struct Args {
    /// The pipeline before (YAML or JSON).
    before: PathBuf,
    /// The pipeline after (YAML or JSON).
    after: PathBuf,
    /// Print the differences as JSON on stdout:
    /// `{identical, fields, steps, edges, tests}`, each change tagged `added`, `removed` or `changed`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    // Both files are checked before giving up, so one run shows the problems of both.
    let before = crate::load::plan_to_show(&args.before, &registry, settings)?;
    let after = crate::load::plan_to_show(&args.after, &registry, settings)?;
    let (Some(before), Some(after)) = (before, after) else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let diff = weir_pipeline::diff::diff(before.pipeline(), after.pipeline());
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&diff.to_json())?);
    } else {
        print(&args, &diff, settings);
    }
    Ok(if diff.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DIFFERENT) })
}

fn print(args: &Args, diff: &PipelineDiff, settings: &Settings) {
    let color = settings.stdout_color;
    for line in diff.lines() {
        let style = mark_style(line.mark);
        let text = format!("{} {}", line.mark.symbol(), line.text);
        outln!("{}", paint(&text, style, color));
    }
    // Like diff(1), nothing on stdout when the files agree; a person at a terminal gets a word.
    if diff.is_empty() && settings.interactive() {
        eprintln!("{} and {} define the same pipeline", args.before.display(), args.after.display());
    }
}

/// How a line of a diff is painted: green added, red removed, yellow changed.
pub fn mark_style(mark: Mark) -> Style {
    match mark {
        Mark::Added => Style::Ok,
        Mark::Removed => Style::Error,
        Mark::Changed => Style::Warn,
    }
}
