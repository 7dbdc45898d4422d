//! Sigma string values: literal text with the wildcards `*` and `?` (`\` escapes them), and
//! the operator that matches one.

use crate::rules::ir::Op;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    /// `*`: any run of characters.
    Any,
    /// `?`: one character.
    One,
}

/// A parsed Sigma string.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pattern(pub Vec<Piece>);

impl Pattern {
    /// Parses the spec's escaping: `\*` and `\?` are the characters, `\\` is one backslash, and
    /// a backslash before anything else is itself.
    pub fn parse(raw: &str) -> Pattern {
        let mut p = Pattern::default();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => p.push(Piece::Any),
                '?' => p.push(Piece::One),
                '\\' => match chars.peek() {
                    Some(&e @ ('*' | '?' | '\\')) => {
                        chars.next();
                        p.push_char(e);
                    }
                    _ => p.push_char('\\'),
                },
                c => p.push_char(c),
            }
        }
        p
    }

    /// Text without wildcards.
    pub fn literal(text: &str) -> Pattern {
        let mut p = Pattern::default();
        if !text.is_empty() {
            p.0.push(Piece::Lit(text.to_owned()));
        }
        p
    }

    fn push(&mut self, piece: Piece) {
        if !(piece == Piece::Any && self.0.last() == Some(&Piece::Any)) {
            self.0.push(piece);
        }
    }

    fn push_char(&mut self, c: char) {
        match self.0.last_mut() {
            Some(Piece::Lit(s)) => s.push(c),
            _ => self.0.push(Piece::Lit(c.to_string())),
        }
    }

    /// The text, when the value has no wildcard.
    pub fn as_literal(&self) -> Option<String> {
        match self.0.as_slice() {
            [] => Some(String::new()),
            [Piece::Lit(s)] => Some(s.clone()),
            _ => None,
        }
    }

    /// Adds `*` before and/or after (`contains`, `startswith`, `endswith`).
    pub fn wrap(mut self, before: bool, after: bool) -> Pattern {
        if before && self.0.first() != Some(&Piece::Any) {
            self.0.insert(0, Piece::Any);
        }
        if after {
            self.push(Piece::Any);
        }
        self
    }

    /// The same pattern with `f` applied to its literal text (wildcards kept).
    pub fn map_text(&self, mut f: impl FnMut(&str) -> String) -> Pattern {
        let mut p = Pattern::default();
        for piece in &self.0 {
            match piece {
                Piece::Lit(s) => f(s).chars().for_each(|c| p.push_char(c)),
                other => p.push(other.clone()),
            }
        }
        p
    }

    /// The operator and operand that match this pattern on a string field: the plain string
    /// operators when the wildcards are only at the ends, a glob otherwise. `None`: `*` alone,
    /// which any value matches.
    pub fn to_op(&self, cased: bool) -> Option<(Op, String)> {
        let pick = |c: Op, i: Op| if cased { c } else { i };
        Some(match self.0.as_slice() {
            [] => (Op::Eq, String::new()),
            [Piece::Any] => return None,
            [Piece::Lit(s)] => (pick(Op::Eq, Op::IEq), s.clone()),
            [Piece::Any, Piece::Lit(s), Piece::Any] => (pick(Op::Contains, Op::IContains), s.clone()),
            [Piece::Lit(s), Piece::Any] => (pick(Op::StartsWith, Op::IStartsWith), s.clone()),
            [Piece::Any, Piece::Lit(s)] => (pick(Op::EndsWith, Op::IEndsWith), s.clone()),
            pieces => {
                let mut glob = String::new();
                for p in pieces {
                    match p {
                        Piece::Any => glob.push('*'),
                        Piece::One => glob.push('?'),
                        Piece::Lit(s) => {
                            for c in s.chars() {
                                // A glob's special characters stand for themselves in a class.
                                match c {
                                    '*' | '?' | '[' => glob.extend(['[', c, ']']),
                                    c => glob.push(c),
                                }
                            }
                        }
                    }
                }
                (pick(Op::Glob, Op::IGlob), glob)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_the_spec_lists_them() {
        let lit = |s: &str| Pattern::parse(s).as_literal();
        assert_eq!(lit(r"C:\Windows\x"), Some(r"C:\Windows\x".into()));
        assert_eq!(lit(r"a\\b"), Some(r"a\b".into()));
        assert_eq!(lit(r"a\*b\?"), Some("a*b?".into()));
        assert_eq!(lit(r"\\\\"), Some(r"\\".into()));
        assert_eq!(Pattern::parse(r"a\\*").0, [Piece::Lit(r"a\".into()), Piece::Any]);
        assert_eq!(Pattern::parse(r"a\\\*").as_literal(), Some(r"a\*".into()));
        assert_eq!(Pattern::parse("a**?").0, [Piece::Lit("a".into()), Piece::Any, Piece::One]);
    }

    #[test]
    fn operators_by_wildcard_position() {
        let op = |s: &str, cased| Pattern::parse(s).to_op(cased);
        assert_eq!(op("/bin/sh", false), Some((Op::IEq, "/bin/sh".into())));
        assert_eq!(op("/bin/sh", true), Some((Op::Eq, "/bin/sh".into())));
        assert_eq!(op("*/sh", false), Some((Op::IEndsWith, "/sh".into())));
        assert_eq!(op("/tmp/*", true), Some((Op::StartsWith, "/tmp/".into())));
        assert_eq!(op("*x*", false), Some((Op::IContains, "x".into())));
        assert_eq!(op("", false), Some((Op::Eq, String::new())));
        assert_eq!(op("*", false), None);
        assert_eq!(op(r"/a/*/b?\*[", false), Some((Op::IGlob, "/a/*/b?[*][[]".into())));
        assert_eq!(Pattern::literal("x").wrap(true, true), Pattern::parse("*x*"));
        assert_eq!(Pattern::parse("*x").wrap(true, false), Pattern::parse("*x"));
    }
}
