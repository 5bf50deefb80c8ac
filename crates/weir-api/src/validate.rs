//! `weir validate --json`: every diagnostic of every file checked.

use serde::{Deserialize, Serialize};
use weir_pipeline::{Diagnostic, Source};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidateReport {
    pub files: Vec<FileReport>,
    /// Diagnostics that count as errors (warnings too, with `--strict`).
    pub errors: usize,
    pub warnings: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    pub file: String,
    pub valid: bool,
    pub diagnostics: Vec<DiagnosticDoc>,
}

/// One problem, where it is (1-based line and column, in characters), and how to fix it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticDoc {
    pub file: String,
    pub line: Option<u32>,
    pub col: Option<u32>,
    /// Where the text the problem is about ends: the line and column just after its last
    /// character, so an editor can underline `line:col` up to `end_line:end_col`.
    pub end_line: Option<u32>,
    pub end_col: Option<u32>,
    /// `error` or `warning`.
    pub severity: String,
    /// A stable code such as `E0102` (see docs/diagnostics.md).
    pub code: String,
    pub message: String,
    pub hint: Option<String>,
}

impl DiagnosticDoc {
    pub fn new(source: &Source, d: &Diagnostic) -> Self {
        let at = d.span.map(|s| source.line_col(s.start));
        let end = d.span.map(|s| source.line_col(s.end));
        DiagnosticDoc {
            file: source.name().to_owned(),
            line: at.map(|lc| lc.line),
            col: at.map(|lc| lc.col),
            end_line: end.map(|lc| lc.line),
            end_col: end.map(|lc| lc.col),
            severity: d.severity.as_str().to_owned(),
            code: d.code.as_str().to_owned(),
            message: d.message.clone(),
            hint: d.hint.clone(),
        }
    }
}
