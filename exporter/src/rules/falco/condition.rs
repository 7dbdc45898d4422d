//! The condition language: text -> untyped AST (fields and macros are resolved later).
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | check | macro-name
//! check   := field op operand | field "exists"
//! field   := name ("[" arg "]")?            e.g. proc.aname[2], evt.arg.flags, evt.arg[0]
//! op      := = == != < <= > >= contains icontains bcontains startswith bstartswith endswith
//!            glob iglob regex in intersects pmatch
//! operand := quoted | bare | "(" [item ("," item)*] ")" | list-name   (lists for in/intersects/pmatch)
//! ```

pub use crate::rules::{diag::Span, ir::Op};

/// One literal value.
#[derive(Clone, Debug, PartialEq)]
pub struct Lit {
    pub text: String,
    pub quoted: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    None,
    Single(Lit),
    /// `( a, "b", list_name )`: bare items naming a list are expanded at compile time.
    List(Vec<Lit>, Span),
    /// `in list_name`.
    ListRef(Lit),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldRef {
    pub name: String,
    pub arg: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Ast {
    And(Vec<Ast>),
    Or(Vec<Ast>),
    Not(Box<Ast>),
    Macro(String, Span),
    Check { field: FieldRef, op: Op, op_span: Span, value: Operand },
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub span: Span,
    pub message: String,
}

pub fn parse(text: &str) -> Result<Ast, ParseError> {
    let mut p = P { s: text.as_bytes(), text, i: 0, depth: 0 };
    p.ws();
    if p.i >= p.s.len() {
        return Err(p.err(0, 0, "empty condition".into()));
    }
    let e = p.or()?;
    p.ws();
    if p.i < p.s.len() {
        let (st, w) = p.peek_token();
        return Err(p.err(st, w.len(), format!("unexpected '{w}' after a complete expression")));
    }
    Ok(e)
}

struct P<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    depth: u32,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}
fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-'
}
fn is_bare_char(c: u8) -> bool {
    !(c.is_ascii_whitespace() || c == b'(' || c == b')' || c == b',' || c == b'"' || c == b'\'')
}

const MAX_DEPTH: u32 = 200;

impl<'a> P<'a> {
    fn err(&self, start: usize, len: usize, message: String) -> ParseError {
        ParseError { span: Span { start: start as u32, len: len as u32 }, message }
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek_token(&self) -> (usize, &'a str) {
        let st = self.i;
        let mut e = st;
        while e < self.s.len() && is_bare_char(self.s[e]) {
            e += 1;
        }
        if e == st && st < self.s.len() {
            e = st + 1;
            while !self.text.is_char_boundary(e) {
                e += 1;
            }
        }
        (st, &self.text[st..e])
    }
    /// Next word made of identifier characters, without consuming it.
    fn peek_word(&self) -> &'a str {
        let mut e = self.i;
        while e < self.s.len() && is_name_char(self.s[e]) {
            e += 1;
        }
        &self.text[self.i..e]
    }
    fn keyword(&mut self, kw: &str) -> bool {
        self.ws();
        let w = self.peek_word();
        if w == kw {
            let after = self.i + kw.len();
            if after >= self.s.len() || !is_name_char(self.s[after]) {
                self.i = after;
                return true;
            }
        }
        false
    }

    fn or(&mut self) -> Result<Ast, ParseError> {
        let first = self.and()?;
        let mut v = vec![first];
        while self.keyword("or") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 { v.pop().unwrap() } else { Ast::Or(v) })
    }

    fn and(&mut self) -> Result<Ast, ParseError> {
        let first = self.unary()?;
        let mut v = vec![first];
        while self.keyword("and") {
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 { v.pop().unwrap() } else { Ast::And(v) })
    }

    fn unary(&mut self) -> Result<Ast, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(self.i, 1, "condition nested too deeply".into()));
        }
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<Ast, ParseError> {
        self.ws();
        if self.keyword("not") {
            return Ok(Ast::Not(Box::new(self.unary()?)));
        }
        self.ws();
        if self.i >= self.s.len() {
            return Err(self.err(self.i, 0, "unexpected end of condition".into()));
        }
        if self.s[self.i] == b'(' {
            let open = self.i;
            self.i += 1;
            let e = self.or()?;
            self.ws();
            if self.i < self.s.len() && self.s[self.i] == b')' {
                self.i += 1;
                return Ok(e);
            }
            return Err(self.err(open, 1, "unbalanced '(': missing ')'".into()));
        }
        if !is_ident_start(self.s[self.i]) {
            let (st, w) = self.peek_token();
            return Err(self.err(st, w.len(), format!("expected a field or macro name, found '{w}'")));
        }
        let start = self.i;
        let name = self.peek_word();
        self.i += name.len();
        let mut arg = None;
        if self.i < self.s.len() && self.s[self.i] == b'[' {
            let close = self.text[self.i..].find(']').map(|o| self.i + o);
            match close {
                Some(c) => {
                    arg = Some(self.text[self.i + 1..c].trim().to_owned());
                    self.i = c + 1;
                }
                None => return Err(self.err(self.i, 1, "unbalanced '[' in field argument".into())),
            }
        }
        let field_span = Span { start: start as u32, len: (self.i - start) as u32 };
        // An operator follows a field; nothing (or and/or/')') follows a macro.
        self.ws();
        let op_start = self.i;
        let op = if self.i < self.s.len() {
            match self.s[self.i] {
                b'=' => {
                    self.i += if self.s.get(self.i + 1) == Some(&b'=') { 2 } else { 1 };
                    Some(Op::Eq)
                }
                b'!' if self.s.get(self.i + 1) == Some(&b'=') => {
                    self.i += 2;
                    Some(Op::Ne)
                }
                b'<' | b'>' => {
                    let eq = self.s.get(self.i + 1) == Some(&b'=');
                    let lt = self.s[self.i] == b'<';
                    self.i += if eq { 2 } else { 1 };
                    Some(match (lt, eq) {
                        (true, false) => Op::Lt,
                        (true, true) => Op::Le,
                        (false, false) => Op::Gt,
                        (false, true) => Op::Ge,
                    })
                }
                c if is_ident_start(c) => {
                    let w = self.peek_word();
                    match Op::from_word(w) {
                        Some(op) => {
                            self.i += w.len();
                            Some(op)
                        }
                        None if w == "and" || w == "or" => None,
                        None if arg.is_some() || name.contains('.') => {
                            return Err(self.err(self.i, w.len(), format!("unknown operator '{w}'")))
                        }
                        None => None,
                    }
                }
                b')' => None,
                _ if arg.is_some() || name.contains('.') => {
                    let (st, w) = self.peek_token();
                    return Err(self.err(st, w.len(), format!("unknown operator '{w}'")));
                }
                _ => None,
            }
        } else {
            None
        };
        let Some(op) = op else {
            if arg.is_some() || name.contains('.') {
                return Err(self.err(start, field_span.len as usize, format!("field '{name}' needs an operator")));
            }
            return Ok(Ast::Macro(name.to_owned(), field_span));
        };
        let op_span = Span { start: op_start as u32, len: (self.i - op_start) as u32 };
        let field = FieldRef { name: name.to_owned(), arg, span: field_span };
        let value = if op == Op::Exists {
            Operand::None
        } else {
            self.ws();
            if op.is_list() {
                if self.s.get(self.i) == Some(&b'(') {
                    self.list()?
                } else if self.i < self.s.len() && is_ident_start(self.s[self.i]) {
                    let st = self.i;
                    let w = self.peek_word();
                    self.i += w.len();
                    Operand::ListRef(Lit {
                        text: w.to_owned(),
                        quoted: false,
                        span: Span { start: st as u32, len: w.len() as u32 },
                    })
                } else {
                    let (st, w) = self.peek_token();
                    return Err(self.err(
                        st,
                        w.len(),
                        format!("operator '{op}' needs a list '( ... )' or a list name"),
                    ));
                }
            } else {
                Operand::Single(self.literal(op)?)
            }
        };
        Ok(Ast::Check { field, op, op_span, value })
    }

    fn list(&mut self) -> Result<Operand, ParseError> {
        let open = self.i;
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            match self.s.get(self.i) {
                None => return Err(self.err(open, 1, "unbalanced '(': missing ')' in list".into())),
                Some(b')') => {
                    self.i += 1;
                    break;
                }
                Some(b',') if !items.is_empty() => {
                    self.i += 1;
                    continue;
                }
                Some(b',') => return Err(self.err(self.i, 1, "empty list item".into())),
                _ => items.push(self.literal(Op::In)?),
            }
        }
        Ok(Operand::List(items, Span { start: open as u32, len: (self.i - open) as u32 }))
    }

    fn literal(&mut self, op: Op) -> Result<Lit, ParseError> {
        self.ws();
        let st = self.i;
        match self.s.get(self.i) {
            None => Err(self.err(st, 0, format!("operator '{op}' needs a value"))),
            Some(&q) if q == b'"' || q == b'\'' => {
                let mut out = String::new();
                let mut j = self.i + 1;
                loop {
                    let Some(&c) = self.s.get(j) else {
                        return Err(self.err(st, j - st, "unterminated quoted string".into()));
                    };
                    if c == q {
                        j += 1;
                        break;
                    }
                    if c == b'\\' && j + 1 < self.s.len() {
                        let n = self.s[j + 1];
                        match n {
                            b'n' => out.push('\n'),
                            b't' => out.push('\t'),
                            b'r' => out.push('\r'),
                            b'\\' | b'"' | b'\'' => out.push(n as char),
                            _ => {
                                out.push('\\');
                                j += 1;
                                continue;
                            }
                        }
                        j += 2;
                        continue;
                    }
                    let ch_end = next_char(self.text, j);
                    out.push_str(&self.text[j..ch_end]);
                    j = ch_end;
                }
                self.i = j;
                Ok(Lit { text: out, quoted: true, span: Span { start: st as u32, len: (j - st) as u32 } })
            }
            Some(b'(') | Some(b')') | Some(b',') => {
                let (s2, w) = self.peek_token();
                Err(self.err(s2, w.len(), format!("operator '{op}' needs a value, found '{w}'")))
            }
            Some(_) => {
                let mut j = self.i;
                while j < self.s.len() && is_bare_char(self.s[j]) {
                    j += 1;
                }
                while !self.text.is_char_boundary(j) {
                    j += 1;
                }
                self.i = j;
                Ok(Lit {
                    text: self.text[st..j].to_owned(),
                    quoted: false,
                    span: Span { start: st as u32, len: (j - st) as u32 },
                })
            }
        }
    }
}

fn next_char(text: &str, i: usize) -> usize {
    let mut e = i + 1;
    while e < text.len() && !text.is_char_boundary(e) {
        e += 1;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(t: &str) -> (String, Option<String>, Op, Operand) {
        match parse(t).unwrap() {
            Ast::Check { field, op, value, .. } => (field.name, field.arg, op, value),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precedence_and_grouping() {
        let a = parse("a or b and not c").unwrap();
        let Ast::Or(v) = a else { panic!() };
        assert!(matches!(&v[1], Ast::And(x) if matches!(&x[1], Ast::Not(_))));
        assert!(matches!(parse("(a or b) and c").unwrap(), Ast::And(_)));
    }

    #[test]
    fn every_operator_parses() {
        for op in Op::ALL {
            let text = match op {
                Op::Exists => "proc.name exists".to_owned(),
                o if o.is_list() => format!("proc.name {o} (a, b)"),
                o => format!("proc.name {o} x"),
            };
            let (_, _, got, _) = check(&text);
            assert_eq!(got, op, "{text}");
        }
        assert_eq!(check("proc.name==x").2, Op::Eq);
        assert_eq!(
            check("fd.name=/etc").3,
            Operand::Single(Lit { text: "/etc".into(), quoted: false, span: Span { start: 8, len: 4 } })
        );
    }

    #[test]
    fn field_arguments() {
        assert_eq!(check("proc.aname[2]=bash").1.as_deref(), Some("2"));
        assert_eq!(check("evt.arg[0] = x").1.as_deref(), Some("0"));
        assert_eq!(check("evt.arg.flags contains O_WRONLY").0, "evt.arg.flags");
    }

    #[test]
    fn quoted_and_list_operands() {
        let (_, _, _, v) = check(r#"proc.cmdline contains "a \"b\" c""#);
        assert!(matches!(v, Operand::Single(l) if l.text == "a \"b\" c" && l.quoted));
        let (_, _, _, v) = check("proc.name in (sh, 'ba sh', my_list)");
        let Operand::List(items, _) = v else { panic!() };
        assert_eq!(items.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["sh", "ba sh", "my_list"]);
        assert!(matches!(check("proc.name in shells").3, Operand::ListRef(_)));
        assert!(matches!(check("proc.name in ()").3, Operand::List(v, _) if v.is_empty()));
    }

    #[test]
    fn errors() {
        assert_eq!(parse("proc.name likes x").unwrap_err().message, "unknown operator 'likes'");
        assert!(parse("(a and b").unwrap_err().message.contains("missing ')'"));
        assert!(parse("a and").unwrap_err().message.contains("end of condition"));
        assert!(parse("proc.name =").unwrap_err().message.contains("needs a value"));
        assert!(parse("proc.name = \"x").unwrap_err().message.contains("unterminated"));
        assert!(parse("a b").unwrap_err().message.contains("unexpected 'b'"));
        assert!(parse("").unwrap_err().message.contains("empty"));
        assert!(parse("proc.name in x y").is_err());
        let deep = "(".repeat(1000) + "a" + &")".repeat(1000);
        assert!(parse(&deep).unwrap_err().message.contains("nested too deeply"));
    }
}
