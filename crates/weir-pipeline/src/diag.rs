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
            let end = source.line_col(span.end);
            let width = if end.line == lc.line { (end.col - lc.col).max(1) } else { 1 } as usize;
            let (shown, col) = window(line, lc.col as usize - 1);
            let _ = writeln!(out, "{pad} {blue}|{reset}");
            let _ = writeln!(out, "{blue}{}{reset} {blue}|{reset} {shown}", lc.line);
            let width = width.min(shown.chars().count().saturating_sub(col).max(1));
            let lead: String = shown.chars().take(col).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let _ = writeln!(out, "{pad} {blue}|{reset} {lead}{sev}{}{reset}", "^".repeat(width));
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

/// How many characters of a line a diagnostic shows; a longer line (a minified file is one) is
/// shown as this many around the column, cut with `…`.
const SHOWN_CHARS: usize = 120;

/// The part of `line` to show for column `col` (0-based, in characters), and the column in it.
fn window(line: &str, col: usize) -> (std::borrow::Cow<'_, str>, usize) {
    let len = line.chars().count();
    if len <= SHOWN_CHARS {
        return (line.into(), col);
    }
    let start = col.saturating_sub(SHOWN_CHARS / 2).min(len - SHOWN_CHARS);
    let end = start + SHOWN_CHARS;
    let mut shown: String = line.chars().skip(start).take(SHOWN_CHARS).collect();
    if end < len {
        shown.push('…');
    }
    if start == 0 {
        return (shown.into(), col);
    }
    (format!("…{shown}").into(), col - start + 1)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The source line and the caret line of a rendered diagnostic.
    fn shown(text: &str, span: Span) -> (String, String) {
        let source = Source::new("t.json", text);
        let out = render(&source, &Diagnostic::new(Code::Syntax, span, "x"), false);
        let lines: Vec<&str> = out.lines().collect();
        let cut = |l: &str| l.split_once("| ").map_or(String::new(), |(_, rest)| rest.to_owned());
        (cut(lines[3]), cut(lines[4]))
    }

    #[test]
    fn a_long_line_is_shown_as_a_window_around_the_column() {
        let mut text = "[1, ".repeat(2_000);
        let at = text.len();
        text.push_str("tru]");
        let (line, caret) = shown(&text, Span::new(at, at + 3));
        assert!(line.chars().count() <= SHOWN_CHARS + 2, "{} characters shown", line.chars().count());
        assert!(line.starts_with('…') && line.ends_with("tru]"), "{line}");
        let col = caret.find('^').unwrap();
        assert_eq!(&caret[col..], "^^^");
        assert_eq!(line.chars().skip(caret[..col].chars().count()).take(3).collect::<String>(), "tru");
    }

    #[test]
    fn a_short_line_is_shown_whole() {
        let (line, caret) = shown("{\"a\": tru}", Span::new(6, 9));
        assert_eq!(line, "{\"a\": tru}");
        assert_eq!(caret, "      ^^^");
    }
}
