//! A YAML tree that keeps the line and column of every node (built from yaml-rust2's events).

use std::collections::HashMap;
use yaml_rust2::parser::{Event as YEvent, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    fn from_marker(m: &Marker) -> Pos {
        Pos { line: m.line() as u32, col: m.col() as u32 + 1 }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Scalar { value: String, style: TScalarStyle, pos: Pos },
    Seq { items: Vec<Node>, pos: Pos },
    Map { entries: Vec<(Node, Node)>, pos: Pos },
}

impl Node {
    pub fn pos(&self) -> Pos {
        match self {
            Node::Scalar { pos, .. } | Node::Seq { pos, .. } | Node::Map { pos, .. } => *pos,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
    /// A plain `~`, `null` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { value, style: TScalarStyle::Plain, .. }
            if value.is_empty() || value == "~" || value == "null" || value == "Null" || value == "NULL")
    }
    pub fn is_quoted(&self) -> bool {
        matches!(self, Node::Scalar { style: TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted, .. })
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self.as_str()? {
            "true" | "True" | "TRUE" | "yes" | "on" => Some(true),
            "false" | "False" | "FALSE" | "no" | "off" => Some(false),
            _ => None,
        }
    }
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }
    /// The key node of `key` in a mapping (for positions).
    pub fn key(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(k, _)| k),
            _ => None,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Scalar { .. } => "a scalar",
            Node::Seq { .. } => "a sequence",
            Node::Map { .. } => "a mapping",
        }
    }
    /// Where a scalar's text begins in the file (after the quote or the block indicator line).
    pub fn text_pos(&self) -> Pos {
        match self {
            Node::Scalar { pos, style, .. } => match style {
                TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => Pos { line: pos.line, col: pos.col + 1 },
                TScalarStyle::Plain => *pos,
                _ => Pos { line: pos.line + 1, col: 1 },
            },
            other => other.pos(),
        }
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Node, Option<Node>, usize)>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some((Node::Seq { items, .. }, _, _)) => items.push(node),
            Some((Node::Map { entries, .. }, key, _)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
            Some(_) => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: YEvent, mark: Marker) {
        let pos = Pos::from_marker(&mark);
        match ev {
            YEvent::Scalar(value, style, anchor, _) => self.push_value(Node::Scalar { value, style, pos }, anchor),
            YEvent::SequenceStart(anchor, _) => self.stack.push((Node::Seq { items: Vec::new(), pos }, None, anchor)),
            YEvent::MappingStart(anchor, _) => self.stack.push((Node::Map { entries: Vec::new(), pos }, None, anchor)),
            YEvent::SequenceEnd | YEvent::MappingEnd => {
                if let Some((mut node, _, anchor)) = self.stack.pop() {
                    // A block mapping's start mark is at its first ':'; use its first key's.
                    if let Node::Map { entries, pos } = &mut node {
                        if let Some((k, _)) = entries.first() {
                            if k.pos() < *pos {
                                *pos = k.pos();
                            }
                        }
                    }
                    self.push_value(node, anchor);
                }
            }
            YEvent::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node::Scalar {
                    value: String::new(),
                    style: TScalarStyle::Plain,
                    pos,
                });
                self.push_value(node, 0);
            }
            _ => {}
        }
    }
}

/// Parses every document of `text`; on a syntax error returns its position and message.
pub fn parse(text: &str) -> Result<Vec<Node>, (Pos, String)> {
    let mut b = Builder::default();
    let mut p = Parser::new_from_str(text);
    match p.load(&mut b, true) {
        Ok(()) => Ok(b.docs),
        Err(e) => Err((Pos::from_marker(e.marker()), format!("invalid YAML: {}", e.info()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_kept() {
        let docs = parse("- rule: a\n  condition: evt.type = open\n").unwrap();
        let Node::Seq { items, .. } = &docs[0] else { panic!() };
        let cond = items[0].get("condition").unwrap();
        assert_eq!(cond.pos(), Pos { line: 2, col: 14 });
        assert_eq!(cond.as_str(), Some("evt.type = open"));
    }

    #[test]
    fn syntax_error_has_position() {
        let (pos, msg) = parse("- rule: a\n  condition: [\n").unwrap_err();
        assert!(pos.line >= 2, "{pos:?}");
        assert!(msg.starts_with("invalid YAML"));
    }

    #[test]
    fn aliases_resolve() {
        let docs = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(docs[0].get("b").unwrap().kind(), "a sequence");
    }
}
