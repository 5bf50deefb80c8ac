//! `weir graph`: draws a pipeline's steps and what connects them.

use crate::exit::EXIT_INVALID;
use crate::settings::Settings;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use weir_pipeline::graph;

/// Draw a pipeline as a Mermaid chart, a Graphviz DOT graph or an SVG picture
///
/// Each step is a box with its id and kind; an arrow goes from a step to each step that needs
/// it. Conditional steps (`if`) are marked, and a dotted or dashed arrow labelled "on error" goes
/// from a step to its error handler. SVG is laid out by weir itself: no Graphviz needed.
///
/// The format is `--format`, or else guessed from `--output`: `.svg` gives SVG, `.dot` or `.gv`
/// gives DOT, anything else (and stdout) Mermaid. Exit code 2 when the pipeline is invalid.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir graph score.yaml                      # Mermaid on stdout, for Markdown\n  weir graph score.yaml -o score.svg         # a picture, no Graphviz needed\n  weir graph score.yaml --format dot | dot -Tpng -o score.png"
)]
pub struct Args {
    /// The pipeline file (YAML or JSON).
    file: PathBuf,
    /// Output format. Default: from the extension of `--output`, else `mermaid`.
    #[arg(short, long, value_enum)]
    format: Option<Format>,
    /// Write to this file (replaced whole) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Mermaid,
    Dot,
    Svg,
}

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let registry = super::registry();
    let Some(plan) = crate::load::plan_to_show(&args.file, &registry, settings)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let text = match format(args.format, args.output.as_deref()) {
        Format::Mermaid => graph::mermaid(plan.pipeline()),
        Format::Dot => graph::dot(plan.pipeline()),
        Format::Svg => graph::svg(plan.pipeline()),
    };
    crate::output::write(args.output.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}

/// The format asked for, or the one the output file's extension names.
fn format(asked: Option<Format>, output: Option<&Path>) -> Format {
    let extension = output.and_then(Path::extension).and_then(|e| e.to_str());
    asked.unwrap_or(match extension.map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => Format::Svg,
        Some("dot" | "gv") => Format::Dot,
        _ => Format::Mermaid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_flag_then_the_extension() {
        let cases = [
            (None, None, Format::Mermaid),
            (None, Some("p.svg"), Format::Svg),
            (None, Some("out/P.SVG"), Format::Svg),
            (None, Some("p.dot"), Format::Dot),
            (None, Some("p.gv"), Format::Dot),
            (None, Some("p.md"), Format::Mermaid),
            (Some(Format::Dot), Some("p.svg"), Format::Dot),
            (Some(Format::Svg), None, Format::Svg),
        ];
        for (asked, output, expected) in cases {
            assert_eq!(format(asked, output.map(Path::new)), expected, "{asked:?} {output:?}");
        }
    }
}
