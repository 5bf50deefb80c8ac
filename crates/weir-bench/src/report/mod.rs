//! The exporters of a [`BenchReport`]: one file per format, all behind [`write`]. Each exporter
//! reads the document alone (no clock, no machine), so the same report always renders the same
//! bytes, which is what makes their snapshots and the committed screenshot meaningful.

mod bmf;
mod csv;
mod html;
mod json;
mod markdown;
mod svg;
mod table;
mod units;

pub use csv::write_samples_csv;
pub use json::{ReadError, read};
pub use table::TableOptions;
pub use units::timestamp;

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use weir_api::bench::BenchReport;

/// The formats of `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The console table (no colour; see [`write_table`] for colour and width).
    Table,
    /// The document itself, raw samples included: what `weir bench compare` reads back.
    Json,
    /// One row per benchmark and metric with its summary (raw samples: [`write_samples_csv`]).
    Csv,
    /// The Bencher Metric Format, for `bencher run --adapter json`.
    Bmf,
    /// GitHub-flavoured Markdown tables, for a pull request comment.
    Markdown,
    /// One self-contained page with inline SVG plots.
    Html,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 6] =
        [Format::Table, Format::Json, Format::Csv, Format::Bmf, Format::Markdown, Format::Html];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Bmf => "bmf",
            Format::Markdown => "markdown",
            Format::Html => "html",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--format` value that names no format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format `{found}`: expected one of table, json, csv, bmf, markdown, html")]
pub struct UnknownFormat {
    pub found: String,
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat { found: s.to_string() })
    }
}

/// Writes `report` in `format`; the table is written without colour at its default width.
pub fn write(format: Format, report: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Table => table::write(report, &TableOptions::default(), out),
        Format::Json => json::write(report, out),
        Format::Csv => csv::write(report, out),
        Format::Bmf => bmf::write(report, out),
        Format::Markdown => markdown::write(report, out),
        Format::Html => html::write(report, out),
    }
}

/// Writes the console table with the given colour and width, for a terminal.
pub fn write_table(report: &BenchReport, options: &TableOptions, out: &mut dyn Write) -> std::io::Result<()> {
    table::write(report, options, out)
}
