//! `weir docs`: writes a pipeline's reference page.

use crate::exit::EXIT_INVALID;
use crate::settings::Settings;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a Markdown page about a pipeline: input, steps, graph, output and tests
///
/// The page is built from the file alone: the description, a table of the input schema's
/// fields, a table of the steps, a Mermaid chart of the graph (rendered by GitHub, GitLab and
/// most Markdown viewers), the output expression and the names of the test cases.
/// Exit code 2 when the pipeline is invalid.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir docs score.yaml\n  weir docs score.yaml -o docs/score.md\n  for f in pipelines/*.yaml; do weir docs \"$f\" -o \"docs/$(basename \"$f\" .yaml).md\"; done"
)]
pub struct Args {
    /// The pipeline file (YAML or JSON).
    file: PathBuf,
    /// Write to this file (replaced whole) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    let Some(plan) = crate::load::plan_to_show(&args.file, &registry, settings)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let page = weir_pipeline::docs::markdown(plan.pipeline());
    crate::output::write(args.output.as_deref(), &page)?;
    Ok(ExitCode::SUCCESS)
}
