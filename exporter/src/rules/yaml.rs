//! A YAML tree that keeps the line and column of every node (built from yaml-rust2's events),
//! accepting the closing brackets yaml-cpp (Falco's parser) accepts, see [`parse`].

use std::borrow::Cow;
use std::collections::HashMap;
use yaml_rust2::parser::{Event as YEvent, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// Spaces added at the start of lines (by 1-based line) to re-indent closing brackets; taken
/// off again when a position on such a line is reported, so positions are the file's.
#[derive(Default)]
struct Reindented {
    added: HashMap<usize, usize>,
    /// How many times the text was re-indented and parsed again.
    passes: usize,
}

impl Reindented {
    fn pos(&self, m: &Marker) -> Pos {
        let added = self.added.get(&m.line()).copied().unwrap_or(0);
        Pos { line: m.line() as u32, col: m.col().saturating_sub(added) as u32 + 1 }
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
    /// `key`'s scalar value and its position; `Ok(None)` when the mapping has no `key`.
    pub fn get_str(&self, key: &str) -> Result<Option<(&str, Pos)>, (Pos, String)> {
        let Some(v) = self.get(key) else { return Ok(None) };
        match v.as_str() {
            Some(s) => Ok(Some((s, v.pos()))),
            None => Err((v.pos(), format!("'{key}' must be a string, found {}", v.kind()))),
        }
    }
    /// `key`'s boolean; `Ok(None)` when the mapping has no `key`.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, (Pos, String)> {
        let Some(v) = self.get(key) else { return Ok(None) };
        v.as_bool().map(Some).ok_or_else(|| (v.pos(), format!("'{key}' must be true or false")))
    }
    /// The items of `key`'s sequence, none for a null value; `Ok(None)` when the mapping has
    /// no `key`.
    pub fn get_seq(&self, key: &str) -> Result<Option<&[Node]>, (Pos, String)> {
        match self.get(key) {
            None => Ok(None),
            Some(Node::Seq { items, .. }) => Ok(Some(items)),
            Some(v) if v.is_null() => Ok(Some(&[])),
            Some(v) => Err((v.pos(), format!("'{key}' must be a list, found {}", v.kind()))),
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

// Limits on what a file may build. Rules files nest about six deep and Falco's own use no
// anchors, while a few hundred bytes of anchors aliasing each other nine to a level expand to
// billions of nodes, and nesting without end overflows the stack of whatever walks the tree.

/// Collections inside each other, at most.
const MAX_DEPTH: usize = 128;
/// Nodes one alias may stand for: a shared list of exception values is far smaller.
const MAX_ALIAS_NODES: usize = 10_000;
/// Nodes all the aliases of a file may add together (about 100 MB of tree at most).
const MAX_ALIASED_NODES: usize = 1_000_000;

/// An anchored node, with its size for the limits of aliases to it.
struct Anchored {
    node: Node,
    nodes: usize,
    depth: usize,
}

/// The tree under construction. yaml-rust2's own loader recurses once per nesting level, so
/// the events are pulled here instead, where a limit can also stop the parse.
struct Builder<'a> {
    /// Open collections: the node, a mapping's key waiting for its value, the anchor id.
    stack: Vec<(Node, Option<Node>, usize)>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Anchored>,
    /// Nodes added by aliases so far.
    aliased: usize,
    reindented: &'a Reindented,
}

/// Why a parse stopped: yaml-rust2's syntax error, or one of the limits above.
enum Stop {
    Syntax(ScanError),
    Limit(Pos, String),
}

impl<'a> Builder<'a> {
    fn build(text: &str, reindented: &'a Reindented) -> Result<Vec<Node>, Stop> {
        let mut b = Builder { stack: Vec::new(), docs: Vec::new(), anchors: HashMap::new(), aliased: 0, reindented };
        let mut parser = Parser::new_from_str(text);
        loop {
            let (ev, mark) = parser.next_token().map_err(Stop::Syntax)?;
            if ev == YEvent::StreamEnd {
                return Ok(b.docs);
            }
            b.event(ev, &mark).map_err(|(pos, msg)| Stop::Limit(pos, msg))?;
        }
    }

    fn event(&mut self, ev: YEvent, mark: &Marker) -> Result<(), (Pos, String)> {
        let pos = self.reindented.pos(mark);
        match ev {
            // Anchors are per document.
            YEvent::DocumentStart => self.anchors.clear(),
            YEvent::Scalar(value, style, anchor, _) => self.push_value(Node::Scalar { value, style, pos }, anchor),
            YEvent::SequenceStart(anchor, _) => self.open(Node::Seq { items: Vec::new(), pos }, anchor)?,
            YEvent::MappingStart(anchor, _) => self.open(Node::Map { entries: Vec::new(), pos }, anchor)?,
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
                let node = self.alias(id, pos)?;
                self.push_value(node, 0);
            }
            _ => {}
        }
        Ok(())
    }

    fn open(&mut self, node: Node, anchor: usize) -> Result<(), (Pos, String)> {
        if self.stack.len() >= MAX_DEPTH {
            return Err((node.pos(), format!("YAML nested more than {MAX_DEPTH} collections deep")));
        }
        self.stack.push((node, None, anchor));
        Ok(())
    }

    /// A copy of the anchored node, within the limits.
    fn alias(&mut self, id: usize, pos: Pos) -> Result<Node, (Pos, String)> {
        // yaml-rust2 refuses an undefined anchor name; what remains is an anchor still open.
        let Some(a) = self.anchors.get(&id) else {
            return Err((pos, "YAML alias inside the node it refers to (or to another document's anchor)".into()));
        };
        if a.nodes > MAX_ALIAS_NODES {
            return Err((
                pos,
                format!("YAML alias expands to {} nodes, more than the {MAX_ALIAS_NODES} one alias may", a.nodes),
            ));
        }
        self.aliased += a.nodes;
        if self.aliased > MAX_ALIASED_NODES {
            return Err((pos, format!("YAML aliases expand to more than {MAX_ALIASED_NODES} nodes in all")));
        }
        if self.stack.len() + a.depth > MAX_DEPTH {
            return Err((pos, format!("YAML alias nests collections more than {MAX_DEPTH} deep")));
        }
        Ok(a.node.clone())
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let (nodes, depth) = measure(&node);
            self.anchors.insert(anchor, Anchored { node: node.clone(), nodes, depth });
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

/// (nodes, collections deep) of a tree: `[a, [b]]` is (4, 2).
fn measure(node: &Node) -> (usize, usize) {
    let add = |(nodes, depth): (usize, usize), child: &Node| {
        let (n, d) = measure(child);
        (nodes + n, depth.max(d + 1))
    };
    match node {
        Node::Scalar { .. } => (1, 0),
        Node::Seq { items, .. } => items.iter().fold((1, 1), add),
        Node::Map { entries, .. } => entries.iter().flat_map(|(k, v)| [k, v]).fold((1, 1), add),
    }
}

/// Parses every document of `text`; on a syntax error, or past a limit on nesting and aliases
/// (`MAX_DEPTH`, `MAX_ALIAS_NODES`, `MAX_ALIASED_NODES`), returns the position and cause.
///
/// yaml-rust2 keeps the spec's rule that a flow collection's lines, its closing `]` or `}`
/// included, are indented deeper than the block node around it; yaml-cpp ignores indentation
/// inside flow collections, and Falco's rules files close lists under their key:
///
/// ```yaml
///   items: [
///     "a", "b"
///   ]
/// ```
///
/// The scanner reports that bracket exactly ("invalid indentation" arises only inside a flow
/// collection), so such a line is indented further and the text parsed again. A text pre-pass
/// would have to know where flow collections, quoted and block scalars and comments are, which
/// is the scanner's job; and only a closing bracket is moved, because a dedented item more
/// often means a missing `]`, better reported where it is than at the end of the file.
pub fn parse(text: &str) -> Result<Vec<Node>, (Pos, String)> {
    let mut reindented = Reindented::default();
    let mut current = Cow::Borrowed(text);
    loop {
        let err = match Builder::build(&current, &reindented) {
            Ok(docs) => return Ok(docs),
            Err(Stop::Limit(pos, msg)) => return Err((pos, msg)),
            Err(Stop::Syntax(e)) => e,
        };
        match reindent_closing_bracket(&current, &err, &mut reindented) {
            Some(next) => current = Cow::Owned(next),
            None => return Err((reindented.pos(err.marker()), format!("invalid YAML: {}", err.info()))),
        }
    }
}

/// Parses at most this many re-indented texts (each costs a whole parse): a pass moves one
/// bracket, and falco-sandbox_rules.yaml needs two; past it, the bracket is reported.
const MAX_REINDENT_PASSES: usize = 100;

/// `text` with the closing bracket `err` is about indented further, when `err` is yaml-rust2
/// refusing a `]` or `}` that begins its line.
fn reindent_closing_bracket(text: &str, err: &ScanError, reindented: &mut Reindented) -> Option<String> {
    if err.info() != "invalid indentation" || reindented.passes >= MAX_REINDENT_PASSES {
        return None;
    }
    let (at, bracket) = text.char_indices().nth(err.marker().index())?;
    let line_start = text[..at].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    if !matches!(bracket, ']' | '}') || !text[line_start..at].bytes().all(|b| b == b' ') {
        return None;
    }
    // The column needed is not reported; doubling what was added finds it in a few passes, and
    // indenting a bracket further than needed changes nothing.
    let added = reindented.added.entry(err.marker().line()).or_default();
    let more = *added + 1;
    *added += more;
    reindented.passes += 1;
    Some([&text[..line_start], &" ".repeat(more), &text[line_start..]].concat())
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
    fn typed_getters_say_where_and_what_is_wrong() {
        let docs = parse("s: x\nb: yes\nl: [a]\nn:\nm: {}\n").unwrap();
        let m = &docs[0];
        assert_eq!(m.get_str("s"), Ok(Some(("x", Pos { line: 1, col: 4 }))));
        assert_eq!(m.get_bool("b"), Ok(Some(true)));
        assert_eq!(m.get_seq("l").map(|l| l.map(<[Node]>::len)), Ok(Some(1)));
        assert_eq!(m.get_seq("n"), Ok(Some(&[][..])));
        assert_eq!((m.get_str("none"), m.get_bool("none"), m.get_seq("none")), (Ok(None), Ok(None), Ok(None)));
        let wrong = Pos { line: 5, col: 4 };
        assert_eq!(m.get_str("m"), Err((wrong, "'m' must be a string, found a mapping".into())));
        assert_eq!(m.get_bool("m"), Err((wrong, "'m' must be true or false".into())));
        assert_eq!(m.get_seq("m"), Err((wrong, "'m' must be a list, found a mapping".into())));
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

    #[test]
    fn closing_bracket_under_its_key_is_accepted_as_yaml_cpp_does() {
        let text = "- list: l\n  items: [\n    \"a\",\n    \"b\"\n  ]\n- list: m\n  items: {\n    \"k\": \"v\"\n}\n";
        let docs = parse(text).unwrap();
        let Node::Seq { items, .. } = &docs[0] else { panic!() };
        let Some(Node::Seq { items: l, .. }) = items[0].get("items") else { panic!("{:?}", items[0]) };
        assert_eq!(l.iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(items[1].get("items").unwrap().get("k").unwrap().as_str(), Some("v"));
    }

    #[test]
    fn reindented_lines_keep_their_columns() {
        let docs = parse("x: [[\"a\"\n], [\"b\"\n]]\n").unwrap();
        let Some(Node::Seq { items, .. }) = docs[0].get("x") else { panic!() };
        let Node::Seq { items: b, pos } = &items[1] else { panic!() };
        assert_eq!((*pos, b[0].pos()), (Pos { line: 2, col: 4 }, Pos { line: 2, col: 5 }));
        let (pos, msg) = parse("x: [\"a\"\n] y\n").unwrap_err();
        assert_eq!(pos, Pos { line: 2, col: 3 }, "{msg}");
    }

    #[test]
    fn dedented_flow_item_is_still_an_error() {
        let (pos, msg) = parse("x: [\"a\",\n\"b\"]\n").unwrap_err();
        assert_eq!((pos, msg.as_str()), (Pos { line: 2, col: 1 }, "invalid YAML: invalid indentation"));
    }

    /// Nine levels of nine aliases to the level below: 9^9 nodes unbounded.
    fn alias_bomb() -> String {
        let mut text = format!("a: &a [{}]\n", ["x"; 9].join(","));
        for (prev, level) in ('a'..='h').zip('b'..='i') {
            text += &format!("{level}: &{level} [{}]\n", vec![format!("*{prev}"); 9].join(","));
        }
        text
    }

    #[test]
    fn alias_bomb_stops_at_the_first_alias_over_the_limit() {
        let start = std::time::Instant::now();
        let (pos, msg) = parse(&alias_bomb()).unwrap_err();
        // e holds 9 * 7381 + 1 nodes; f's first alias to it is refused.
        assert_eq!(pos, Pos { line: 6, col: 8 }, "{msg}");
        assert_eq!(msg, "YAML alias expands to 66430 nodes, more than the 10000 one alias may");
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "{:?}", start.elapsed());
    }

    #[test]
    fn aliases_are_bounded_in_all() {
        // 9,001 nodes an alias, under the limit for one; the 112th passes a million in all.
        let text = format!("a: &a [{}]\nb: [{}]\n", ["x"; 9000].join(","), ["*a"; 120].join(","));
        let (pos, msg) = parse(&text).unwrap_err();
        assert_eq!(
            (pos, msg.as_str()),
            (Pos { line: 2, col: 5 + 3 * 111 }, "YAML aliases expand to more than 1000000 nodes in all")
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(MAX_DEPTH)).is_ok());
        let (pos, msg) = parse(&deep(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!((pos, msg.as_str()), (Pos { line: 1, col: 129 }, "YAML nested more than 128 collections deep"));
        // An alias counts with the depth of what it stands for.
        let text = format!("a: &a {}\nb: {}*a{}\n", deep(100), "[".repeat(28), "]".repeat(28));
        let (pos, msg) = parse(&text).unwrap_err();
        assert_eq!((pos, msg.as_str()), (Pos { line: 2, col: 32 }, "YAML alias nests collections more than 128 deep"));
    }

    #[test]
    fn alias_must_refer_to_a_complete_node_of_its_document() {
        for text in ["a: &a [x, *a]\n", "a: &a x\n---\nb: *a\n"] {
            let (_, msg) = parse(text).unwrap_err();
            assert!(msg.starts_with("YAML alias inside the node it refers to"), "{text:?}: {msg}");
        }
    }
}
