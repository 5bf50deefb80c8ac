//! `weir graph`: draws a pipeline's steps and what connects them.

use crate::exit::EXIT_INVALID;
use crate::settings::Settings;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use weir_pipeline::graph;

/// Draw a pipeline as a Mermaid chart, a Graphviz DOT graph or an SVG picture
///
/// Each step is a box with its id and kind; an arrow goes from a step to each step that needs
/// it. Conditional steps (`if`) are marked, and a dotted or dashed arrow labelled "on error" goes
/// from a step to its error handler. SVG is laid out by weir itself: no Graphviz needed.
///
/// The format is `--format`, or else follows the extension of `--output`: `.svg` SVG, `.dot` or
/// `.gv` DOT, `.mmd` or `.mermaid` Mermaid, `.md` or `.markdown` Mermaid in a fenced block for a
/// Markdown page. Any other extension (`.png`…) is refused rather than filled with text of
/// another format; render DOT with Graphviz for those. Stdout gets Mermaid.
///
/// Exit code 2 when the pipeline is invalid or the format cannot be told.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  weir graph score.yaml                      # Mermaid on stdout, for Markdown\n  weir graph score.yaml -o score.svg         # a picture, no Graphviz needed\n  weir graph score.yaml -o FLOW.md           # a Markdown page with the chart\n  weir graph score.yaml --format dot | dot -Tpng -o score.png"
)]
pub struct Args {
    /// The pipeline file (YAML or JSON).
    file: PathBuf,
    /// Output format. Default: from the extension of `--output` (.svg, .dot, .gv, .mmd,
    /// .mermaid, .md, .markdown), else `mermaid`.
    #[arg(short, long, value_enum)]
    format: Option<Format>,
    /// Write to this file (replaced whole) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Mermaid flowchart in a fenced ```mermaid block, ready for a Markdown page.
    Markdown,
    /// A Graphviz digraph.
    Dot,
    /// A picture laid out by weir.
    Svg,
}

/// The extensions `--output` can have without `--format`, and the format each gives.
const EXTENSIONS: [(&str, Format); 7] = [
    ("svg", Format::Svg),
    ("dot", Format::Dot),
    ("gv", Format::Dot),
    ("mmd", Format::Mermaid),
    ("mermaid", Format::Mermaid),
    ("md", Format::Markdown),
    ("markdown", Format::Markdown),
];

pub fn run(args: Args, settings: &Settings) -> Result<ExitCode> {
    let format = format(args.format, args.output.as_deref())?;
    let registry = super::registry();
    let Some(plan) = crate::load::plan_to_show(&args.file, &registry, settings)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let text = match format {
        Format::Mermaid => graph::mermaid(plan.pipeline()),
        Format::Markdown => format!("```mermaid\n{}```\n", graph::mermaid(plan.pipeline())),
        Format::Dot => graph::dot(plan.pipeline()),
        Format::Svg => graph::svg(plan.pipeline()),
    };
    crate::output::write(args.output.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}

/// The format asked for, or the one the output file's extension names.
fn format(asked: Option<Format>, output: Option<&Path>) -> Result<Format> {
    match (asked, output) {
        (Some(format), _) => Ok(format),
        (None, None) => Ok(Format::Mermaid),
        (None, Some(file)) => from_extension(file),
    }
}

/// The format a file's extension names. Any other extension is refused: text of another format
/// under that name would only fail later, in whatever opens it.
fn from_extension(file: &Path) -> Result<Format> {
    let extension = file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if let Some((_, format)) = EXTENSIONS.iter().find(|(e, _)| Some(*e) == extension.as_deref()) {
        return Ok(*format);
    }
    let known: Vec<String> = EXTENSIONS.iter().map(|(e, _)| format!(".{e}")).collect();
    bail!(
        "cannot tell which format to write to {}: weir graph writes {} files, or the format given with --format",
        file.display(),
        known.join(", ")
    )
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
            (None, Some("p.mmd"), Format::Mermaid),
            (None, Some("p.md"), Format::Markdown),
            (Some(Format::Dot), Some("p.svg"), Format::Dot),
            (Some(Format::Mermaid), Some("p.png"), Format::Mermaid),
            (Some(Format::Svg), None, Format::Svg),
        ];
        for (asked, output, expected) in cases {
            let got = format(asked, output.map(Path::new)).expect("a format");
            assert_eq!(got, expected, "{asked:?} {output:?}");
        }
    }

    #[test]
    fn an_extension_it_cannot_write_is_refused_with_the_ones_it_can() {
        for file in ["p.png", "p", "p.txt"] {
            let err = format(None, Some(Path::new(file))).expect_err(file).to_string();
            assert!(err.contains(&format!("cannot tell which format to write to {file}")), "{err}");
            assert!(err.contains(".svg, .dot, .gv, .mmd, .mermaid, .md, .markdown"), "{err}");
        }
    }
}
