//! Rules files -> rule, macro and list definitions ([`Definitions`]), with `append`/`override`
//! applied in order.

mod defs;
#[cfg(test)]
mod tests;

pub use defs::{Definitions, ExceptionDef, ListDef, Loc, MacroDef, OneOrMany, RuleDef};

use crate::rules::diag::{Diagnostic, Severity, SourceFile, SourceText, Subject};
use crate::rules::ir::Priority;
use crate::rules::yaml::{self, Node, Pos};
use std::collections::HashMap;

const RULE_KEYS: &[&str] = &[
    "rule",
    "desc",
    "condition",
    "output",
    "priority",
    "enabled",
    "tags",
    "source",
    "exceptions",
    "skip-if-unknown-filter",
    "append",
    "override",
    "warn_evttypes",
    "capture",
    "capture_duration",
];

impl Definitions {
    /// Loads one file's text (call in file order).
    pub fn add_file(&mut self, name: &str, text: &str) {
        match yaml::parse(text) {
            Ok(docs) => self.add_docs(name, text, docs),
            Err((pos, msg)) => self.push_named(Severity::Error, name.to_owned(), pos, None, msg),
        }
    }

    /// Loads one file's parsed documents (call in file order).
    pub fn add_docs(&mut self, name: &str, text: &str, docs: Vec<Node>) {
        self.files.push(SourceFile::new(name.to_owned(), text.to_owned()));
        let file = self.files.len() - 1;
        for doc in docs {
            match doc {
                Node::Seq { items, .. } => {
                    for item in &items {
                        self.item(file, item);
                    }
                }
                n if n.is_null() => {}
                other => self.push(
                    Severity::Error,
                    file,
                    other.pos(),
                    None,
                    format!("a rules file must be a sequence of items, found {}", other.kind()),
                ),
            }
        }
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        file: usize,
        pos: Pos,
        subject: Option<Subject>,
        message: String,
    ) {
        let file = self.files.get(file).map(|f| f.name.clone()).unwrap_or_else(|| "<rules>".to_owned());
        self.push_named(severity, file, pos, subject, message);
    }

    fn push_named(&mut self, severity: Severity, file: String, pos: Pos, subject: Option<Subject>, message: String) {
        self.diagnostics.push(Diagnostic { severity, file, pos, subject, message });
    }

    fn item(&mut self, file: usize, item: &Node) {
        let Node::Map { entries, .. } = item else {
            self.push(
                Severity::Error,
                file,
                item.pos(),
                None,
                format!("an item must be a mapping, found {}", item.kind()),
            );
            return;
        };
        // The kind is whichever key names one, wherever it stands: Falco reads
        // `- condition: ...` followed by `macro: m` as a macro.
        const KINDS: [&str; 5] = ["rule", "macro", "list", "required_engine_version", "required_plugin_versions"];
        let named = entries.iter().find(|(k, _)| k.as_str().is_some_and(|k| KINDS.contains(&k)));
        let Some((k, v)) = named.or(entries.first()) else { return };
        let kind = k.as_str().unwrap_or("");
        match kind {
            "rule" | "macro" | "list" => {
                let Some(name) = v.as_str().filter(|s| !s.is_empty()) else {
                    self.push(Severity::Error, file, k.pos(), None, format!("'{kind}' needs a name"));
                    return;
                };
                let subject = Subject { kind: static_kind(kind), name: name.to_owned() };
                let mut cx = Item { defs: self, file, node: item, subject, ok: true };
                match kind {
                    "rule" => cx.rule(),
                    "macro" => cx.macro_(),
                    _ => cx.list(),
                }
            }
            "required_engine_version" => {
                self.required_engine_version = v.as_str().map(str::to_owned);
            }
            "required_plugin_versions" => {
                if let Node::Seq { items, .. } = v {
                    for p in items {
                        let n = p.get("name").and_then(Node::as_str).unwrap_or("").to_owned();
                        let ver = p.get("version").and_then(Node::as_str).unwrap_or("").to_owned();
                        self.required_plugins.push((n, ver));
                    }
                }
            }
            other => self.push(Severity::Warning, file, k.pos(), None, format!("unknown item '{other}' ignored")),
        }
    }
}

fn static_kind(k: &str) -> &'static str {
    match k {
        "rule" => "rule",
        "macro" => "macro",
        _ => "list",
    }
}

/// How an item changes an earlier one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Append,
    Replace,
}

struct Item<'a> {
    defs: &'a mut Definitions,
    file: usize,
    node: &'a Node,
    subject: Subject,
    ok: bool,
}

impl Item<'_> {
    fn err(&mut self, pos: Pos, msg: String) {
        self.ok = false;
        self.defs.push(Severity::Error, self.file, pos, Some(self.subject.clone()), msg);
    }
    fn warn(&mut self, pos: Pos, msg: String) {
        self.defs.push(Severity::Warning, self.file, pos, Some(self.subject.clone()), msg);
    }
    fn loc(&self, pos: Pos) -> Loc {
        Loc { file: self.file, pos }
    }
    fn name(&self) -> String {
        self.subject.name.clone()
    }

    /// What a getter of [`Node`] found, or `None` after reporting why the value is wrong.
    fn got<T>(&mut self, value: Result<Option<T>, (Pos, String)>) -> Option<T> {
        value.unwrap_or_else(|(pos, msg)| {
            self.err(pos, msg);
            None
        })
    }

    fn str_key(&mut self, key: &str) -> Option<(String, Pos)> {
        self.got(self.node.get_str(key)).map(|(s, pos)| (s.to_owned(), pos))
    }

    fn bool_key(&mut self, key: &str) -> Option<bool> {
        self.got(self.node.get_bool(key))
    }

    fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        let items = self.got(self.node.get_seq(key))?;
        Some(items.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
    }

    fn condition(&mut self, key: &str) -> Option<SourceText> {
        let (text, _) = self.str_key(key)?;
        let pos = self.node.get(key)?.text_pos();
        // Exact columns when the text sits verbatim on one line of the file.
        let exact = !text.contains('\n')
            && self.defs.files.get(self.file).is_some_and(|f| f.rest_of_line(pos).starts_with(&text));
        Some(SourceText::new(&text, self.file, pos, exact))
    }

    /// The per-key modes from `override:` or `append: true`; checks keys.
    fn modes(&mut self, allowed: &[&str], appendable: &[&str]) -> Option<HashMap<String, Mode>> {
        let append = self.bool_key("append").unwrap_or(false);
        let keys: Vec<&str> = match self.node {
            Node::Map { entries, .. } => entries.iter().filter_map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        };
        let mut m = HashMap::new();
        if let Some(ov) = self.node.get("override") {
            if append {
                let p = self.node.key("override").map(Node::pos).unwrap_or_default();
                self.err(p, "'override' and 'append' cannot be used together".into());
                return None;
            }
            let Node::Map { entries, .. } = ov else {
                self.err(ov.pos(), format!("'override' must be a mapping, found {}", ov.kind()));
                return None;
            };
            for (k, v) in entries {
                let key = k.as_str().unwrap_or("").to_owned();
                let mode = match v.as_str() {
                    Some("append") => Mode::Append,
                    Some("replace") => Mode::Replace,
                    _ => {
                        self.err(v.pos(), format!("override of '{key}' must be 'append' or 'replace'"));
                        continue;
                    }
                };
                if !allowed.contains(&key.as_str()) {
                    self.err(k.pos(), format!("key '{key}' cannot be overridden"));
                    continue;
                }
                if mode == Mode::Append && !appendable.contains(&key.as_str()) {
                    self.err(k.pos(), format!("key '{key}' cannot be appended to, only replaced"));
                    continue;
                }
                if !keys.contains(&key.as_str()) {
                    self.err(k.pos(), format!("override of '{key}' but the item has no '{key}'"));
                    continue;
                }
                m.insert(key, mode);
            }
            for k in &keys {
                if !matches!(*k, "rule" | "macro" | "list" | "override") && !m.contains_key(*k) && self.ok {
                    let p = self.node.get(k).map(Node::pos).unwrap_or_default();
                    self.err(p, format!("key '{k}' has no override mode (append or replace)"));
                }
            }
            if !self.ok {
                return None;
            }
        } else if append {
            for k in &keys {
                if appendable.contains(k) {
                    m.insert((*k).to_owned(), Mode::Append);
                }
            }
        }
        Some(m)
    }

    fn list(&mut self) {
        let name = self.name();
        let pos = self.node.pos();
        let Some(modes) = self.modes(&["items"], &["items"]) else { return };
        let items: Vec<(String, Loc)> = match self.node.get_seq("items") {
            Ok(Some(items)) => {
                items.iter().filter_map(|n| n.as_str().map(|s| (s.to_owned(), self.loc(n.pos())))).collect()
            }
            Ok(None) => {
                self.err(pos, "missing required key 'items'".into());
                return;
            }
            Err((p, msg)) => {
                self.err(p, msg);
                return;
            }
        };
        let existing = self.defs.lists.iter().position(|l| l.name == name);
        match (modes.get("items"), existing) {
            (Some(_), None) => self.err(pos, format!("override/append of list '{name}' which is not defined")),
            (Some(Mode::Append), Some(i)) => self.defs.lists[i].items.extend(items),
            (Some(_), Some(i)) => self.defs.lists[i].items = items,
            (None, Some(i)) => {
                let same_file = self.defs.lists[i].loc.file == self.file;
                let prev = self.defs.lists[i].loc;
                if same_file {
                    self.err(pos, format!("duplicate list (first defined at line {})", prev.pos.line));
                } else {
                    self.defs.lists[i] = ListDef { name, loc: self.loc(pos), items };
                }
            }
            (None, None) => self.defs.lists.push(ListDef { name, loc: self.loc(pos), items }),
        }
    }

    fn macro_(&mut self) {
        let name = self.name();
        let pos = self.node.pos();
        let Some(modes) = self.modes(&["condition"], &["condition"]) else { return };
        let Some(cond) = self.condition("condition") else {
            if self.ok {
                self.err(pos, "missing required key 'condition'".into());
            }
            return;
        };
        let existing = self.defs.macros.iter().position(|m| m.name == name);
        match (modes.get("condition"), existing) {
            (Some(_), None) => self.err(pos, format!("override/append of macro '{name}' which is not defined")),
            (Some(Mode::Append), Some(i)) => self.defs.macros[i].condition.append(" ", &cond),
            (Some(_), Some(i)) => self.defs.macros[i].condition = cond,
            (None, Some(i)) => {
                if self.defs.macros[i].loc.file == self.file {
                    let l = self.defs.macros[i].loc.pos.line;
                    self.err(pos, format!("duplicate macro (first defined at line {l})"));
                } else {
                    self.defs.macros[i] = MacroDef { name, loc: self.loc(pos), condition: cond };
                }
            }
            (None, None) => self.defs.macros.push(MacroDef { name, loc: self.loc(pos), condition: cond }),
        }
    }

    fn exceptions(&mut self) -> Option<Vec<ExceptionDef>> {
        let items = match self.node.get_seq("exceptions") {
            Ok(items) => items?,
            Err((pos, msg)) => {
                self.err(pos, msg);
                return Some(Vec::new());
            }
        };
        let mut out = Vec::new();
        for e in items {
            let Some(name) = e.get("name").and_then(Node::as_str) else {
                self.err(e.pos(), "an exception needs a 'name'".into());
                continue;
            };
            let one_or_many = |n: Option<&Node>| -> Result<Option<OneOrMany>, Pos> {
                match n {
                    None => Ok(None),
                    Some(Node::Scalar { value, .. }) => Ok(Some(OneOrMany::One(value.clone()))),
                    Some(Node::Seq { items, .. }) => Ok(Some(OneOrMany::Many(
                        items.iter().map(|i| i.as_str().map(str::to_owned).ok_or(i.pos())).collect::<Result<_, _>>()?,
                    ))),
                    Some(other) => Err(other.pos()),
                }
            };
            let fields = match one_or_many(e.get("fields")) {
                Ok(f) => f,
                Err(p) => {
                    self.err(p, format!("exception '{name}': 'fields' must be a name or a list of names"));
                    continue;
                }
            };
            let comps = match one_or_many(e.get("comps")) {
                Ok(f) => f,
                Err(p) => {
                    self.err(p, format!("exception '{name}': 'comps' must be an operator or a list of operators"));
                    continue;
                }
            };
            let values = match e.get("values") {
                Some(Node::Seq { items, .. }) => items.clone(),
                Some(n) if n.is_null() => Vec::new(),
                None => Vec::new(),
                Some(n) => {
                    self.err(n.pos(), format!("exception '{name}': 'values' must be a list"));
                    continue;
                }
            };
            out.push(ExceptionDef { name: name.to_owned(), loc: self.loc(e.pos()), fields, comps, values });
        }
        Some(out)
    }

    fn rule(&mut self) {
        let name = self.name();
        let pos = self.node.pos();
        if let Node::Map { entries, .. } = self.node {
            for (k, _) in entries {
                let key = k.as_str().unwrap_or("");
                if !RULE_KEYS.contains(&key) {
                    self.warn(k.pos(), format!("unknown key '{key}' ignored"));
                }
            }
        }
        let replaceable = [
            "condition",
            "output",
            "desc",
            "priority",
            "tags",
            "exceptions",
            "enabled",
            "source",
            "skip-if-unknown-filter",
            "warn_evttypes",
            "capture",
            "capture_duration",
        ];
        let Some(modes) = self.modes(&replaceable, &["condition", "output", "desc", "tags", "exceptions"]) else {
            return;
        };
        let cond = self.condition("condition");
        let output = self.str_key("output");
        let desc = self.str_key("desc");
        let priority = match self.str_key("priority") {
            Some((p, ppos)) => match Priority::parse(&p) {
                Some(p) => Some(p),
                None => {
                    self.err(ppos, format!("unknown priority '{p}' (expected one of EMERGENCY ALERT CRITICAL ERROR WARNING NOTICE INFORMATIONAL DEBUG)"));
                    None
                }
            },
            None => None,
        };
        let tags = self.strings("tags");
        let enabled = self.bool_key("enabled");
        let skip = self.bool_key("skip-if-unknown-filter");
        let source = self.str_key("source").map(|s| s.0);
        let exceptions = self.exceptions();
        if !self.ok {
            return;
        }
        let existing = self.defs.rules.iter().position(|r| r.name == name);
        let only_enabled = matches!(self.node, Node::Map { entries, .. }
            if entries.iter().all(|(k, _)| matches!(k.as_str(), Some("rule" | "enabled"))))
            && enabled.is_some();
        if !modes.is_empty() || self.node.get("append").and_then(Node::as_bool) == Some(true) || only_enabled {
            let Some(i) = existing else {
                self.err(pos, format!("override/append of rule '{name}' which is not defined"));
                return;
            };
            let r = &mut self.defs.rules[i];
            if only_enabled {
                r.enabled = enabled.unwrap_or(r.enabled);
                return;
            }
            for (key, mode) in &modes {
                let app = *mode == Mode::Append;
                match key.as_str() {
                    "condition" => {
                        if let Some(c) = &cond {
                            if app {
                                r.condition.append(" ", c);
                            } else {
                                r.condition = c.clone();
                            }
                        }
                    }
                    "output" => {
                        if let Some((o, op)) = &output {
                            if app {
                                r.output.push(' ');
                                r.output.push_str(o);
                            } else {
                                r.output = o.clone();
                                r.output_loc = Loc { file: self.file, pos: *op };
                            }
                        }
                    }
                    "desc" => {
                        if let Some((d, _)) = &desc {
                            if app {
                                r.desc.push(' ');
                                r.desc.push_str(d);
                            } else {
                                r.desc = d.clone();
                            }
                        }
                    }
                    "tags" => {
                        if let Some(t) = &tags {
                            if app {
                                for x in t {
                                    if !r.tags.contains(x) {
                                        r.tags.push(x.clone());
                                    }
                                }
                            } else {
                                r.tags = t.clone();
                            }
                        }
                    }
                    "exceptions" => {
                        if let Some(ex) = &exceptions {
                            if app {
                                for e in ex {
                                    match r.exceptions.iter_mut().find(|x| x.name == e.name) {
                                        Some(x) => x.values.extend(e.values.iter().cloned()),
                                        None => r.exceptions.push(e.clone()),
                                    }
                                }
                            } else {
                                r.exceptions = ex.clone();
                            }
                        }
                    }
                    "priority" => r.priority = priority.unwrap_or(r.priority),
                    "enabled" => r.enabled = enabled.unwrap_or(r.enabled),
                    "source" => r.source = source.clone().unwrap_or_default(),
                    "skip-if-unknown-filter" => r.skip_if_unknown_filter = skip.unwrap_or(false),
                    _ => {}
                }
            }
            return;
        }
        let mut missing = Vec::new();
        for (key, present) in [
            ("condition", cond.is_some()),
            ("output", output.is_some()),
            ("desc", desc.is_some()),
            ("priority", priority.is_some()),
        ] {
            if !present {
                missing.push(key);
            }
        }
        if !missing.is_empty() {
            self.err(
                pos,
                format!("missing required key{} '{}'", if missing.len() > 1 { "s" } else { "" }, missing.join("', '")),
            );
            return;
        }
        let (output, opos) = output.unwrap_or_default();
        let def = RuleDef {
            name: name.clone(),
            loc: self.loc(pos),
            desc: desc.map(|d| d.0).unwrap_or_default(),
            condition: cond.unwrap_or_default(),
            output,
            output_loc: self.loc(opos),
            priority: priority.unwrap_or(Priority::Debug),
            tags: tags.unwrap_or_default(),
            enabled: enabled.unwrap_or(true),
            source: source.unwrap_or_else(|| "syscall".to_owned()),
            exceptions: exceptions.unwrap_or_default(),
            skip_if_unknown_filter: skip.unwrap_or(false),
        };
        match existing {
            Some(i) if self.defs.rules[i].loc.file == self.file => {
                let l = self.defs.rules[i].loc.pos.line;
                self.err(pos, format!("duplicate rule (first defined at line {l})"));
            }
            Some(i) => {
                let prev = &self.defs.rules[i];
                let msg = format!(
                    "redefines the rule first defined at {}:{}",
                    self.defs.files[prev.loc.file].name, prev.loc.pos.line
                );
                self.warn(pos, msg);
                self.defs.rules[i] = def;
            }
            None => self.defs.rules.push(def),
        }
    }
}
