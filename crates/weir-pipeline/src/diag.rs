//! Diagnostics: what is wrong, where, and how to fix it; rendered for people or as JSON.

use crate::code::Code;
use crate::source::{Source, Span};
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem found in a pipeline file.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    /// How to fix it, e.g. `did you mean "fetch"?`.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, span: impl Into<Option<Span>>, message: impl Into<String>) -> Self {
        Self { code, severity: code.severity(), message: message.into(), span: span.into(), hint: None }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Diagnostics collected during one pass over a file.
#[derive(Debug, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn error(&mut self, code: Code, span: impl Into<Option<Span>>, message: impl Into<String>) {
        self.push(Diagnostic::new(code, span, message));
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn into_vec(mut self) -> Vec<Diagnostic> {
        // Report in file order, so a reader can walk the file top to bottom.
        self.0.sort_by_key(|d| d.span.map_or(usize::MAX, |s| s.start));
        self.0
    }
}

/// Renders a diagnostic the way compilers do: header, location, the source line with a caret, hint.
pub fn render(source: &Source, d: &Diagnostic, color: bool) -> String {
    let (red, yellow, blue, bold, reset) = if color {
        ("\x1b[1;31m", "\x1b[1;33m", "\x1b[1;34m", "\x1b[1m", "\x1b[0m")
    } else {
        ("", "", "", "", "")
    };
    let sev = if d.is_error() { red } else { yellow };
    let mut out = String::new();
    let _ =
        writeln!(out, "{sev}{}[{}]{reset}{bold}: {}{reset}", d.severity.as_str(), d.code.as_str(), d.message);
    match d.span {
        Some(span) => {
            let lc = source.line_col(span.start);
            let gutter = lc.line.to_string().len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad}{blue}-->{reset} {}:{}:{}", source.name(), lc.line, lc.col);
            let line = source.line_text(lc.line);
            let _ = writeln!(out, "{pad} {blue}|{reset}");
            let _ = writeln!(out, "{blue}{}{reset} {blue}|{reset} {line}", lc.line);
            let end = source.line_col(span.end);
            let width = if end.line == lc.line { (end.col - lc.col).max(1) } else { 1 };
            let lead: String =
                line.chars().take(lc.col as usize - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let _ = writeln!(out, "{pad} {blue}|{reset} {lead}{sev}{}{reset}", "^".repeat(width as usize));
        }
        None => {
            let _ = writeln!(out, " {blue}-->{reset} {}", source.name());
        }
    }
    if let Some(hint) = &d.hint {
        let _ = writeln!(out, "  {blue}= help:{reset} {hint}");
    }
    out
}

/// A diagnostic as a JSON object, for `--json` output.
pub fn to_json(source: &Source, d: &Diagnostic) -> serde_json::Value {
    let (line, col) = d.span.map_or((None, None), |s| {
        let lc = source.line_col(s.start);
        (Some(lc.line), Some(lc.col))
    });
    serde_json::json!({
        "file": source.name(),
        "line": line,
        "col": col,
        "severity": d.severity.as_str(),
        "code": d.code.as_str(),
        "message": d.message,
        "hint": d.hint,
    })
}
