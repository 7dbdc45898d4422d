//! The typed AST (`Expr`) with precompiled matchers, built after type checking; evaluating it
//! walks the tree over borrowed event values and allocates nothing.

use super::event::{capability_bit, Event};
use super::fields::{Field, FieldType, Val};
use super::ir::Op;
use regex::Regex;
use std::collections::HashSet;
use std::net::IpAddr;

/// A typed condition.
#[derive(Clone, Debug)]
pub enum Expr {
    Const(bool),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Check(Box<Pred>),
}

/// `field op values`, type-checked, with its matcher.
#[derive(Clone, Debug)]
pub struct Pred {
    pub field: Field,
    pub op: Op,
    /// Operand values after list expansion (empty for `exists`).
    pub values: Vec<String>,
    pub(crate) matcher: Matcher,
}

/// An IP network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Option<IpNet> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|&p| p <= max)?,
            None => max,
        };
        Some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A set of strings: linear for a few, hashed for many.
#[derive(Clone, Debug)]
pub(crate) enum StrSet {
    Small(Vec<Box<str>>),
    Hashed(HashSet<Box<str>>),
}

impl StrSet {
    fn new(values: &[String]) -> StrSet {
        if values.len() <= 6 {
            StrSet::Small(values.iter().map(|v| v.as_str().into()).collect())
        } else {
            StrSet::Hashed(values.iter().map(|v| v.as_str().into()).collect())
        }
    }
    #[inline]
    fn contains(&self, s: &str) -> bool {
        match self {
            StrSet::Small(v) => v.iter().any(|x| &**x == s),
            StrSet::Hashed(h) => h.contains(s),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Matcher {
    Exists,
    StrEq(Box<str>),
    StrIn(StrSet),
    StrOrd(Op, Box<str>),
    Contains(Box<str>),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
    /// ASCII case-insensitive `=`, prefix and suffix (the operand is ASCII; others use a regex).
    IStrEq(Box<str>),
    IStartsWith(Box<str>),
    IEndsWith(Box<str>),
    /// Another field of the same event (`eqfield`): evaluated by [`Pred::eval`].
    FieldRef(Box<Field>),
    BContains(Box<[u8]>),
    BStartsWith(Box<[u8]>),
    /// regex, iglob, icontains, glob with wildcards.
    Regex(Regex),
    /// pmatch: the value is one of the paths or below one.
    PMatch(Box<[Box<str>]>),
    NumCmp(Op, i64),
    NumIn(Box<[i64]>),
    IpIn(Box<[IpNet]>),
    FlagsAll(u64),
    FlagsAny(u64),
    FlagsEq(u64),
    /// A text operator on flags: matches their rendering (`CAP_CHOWN CAP_KILL`), as Falco's
    /// capability fields are strings.
    FlagsText(Box<Matcher>),
    BoolEq(bool),
    /// `evt.arg.*`: numeric matcher when the value is a number and the operand parsed as one.
    Arg(Option<Box<Matcher>>, Box<Matcher>),
    /// Any of several matchers (checks of one field merged, see [`fuse`]).
    AnyOf(Box<[Matcher]>),
}

impl Matcher {
    #[inline]
    fn matches(&self, v: Val) -> bool {
        match (self, v) {
            (Matcher::Exists, _) => true,
            (Matcher::StrEq(x), Val::Str(s)) => **x == *s,
            (Matcher::StrIn(set), Val::Str(s)) => set.contains(s),
            (Matcher::StrOrd(op, x), Val::Str(s)) => ord(*op, s.cmp(x)),
            (Matcher::Contains(x), Val::Str(s)) => s.contains(&**x),
            (Matcher::StartsWith(x), Val::Str(s)) => s.starts_with(&**x),
            (Matcher::EndsWith(x), Val::Str(s)) => s.ends_with(&**x),
            (Matcher::IStrEq(x), Val::Str(s)) => s.eq_ignore_ascii_case(x),
            (Matcher::IStartsWith(x), Val::Str(s)) => {
                s.len() >= x.len() && s.as_bytes()[..x.len()].eq_ignore_ascii_case(x.as_bytes())
            }
            (Matcher::IEndsWith(x), Val::Str(s)) => {
                s.len() >= x.len() && s.as_bytes()[s.len() - x.len()..].eq_ignore_ascii_case(x.as_bytes())
            }
            (Matcher::BContains(x), Val::Str(s)) => {
                s.as_bytes().windows(x.len().max(1)).any(|w| w == &**x) || x.is_empty()
            }
            (Matcher::BStartsWith(x), Val::Str(s)) => s.as_bytes().starts_with(x),
            (Matcher::Regex(r), Val::Str(s)) => r.is_match(s),
            (Matcher::PMatch(ps), Val::Str(s)) => ps.iter().any(|p| {
                s.starts_with(&**p) && (s.len() == p.len() || p.ends_with('/') || s.as_bytes()[p.len()] == b'/')
            }),
            (Matcher::NumCmp(op, x), Val::Num(n)) => ord(*op, n.cmp(x)),
            (Matcher::NumIn(xs), Val::Num(n)) => xs.contains(&n),
            (Matcher::IpIn(nets), Val::Ip(ip)) => nets.iter().any(|n| n.contains(ip)),
            (Matcher::FlagsAll(m), Val::Flags(f)) => f & m == *m,
            (Matcher::FlagsAny(m), Val::Flags(f)) => f & m != 0,
            (Matcher::FlagsEq(m), Val::Flags(f)) => f == *m,
            (Matcher::FlagsText(m), Val::Flags(f)) => {
                let mut text = String::new();
                crate::rules::event::render_caps(f, &mut text);
                m.matches(Val::Str(&text))
            }
            (Matcher::BContains(x), Val::Bytes(b)) => x.is_empty() || b.windows(x.len()).any(|w| w == &**x),
            (Matcher::BStartsWith(x), Val::Bytes(b)) => b.starts_with(x),
            (Matcher::BoolEq(b), Val::Bool(x)) => *b == x,
            (Matcher::Arg(num, text), v) => match (num, v) {
                (Some(m), Val::Num(_)) => m.matches(v),
                (None, Val::Num(n)) => {
                    let mut buf = [0u8; 24];
                    text.matches(Val::Str(fmt_i64(n, &mut buf)))
                }
                _ => text.matches(v),
            },
            (Matcher::AnyOf(ms), v) => ms.iter().any(|m| m.matches(v)),
            _ => false,
        }
    }
}

fn fmt_i64(n: i64, buf: &mut [u8; 24]) -> &str {
    let mut i = buf.len();
    let neg = n < 0;
    let mut u = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("")
}

#[inline]
fn ord(op: Op, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => o == Equal,
        Op::Ne => o != Equal,
        Op::Lt => o == Less,
        Op::Le => o != Greater,
        Op::Gt => o == Greater,
        Op::Ge => o != Less,
        _ => false,
    }
}

impl Expr {
    /// Evaluates the condition on one event.
    #[inline]
    pub fn eval(&self, ev: &Event) -> bool {
        match self {
            Expr::Const(b) => *b,
            Expr::And(v) => v.iter().all(|e| e.eval(ev)),
            Expr::Or(v) => v.iter().any(|e| e.eval(ev)),
            Expr::Not(e) => !e.eval(ev),
            Expr::Check(p) => p.eval(ev),
        }
    }

    /// Calls `f` on every predicate.
    pub fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Pred)) {
        match self {
            Expr::Const(_) => {}
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.visit(f)),
            Expr::Not(e) => e.visit(f),
            Expr::Check(p) => f(p),
        }
    }

    /// Falco-like text of the typed condition (canonical: used to compare rules).
    pub fn to_text(&self) -> String {
        match self {
            Expr::Const(b) => b.to_string(),
            Expr::And(v) => format!("({})", v.iter().map(Expr::to_text).collect::<Vec<_>>().join(" and ")),
            Expr::Or(v) => format!("({})", v.iter().map(Expr::to_text).collect::<Vec<_>>().join(" or ")),
            Expr::Not(e) => format!("not {}", e.to_text()),
            Expr::Check(p) => match p.op {
                Op::Exists => format!("{} exists", p.field.text),
                o if o.is_list() => format!(
                    "{} {} ({})",
                    p.field.text,
                    o,
                    p.values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
                ),
                o => format!("{} {} {:?}", p.field.text, o, p.values.first().map(String::as_str).unwrap_or("")),
            },
        }
    }

    /// Folds constants: `x and false` -> false, `x or true` -> true, `not true` -> false.
    pub fn simplify(self) -> Expr {
        match self {
            Expr::And(v) => {
                let mut out = Vec::new();
                for e in v.into_iter().map(Expr::simplify) {
                    match e {
                        Expr::Const(true) => {}
                        Expr::Const(false) => return Expr::Const(false),
                        Expr::And(inner) => out.extend(inner),
                        e => out.push(e),
                    }
                }
                match out.len() {
                    0 => Expr::Const(true),
                    1 => out.pop().unwrap_or(Expr::Const(true)),
                    _ => Expr::And(out),
                }
            }
            Expr::Or(v) => {
                let mut out = Vec::new();
                for e in v.into_iter().map(Expr::simplify) {
                    match e {
                        Expr::Const(false) => {}
                        Expr::Const(true) => return Expr::Const(true),
                        Expr::Or(inner) => out.extend(inner),
                        e => out.push(e),
                    }
                }
                match out.len() {
                    0 => Expr::Const(false),
                    1 => out.pop().unwrap_or(Expr::Const(false)),
                    _ => Expr::Or(out),
                }
            }
            Expr::Not(e) => match e.simplify() {
                Expr::Const(b) => Expr::Const(!b),
                Expr::Not(inner) => *inner,
                e => Expr::Not(Box::new(e)),
            },
            e => e,
        }
    }
}

impl Pred {
    #[inline]
    pub fn eval(&self, ev: &Event) -> bool {
        if let Matcher::FieldRef(other) = &self.matcher {
            return self.field.any(ev, |a| other.any(ev, |b| same_value(a, b)));
        }
        if self.op == Op::Ne {
            // Falco: a missing value matches neither `=` nor `!=`.
            let mut seen = false;
            let hit = self.field.any(ev, |v| {
                seen = true;
                self.matcher.matches(v)
            });
            return seen && !hit;
        }
        self.field.any(ev, |v| self.matcher.matches(v))
    }

    /// Type-checks `field op values` and compiles the matcher. `Err` is the cause.
    pub fn new(field: Field, op: Op, values: Vec<String>) -> Result<Pred, String> {
        let matcher = build(&field, field.ty, op, &values)?;
        if field.names_addresses() {
            crate::rules::names::watch(values.iter().map(String::as_str));
        }
        Ok(Pred { field, op, values, matcher })
    }
}

/// Two fields' values are equal: same type and value, or a number and its decimal text.
fn same_value(a: Val, b: Val) -> bool {
    match (a, b) {
        (Val::Str(s), Val::Num(n)) | (Val::Num(n), Val::Str(s)) => s.trim().parse::<i64>() == Ok(n),
        (a, b) => a == b,
    }
}

fn unsupported(field: &Field, op: Op) -> String {
    format!("operator '{op}' is not supported by field '{}' ({})", field.text, field.ty.name())
}

fn wrong(field: &Field, want: &str, got: &str) -> String {
    format!("wrong operand type: field '{}' ({}) needs {want}, got '{got}'", field.text, field.ty.name())
}

fn parse_num(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok();
    }
    t.parse::<i64>().ok()
}

/// A shell glob as an anchored regex (`*` and `?` cross `/`, as fnmatch without FNM_PATHNAME).
pub(crate) fn glob_to_regex(g: &str, icase: bool) -> String {
    let mut r = String::from(if icase { "(?is)^" } else { "(?s)^" });
    let mut chars = g.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => r.push_str(".*"),
            '?' => r.push('.'),
            '[' => {
                let mut class = String::new();
                let mut closed = false;
                if chars.peek() == Some(&'!') || chars.peek() == Some(&'^') {
                    chars.next();
                    class.push('^');
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                    class.push_str("\\]");
                }
                for d in chars.by_ref() {
                    if d == ']' {
                        closed = true;
                        break;
                    }
                    if d == '\\' || d == '[' || d == '&' || d == '~' {
                        class.push('\\');
                    }
                    class.push(d);
                }
                if closed {
                    r.push('[');
                    r.push_str(&class);
                    r.push(']');
                } else {
                    r.push_str("\\[");
                    r.push_str(&regex::escape(&class));
                }
            }
            c => r.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    r.push('$');
    r
}

fn one<'a>(field: &Field, op: Op, values: &'a [String]) -> Result<&'a str, String> {
    match values {
        [v] => Ok(v),
        _ => Err(format!("operator '{op}' needs one value for field '{}'", field.text)),
    }
}

fn build(field: &Field, ty: FieldType, op: Op, values: &[String]) -> Result<Matcher, String> {
    if op == Op::Exists {
        return Ok(Matcher::Exists);
    }
    if op == Op::FieldEq {
        let text = one(field, op, values)?;
        let (name, arg) = match text.split_once('[') {
            Some((n, a)) => (n, Some(a.trim_end_matches(']'))),
            None => (text, None),
        };
        return Ok(Matcher::FieldRef(Box::new(super::fields::resolve(name, arg)?)));
    }
    match ty {
        FieldType::String => build_str(field, op, values),
        FieldType::Number | FieldType::Port => {
            if !matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::In | Op::Intersects) {
                return Err(unsupported(field, op));
            }
            let nums = values
                .iter()
                .map(|v| {
                    let n = parse_num(v).ok_or_else(|| wrong(field, "a number", v))?;
                    if ty == FieldType::Port && !(0..=65535).contains(&n) {
                        return Err(wrong(field, "a port number 0-65535", v));
                    }
                    Ok(n)
                })
                .collect::<Result<Vec<_>, _>>()?;
            match op {
                Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    let n = *one(field, op, values).and(Ok(&nums[0]))?;
                    Ok(Matcher::NumCmp(if op == Op::Ne { Op::Eq } else { op }, n))
                }
                Op::In | Op::Intersects => Ok(Matcher::NumIn(nums.into())),
                _ => Err(unsupported(field, op)),
            }
        }
        FieldType::Ip | FieldType::IpNet => {
            if !matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects) {
                return Err(unsupported(field, op));
            }
            let nets = values
                .iter()
                .map(|v| IpNet::parse(v).ok_or_else(|| wrong(field, "an IP address or CIDR network", v)))
                .collect::<Result<Vec<_>, _>>()?;
            match op {
                Op::Eq | Op::Ne => {
                    one(field, op, values)?;
                    Ok(Matcher::IpIn(nets.into()))
                }
                Op::In | Op::Intersects => Ok(Matcher::IpIn(nets.into())),
                _ => Err(unsupported(field, op)),
            }
        }
        FieldType::Flags => {
            let parts = || values.iter().flat_map(|v| v.split(['|', ' ', ','])).filter(|p| !p.is_empty());
            let set_op = matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects | Op::Contains);
            // A whole `CAP_` name that names no capability is a typo that could never match.
            let is_typo = |p: &str| p.to_ascii_uppercase().starts_with("CAP_") && capability_bit(p).is_none();
            if let Some(typo) = parts().find(|p| set_op && is_typo(p)) {
                return Err(wrong(field, "capability names", typo));
            }
            if !set_op || !parts().all(|p| capability_bit(p).is_some()) {
                return match build_str(field, op, values) {
                    Ok(text) => Ok(Matcher::FlagsText(Box::new(text))),
                    Err(_) => Err(unsupported(field, op)),
                };
            }
            let mut mask = 0u64;
            for v in values {
                for part in v.split(['|', ' ', ',']).filter(|p| !p.is_empty()) {
                    mask |= capability_bit(part).ok_or_else(|| wrong(field, "capability names", part))?;
                }
            }
            match op {
                Op::Contains => Ok(Matcher::FlagsAll(mask)),
                Op::Intersects | Op::In => Ok(Matcher::FlagsAny(mask)),
                Op::Eq | Op::Ne => Ok(Matcher::FlagsEq(mask)),
                _ => Err(unsupported(field, op)),
            }
        }
        FieldType::Bytes => match op {
            Op::BContains | Op::BStartsWith => build_str(field, op, values),
            _ => Err(unsupported(field, op)),
        },
        FieldType::Bool => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(unsupported(field, op));
            }
            let v = one(field, op, values)?;
            let b = match v.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(wrong(field, "true or false", v)),
            };
            match op {
                Op::Eq | Op::Ne => Ok(Matcher::BoolEq(b)),
                _ => Err(unsupported(field, op)),
            }
        }
        FieldType::Arg => {
            let text = build_str(field, op, values)?;
            let num = if matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::In | Op::Intersects)
                && values.iter().all(|v| parse_num(v).is_some())
            {
                Some(Box::new(build(field, FieldType::Number, op, values)?))
            } else if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) {
                return Err(wrong(field, "a number", values.first().map(String::as_str).unwrap_or("")));
            } else {
                None
            };
            Ok(Matcher::Arg(num, Box::new(text)))
        }
    }
}

fn build_str(field: &Field, op: Op, values: &[String]) -> Result<Matcher, String> {
    let regex = |pat: String, shown: &str| {
        Regex::new(&pat).map_err(|e| {
            let msg = e.to_string();
            let last = msg.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
            format!("bad regex '{shown}': {}", last.trim_start_matches("error: "))
        })
    };
    Ok(match op {
        Op::Eq | Op::Ne => Matcher::StrEq(one(field, op, values)?.into()),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => Matcher::StrOrd(op, one(field, op, values)?.into()),
        Op::Contains => Matcher::Contains(one(field, op, values)?.into()),
        Op::IContains => {
            let v = one(field, op, values)?;
            Matcher::Regex(regex(format!("(?i){}", regex::escape(v)), v)?)
        }
        Op::BContains | Op::BStartsWith => {
            let v = one(field, op, values)?;
            let bytes = hex_bytes(v).ok_or_else(|| wrong(field, "hex bytes", v))?;
            if op == Op::BContains {
                Matcher::BContains(bytes.into())
            } else {
                Matcher::BStartsWith(bytes.into())
            }
        }
        Op::StartsWith => Matcher::StartsWith(one(field, op, values)?.into()),
        Op::EndsWith => Matcher::EndsWith(one(field, op, values)?.into()),
        Op::IEq | Op::IStartsWith | Op::IEndsWith => {
            let v = one(field, op, values)?;
            match op {
                _ if !v.is_ascii() => {
                    let (pre, post) = match op {
                        Op::IEq => ("^", "$"),
                        Op::IStartsWith => ("^", ""),
                        _ => ("", "$"),
                    };
                    Matcher::Regex(regex(format!("(?i){pre}{}{post}", regex::escape(v)), v)?)
                }
                Op::IEq => Matcher::IStrEq(v.into()),
                Op::IStartsWith => Matcher::IStartsWith(v.into()),
                _ => Matcher::IEndsWith(v.into()),
            }
        }
        Op::Glob | Op::IGlob => {
            let v = one(field, op, values)?;
            if op == Op::Glob && !v.contains(['*', '?', '[']) {
                Matcher::StrEq(v.into())
            } else {
                Matcher::Regex(regex(glob_to_regex(v, op == Op::IGlob), v)?)
            }
        }
        Op::Regex => {
            let v = one(field, op, values)?;
            Matcher::Regex(regex(v.to_owned(), v)?)
        }
        Op::In | Op::Intersects => Matcher::StrIn(StrSet::new(values)),
        Op::PMatch => {
            if let Some(bad) = values.iter().find(|v| !v.starts_with('/')) {
                return Err(wrong(field, "absolute paths", bad));
            }
            Matcher::PMatch(values.iter().map(|v| v.trim_end_matches('/').into()).collect::<Vec<Box<str>>>().into())
        }
        Op::Exists => Matcher::Exists,
        Op::FieldEq => return Err(unsupported(field, op)),
    })
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len()).step_by(2).map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok()).collect()
}

mod fuse;
#[cfg(test)]
mod tests;
