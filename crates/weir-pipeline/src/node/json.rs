//! A strict RFC 8259 reader: what JSON allows and nothing else, into the same spanned tree the
//! YAML reader builds. Every error points at the character that makes the text not JSON.
//!
//! RFC 8259 leaves three things to implementations; weir's choices: a byte order mark at the
//! start is skipped (§8.1 allows it); a key twice in one object is an error (§4 says keys
//! *should* be unique, and what a reader does with two differs between readers); numbers follow
//! the rule of [`number`] (§6 lets a reader limit range and precision).

use super::number;
use super::{Entries, Key, MAX_DEPTH, Node, NodeValue, Parsed, Style};
use crate::code::Code;
use crate::diag::Diagnostic;
use crate::source::{Source, Span};
use crate::suggest::did_you_mean;

pub(super) fn parse(source: &Source) -> Result<Parsed, Vec<Diagnostic>> {
    let text = source.text();
    let start = if text.starts_with('\u{FEFF}') { '\u{FEFF}'.len_utf8() } else { 0 };
    let mut reader = Reader { source, bytes: text.as_bytes(), at: start, depth: 0, problems: Vec::new() };
    reader.blank().map_err(|d| vec![*d])?;
    if reader.at == reader.bytes.len() {
        return Err(vec![super::empty()]);
    }
    let root = reader.value().map_err(|d| vec![*d])?;
    reader.blank().map_err(|d| vec![*d])?;
    if reader.at < reader.bytes.len() {
        let found = reader.found();
        let message = format!("found {found} after the document's value; a JSON file holds one value");
        return Err(vec![Diagnostic::new(Code::Syntax, reader.here(), message)]);
    }
    Ok(Parsed { root, problems: reader.problems })
}

type Read<T> = Result<T, Box<Diagnostic>>;

struct Reader<'s> {
    source: &'s Source,
    bytes: &'s [u8],
    at: usize,
    depth: usize,
    /// Errors that leave the tree readable (duplicate keys).
    problems: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// A span over the character at the cursor (empty at the end of the file).
    fn here(&self) -> Span {
        let len = self.source.text()[self.at..].chars().next().map_or(0, char::len_utf8);
        Span::new(self.at, self.at + len)
    }

    /// What stands at the cursor, for "expected X, found Y".
    fn found(&self) -> String {
        match self.source.text()[self.at..].chars().next() {
            None => "the end of the file".to_owned(),
            Some(c) if c.is_control() || c.is_whitespace() => format!("the character U+{:04X}", c as u32),
            Some(c) => format!("`{c}`"),
        }
    }

    fn error<T>(&self, span: Span, message: impl Into<String>) -> Read<T> {
        Err(Box::new(Diagnostic::new(Code::Syntax, span, message)))
    }

    /// Skips JSON's four whitespace characters; a comment is an error, since JSON has none.
    fn blank(&mut self) -> Read<()> {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.at += 1,
                b'#' | b'/' => {
                    let d = Diagnostic::new(Code::Syntax, self.here(), "JSON has no comments")
                        .with_hint("a YAML pipeline file (.yaml) can hold `#` comments");
                    return Err(Box::new(d));
                }
                _ => break,
            }
        }
        Ok(())
    }

    fn value(&mut self) -> Read<Node> {
        let start = self.at;
        match self.peek() {
            Some(b'{') => self.nested(|r| r.object(start)),
            Some(b'[') => self.nested(|r| r.array(start)),
            Some(b'"') => {
                let text = self.string()?;
                Ok(Node {
                    value: NodeValue::String(text, Style::DoubleQuoted),
                    span: Span::new(start, self.at),
                })
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.word(),
            None => self.error(self.here(), "expected a value, found the end of the file"),
        }
    }

    fn nested(&mut self, read: impl FnOnce(&mut Self) -> Read<Node>) -> Read<Node> {
        if self.depth >= MAX_DEPTH {
            return self.error(self.here(), format!("the document nests deeper than {MAX_DEPTH} levels"));
        }
        self.depth += 1;
        let node = read(self);
        self.depth -= 1;
        node
    }

    fn object(&mut self, start: usize) -> Read<Node> {
        self.at += 1;
        let mut entries = Entries::default();
        self.blank()?;
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Node { value: NodeValue::Map(Vec::new()), span: Span::new(start, self.at) });
        }
        loop {
            self.blank()?;
            let key_start = self.at;
            if self.peek() != Some(b'"') {
                let hint = match self.peek() {
                    Some(b'}') => "remove the trailing comma before `}`",
                    Some(b'\'') => "JSON strings use double quotes",
                    _ => "JSON keys are strings in double quotes",
                };
                let message = format!("expected a key in double quotes, found {}", self.found());
                return Err(Box::new(Diagnostic::new(Code::Syntax, self.here(), message).with_hint(hint)));
            }
            let name = self.string()?;
            let key = Key { name, span: Span::new(key_start, self.at) };
            self.blank()?;
            if self.peek() != Some(b':') {
                let message = format!("expected `:` after the key, found {}", self.found());
                return self.error(self.here(), message);
            }
            self.at += 1;
            self.blank()?;
            let value = self.value()?;
            if let Some(d) = entries.insert(self.source, key, value) {
                self.problems.push(d);
            }
            self.blank()?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Node {
                        value: NodeValue::Map(entries.into_vec()),
                        span: Span::new(start, self.at),
                    });
                }
                _ => {
                    let message =
                        format!("expected `,` or `}}` after a value in an object, found {}", self.found());
                    return self.error(self.here(), message);
                }
            }
        }
    }

    fn array(&mut self, start: usize) -> Read<Node> {
        self.at += 1;
        let mut items = Vec::new();
        self.blank()?;
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Node { value: NodeValue::Seq(items), span: Span::new(start, self.at) });
        }
        loop {
            self.blank()?;
            if self.peek() == Some(b']') {
                let d = Diagnostic::new(Code::Syntax, self.here(), "expected a value after `,`, found `]`")
                    .with_hint("remove the trailing comma");
                return Err(Box::new(d));
            }
            items.push(self.value()?);
            self.blank()?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Node { value: NodeValue::Seq(items), span: Span::new(start, self.at) });
                }
                _ => {
                    let message =
                        format!("expected `,` or `]` after a value in an array, found {}", self.found());
                    return self.error(self.here(), message);
                }
            }
        }
    }

    /// A string at the cursor (on its opening quote), unescaped; the cursor ends past its closing quote.
    fn string(&mut self) -> Read<String> {
        let open = self.at;
        self.at += 1;
        let mut out = String::new();
        loop {
            let rest = &self.source.text()[self.at..];
            let Some(c) = rest.chars().next() else {
                let d =
                    Diagnostic::new(Code::Syntax, Span::new(open, open + 1), "this string is never closed")
                        .with_hint("end it with `\"` on the same line");
                return Err(Box::new(d));
            };
            match c {
                '"' => {
                    self.at += 1;
                    return Ok(out);
                }
                '\\' => out.push(self.escape()?),
                '\u{0}'..='\u{1f}' => {
                    let message = format!(
                        "the control character U+{:04X} must be escaped in a JSON string{}",
                        c as u32,
                        match c {
                            '\n' => " (write `\\n`; a string cannot span lines)",
                            '\t' => " (write `\\t`)",
                            '\r' => " (write `\\r`)",
                            _ => "",
                        }
                    );
                    return self.error(self.here(), message);
                }
                c => {
                    out.push(c);
                    self.at += c.len_utf8();
                }
            }
        }
    }

    /// The character an escape at the cursor stands for; `\u` escapes of a surrogate pair make one.
    fn escape(&mut self) -> Read<char> {
        let start = self.at;
        let c = match self.bytes.get(start + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let (c, len) = super::unicode_escape(self.bytes, start)
                    .map_err(|(span, message)| Box::new(Diagnostic::new(Code::Syntax, span, message)))?;
                self.at += len;
                return Ok(c);
            }
            _ => {
                let len = self.source.text()[start + 1..].chars().next().map_or(0, char::len_utf8);
                let shown = self.source.slice(Span::new(start, start + 1 + len)).to_owned();
                let d = Diagnostic::new(
                    Code::Syntax,
                    Span::new(start, start + 1 + len),
                    format!("invalid escape `{shown}`"),
                )
                .with_hint(r#"JSON's escapes are \" \\ \/ \b \f \n \r \t and \uXXXX"#);
                return Err(Box::new(d));
            }
        };
        self.at += 2;
        Ok(c)
    }

    /// A number at the cursor, by RFC 8259's grammar and [`number`]'s rule.
    fn number(&mut self) -> Read<Node> {
        let start = self.at;
        // The whole run of characters that could belong to a number, so `0x42` and `1.5.2` are
        // reported as one token.
        let end = start
            + self.bytes[start..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')))
                .unwrap_or(self.bytes.len() - start);
        let text = &self.source.text()[start..end];
        let span = Span::new(start, end);
        let refuse = |message: String, hint: &str| {
            Err(Box::new(Diagnostic::new(Code::Syntax, span, message).with_hint(hint)))
        };
        let Some(shape) = Shape::of(text) else {
            let hint = if text.trim_start_matches('-').starts_with("0x") {
                "JSON numbers are decimal"
            } else if text.trim_start_matches('-').starts_with('0') && text.len() > 1 {
                "JSON numbers have no leading zeros"
            } else {
                "a JSON number is digits with an optional `-`, fraction and exponent, such as -1.5e3"
            };
            return refuse(format!("`{text}` is not a JSON number"), hint);
        };
        let value = if shape.integer {
            number::integer(text, text.trim_start_matches('-'), 10, text.starts_with('-'))
        } else {
            number::float(text)
        };
        self.at = end;
        match value {
            Ok(n) => Ok(Node { value: NodeValue::Number(n), span }),
            Err(message) => refuse(message, number::HINT),
        }
    }

    /// `true`, `false` or `null` at the cursor; anything else is not JSON.
    fn word(&mut self) -> Read<Node> {
        let start = self.at;
        let len = self.bytes[start..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
        let word = &self.source.text()[start..start + len];
        let value = match word {
            "true" => NodeValue::Bool(true),
            "false" => NodeValue::Bool(false),
            "null" => NodeValue::Null,
            _ => {
                let hint = match word {
                    "" if self.peek() == Some(b'\'') => "JSON strings use double quotes".to_owned(),
                    "" if self.peek() == Some(b'+') => "JSON numbers have no leading `+`".to_owned(),
                    "" => "a JSON value is an object, an array, a string, a number, true, false or null"
                        .to_owned(),
                    "NaN" | "Infinity" => "JSON has no NaN or infinity".to_owned(),
                    _ => did_you_mean(&word.to_ascii_lowercase(), ["true", "false", "null"])
                        .unwrap_or_else(|| "text must be a string in double quotes".to_owned()),
                };
                let (span, message) = if word.is_empty() {
                    (self.here(), format!("expected a value, found {}", self.found()))
                } else {
                    (Span::new(start, start + len), format!("`{word}` is not a JSON value"))
                };
                return Err(Box::new(Diagnostic::new(Code::Syntax, span, message).with_hint(hint)));
            }
        };
        self.at += len;
        Ok(Node { value, span: Span::new(start, self.at) })
    }
}

/// RFC 8259's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
struct Shape {
    /// No fraction and no exponent.
    integer: bool,
}

impl Shape {
    fn of(text: &str) -> Option<Shape> {
        let b = text.as_bytes();
        let mut i = usize::from(b.first() == Some(&b'-'));
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - from
        };
        let int_start = i;
        let int_len = digits(&mut i);
        if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
            return None;
        }
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            i += 1;
            integer = false;
            if digits(&mut i) == 0 {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            integer = false;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return None;
            }
        }
        (i == b.len()).then_some(Shape { integer })
    }
}
