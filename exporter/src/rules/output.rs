//! Output templates (`%proc.name`, `%proc.aname[2]`) and the alert JSON line.

use super::event::Event;
use super::fields::{resolve, Field};
use super::ir::SigmaIdentity;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Field(Field),
    /// A field this engine does not know: rendered as `<NA>`.
    Unknown(String),
}

/// A parsed output template.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`; returns the template and the cause for each unknown field.
    pub fn parse(text: &str) -> (Template, Vec<String>) {
        let mut pieces = Vec::new();
        let mut warnings = Vec::new();
        let mut lit = String::new();
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 1 < b.len() && (b[i + 1].is_ascii_alphabetic() || b[i + 1] == b'(') {
                let paren = b[i + 1] == b'(';
                let mut j = i + 1 + paren as usize;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                    j += 1;
                }
                let mut name_end = j;
                while name_end > i + 1 && b[name_end - 1] == b'.' {
                    name_end -= 1;
                }
                let name = &text[i + 1 + paren as usize..name_end];
                let mut arg = None;
                let mut end = name_end;
                if end == j && j < b.len() && b[j] == b'[' {
                    if let Some(c) = text[j..].find(']') {
                        arg = Some(&text[j + 1..j + c]);
                        end = j + c + 1;
                    }
                }
                if paren && end < b.len() && b[end] == b')' {
                    end += 1;
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut lit)));
                }
                if name == "container.info" && arg.is_none() {
                    // Falco's placeholder for the container details.
                    for (t, f) in [("container_id=", "container.id"), (" container_name=", "container.name")] {
                        pieces.push(Piece::Text(t.to_owned()));
                        pieces.extend(resolve(f, None).ok().map(Piece::Field));
                    }
                    i = end;
                    continue;
                }
                match resolve(name, arg) {
                    Ok(f) => pieces.push(Piece::Field(f)),
                    Err(e) => {
                        warnings.push(e);
                        pieces.push(Piece::Unknown(text[i + 1..end].to_owned()));
                    }
                }
                i = end;
            } else {
                let ch_end = (i + 1..=b.len()).find(|&k| text.is_char_boundary(k)).unwrap_or(b.len());
                lit.push_str(&text[i..ch_end]);
                i = ch_end;
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        (Template { pieces }, warnings)
    }

    pub fn render(&self, ev: &Event, out: &mut String) {
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => f.render(ev, out),
                Piece::Unknown(_) => out.push_str("<NA>"),
            }
        }
    }

    /// Field name -> value of every field of the template.
    pub fn fields(&self, ev: &Event) -> BTreeMap<String, serde_json::Value> {
        let mut m = BTreeMap::new();
        for p in &self.pieces {
            match p {
                Piece::Field(f) => {
                    m.insert(f.text.clone(), f.json(ev));
                }
                Piece::Unknown(n) => {
                    m.insert(n.clone(), serde_json::Value::Null);
                }
                Piece::Text(_) => {}
            }
        }
        m
    }

    /// Fields used by the template.
    pub fn field_names(&self) -> Vec<&str> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Field(f) => Some(f.text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Renders nanoseconds since the epoch as RFC 3339 UTC with nanoseconds.
pub fn render_time(ns: u64, out: &mut String) {
    let secs = (ns / 1_000_000_000) as i64;
    let nanos = ns % 1_000_000_000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    use std::fmt::Write as _;
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem / 60 % 60, rem % 60);
}

/// One alert, as the exporter emits it (one JSON object a line).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Alert {
    pub time: String,
    pub rule: String,
    /// Lower-case Falco priority name.
    pub priority: String,
    pub output: String,
    pub output_fields: BTreeMap<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub source: String,
    pub hostname: String,
    pub container_id: String,
    pub container_name: String,
    pub image: String,
    pub pod: String,
    pub namespace: String,
    /// A Sigma rule's identity (absent for Falco rules, whose alerts keep Falco's shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma: Option<Arc<SigmaIdentity>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fields_and_args() {
        let (t, w) = Template::parse("Shell %proc.name (parent=%proc.aname[1] file=%fd.name.) 100% %nope.x");
        assert_eq!(w, ["unknown field 'nope.x'"]);
        let mut e =
            Event::from_json(r#"{"proc":{"name":"sh","ancestors":[{"name":"bash"}]},"fd":{"name":"/x"}}"#).unwrap();
        e.normalize();
        let mut s = String::new();
        t.render(&e, &mut s);
        assert_eq!(s, "Shell sh (parent=bash file=/x.) 100% <NA>");
        let f = t.fields(&e);
        assert_eq!(f["proc.aname[1]"], "bash");
        assert_eq!(f["nope.x"], serde_json::Value::Null);
        assert_eq!(t.field_names(), ["proc.name", "proc.aname[1]", "fd.name"]);
        let (t, w) = Template::parse("x %container.info");
        assert!(w.is_empty());
        s.clear();
        t.render(&e, &mut s);
        assert_eq!(s, "x container_id=host container_name=host");
    }

    #[test]
    fn time_rendering() {
        let mut s = String::new();
        render_time(1_700_000_000_123_456_789, &mut s);
        assert_eq!(s, "2023-11-14T22:13:20.123456789Z");
        s.clear();
        render_time(0, &mut s);
        assert_eq!(s, "1970-01-01T00:00:00.000000000Z");
    }
}
