//! Search identifiers -> conditions: a map's fields are ANDed, a field's values ORed (ANDed with
//! `all`), the maps of a list ORed; a list of plain values is a keyword search, over the command
//! line (the text a syscall event has that a log line would).

use super::logsource::{self, Category, Reason, Target};
use super::modifiers::{apply, parse_key, Modifier, Raw, Value, Values};
use super::pattern::{Pattern, Piece};
use super::Problem;
use crate::rules::eval::{Expr, Pred};
use crate::rules::fields::{resolve, Field, FieldType};
use crate::rules::ir::Op;
use crate::rules::yaml::{Node, Pos};

/// What keywords search.
const KEYWORD_FIELD: (&str, &str) = ("CommandLine", "proc.cmdline");

/// The rule's log source, and the fields its detection names (Sigma name, ours) in first use
/// order, for the output.
pub struct Cx {
    pub cat: Category,
    pub used: Vec<(String, &'static str)>,
}

impl Cx {
    pub fn new(cat: Category) -> Cx {
        Cx { cat, used: Vec::new() }
    }

    fn note(&mut self, sigma: &str, ours: &'static str) {
        if !self.used.iter().any(|(s, _)| s == sigma) {
            self.used.push((sigma.to_owned(), ours));
        }
    }
}

/// One search identifier's value.
pub fn search(cx: &mut Cx, node: &Node) -> Result<Expr, Problem> {
    match node {
        Node::Map { entries, pos } => map(cx, entries, *pos),
        Node::Seq { items, pos } if items.is_empty() => Err(Problem::Error(*pos, "empty search identifier".into())),
        Node::Seq { items, .. } if items.iter().all(|i| matches!(i, Node::Map { .. })) => {
            Ok(Expr::Or(items.iter().map(|i| search(cx, i)).collect::<Result<_, _>>()?))
        }
        Node::Seq { items, pos } if items.iter().all(|i| matches!(i, Node::Scalar { .. })) => {
            keywords(cx, &[], items.iter().map(raw).collect(), *pos)
        }
        Node::Seq { pos, .. } => {
            Err(Problem::Error(*pos, "a search identifier's list holds either maps or values, not both".into()))
        }
        Node::Scalar { pos, .. } => keywords(cx, &[], vec![raw(node)], *pos),
    }
}

fn map(cx: &mut Cx, entries: &[(Node, Node)], pos: Pos) -> Result<Expr, Problem> {
    if entries.is_empty() {
        return Err(Problem::Error(pos, "empty search identifier".into()));
    }
    let mut all = Vec::new();
    for (k, v) in entries {
        let err = |m: String| Problem::Error(k.pos(), m);
        let key = k.as_str().ok_or_else(|| err(format!("a field name must be a string, found {}", k.kind())))?;
        let (field, mods) = parse_key(key).map_err(err)?;
        let values = match v {
            Node::Seq { items, .. } => {
                if let Some(bad) = items.iter().find(|i| !matches!(i, Node::Scalar { .. })) {
                    return Err(Problem::Error(bad.pos(), format!("'{key}': values must be scalars")));
                }
                items.iter().map(raw).collect()
            }
            Node::Scalar { .. } => vec![raw(v)],
            Node::Map { pos, .. } => return Err(Problem::Error(*pos, format!("'{key}': values must be scalars"))),
        };
        all.push(if field.is_empty() {
            keywords(cx, &mods, values, k.pos())?
        } else {
            field_values(cx, field, &mods, values, k.pos())?
        });
    }
    Ok(Expr::And(all))
}

fn raw(n: &Node) -> Raw {
    match n.as_str() {
        Some(s) if !n.is_null() => Raw::Text(s.to_owned()),
        _ => Raw::Null,
    }
}

/// Keywords: anywhere in the command line, unless a modifier says where.
fn keywords(cx: &mut Cx, mods: &[Modifier], values: Vec<Raw>, pos: Pos) -> Result<Expr, Problem> {
    let mut mods = mods.to_vec();
    if !mods.iter().any(|m| matches!(m, Modifier::StartsWith | Modifier::EndsWith | Modifier::Contains) || m.is_type())
    {
        mods.push(Modifier::Contains);
    }
    let (sigma, ours) = KEYWORD_FIELD;
    cx.note(sigma, ours);
    let values = apply(&mods, values).map_err(|m| Problem::Error(pos, format!("keywords: {m}")))?;
    combine(cx, sigma, ours, values, pos)
}

fn field_values(cx: &mut Cx, name: &str, mods: &[Modifier], raw: Vec<Raw>, pos: Pos) -> Result<Expr, Problem> {
    let target = logsource::field(cx.cat, name).map_err(|m| Problem::Error(pos, m))?;
    let values = apply(mods, raw).map_err(|m| Problem::Error(pos, format!("'{name}': {m}")))?;
    match target {
        Target::Initiated => initiated(&values, pos),
        Target::Field(ours) => {
            cx.note(name, ours);
            combine(cx, name, ours, values, pos)
        }
    }
}

fn combine(cx: &Cx, name: &str, ours: &str, values: Values, pos: Pos) -> Result<Expr, Problem> {
    let field = resolve(ours, None).map_err(|m| Problem::Error(pos, m))?;
    let one = |v: &Value| value(cx, name, &field, v, values.cased, pos);
    let exprs = values.values.iter().map(one).collect::<Result<Vec<_>, _>>()?;
    let e = if values.all { Expr::And(exprs) } else { Expr::Or(exprs) };
    Ok(if values.negate { Expr::Not(Box::new(e)) } else { e })
}

/// `Initiated`: every event served is a connection this host opened.
fn initiated(values: &Values, pos: Pos) -> Result<Expr, Problem> {
    let text = |v: &Value| match v {
        Value::Pattern(p) => p.as_literal().map(|t| t.to_ascii_lowercase()),
        _ => None,
    };
    let mut any = false;
    for v in &values.values {
        match text(v).as_deref() {
            Some("true") => any = true,
            Some("false") => {
                return Err(Problem::Unsupported(
                    pos,
                    Reason::InboundConnection,
                    "Initiated: 'false' (accepted connections) is not decoded yet".into(),
                ))
            }
            _ => return Err(Problem::Error(pos, "'Initiated' is 'true' or 'false'".into())),
        }
    }
    Ok(Expr::Const(any != values.negate))
}

fn value(cx: &Cx, name: &str, field: &Field, v: &Value, cased: bool, pos: Pos) -> Result<Expr, Problem> {
    let err = |m: String| Problem::Error(pos, format!("'{name}': {m}"));
    let check = |op: Op, operand: Vec<String>| {
        Pred::new(field.clone(), op, operand).map(|p| Expr::Check(Box::new(p))).map_err(err)
    };
    let exists = || check(Op::Exists, vec![]);
    let address = matches!(field.ty, FieldType::Ip | FieldType::IpNet);
    let number = matches!(field.ty, FieldType::Number | FieldType::Port);
    match v {
        Value::Null => Ok(Expr::Not(Box::new(exists()?))),
        Value::Exists(true) => exists(),
        Value::Exists(false) => Ok(Expr::Not(Box::new(exists()?))),
        Value::Regex(r) => {
            hostname(field, None, pos)?;
            check(Op::Regex, vec![r.clone()])
        }
        Value::Cidr(_) if !address => Err(err("modifier 'cidr' needs an address field".into())),
        Value::Cidr(c) => check(Op::In, vec![c.clone()]),
        Value::Cmp(..) if !number => Err(err("modifiers lt, lte, gt and gte need a numeric field".into())),
        Value::Cmp(op, n) => check(*op, vec![n.clone()]),
        Value::FieldRef(other) => match logsource::field(cx.cat, other).map_err(err)? {
            Target::Field(ours) => check(Op::FieldEq, vec![ours.to_owned()]),
            Target::Initiated => Err(err("'Initiated' cannot be a field reference".into())),
        },
        Value::Pattern(p) if number || address => match (p.as_literal(), network_prefix(p)) {
            (Some(lit), _) => check(Op::Eq, vec![lit]),
            (None, Some(net)) if address => check(Op::In, vec![net]),
            _ if address => {
                Err(err("an address matches exactly, by 'cidr', or by a dotted IPv4 prefix ('10.*')".into()))
            }
            _ => Err(err("a number matches exactly (wildcards and contains are for text)".into())),
        },
        // The empty value: events leave empty text out, so it is also a missing one.
        Value::Pattern(p) if p.0.is_empty() => {
            Ok(Expr::Or(vec![check(Op::Eq, vec![String::new()])?, Expr::Not(Box::new(exists()?))]))
        }
        Value::Pattern(p) => {
            hostname(field, Some(p), pos)?;
            match p.to_op(cased) {
                Some((op, operand)) => check(op, vec![operand]),
                None => exists(),
            }
        }
    }
}

/// `10.*`, `172.16.*` as the network they name.
fn network_prefix(p: &Pattern) -> Option<String> {
    let [Piece::Lit(prefix), Piece::Any] = p.0.as_slice() else { return None };
    let octets: Vec<&str> = prefix.strip_suffix('.')?.split('.').collect();
    if octets.len() > 3 || !octets.iter().all(|o| o.parse::<u8>().is_ok()) {
        return None;
    }
    let mut full = octets.clone();
    full.resize(4, "0");
    Some(format!("{}/{}", full.join("."), 8 * octets.len()))
}

/// Names of addresses are known only for complete names the rules give (they are resolved
/// forward): a pattern must contain one, and a suffix or a regex cannot be served.
fn hostname(field: &Field, p: Option<&Pattern>, pos: Pos) -> Result<(), Problem> {
    if !field.names_addresses() {
        return Ok(());
    }
    let name = p.and_then(|p| match p.0.as_slice() {
        [Piece::Lit(s)]
        | [Piece::Any, Piece::Lit(s)]
        | [Piece::Lit(s), Piece::Any]
        | [Piece::Any, Piece::Lit(s), Piece::Any] => Some(s.as_str()),
        _ => None,
    });
    let complete = |n: &str| {
        n.contains('.')
            && !n.starts_with('.')
            && !n.ends_with('.')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    match name {
        Some(n) if complete(n) => Ok(()),
        _ => Err(Problem::Unsupported(
            pos,
            Reason::HostnamePattern,
            "a host name pattern: names are known only by resolving the complete names rules give".into(),
        )),
    }
}
