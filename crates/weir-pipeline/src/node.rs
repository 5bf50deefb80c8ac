//! A YAML (or JSON) document as a tree of nodes that remember where they stand in the source.
//!
//! JSON is read by the same YAML 1.2 parser (JSON is a subset of YAML 1.2), so both formats give
//! identical trees, spans and diagnostics. Plain scalars are resolved with YAML 1.2's core schema,
//! so `on`/`yes` stay strings and `1.2.0` is a string while `1.2` is a number.

use crate::code::Code;
use crate::diag::Diagnostic;
use crate::source::{Source, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};
use serde_json::{Map, Number, Value};

/// How deep mappings and sequences may nest; deeper documents are rejected rather than risking the stack.
const MAX_DEPTH: usize = 128;
/// How many nodes aliases may expand to, so a few anchors cannot blow up into billions of nodes.
const MAX_ALIAS_NODES: usize = 100_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// How a string scalar was written; a span of a quoted string includes its quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// One step of a path into a document: a mapping key or a sequence index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

impl Node {
    /// A short name of the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Number(_) => "a number",
            NodeValue::String(..) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s, _) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    /// The span of a mapping key (falling back to the whole node).
    pub fn key_span(&self, key: &str) -> Span {
        self.as_map().and_then(|m| m.iter().find(|(k, _)| k.name == key)).map_or(self.span, |(k, _)| k.span)
    }

    /// The node at `path`, or the deepest node on the way to it when the path leaves the tree.
    pub fn at(&self, path: &[Seg<'_>]) -> &Node {
        let mut node = self;
        for seg in path {
            let next = match (seg, &node.value) {
                (Seg::Key(k), NodeValue::Map(_)) => node.get(k),
                (Seg::Index(i), NodeValue::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// The span of the text inside a string scalar, without its quotes.
    pub fn content_span(&self) -> Span {
        match &self.value {
            NodeValue::String(_, Style::SingleQuoted | Style::DoubleQuoted)
                if self.span.end > self.span.start + 1 =>
            {
                Span::new(self.span.start + 1, self.span.end - 1)
            }
            _ => self.span,
        }
    }

    /// The plain JSON value of this node.
    pub fn to_value(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s, _) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries.iter().map(|(k, v)| (k.name.clone(), v.to_value())).collect::<Map<_, _>>(),
            ),
        }
    }
}

/// Parses YAML or JSON text into a node tree. Returns the first syntax error as a diagnostic
/// (a parser cannot meaningfully go on after one), plus any duplicate keys.
pub fn parse(source: &Source) -> Result<Node, Vec<Diagnostic>> {
    let mut builder = Builder {
        source,
        stack: Vec::new(),
        anchors: Vec::new(),
        alias_nodes: 0,
        errors: Vec::new(),
        root: None,
        docs: 0,
    };
    let mut parser = Parser::new_from_str(source.text());
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => {
                let span = Span::new(
                    source.offset(span.start.line(), span.start.col()),
                    source.offset(span.end.line(), span.end.col()),
                );
                if let Err(d) = builder.event(event, span) {
                    builder.errors.push(*d);
                    return Err(builder.errors);
                }
            }
            Some(Err(e)) => return Err(vec![scan_error(source, &e)]),
        }
    }
    match builder.root {
        Some(root) if builder.errors.is_empty() => Ok(root),
        Some(_) => Err(builder.errors),
        None => Err(vec![
            Diagnostic::new(Code::Syntax, Span::point(0), "the file is empty")
                .with_hint("a pipeline needs at least `name:` and `steps:`"),
        ]),
    }
}

fn scan_error(source: &Source, e: &ScanError) -> Diagnostic {
    let m = e.marker();
    let at = source.offset(m.line(), m.col());
    Diagnostic::new(Code::Syntax, Span::point(at), format!("invalid YAML/JSON: {}", e.info()))
}

/// A mapping or sequence under construction.
enum Open {
    Seq { start: usize, anchor: usize, items: Vec<Node> },
    Map { start: usize, anchor: usize, entries: Vec<(Key, Node)>, key: Option<Key> },
}

struct Builder<'s> {
    source: &'s Source,
    stack: Vec<Open>,
    /// Anchored nodes by anchor id (ids are small consecutive numbers).
    anchors: Vec<Option<Node>>,
    alias_nodes: usize,
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
            Event::MappingStart(anchor, _) => {
                self.open(Open::Map { start: span.start, anchor, entries: Vec::new(), key: None }, span)
            }
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
        let value = resolve_scalar(text, style, tag)
            .map_err(|msg| Box::new(Diagnostic::new(Code::Syntax, span, msg)))?;
        self.finish(Node { value, span }, anchor)
    }

    fn close(&mut self, span: Span) -> Step {
        let end = self.content_end(span);
        let (value, start, anchor) = match self.stack.pop() {
            Some(Open::Seq { start, anchor, items }) => (NodeValue::Seq(items), start, anchor),
            Some(Open::Map { start, anchor, entries, .. }) => (NodeValue::Map(entries), start, anchor),
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
            Some(Open::Map { entries, .. }) => entries.last().map(|(_, n)| n.span.end),
            None => None,
        };
        match last {
            Some(end) if span.start == span.end => end,
            _ => span.end.max(last.unwrap_or(0)),
        }
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
                    if let Some((first, _)) = entries.iter().find(|(e, _)| e.name == k.name) {
                        let first = self.source.line_col(first.span.start);
                        self.errors.push(
                            Diagnostic::new(
                                Code::DuplicateKey,
                                k.span,
                                format!("duplicate key \"{}\"", k.name),
                            )
                            .with_hint(format!("the first \"{}\" is on line {}", k.name, first.line)),
                        );
                    }
                    entries.push((k, node));
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
    resolve_scalar(text, ScalarStyle::Plain, None)
}

/// Resolves a scalar with YAML 1.2's core schema.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<NodeValue, String> {
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
            return Err(format!("unsupported YAML tag `{other}`; pipeline files use plain values"));
        }
    }
    if style != Style::Plain {
        return Ok(NodeValue::String(text.to_owned(), style));
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => NodeValue::Null,
        "true" | "True" | "TRUE" => NodeValue::Bool(true),
        "false" | "False" | "FALSE" => NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "-.inf" | ".nan" | ".NaN" | ".NAN" => {
            return Err(format!("`{text}` has no JSON equivalent; quote it if you mean the text"));
        }
        _ => match parse_number(text) {
            Some(n) => NodeValue::Number(n),
            None => NodeValue::String(text.to_owned(), Style::Plain),
        },
    })
}

fn parse_number(text: &str) -> Option<Number> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let negative = text.starts_with('-');
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Number::from);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(Number::from);
    }
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let int = if negative {
            text.parse::<i64>().ok().map(Number::from)
        } else {
            digits.parse::<u64>().ok().map(Number::from)
        };
        // Integers beyond 64 bits are still numbers, as in JSON: kept as floats.
        return int.or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64));
    }
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(i) => (&digits[..i], Some(&digits[i + 1..])),
        None => (digits, None),
    };
    // YAML 1.2's core schema: `1.5`, `.5`, `1.`, and with an exponent also `1e5`.
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let valid_mantissa = int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(int.is_empty() && frac.is_empty());
    let valid_exp = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    if !valid_mantissa || !valid_exp {
        return None;
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Node, Vec<Diagnostic>> {
        parse(&Source::new("t.yaml", text))
    }

    #[test]
    fn resolves_scalars_with_the_core_schema() {
        let node = parse_str("a: 1\nb: 1.5\nc: 1.2.0\nd: on\ne: ~\nf: true\ng: '7'\nh: 0x1f\ni: 1e3\nj: 123456789012345678901\nk: e3\n").unwrap();
        assert_eq!(
            node.to_value(),
            serde_json::json!({"a": 1, "b": 1.5, "c": "1.2.0", "d": "on", "e": null, "f": true, "g": "7", "h": 31, "i": 1000.0, "j": 1.2345678901234568e20, "k": "e3"})
        );
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let src = Source::new("t.yaml", "name: x\nsteps:\n  - id: fetch\n    uses: http\n");
        let node = parse(&src).unwrap();
        let id = node.at(&[Seg::Key("steps"), Seg::Index(0), Seg::Key("id")]);
        assert_eq!(src.slice(id.span), "fetch");
        assert_eq!(src.line_col(id.span.start).line, 3);
        let flow = parse(&Source::new("t", "a: { expr: 'x y' }\n")).unwrap();
        let expr = flow.at(&[Seg::Key("a"), Seg::Key("expr")]);
        assert_eq!(expr.content_span(), Span::new(12, 15));
        let step = node.at(&[Seg::Key("steps"), Seg::Index(0)]);
        assert_eq!(src.slice(step.key_span("uses")), "uses");
    }

    #[test]
    fn quoted_spans_hug_their_quotes() {
        let src = Source::new(
            "t.yaml",
            "a: 'it''s'  # c\nb: &x \"q\\\"\"  # d\n\"k\"  : !!str 'v'\nl: [\"p\" , 'q' ]\n",
        );
        let node = parse(&src).unwrap();
        let text = |path: &[Seg<'_>]| src.slice(node.at(path).span).to_owned();
        assert_eq!(text(&[Seg::Key("a")]), "'it''s'");
        assert_eq!(text(&[Seg::Key("b")]), "\"q\\\"\"");
        assert_eq!(text(&[Seg::Key("k")]), "'v'");
        assert_eq!(src.slice(node.key_span("k")), "\"k\"");
        assert_eq!(text(&[Seg::Key("l"), Seg::Index(0)]), "\"p\"");
    }

    #[test]
    fn json_gives_the_same_tree() {
        let yaml = parse_str("name: x\nsteps: [{id: a, uses: pass}]\n").unwrap();
        let json =
            parse_str("{\n\t\"name\": \"x\",\n\t\"steps\": [{\"id\": \"a\", \"uses\": \"pass\"}]\n}\n")
                .unwrap();
        assert_eq!(yaml.to_value(), json.to_value());
    }

    #[test]
    fn reports_duplicate_keys_and_syntax_errors_with_positions() {
        let errs = parse_str("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(errs[0].code, Code::DuplicateKey);
        let errs = parse_str("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(errs[0].code, Code::Syntax);
    }

    #[test]
    fn aliases_expand_but_are_bounded() {
        let node = parse_str("a: &x {k: 1}\nb: *x\n").unwrap();
        assert_eq!(node.to_value(), serde_json::json!({"a": {"k": 1}, "b": {"k": 1}}));
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse_str(&bomb).is_err());
    }
}
