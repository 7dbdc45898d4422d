//! Value modifiers (`Field|contains|all`): parsing a key's chain, and applying it to the
//! values in the spec's order (transformations on the strings, then how they are matched).

use super::pattern::{Pattern, Piece};
use crate::rules::ir::Op;
use base64::Engine as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Cased,
    Neq,
    Windash,
    Base64,
    Base64Offset,
    /// UTF-16 for the next base64: little-endian, big-endian, or with a byte order mark.
    Utf16le,
    Utf16be,
    Utf16,
    Re,
    /// `re` flags: `i`, `m`, `s`.
    ReFlag(char),
    Cidr,
    Exists,
    /// `lt`, `lte`, `gt`, `gte`.
    Cmp(Op),
    FieldRef,
}

impl Modifier {
    fn parse(name: &str) -> Result<Modifier, String> {
        use Modifier::*;
        Ok(match name {
            "contains" => Contains,
            "startswith" => StartsWith,
            "endswith" => EndsWith,
            "all" => All,
            "cased" => Cased,
            "neq" => Neq,
            "windash" => Windash,
            "base64" => Base64,
            "base64offset" => Base64Offset,
            "utf16le" | "wide" => Utf16le,
            "utf16be" => Utf16be,
            "utf16" => Utf16,
            "re" => Re,
            "i" | "m" | "s" => ReFlag(name.chars().next().unwrap_or('i')),
            "cidr" => Cidr,
            "exists" => Exists,
            "lt" => Cmp(Op::Lt),
            "lte" => Cmp(Op::Le),
            "gt" => Cmp(Op::Gt),
            "gte" => Cmp(Op::Ge),
            "fieldref" => FieldRef,
            "expand" => {
                return Err("modifier 'expand': placeholders need values from a processing pipeline, \
                            which this engine does not have"
                    .into())
            }
            "minute" | "hour" | "day" | "week" | "month" | "year" => {
                return Err(format!("modifier '{name}' needs a date field; syscall events have none"))
            }
            other => return Err(format!("unknown modifier '{other}'")),
        })
    }

    fn name(self) -> &'static str {
        use Modifier::*;
        match self {
            Contains => "contains",
            StartsWith => "startswith",
            EndsWith => "endswith",
            All => "all",
            Cased => "cased",
            Neq => "neq",
            Windash => "windash",
            Base64 => "base64",
            Base64Offset => "base64offset",
            Utf16le => "utf16le",
            Utf16be => "utf16be",
            Utf16 => "utf16",
            Re => "re",
            ReFlag(_) => "re flag",
            Cidr => "cidr",
            Exists => "exists",
            Cmp(Op::Lt) => "lt",
            Cmp(Op::Le) => "lte",
            Cmp(Op::Gt) => "gt",
            Cmp(_) => "gte",
            FieldRef => "fieldref",
        }
    }

    /// Decides what the values are, rather than transforming them.
    pub fn is_type(self) -> bool {
        matches!(self, Modifier::Re | Modifier::Cidr | Modifier::Exists | Modifier::Cmp(_) | Modifier::FieldRef)
    }
}

/// `Field|mod|mod` -> the field name (empty for keywords) and the modifiers.
pub fn parse_key(key: &str) -> Result<(&str, Vec<Modifier>), String> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("");
    let mods = parts.map(Modifier::parse).collect::<Result<Vec<_>, _>>()?;
    let types: Vec<&Modifier> = mods.iter().filter(|m| m.is_type()).collect();
    if types.len() > 1 {
        return Err(format!("'{key}' combines modifiers that each decide what the value is"));
    }
    if mods.iter().any(|m| matches!(m, Modifier::ReFlag(_))) && !mods.contains(&Modifier::Re) {
        return Err(format!("'{key}': the flags i, m and s belong to 're'"));
    }
    Ok((field, mods))
}

/// One value from the rule file.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    Null,
    Text(String),
}

/// A value ready to match.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`: the field is absent.
    Null,
    Pattern(Pattern),
    /// A regular expression with its flags applied.
    Regex(String),
    Cidr(String),
    Exists(bool),
    Cmp(Op, String),
    FieldRef(String),
}

/// The values of one field of a selection, and how they combine.
#[derive(Debug, PartialEq)]
pub struct Values {
    pub values: Vec<Value>,
    /// AND instead of OR.
    pub all: bool,
    /// Matches when none of the values does (`neq`).
    pub negate: bool,
    pub cased: bool,
}

/// Applies `mods` in order to `raw`.
pub fn apply(mods: &[Modifier], raw: Vec<Raw>) -> Result<Values, String> {
    use Modifier::*;
    let all = mods.contains(&All);
    if all && raw.len() < 2 {
        return Err("modifier 'all' needs a list of values".into());
    }
    let mut out = Values { values: Vec::new(), all, negate: mods.contains(&Neq), cased: mods.contains(&Cased) };
    let text = |r: Raw| match r {
        Raw::Text(t) => Ok(t),
        Raw::Null => Err("null is not a value for this modifier".to_owned()),
    };
    if let Some(kind) = mods.iter().copied().find(|m| m.is_type()) {
        if let Some(other) = mods.iter().find(|m| !m.is_type() && !matches!(m, All | Neq | Cased | ReFlag(_))) {
            return Err(format!("modifier '{}' does not combine with '{}'", other.name(), kind.name()));
        }
        for r in raw {
            let t = text(r)?;
            out.values.push(match kind {
                Re => {
                    let flags: String =
                        mods.iter().filter_map(|m| if let ReFlag(f) = m { Some(*f) } else { None }).collect();
                    Value::Regex(if flags.is_empty() { t } else { format!("(?{flags}){t}") })
                }
                Cidr => Value::Cidr(t),
                Exists => match t.as_str() {
                    "true" => Value::Exists(true),
                    "false" => Value::Exists(false),
                    _ => return Err(format!("modifier 'exists' needs true or false, got '{t}'")),
                },
                Cmp(op) => Value::Cmp(op, t),
                _ => Value::FieldRef(t),
            });
        }
        return Ok(out);
    }
    // Strings: transformations first, in order; where the value goes last.
    let mut values: Vec<Option<Pattern>> =
        raw.into_iter().map(|r| if let Raw::Text(t) = r { Some(Pattern::parse(&t)) } else { None }).collect();
    let mut utf16 = None;
    for m in mods {
        let each = |values: Vec<Option<Pattern>>, f: &dyn Fn(Pattern) -> Result<Vec<Pattern>, String>| {
            let mut next = Vec::new();
            for v in values {
                let p = v.ok_or_else(|| format!("null is not a value for modifier '{}'", m.name()))?;
                next.extend(f(p)?.into_iter().map(Some));
            }
            Ok::<_, String>(next)
        };
        values = match m {
            Utf16le | Utf16be | Utf16 => {
                utf16 = Some(*m);
                values
            }
            Windash => each(values, &|p| windash(&p))?,
            Base64 | Base64Offset => each(values, &|p| {
                let text = p.as_literal().ok_or("base64 of a value with wildcards")?;
                let bytes = encode(&text, utf16);
                Ok(if *m == Base64 { vec![Pattern::literal(&b64(&bytes))] } else { base64_offsets(&bytes) })
            })?,
            Contains => each(values, &|p| Ok(vec![p.wrap(true, true)]))?,
            StartsWith => each(values, &|p| Ok(vec![p.wrap(false, true)]))?,
            EndsWith => each(values, &|p| Ok(vec![p.wrap(true, false)]))?,
            _ => values,
        };
    }
    out.values = values.into_iter().map(|v| v.map_or(Value::Null, Value::Pattern)).collect();
    Ok(out)
}

/// The characters Windows accepts before a command line flag.
const DASHES: [char; 5] = ['-', '/', '–', '—', '―'];
/// Each dash has five spellings: 5^n variants for n dashes.
const MAX_DASHES: usize = 5;

/// Every spelling of the value's dashes.
fn windash(p: &Pattern) -> Result<Vec<Pattern>, String> {
    let dashes = |piece: &Piece| match piece {
        Piece::Lit(s) => s.chars().filter(|c| DASHES.contains(c)).count(),
        _ => 0,
    };
    let n: usize = p.0.iter().map(dashes).sum();
    if n > MAX_DASHES {
        return Err(format!("modifier 'windash' on a value with {n} dashes (at most {MAX_DASHES})"));
    }
    let mut out = Vec::new();
    for combo in 0..DASHES.len().pow(n as u32) {
        let mut k = 0;
        out.push(p.map_text(|s| {
            s.chars()
                .map(|c| {
                    if !DASHES.contains(&c) {
                        return c;
                    }
                    let d = DASHES[combo / DASHES.len().pow(k) % DASHES.len()];
                    k += 1;
                    d
                })
                .collect()
        }));
    }
    Ok(out)
}

fn encode(text: &str, utf16: Option<Modifier>) -> Vec<u8> {
    match utf16 {
        Some(Modifier::Utf16le) => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        Some(Modifier::Utf16be) => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        Some(_) => [0xff, 0xfe].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect(),
        None => text.as_bytes().to_vec(),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The three forms `bytes` takes inside a longer base64 text, by its offset modulo 3: the
/// characters that depend only on `bytes`.
fn base64_offsets(bytes: &[u8]) -> Vec<Pattern> {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut shifted = vec![b' '; i];
            shifted.extend_from_slice(bytes);
            let enc = b64(&shifted);
            let end = enc.len().saturating_sub(END_TRIM[(bytes.len() + i) % 3]);
            Pattern::literal(enc.get(START[i]..end.max(START[i])).unwrap_or(""))
        })
        .collect()
}

#[cfg(test)]
mod tests;
