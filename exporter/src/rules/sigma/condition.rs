//! The detection's `condition`: search identifiers joined by `and`, `or`, `not`, parentheses and
//! `1 of`/`all of` (a pattern or `them`), with the spec's precedence, least binding first: `or`,
//! `and`, `not`, `x of`, parentheses. Aggregations and `near` need several events and are errors.

use crate::rules::eval::Expr;

/// A condition problem: byte offset in the condition text and cause.
pub type CondError = (usize, String);

#[derive(Clone, Debug, PartialEq)]
enum Tok<'a> {
    Word(&'a str),
    Open,
    Close,
    Pipe,
}

fn tokens(text: &str) -> Result<Vec<(usize, Tok<'_>)>, CondError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                out.push((i, if c == '(' { Tok::Open } else { Tok::Close }));
            }
            // An aggregation follows, in a syntax of its own: the parser refuses it here.
            '|' => {
                out.push((i, Tok::Pipe));
                break;
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') => {
                let mut end = text.len();
                while let Some(&(j, d)) = chars.peek() {
                    if !(d.is_alphanumeric() || matches!(d, '_' | '*' | '-' | '.')) {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                out.push((i, Tok::Word(&text[i..end])));
            }
            c => return Err((i, format!("unexpected '{c}' in condition"))),
        }
    }
    Ok(out)
}

/// Resolves the condition's names against the search identifiers `(name, expression)`.
pub fn compile(text: &str, ids: &[(String, Expr)]) -> Result<Expr, CondError> {
    let toks = tokens(text)?;
    let mut p = Parser { toks, at: 0, ids, end: text.len() };
    let e = p.or()?;
    match p.toks.get(p.at) {
        None => Ok(e),
        Some((i, Tok::Pipe)) => Err((
            *i,
            "aggregations ('| count() ...') need correlation across events, which a syscall sensor does not do".into(),
        )),
        Some((i, t)) => Err((*i, format!("unexpected {} in condition", describe(t)))),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("'{w}'"),
        Tok::Open => "'('".into(),
        Tok::Close => "')'".into(),
        Tok::Pipe => "'|'".into(),
    }
}

struct Parser<'a, 'i> {
    toks: Vec<(usize, Tok<'a>)>,
    at: usize,
    ids: &'i [(String, Expr)],
    end: usize,
}

fn is_kw(t: Option<&(usize, Tok)>, kw: &str) -> bool {
    matches!(t, Some((_, Tok::Word(w))) if w.eq_ignore_ascii_case(kw))
}

impl<'a> Parser<'a, '_> {
    fn peek(&self) -> Option<&(usize, Tok<'a>)> {
        self.toks.get(self.at)
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |(i, _)| *i)
    }

    fn or(&mut self) -> Result<Expr, CondError> {
        self.chain("or", Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, CondError> {
        self.chain("and", Self::not, Expr::And)
    }

    /// `next (kw next)*`, joined by `join` when there are several.
    fn chain(
        &mut self,
        kw: &str,
        next: fn(&mut Self) -> Result<Expr, CondError>,
        join: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, CondError> {
        let mut v = vec![next(self)?];
        while is_kw(self.peek(), kw) {
            self.at += 1;
            v.push(next(self)?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { join(v) })
    }

    fn not(&mut self) -> Result<Expr, CondError> {
        if is_kw(self.peek(), "not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, CondError> {
        let at = self.here();
        let Some((_, tok)) = self.toks.get(self.at).cloned() else {
            return Err((at, "condition ends where a search identifier is expected".into()));
        };
        self.at += 1;
        let word = match tok {
            Tok::Open => {
                let e = self.or()?;
                if !matches!(self.peek(), Some((_, Tok::Close))) {
                    return Err((self.here(), "missing ')'".into()));
                }
                self.at += 1;
                return Ok(e);
            }
            Tok::Word(w) => w,
            t => return Err((at, format!("unexpected {} in condition", describe(&t)))),
        };
        if is_kw(self.peek(), "of") {
            self.at += 1;
            return self.quantified(at, word);
        }
        for kw in ["and", "or", "not", "of", "them"] {
            if word.eq_ignore_ascii_case(kw) {
                return Err((at, format!("'{word}' where a search identifier is expected")));
            }
        }
        if word.eq_ignore_ascii_case("near") {
            return Err((at, "'near' needs correlation across events, which a syscall sensor does not do".into()));
        }
        match self.ids.iter().find(|(n, _)| n == word) {
            Some((_, e)) => Ok(e.clone()),
            None => Err((at, format!("unknown search identifier '{word}'"))),
        }
    }

    /// `1 of x*`, `all of them`.
    fn quantified(&mut self, at: usize, quantity: &'a str) -> Result<Expr, CondError> {
        let all = match quantity {
            "1" => false,
            q if q.eq_ignore_ascii_case("all") => true,
            q => return Err((at, format!("'{q} of': only '1 of' and 'all of' are defined"))),
        };
        let target_at = self.here();
        let Some((_, Tok::Word(target))) = self.peek().cloned() else {
            return Err((target_at, "a search identifier pattern or 'them' must follow 'of'".into()));
        };
        self.at += 1;
        let them = target.eq_ignore_ascii_case("them");
        let chosen: Vec<Expr> = self
            .ids
            .iter()
            .filter(|(n, _)| if them { !n.starts_with('_') } else { wildcard_match(target, n) })
            .map(|(_, e)| e.clone())
            .collect();
        if chosen.is_empty() {
            return Err((target_at, format!("'{target}' matches no search identifier")));
        }
        Ok(if all { Expr::And(chosen) } else { Expr::Or(chosen) })
    }
}

/// `*` matches any run of characters; everything else itself.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|&i| tail.is_char_boundary(i)).any(|i| wildcard_match(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests;
