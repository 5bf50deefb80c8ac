//! The YAML writer: block style with two-space indentation, lists of mappings as `- key:` items,
//! flow style for short lists of scalars and for short scalar mappings the user wrote in flow,
//! one blank line between steps and between test cases, comments back where they were attached.

use super::comments::{Comment, Comments, first_place};
use super::scalar::{self, Context};
use super::{Shape, is_alias_copy, ordered};
use crate::node::{Key, Node, NodeValue};
use crate::source::Source;

/// Lines longer than this are not written in flow style.
const WIDTH: usize = 100;

pub(super) fn write(source: &Source, root: &Node) -> String {
    let mut w =
        Writer { source, comments: Comments::attach(source, root), out: String::new(), pending: Vec::new() };
    w.header(root);
    w.root(root);
    let rest = w.comments.take_rest();
    w.comment_lines(&rest, 0, true);
    w.out
}

struct Writer<'s> {
    source: &'s Source,
    comments: Comments,
    out: String,
    /// End-of-line comments waiting for the end of the line being written.
    pending: Vec<String>,
}

/// Where a node is written: the indentation of the line that holds its key or dash, its shape,
/// and whether it is part of an alias copy (whose comments belong to the original).
#[derive(Clone, Copy)]
struct At {
    indent: usize,
    shape: Shape,
    alias: bool,
}

/// What stands before a value on its line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    Key,
    Dash,
}

/// Where a block mapping's entries go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entries {
    /// The document's own keys: blank lines between them are kept.
    Top,
    /// Under a key, each entry on its own line.
    UnderKey,
    /// A list item: the first entry goes on the dash's line.
    AfterDash,
}

impl Writer<'_> {
    /// The comments before the first key, set apart from it as they were in the source.
    fn header(&mut self, root: &Node) {
        let header = self.comments.take_header();
        self.comment_lines(&header, 0, true);
        if !header.is_empty() && self.blank_line_before(first_place(root)) {
            self.blank();
        }
    }

    fn root(&mut self, root: &Node) {
        let at = At { indent: 0, shape: Shape::Pipeline, alias: false };
        match &root.value {
            NodeValue::Map(entries) if !entries.is_empty() => self.map(entries, at, Entries::Top),
            NodeValue::Seq(items) if !items.is_empty() => self.seq(items, At { shape: Shape::Free, ..at }),
            _ => {
                let text = self.inline(root, Shape::Free, Context::Block);
                self.out.push_str(&text);
                self.trailing(root.span.start, false);
                self.newline();
            }
        }
    }

    /// The entries of a block mapping at `at.indent`.
    fn map(&mut self, entries: &[(Key, Node)], at: At, place: Entries) {
        let top = place == Entries::Top;
        for (i, (key, value)) in ordered(entries, at.shape).into_iter().enumerate() {
            let leading = self.leading(key.span.start, at.alias);
            self.comment_lines(&leading, at.indent, top);
            // The first key written, and the first key of the source, follow the header, which
            // `header` already set apart.
            let first = i == 0 || entries.first().is_some_and(|(k, _)| k.span == key.span);
            if top && !first && self.blank_line_before(key.span.start) {
                self.blank();
            }
            if !(place == Entries::AfterDash && i == 0) {
                self.indent(at.indent);
            }
            self.out.push_str(&scalar::key(&key.name, Context::Block));
            self.out.push(':');
            self.trailing(key.span.start, at.alias);
            let child = At { shape: at.shape.field(&key.name), ..at };
            self.value(value, child, After::Key);
        }
    }

    /// The items of a block sequence, dashes at `at.indent`.
    fn seq(&mut self, items: &[Node], at: At) {
        let child = At { shape: at.shape.item(), ..at };
        for (i, item) in items.iter().enumerate() {
            if i > 0 && at.shape.spaced() {
                self.blank();
            }
            let mut leading = self.leading(item.span.start, at.alias);
            // The first key of a mapping item shares the dash's line, so its comments go above.
            if let NodeValue::Map(entries) = &item.value
                && let Some((first, _)) = ordered(entries, child.shape).first()
            {
                leading.extend(self.leading(first.span.start, at.alias || is_alias_copy(item)));
            }
            self.comment_lines(&leading, at.indent, false);
            self.indent(at.indent);
            self.out.push('-');
            self.value(item, child, After::Dash);
        }
    }

    /// A value after `key:` or `-`; `at.indent` is the indentation of that line.
    fn value(&mut self, node: &Node, at: At, after: After) {
        let nested = At { indent: at.indent + 2, alias: at.alias || is_alias_copy(node), ..at };
        if let Some(flow) = self.flow(node, at, after) {
            self.out.push(' ');
            self.out.push_str(&flow);
            self.take_children_trailing(node, at.alias);
            return self.newline();
        }
        match &node.value {
            NodeValue::Map(entries) if !entries.is_empty() && after == After::Dash => {
                self.out.push(' ');
                self.map(entries, nested, Entries::AfterDash);
            }
            NodeValue::Map(entries) if !entries.is_empty() => {
                self.newline();
                self.map(entries, nested, Entries::UnderKey);
            }
            NodeValue::Seq(items) if !items.is_empty() => {
                self.newline();
                self.seq(items, nested);
            }
            NodeValue::String(s, _) if let Some(literal) = scalar::literal(s) => {
                self.out.push(' ');
                self.out.push_str(&literal.header);
                self.trailing(node.span.start, at.alias);
                self.newline();
                self.literal_lines(&literal.lines, nested.indent);
            }
            _ => {
                let text = self.inline(node, at.shape, Context::Block);
                self.out.push(' ');
                self.out.push_str(&text);
                self.trailing(node.span.start, at.alias);
                self.newline();
            }
        }
    }

    fn literal_lines(&mut self, lines: &[&str], indent: usize) {
        for line in lines {
            // Empty lines get no indentation, so the output has no trailing spaces.
            if !line.is_empty() {
                self.indent(indent);
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
    }

    /// The flow text of a collection that should be written in flow style: a non-empty list of
    /// one-line scalars, or such a mapping that the user wrote in flow (not as a list item), that
    /// fits on the line and holds no comment that flow style would lose.
    fn flow(&self, node: &Node, at: At, after: After) -> Option<String> {
        let one_line = |n: &Node| match &n.value {
            NodeValue::Map(m) => m.is_empty(),
            NodeValue::Seq(s) => s.is_empty(),
            NodeValue::String(s, _) => !s.contains('\n'),
            _ => true,
        };
        let eligible = match &node.value {
            NodeValue::Seq(items) => !items.is_empty() && items.iter().all(one_line),
            NodeValue::Map(entries) => {
                after == After::Key
                    && entries.iter().all(|(_, v)| one_line(v))
                    && entries.first().is_some_and(|(k, _)| self.opens_flow(k.span.start))
            }
            _ => false,
        };
        if !eligible || !self.flow_keeps_comments(node, at) {
            return None;
        }
        let text = self.inline(node, at.shape, Context::Flow);
        (self.column() + 1 + text.chars().count() <= WIDTH).then_some(text)
    }

    /// Whether the key at `at` is the first of a flow mapping: `{` is the last thing before it.
    /// Looking back from the key rather than at the mapping's span also works for alias copies,
    /// whose keys stand under the anchor.
    fn opens_flow(&self, at: usize) -> bool {
        self.source.text()[..at].trim_end().ends_with('{')
    }

    /// Flow style puts a collection on one line: only a comment at the end of its last element,
    /// and none on the line before, survives that.
    fn flow_keeps_comments(&self, node: &Node, at: At) -> bool {
        if at.alias || is_alias_copy(node) {
            return true;
        }
        let (places, last) = self.child_places(node, at.shape);
        let leading = places.iter().any(|&p| self.comments.has_leading(p));
        let trailing = places.iter().filter(|&&p| self.comments.has_trailing(p)).count();
        !leading
            && match trailing {
                0 => true,
                1 => self.pending.is_empty() && last.is_some_and(|p| self.comments.has_trailing(p)),
                _ => false,
            }
    }

    /// Positions of a collection's children where comments may hang (keys, values, items), and
    /// the position of the value written last.
    fn child_places(&self, node: &Node, shape: Shape) -> (Vec<usize>, Option<usize>) {
        match &node.value {
            NodeValue::Seq(items) => {
                (items.iter().map(|n| n.span.start).collect(), items.last().map(|n| n.span.start))
            }
            NodeValue::Map(entries) => {
                let ordered = ordered(entries, shape);
                let places = ordered.iter().flat_map(|(k, v)| [k.span.start, v.span.start]);
                (places.collect(), ordered.last().map(|(_, v)| v.span.start))
            }
            _ => (Vec::new(), None),
        }
    }

    fn take_children_trailing(&mut self, node: &Node, alias: bool) {
        if alias || is_alias_copy(node) {
            return;
        }
        let (places, _) = self.child_places(node, Shape::Free);
        for p in places {
            self.trailing(p, false);
        }
    }

    /// A node on one line: a scalar, or a collection of scalars in flow style.
    fn inline(&self, node: &Node, shape: Shape, ctx: Context) -> String {
        match &node.value {
            NodeValue::Null => "null".to_owned(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Number(n) => scalar::number(self.source.slice(node.span), n),
            NodeValue::String(s, _) => scalar::string(s, ctx),
            NodeValue::Seq(items) if items.is_empty() => "[]".to_owned(),
            NodeValue::Map(entries) if entries.is_empty() => "{}".to_owned(),
            NodeValue::Seq(items) => {
                let items: Vec<_> =
                    items.iter().map(|n| self.inline(n, Shape::Free, Context::Flow)).collect();
                format!("[{}]", items.join(", "))
            }
            NodeValue::Map(entries) => {
                let entries: Vec<_> = ordered(entries, shape)
                    .into_iter()
                    .map(|(k, v)| {
                        let value = self.inline(v, shape.field(&k.name), Context::Flow);
                        format!("{}: {value}", scalar::key(&k.name, Context::Flow))
                    })
                    .collect();
                format!("{{ {} }}", entries.join(", "))
            }
        }
    }

    fn leading(&mut self, at: usize, alias: bool) -> Vec<Comment> {
        if alias {
            return Vec::new();
        }
        self.comments.take_leading(at)
    }

    fn trailing(&mut self, at: usize, alias: bool) {
        if alias {
            return;
        }
        if let Some(text) = self.comments.take_trailing(at) {
            self.pending.push(text);
        }
    }

    /// Full-line comments at `indent`; with `keep_blanks`, blank lines the user put before them.
    fn comment_lines(&mut self, comments: &[Comment], indent: usize, keep_blanks: bool) {
        for c in comments {
            if keep_blanks && c.blank_before {
                self.blank();
            }
            self.line(&c.text, indent);
        }
    }

    fn line(&mut self, text: &str, indent: usize) {
        self.indent(indent);
        self.out.push_str(text);
        self.newline();
    }

    fn blank_line_before(&self, at: usize) -> bool {
        let line = self.source.line_col(at).line;
        line > 1 && self.source.line_text(line - 1).trim().is_empty()
    }

    /// Ends the line, after the end-of-line comments that wait for it. Two spaces set a comment
    /// apart from the text before it (what yamllint asks for).
    fn newline(&mut self) {
        for text in self.pending.drain(..) {
            self.out.push_str("  ");
            self.out.push_str(&text);
        }
        self.out.push('\n');
    }

    /// One blank line, unless at the start of the file or right after another.
    fn blank(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn indent(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    /// The width of the line being written, in characters.
    fn column(&self) -> usize {
        let start = self.out.rfind('\n').map_or(0, |n| n + 1);
        self.out[start..].chars().count()
    }
}
