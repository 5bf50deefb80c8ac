//! Source text and positions inside it.

use std::sync::Arc;

/// A pipeline file's text, with the name used in diagnostics (usually its path).
#[derive(Clone, Debug)]
pub struct Source {
    name: Arc<str>,
    text: Arc<str>,
    /// Byte offset of the start of every line, for offset -> line:col lookups.
    line_starts: Arc<[usize]>,
    /// Whether each line is ASCII, where a character column is a byte column: lookups on such a
    /// line take constant time, however long it is (a minified file is one line).
    ascii_lines: Arc<[bool]>,
}

/// A 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

/// A byte range of a [`Source`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end: end.max(start) }
    }

    /// An empty span at `at`.
    pub fn point(at: usize) -> Self {
        Self { start: at, end: at }
    }

    /// The sub-span `range` of this span, clamped to it.
    pub fn sub(self, start: usize, len: usize) -> Span {
        let s = (self.start + start).min(self.end);
        Span::new(s, (s + len).min(self.end))
    }
}

impl Source {
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Self {
        let text: Arc<str> = text.into();
        let line_starts: Arc<[usize]> =
            std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let ascii_lines = text.split('\n').map(str::is_ascii).collect();
        Self { name: name.into(), text, line_starts, ascii_lines }
    }

    /// The byte range of a 0-based line, without its line break.
    fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let start = self.line_starts[line];
        let end = self.line_starts.get(line + 1).map_or(self.text.len(), |next| next - 1);
        start..end
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = if self.ascii_lines[line] {
            offset - start
        } else {
            self.text[start..floor_char_boundary(&self.text, offset)].chars().count()
        };
        LineCol { line: line as u32 + 1, col: col as u32 + 1 }
    }

    /// The byte offset of a 1-based line and a 0-based character column.
    pub fn offset(&self, line: usize, col_chars: usize) -> usize {
        let line = line.saturating_sub(1);
        if line >= self.line_starts.len() {
            return self.text.len();
        }
        let range = self.line_range(line);
        if self.ascii_lines[line] {
            return (range.start + col_chars).min(range.end);
        }
        let line_text = &self.text[range.clone()];
        range.start + line_text.char_indices().nth(col_chars).map_or(line_text.len(), |(i, _)| i)
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: u32) -> &str {
        let Some(line) = (line as usize).checked_sub(1).filter(|&l| l < self.line_starts.len()) else {
            return "";
        };
        let text = &self.text[self.line_range(line)];
        text.strip_suffix('\r').unwrap_or(text)
    }

    pub fn slice(&self, span: Span) -> &str {
        let end = floor_char_boundary(&self.text, span.end.min(self.text.len()));
        &self.text[floor_char_boundary(&self.text, span.start).min(end)..end]
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_agree_on_ascii_and_other_lines() {
        let text = "name: a\r\nvalue: [1, 2, 3]\nçé: [4, 5]\nend";
        let src = Source::new("t", text);
        for (offset, ch) in text.char_indices() {
            let lc = src.line_col(offset);
            let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
            let col = text[line_start..offset].chars().count();
            assert_eq!(
                (lc.line as usize, lc.col as usize),
                (text[..offset].matches('\n').count() + 1, col + 1),
                "{ch:?} at {offset}"
            );
            assert_eq!(src.offset(lc.line as usize, col), offset, "{ch:?} at {offset}");
        }
        assert_eq!(src.line_text(1), "name: a");
        assert_eq!(src.line_text(3), "çé: [4, 5]");
        assert_eq!(src.line_text(9), "");
        assert_eq!(
            src.offset(2, 999),
            text.find("]\n").unwrap() + 1,
            "a column past the end stays on its line"
        );
    }

    #[test]
    fn line_col_counts_characters_from_one() {
        let src = Source::new("t", "ab\nçd: x\n");
        assert_eq!(src.line_col(0), LineCol { line: 1, col: 1 });
        let x = src.text().find('x').unwrap();
        assert_eq!(src.line_col(x), LineCol { line: 2, col: 5 });
        assert_eq!(src.offset(2, 4), x);
        assert_eq!(src.line_text(2), "çd: x");
    }
}
