//! How one scalar is written in YAML: plain when it reads back as the same value under the core
//! schema ([`resolve_plain`] is the judge), otherwise quoted, and multi-line strings as literal
//! block scalars. Single quotes are preferred over double quotes because jq expressions are full
//! of double quotes; double quotes are used only when a character needs an escape.

use crate::node::{NodeValue, resolve_plain};
use serde_json::Number;

/// Whether a scalar stands in block context or inside `[...]` / `{...}`, where `,[]{}` end it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Context {
    Block,
    Flow,
}

/// A string written on one line.
pub(super) fn string(s: &str, ctx: Context) -> String {
    if plain_string(s, ctx) { s.to_owned() } else { quoted(s) }
}

fn plain_string(s: &str, ctx: Context) -> bool {
    plain_syntax(s, ctx) && matches!(resolve_plain(s), Ok(NodeValue::String(..))) && !looks_numeric(s)
}

/// A mapping key. Keys are read back as text, so `200` or `true` may stay plain as long as the
/// value they resolve to prints as the same text (`1.50` would come back as `1.5`, so it is quoted).
pub(super) fn key(name: &str, ctx: Context) -> String {
    let reads_back = match resolve_plain(name) {
        Ok(NodeValue::String(..)) => !looks_numeric(name),
        Ok(NodeValue::Null) => name == "null",
        Ok(NodeValue::Bool(b)) => name == b.to_string(),
        Ok(NodeValue::Number(n)) => name == n.to_string(),
        _ => false,
    };
    if reads_back && plain_syntax(name, ctx) { name.to_owned() } else { quoted(name) }
}

/// Whether a reader that follows YAML 1.2's core schema to the letter would take `s` for a
/// number. weir's parser reads a few of these as strings (`1e5`, `-.Inf`); quoting them keeps
/// the file unambiguous for editors and other tools.
fn looks_numeric(s: &str) -> bool {
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty()),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// A number as it was written (`1.50` stays `1.50`, `0x1f` stays `0x1f`) when that text still
/// reads as this number; otherwise (an alias, whose span is `*name`) a canonical spelling.
pub(super) fn number(written: &str, n: &Number) -> String {
    match resolve_plain(written) {
        Ok(NodeValue::Number(m)) if m == *n => written.to_owned(),
        _ => canonical_number(n),
    }
}

/// Rust prints `1e300`, which the core schema reads as a string: it wants a `.` in floats.
fn canonical_number(n: &Number) -> String {
    let text = n.to_string();
    match text.find(['e', 'E']) {
        Some(at) if !text.contains('.') => format!("{}.0{}", &text[..at], &text[at..]),
        _ => text,
    }
}

/// A literal block scalar: its header (`|`, `|-`, with an indentation digit when the first line
/// starts with a space) and its lines, to be indented under the key or dash.
#[derive(Debug, PartialEq)]
pub(super) struct Literal<'s> {
    pub header: String,
    pub lines: Vec<&'s str>,
}

/// `s` as a literal block scalar, or `None` when it has no line break or a block scalar could
/// not give back exactly `s` (characters that need escapes, whitespace-only lines at either end,
/// several trailing line breaks), in which case it is written double-quoted.
pub(super) fn literal(s: &str) -> Option<Literal<'_>> {
    if !s.contains('\n') || s.ends_with("\n\n") || !s.chars().all(|c| matches!(c, '\n' | '\t') || inline(c)) {
        return None;
    }
    let (body, chomp) = match s.strip_suffix('\n') {
        Some(body) => (body, ""),
        None => (s, "-"),
    };
    let lines: Vec<&str> = body.split('\n').collect();
    let first = lines.iter().position(|l| !l.trim().is_empty())?;
    let last = lines.iter().rposition(|l| !l.trim().is_empty())?;
    // Blank lines before the first text decide nothing but must be empty; after the last text,
    // whitespace-only lines would be read as trailing blank lines and lose their spaces.
    if !lines[..first].iter().all(|l| l.is_empty()) || !lines[last + 1..].iter().all(|l| l.is_empty()) {
        return None;
    }
    // The indentation of the first text line is detected, so leading spaces need it stated.
    let indent = if lines[first].starts_with(' ') { "2" } else { "" };
    Some(Literal { header: format!("|{indent}{chomp}"), lines })
}

fn quoted(s: &str) -> String {
    if s.chars().all(inline) { format!("'{}'", s.replace('\'', "''")) } else { double_quoted(s) }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if inline(c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Whether a character may stand as itself in a plain or single-quoted scalar. Besides YAML's
/// non-printable characters this excludes tab, NEL and the Unicode line and paragraph
/// separators, which readers treat inconsistently and which are invisible in a terminal.
fn inline(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Whether `s` can be written without quotes as far as syntax goes: no indicator first, nothing
/// that would start a comment or a mapping value, no surrounding spaces.
fn plain_syntax(s: &str, ctx: Context) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    // `-x` is plain text; `- x` and `-` are a list item.
    let dash_text = first == '-' && s.chars().nth(1).is_some_and(|c| c != ' ');
    let indicator = "-?:,[]{}#&*!|>'\"%@`".contains(first) && !dash_text;
    s.chars().all(inline)
        && !indicator
        // Spaces would be lost; other white space (a no-break space) would be kept but invisible.
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s.starts_with("---")
        && !s.starts_with("...")
        && !s.contains(": ")
        && !s.ends_with(':')
        && !s.contains(" #")
        && (ctx == Context::Block || !s.contains([',', '[', ']', '{', '}']))
}
