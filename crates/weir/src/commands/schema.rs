//! `weir schema`: prints the pipeline format's JSON Schema.

use crate::settings::Settings;
use anyhow::Result;
use std::process::ExitCode;

/// Print the JSON Schema of the pipeline format (for editors and other tools)
///
/// The schema covers every built-in step kind's `with` block. Point your editor at it, e.g. with a
/// `# yaml-language-server: $schema=pipeline.schema.json` comment.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: Args, _: &Settings) -> Result<ExitCode> {
    let schema = weir_pipeline::schema::pipeline_schema(&*super::registry());
    outln!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
