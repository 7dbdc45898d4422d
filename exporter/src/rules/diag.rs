//! Diagnostics (errors and warnings) with file:line:column, and the texts they point into.

use super::yaml::Pos;
use std::fmt;

/// Byte range in the condition text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// What a diagnostic is about: `rule 'x'`, `macro 'x'`, `list 'x'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub kind: &'static str,
    pub name: String,
}

/// One problem, printed as `file:line:col: rule 'name': cause`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub pos: Pos,
    pub subject: Option<Subject>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.pos.line == 0 {
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}:{}: ", self.file, self.pos.line, self.pos.col)?;
        }
        if let Some(s) = &self.subject {
            write!(f, "{} '{}': ", s.kind, s.name)?;
        }
        f.write_str(&self.message)
    }
}

/// A loaded rules file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: String, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile { name, text, line_starts }
    }

    /// The rest of the line from `pos`.
    pub fn rest_of_line(&self, pos: Pos) -> &str {
        let o = self.offset(pos).min(self.text.len());
        let end = self.text[o..].find('\n').map(|e| o + e).unwrap_or(self.text.len());
        &self.text[o..end]
    }

    /// Byte offset of a position (1-based line, 1-based char column).
    fn offset(&self, pos: Pos) -> usize {
        let Some(&ls) = self.line_starts.get(pos.line.saturating_sub(1) as usize) else {
            return self.text.len();
        };
        let line = &self.text[ls..];
        ls + line.char_indices().nth(pos.col.saturating_sub(1) as usize).map(|(i, _)| i).unwrap_or(0)
    }

    fn pos_of(&self, offset: usize) -> Pos {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let ls = self.line_starts[line - 1];
        Pos { line: line as u32, col: self.text[ls..offset].chars().count() as u32 + 1 }
    }
}

/// One piece of a condition text and where it came from in a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Byte offset in the condition text where this piece starts.
    pub offset: usize,
    pub file: usize,
    /// Where the piece's first character is in the file.
    pub pos: Pos,
    /// The piece is copied verbatim on one line, so columns can be added exactly.
    pub exact: bool,
}

/// A condition (possibly assembled from several YAML scalars by `append`/`override`/exceptions).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceText {
    pub text: String,
    pub segments: Vec<Segment>,
}

impl SourceText {
    pub fn new(text: &str, file: usize, pos: Pos, exact: bool) -> SourceText {
        SourceText { text: text.to_owned(), segments: vec![Segment { offset: 0, file, pos, exact }] }
    }

    /// Appends `sep` then `other`.
    pub fn append(&mut self, sep: &str, other: &SourceText) {
        self.text.push_str(sep);
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.segments.extend(other.segments.iter().map(|s| Segment { offset: s.offset + base, ..s.clone() }));
    }

    /// Wraps the text: `prefix + text + suffix`.
    pub fn wrap(&mut self, prefix: &str, suffix: &str) {
        self.text.insert_str(0, prefix);
        self.text.push_str(suffix);
        for s in &mut self.segments {
            s.offset += prefix.len();
        }
    }

    /// The file and position of a span of this text.
    pub fn locate(&self, span: Span, files: &[SourceFile]) -> (usize, Pos) {
        let start = span.start as usize;
        let idx = self.segments.partition_point(|s| s.offset <= start).saturating_sub(1);
        let Some(seg) = self.segments.get(idx) else { return (0, Pos::default()) };
        let rel = start.saturating_sub(seg.offset);
        let seg_end = self.segments.get(idx + 1).map(|s| s.offset).unwrap_or(self.text.len());
        let seg_text = &self.text[seg.offset.min(self.text.len())..seg_end.max(seg.offset).min(self.text.len())];
        if seg.exact {
            let cols = seg_text.get(..rel).map(|t| t.chars().count()).unwrap_or(rel);
            return (seg.file, Pos { line: seg.pos.line, col: seg.pos.col + cols as u32 });
        }
        // Folded or block text: find the same token in the file, counting earlier occurrences.
        let end = (start + span.len.max(1) as usize).min(self.text.len());
        let token = self.text.get(start..end).unwrap_or("");
        let Some(file) = files.get(seg.file) else { return (seg.file, seg.pos) };
        if token.trim().is_empty() || rel > seg_text.len() {
            return (seg.file, seg.pos);
        }
        let nth = seg_text[..rel].matches(token).count();
        let from = file.offset(seg.pos);
        match file.text[from..].match_indices(token).nth(nth) {
            Some((i, _)) => (seg.file, file.pos_of(from + i)),
            None => (seg.file, seg.pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_exact_and_folded() {
        let text = "- rule: r\n  condition: >\n    evt.type = open and\n    proc.nme = x\n";
        let files = vec![SourceFile::new("f.yaml".into(), text.into())];
        let folded = SourceText::new("evt.type = open and proc.nme = x\n", 0, Pos { line: 3, col: 1 }, false);
        let (_, pos) = folded.locate(Span { start: 20, len: 8 }, &files);
        assert_eq!(pos, Pos { line: 4, col: 5 });
        let exact = SourceText::new("proc.nme = x", 0, Pos { line: 4, col: 5 }, true);
        assert_eq!(exact.locate(Span { start: 11, len: 1 }, &files).1, Pos { line: 4, col: 16 });
        let mut joined = exact.clone();
        joined.append(" ", &folded);
        assert_eq!(joined.locate(Span { start: 13 + 20, len: 8 }, &files).1, Pos { line: 4, col: 5 });
        joined.wrap("(", ")");
        assert_eq!(joined.locate(Span { start: 1, len: 1 }, &files).1, Pos { line: 4, col: 5 });
    }

    #[test]
    fn display() {
        let d = Diagnostic {
            severity: Severity::Error,
            file: "a.yaml".into(),
            pos: Pos { line: 3, col: 7 },
            subject: Some(Subject { kind: "rule", name: "R".into() }),
            message: "boom".into(),
        };
        assert_eq!(d.to_string(), "a.yaml:3:7: rule 'R': boom");
    }
}
