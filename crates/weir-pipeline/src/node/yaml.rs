//! The YAML 1.2 reader: saphyr's event parser, folded into the spanned tree.
//!
//! Plain scalars are resolved with YAML 1.2's core schema, so `on`/`yes` stay strings and
//! `1.2.0` is a string while `1.2` is a number; numbers follow the rule of [`number`]. Around the
//! parser: characters YAML does not allow are refused before it runs, a double-quoted string
//! with a surrogate-pair escape (`"\uD83D\uDE80"`, as Python's `json.dump` writes) is read as the
//! one character it stands for, and an error in an escape points at the escape.

use super::number;
use super::{Entries, Key, MAX_DEPTH, Node, NodeValue, Parsed, Style};
use crate::code::Code;
use crate::diag::Diagnostic;
use crate::source::{Source, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

/// How many nodes aliases may expand to, so a few anchors cannot blow up into billions of nodes.
const MAX_ALIAS_NODES: usize = 100_000;
/// How many double-quoted strings with surrogate pairs are rewritten (each costs a parse of the
/// file up to it); past that, the file is refused rather than read in quadratic time.
const MAX_SURROGATE_STRINGS: usize = 64;

pub(super) fn parse(source: &Source) -> Result<Parsed, Vec<Diagnostic>> {
    if let Some(d) = unprintable(source) {
        return Err(vec![d]);
    }
    // The text the parser reads: the file, with the surrogate pairs of the strings saphyr
    // refused rewritten as one `\U` escape each.
    let mut text = source.clone();
    let mut edits = Edits::default();
    let mut rewrites = 0;
    loop {
        let (e, open) = match build(source, &text, &edits) {
            Ok(parsed) => return Ok(parsed),
            Err(Failure::Invalid(diagnostics)) => return Err(diagnostics),
            Err(Failure::Scan(e, open)) => (e, open),
        };
        let m = e.marker();
        let at = text.offset(m.line(), m.col());
        if e.info().starts_with("while parsing a quoted scalar") && text.text()[at..].starts_with('"') {
            match escapes(&text, at) {
                Escapes::Pairs(rewritten, ends) if rewrites < MAX_SURROGATE_STRINGS => {
                    rewrites += 1;
                    text = Source::new(source.name(), rewritten);
                    edits.ends.extend(ends);
                    continue;
                }
                Escapes::Pairs(..) => {
                    let message = format!(
                        "more than {MAX_SURROGATE_STRINGS} strings hold surrogate-pair escapes (`\\uD83D\\uDE80`)"
                    );
                    let d = Diagnostic::new(Code::Syntax, edits.span(Span::point(at)), message).with_hint(
                        "write the characters themselves (a pipeline file is UTF-8), or `\\U0001F680`",
                    );
                    return Err(vec![d]);
                }
                Escapes::Invalid(span, message) => {
                    return Err(vec![Diagnostic::new(Code::Syntax, edits.span(span), message)]);
                }
                Escapes::Fine => {}
            }
        }
        return Err(vec![scan_error(source, &e, edits.span(Span::point(at)).start, open)]);
    }
}

/// The diagnostic of the parser's error `e` at `at` (in the file), with `open` the start of the
/// innermost collection still open. saphyr reports some errors where it gave up rather than
/// where the mistake is; those are moved to the mistake and said in a user's words.
fn scan_error(source: &Source, e: &ScanError, at: usize, open: Option<usize>) -> Diagnostic {
    let text = source.text();
    let info = e.info();
    if info.contains("tab") {
        // saphyr notices a tab at the token before it; the tab is the mistake.
        if let Some(tab) = text[at..].find('\t').map(|i| at + i) {
            let line_start = text[..tab].rfind('\n').map_or(0, |i| i + 1);
            let indentation = text[line_start..tab].bytes().all(|b| b == b' ' || b == b'\t');
            let message = if indentation {
                "a tab is used for indentation"
            } else {
                "a tab where YAML does not allow one"
            };
            return Diagnostic::new(Code::Syntax, Span::new(tab, tab + 1), message)
                .with_hint("YAML indents with spaces only");
        }
    }
    let flow = open.and_then(|start| match text.as_bytes().get(start) {
        Some(b'{') => Some((start, "mapping", '}')),
        Some(b'[') => Some((start, "sequence", ']')),
        _ => None,
    });
    let indent = |line: u32| source.line_text(line).bytes().take_while(|&b| b == b' ').count();
    // A flow collection is unclosed when the file ends inside it, or when the parser gave up on
    // a later line that is back at (or left of) the collection's own indentation.
    let unclosed = |start: usize| {
        let (opened, stopped) = (source.line_col(start).line, source.line_col(at).line);
        text[at..].trim_start().is_empty() || (stopped > opened && indent(stopped) <= indent(opened))
    };
    if let Some((start, what, close)) = flow
        && info.starts_with("while parsing a flow")
        && unclosed(start)
    {
        let message = format!("unclosed flow {what}: this `{}` is never closed", &text[start..start + 1]);
        return Diagnostic::new(Code::Syntax, Span::new(start, start + 1), message)
            .with_hint(format!("close it with `{close}`"));
    }
    Diagnostic::new(Code::Syntax, Span::point(at), format!("invalid YAML: {info}"))
}

/// Why the parser stopped.
enum Failure {
    /// A syntax error, and where the innermost collection still open starts (in the file).
    Scan(ScanError, Option<usize>),
    Invalid(Vec<Diagnostic>),
}

/// Parses `text` (the file as the parser reads it) into the tree of `source` (the file).
fn build(source: &Source, text: &Source, edits: &Edits) -> Result<Parsed, Failure> {
    let mut builder = Builder {
        source,
        stack: Vec::new(),
        anchors: Vec::new(),
        alias_nodes: 0,
        errors: Vec::new(),
        root: None,
        docs: 0,
    };
    let mut parser = Parser::new_from_str(text.text());
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => {
                let span = edits.span(Span::new(
                    text.offset(span.start.line(), span.start.col()),
                    text.offset(span.end.line(), span.end.col()),
                ));
                if let Err(d) = builder.event(event, span) {
                    builder.errors.push(*d);
                    return Err(Failure::Invalid(builder.errors));
                }
            }
            Some(Err(e)) => return Err(Failure::Scan(e, builder.innermost())),
        }
    }
    match builder.root {
        Some(root) => Ok(Parsed { root, problems: builder.errors }),
        None => Err(Failure::Invalid(vec![super::empty()])),
    }
}

/// Where the parser's text was shortened: the end of every `\U` escape that replaced a surrogate
/// pair (two bytes shorter), in the parser's text, in order.
#[derive(Default)]
struct Edits {
    ends: Vec<usize>,
}

impl Edits {
    /// The file's span for a span of the parser's text.
    fn span(&self, span: Span) -> Span {
        let file = |at: usize| at + 2 * self.ends.partition_point(|&end| end <= at);
        Span::new(file(span.start), file(span.end))
    }
}

/// What the escapes of a double-quoted string say.
enum Escapes {
    /// The text with the string's surrogate pairs rewritten, and where each rewrite ends.
    Pairs(String, Vec<usize>),
    /// The first wrong escape, and what is wrong with it.
    Invalid(Span, String),
    /// Nothing this reader would change.
    Fine,
}

/// Reads the escapes of the double-quoted string whose opening quote is at `open`.
fn escapes(text: &Source, open: usize) -> Escapes {
    let bytes = text.text().as_bytes();
    let mut out = String::new();
    let mut ends = Vec::new();
    let (mut copied, mut i) = (0, open + 1);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => break,
            b'\\' => {
                let len = match bytes.get(i + 1) {
                    Some(b'0' | b'a' | b'b' | b't' | b'\t' | b'n' | b'v' | b'f' | b'r' | b'e' | b' ') => 2,
                    Some(b'"' | b'/' | b'\\' | b'N' | b'_' | b'L' | b'P' | b'\n' | b'\r') => 2,
                    Some(b'x') => hex_escape(bytes, i, 2),
                    Some(b'U') => hex_escape(bytes, i, 8),
                    Some(b'u') => match super::unicode_escape(bytes, i) {
                        Ok((c, 12)) => {
                            out.push_str(&text.text()[copied..i]);
                            out.push_str(&format!("\\U{:08X}", c as u32));
                            ends.push(out.len());
                            copied = i + 12;
                            12
                        }
                        Ok((_, len)) => len,
                        Err((span, message)) => return Escapes::Invalid(span, message),
                    },
                    _ => 0,
                };
                if len == 0 {
                    let shown = text.slice(Span::new(i, i + 2));
                    let message = format!(
                        "invalid escape `{shown}`; YAML's escapes are \\0 \\a \\b \\t \\n \\v \\f \\r \\e \\\" \\/ \\\\ \\N \\_ \\L \\P, \\xXX, \\uXXXX and \\UXXXXXXXX"
                    );
                    return Escapes::Invalid(Span::new(i, i + 2), message);
                }
                i += len;
            }
            _ => i += 1,
        }
    }
    if ends.is_empty() {
        return Escapes::Fine;
    }
    out.push_str(&text.text()[copied..]);
    // Where each rewrite ends in the new text: the offsets in `out` already account for the
    // rewrites before each one.
    Escapes::Pairs(out, ends)
}

/// The length of a `\x`/`\U` escape with `digits` hex digits at `at`, or 0 when it is not one
/// (too few digits, or a `\U` that is no Unicode scalar value).
fn hex_escape(bytes: &[u8], at: usize, digits: usize) -> usize {
    let Some(hex) = bytes.get(at + 2..at + 2 + digits) else { return 0 };
    let Some(code) = std::str::from_utf8(hex).ok().and_then(|h| u32::from_str_radix(h, 16).ok()) else {
        return 0;
    };
    if hex.iter().all(u8::is_ascii_hexdigit) && char::from_u32(code).is_some() { 2 + digits } else { 0 }
}

/// The first character YAML does not allow in a file (its `c-printable` set: tab, line
/// breaks, and the printable characters; no C0 or C1 control but NEL, no U+FFFE/U+FFFF).
fn unprintable(source: &Source) -> Option<Diagnostic> {
    let (at, c) = source.text().char_indices().find(|&(_, c)| {
        !matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })?;
    let code = c as u32;
    let what = if c.is_control() { "the control character" } else { "the noncharacter" };
    let message = format!("{what} U+{code:04X} is not allowed in a YAML file");
    let hint = if code <= 0xFF {
        format!("write it as an escape in a double-quoted string: \"\\x{code:02X}\"")
    } else {
        format!("write it as an escape in a double-quoted string: \"\\u{code:04X}\"")
    };
    Some(Diagnostic::new(Code::Syntax, Span::new(at, at + c.len_utf8()), message).with_hint(hint))
}

/// A mapping or sequence under construction.
enum Open {
    Seq { start: usize, anchor: usize, items: Vec<Node> },
    Map { start: usize, anchor: usize, entries: Entries, key: Option<Key> },
}

struct Builder<'s> {
    source: &'s Source,
    stack: Vec<Open>,
    /// Anchored nodes by anchor id (ids are small consecutive numbers).
    anchors: Vec<Option<Node>>,
    alias_nodes: usize,
    /// Errors that leave the tree readable (duplicate keys).
    errors: Vec<Diagnostic>,
    root: Option<Node>,
    docs: usize,
}

type Step = Result<(), Box<Diagnostic>>;

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: Span) -> Step {
        match event {
            Event::DocumentStart(_) => {
                self.docs += 1;
                if self.docs > 1 {
                    let message =
                        "the file holds more than one YAML document; a pipeline file holds exactly one";
                    return Err(Box::new(Diagnostic::new(Code::Syntax, span, message)));
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                self.scalar(&text, style, tag.as_deref(), anchor, span)
            }
            Event::SequenceStart(anchor, _) => {
                self.open(Open::Seq { start: span.start, anchor, items: Vec::new() }, span)
            }
            Event::MappingStart(anchor, _) => self
                .open(Open::Map { start: span.start, anchor, entries: Entries::default(), key: None }, span),
            Event::SequenceEnd | Event::MappingEnd => self.close(span),
            Event::Alias(id) => self.alias(id, span),
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&str>,
        anchor: usize,
        span: Span,
    ) -> Step {
        // The parser's scalar spans may run on over the blanks (and a comment) that follow; a
        // span must cover the scalar only.
        let kept = self.source.slice(span).trim_end_matches([' ', '\t', '\r', '\n']).len();
        let span = quoted_span(self.source.text(), Span::new(span.start, span.start + kept), style);
        let value = resolve_scalar(text, style, tag).map_err(|refused| {
            let d = Diagnostic::new(Code::Syntax, span, refused.message);
            Box::new(match refused.hint {
                Some(hint) => d.with_hint(hint),
                None => d,
            })
        })?;
        self.finish(Node { value, span }, anchor)
    }

    fn close(&mut self, span: Span) -> Step {
        let end = self.content_end(span);
        let (value, start, anchor) = match self.stack.pop() {
            Some(Open::Seq { start, anchor, items }) => (NodeValue::Seq(items), start, anchor),
            Some(Open::Map { start, anchor, entries, .. }) => {
                (NodeValue::Map(entries.into_vec()), start, anchor)
            }
            None => return Ok(()),
        };
        self.finish(Node { value, span: Span::new(start, end) }, anchor)
    }

    fn alias(&mut self, id: usize, span: Span) -> Step {
        let node = self
            .anchors
            .get(id)
            .cloned()
            .flatten()
            .ok_or_else(|| Box::new(Diagnostic::new(Code::Syntax, span, "alias to an unknown anchor")))?;
        self.alias_nodes += count_nodes(&node);
        if self.alias_nodes > MAX_ALIAS_NODES {
            let message = format!("aliases expand to more than {MAX_ALIAS_NODES} nodes");
            return Err(Box::new(Diagnostic::new(Code::Syntax, span, message)));
        }
        self.finish(Node { value: node.value, span }, 0)
    }

    /// End events of block collections carry an empty span where the next token starts, often
    /// lines later; end the collection at its last child instead so spans hug their text.
    fn content_end(&self, span: Span) -> usize {
        let last = match self.stack.last() {
            Some(Open::Seq { items, .. }) => items.last().map(|n| n.span.end),
            Some(Open::Map { entries, .. }) => entries.last_end(),
            None => None,
        };
        match last {
            Some(end) if span.start == span.end => end,
            _ => span.end.max(last.unwrap_or(0)),
        }
    }

    fn innermost(&self) -> Option<usize> {
        self.stack.last().map(|open| match open {
            Open::Seq { start, .. } | Open::Map { start, .. } => *start,
        })
    }

    fn open(&mut self, open: Open, span: Span) -> Step {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Box::new(Diagnostic::new(
                Code::Syntax,
                span,
                format!("the document nests deeper than {MAX_DEPTH} levels"),
            )));
        }
        self.stack.push(open);
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize) -> Step {
        if anchor > 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            self.anchors[anchor] = Some(node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, .. }) => match key.take() {
                Some(k) => {
                    if let Some(d) = entries.insert(self.source, k, node) {
                        self.errors.push(d);
                    }
                }
                None => {
                    let name = match node.value {
                        NodeValue::String(s, _) => s,
                        NodeValue::Null => "null".to_owned(),
                        NodeValue::Bool(b) => b.to_string(),
                        NodeValue::Number(n) => n.to_string(),
                        NodeValue::Seq(_) | NodeValue::Map(_) => {
                            return Err(Box::new(Diagnostic::new(
                                Code::Syntax,
                                node.span,
                                "mapping keys must be plain strings, not lists or mappings",
                            )));
                        }
                    };
                    *key = Some(Key { name, span: node.span });
                }
            },
        }
        Ok(())
    }
}

/// saphyr's span of a quoted scalar starts at its anchor or tag, and ends at the next token:
/// past the closing quote, the spaces and any comment after it. Cut it back to the quotes, so
/// carets point at the string and a comment after it is not mistaken for part of it.
fn quoted_span(text: &str, span: Span, style: ScalarStyle) -> Span {
    let quote = match style {
        ScalarStyle::SingleQuoted => b'\'',
        ScalarStyle::DoubleQuoted => b'"',
        _ => return span,
    };
    let bytes = &text.as_bytes()[..span.end.min(text.len())];
    let Some(open) = (span.start..bytes.len()).find(|&i| bytes[i] == quote) else {
        return span;
    };
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Span::new(open, i + 1),
            _ => i += 1,
        }
    }
    span
}

fn count_nodes(node: &Node) -> usize {
    let mut count = 0;
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        count += 1;
        match &n.value {
            NodeValue::Seq(items) => todo.extend(items),
            NodeValue::Map(entries) => todo.extend(entries.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    count
}

/// What a plain (unquoted) scalar with this text reads as; the formatter asks before it drops quotes.
pub(crate) fn resolve_plain(text: &str) -> Result<NodeValue, String> {
    resolve_scalar(text, ScalarStyle::Plain, None).map_err(|refused| refused.message)
}

/// Why a scalar has no value.
struct Refused {
    message: String,
    hint: Option<&'static str>,
}

impl Refused {
    fn number(message: String) -> Self {
        Self { message, hint: Some(number::HINT) }
    }
}

/// Resolves a scalar with YAML 1.2's core schema.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<NodeValue, Refused> {
    let style = match style {
        ScalarStyle::Plain => Style::Plain,
        ScalarStyle::SingleQuoted => Style::SingleQuoted,
        ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
        ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
    };
    match tag {
        None => {}
        Some("tag:yaml.org,2002:str" | "!!str") => return Ok(NodeValue::String(text.to_owned(), style)),
        Some(other) => {
            let message = format!("unsupported YAML tag `{other}`; pipeline files use plain values");
            return Err(Refused { message, hint: None });
        }
    }
    if style != Style::Plain {
        return Ok(NodeValue::String(text.to_owned(), style));
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => NodeValue::Null,
        "true" | "True" | "TRUE" => NodeValue::Bool(true),
        "false" | "False" | "FALSE" => NodeValue::Bool(false),
        _ => match core_number(text) {
            Some(Ok(n)) => NodeValue::Number(n),
            Some(Err(message)) => return Err(Refused::number(message)),
            None => NodeValue::String(text.to_owned(), Style::Plain),
        },
    })
}

/// The number a plain scalar is by the core schema's rules, or `None` when it is text. Every
/// spelling of a number follows [`number`]'s rule: `0xFFFFFFFFFFFFFFFF` is `u64::MAX` as
/// `18446744073709551615` is, and each of the core schema's spellings of infinity and NaN is
/// refused alike (JSON has neither).
fn core_number(text: &str) -> Option<Result<serde_json::Number, String>> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let negative = text.starts_with('-');
    let all = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.bytes().all(|b| f(&b));
    if let Some(hex) = text.strip_prefix("0x").filter(|h| all(h, u8::is_ascii_hexdigit)) {
        return Some(number::integer(text, hex, 16, false));
    }
    if let Some(oct) = text.strip_prefix("0o").filter(|o| all(o, |b| matches!(b, b'0'..=b'7'))) {
        return Some(number::integer(text, oct, 8, false));
    }
    if all(unsigned, u8::is_ascii_digit) {
        return Some(number::integer(text, unsigned, 10, negative));
    }
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(Err(format!("`{text}` has no JSON equivalent (JSON has no infinity or NaN)")));
    }
    // `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let valid_mantissa = match mantissa.split_once('.') {
        Some(("", frac)) => all(frac, u8::is_ascii_digit),
        Some((int, frac)) => all(int, u8::is_ascii_digit) && frac.bytes().all(|b| b.is_ascii_digit()),
        None => all(mantissa, u8::is_ascii_digit),
    };
    let valid_exponent =
        exponent.is_none_or(|e| all(e.strip_prefix(['-', '+']).unwrap_or(e), u8::is_ascii_digit));
    (valid_mantissa && valid_exponent).then(|| number::float(text))
}
