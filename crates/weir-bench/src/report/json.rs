//! The report as pretty JSON, raw samples included, and the reader that takes it back: the
//! reader checks the schema version before anything else, because a newer report may mean
//! something else by the same fields.

use serde::Deserialize;
use std::io::Write;
use weir_api::bench::{BENCH_SCHEMA_VERSION, BenchReport};

pub(super) fn write(report: &BenchReport, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not JSON, or JSON of another shape; `path` names the field (`benchmarks[0].name`) when the
    /// JSON was well-formed.
    #[error("invalid bench report at line {line}, column {column}{}: {message}", at_path(.path))]
    Json { line: usize, column: usize, path: String, message: String },
    /// A report written by a newer weir.
    #[error(
        "the bench report is of schema version {found}, newer than version {supported}, the newest \
         this weir reads; read it with a newer weir"
    )]
    NewerVersion { found: u32, supported: u32 },
}

fn at_path(path: &str) -> String {
    if path.is_empty() || path == "." { String::new() } else { format!(" (at `{path}`)") }
}

/// Only the version, so that a newer report is refused for what it is rather than for the first
/// field whose shape changed.
#[derive(Deserialize)]
struct Version {
    schema_version: u32,
}

/// Reads a report written by [`super::Format::Json`] (or by `weir bench --json`).
pub fn read(bytes: &[u8]) -> Result<BenchReport, ReadError> {
    let version: Version = parse(bytes)?;
    if version.schema_version > BENCH_SCHEMA_VERSION {
        return Err(ReadError::NewerVersion {
            found: version.schema_version,
            supported: BENCH_SCHEMA_VERSION,
        });
    }
    parse(bytes)
}

fn parse<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, ReadError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(&e.into_inner(), path)
    })?;
    de.end().map_err(|e| json_error(&e, String::new()))?;
    Ok(value)
}

fn json_error(e: &serde_json::Error, path: String) -> ReadError {
    ReadError::Json { line: e.line(), column: e.column(), path, message: message(e) }
}

/// serde_json's message without its own ` at line L column C`, which the error says already.
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
