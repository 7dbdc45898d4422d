//! Definitions -> typed, type-checked rules: exceptions are expanded into the condition text as
//! Falco does, macros and lists are resolved, fields are typed and matchers precompiled.

use super::condition::{self as parser, Ast, Operand, Span};
use super::loader::{Definitions, ExceptionDef, Loc, OneOrMany, RuleDef};
use crate::rules::diag::{Diagnostic, Severity, SourceText, Subject};
use crate::rules::eval::{Expr, Pred};
use crate::rules::fields::resolve;
use crate::rules::ir::{LoadReport, Op, Rule, RuleSet};
use crate::rules::output::Template;
use crate::rules::yaml::{Node, Pos};
use std::collections::{HashMap, HashSet};

#[derive(Clone, Debug, PartialEq)]
enum ErrKind {
    UnknownField,
    Other,
    /// Already reported elsewhere (a broken macro).
    Silent,
}

#[derive(Clone, Debug)]
struct CErr {
    kind: ErrKind,
    file: usize,
    pos: Pos,
    message: String,
}

#[derive(Clone)]
enum MacroState {
    InProgress,
    Done(Result<Expr, Vec<CErr>>),
}

struct Compiler<'a> {
    defs: &'a Definitions,
    lists: HashMap<&'a str, usize>,
    macros: HashMap<&'a str, usize>,
    macro_state: Vec<Option<MacroState>>,
    macro_stack: Vec<String>,
    used_macros: HashSet<usize>,
    used_lists: HashSet<usize>,
    diagnostics: Vec<Diagnostic>,
}

/// The rule set of `defs`, with the compiler's diagnostics (the loader's stay in `defs`).
pub fn compile(defs: &Definitions) -> RuleSet {
    let mut c = Compiler {
        defs,
        lists: defs.lists.iter().enumerate().map(|(i, l)| (l.name.as_str(), i)).collect(),
        macros: defs.macros.iter().enumerate().map(|(i, m)| (m.name.as_str(), i)).collect(),
        macro_state: vec![None; defs.macros.len()],
        macro_stack: Vec::new(),
        used_macros: HashSet::new(),
        used_lists: HashSet::new(),
        diagnostics: Vec::new(),
    };
    let mut rules = Vec::new();
    let mut skipped_unknown = Vec::new();
    for r in &defs.rules {
        if r.source != "syscall" {
            c.diag(
                Severity::Warning,
                r.loc.file,
                r.loc.pos,
                "rule",
                &r.name,
                format!("source '{}' is not supported by this engine; rule skipped", r.source),
            );
            continue;
        }
        match c.rule(r) {
            Ok(rule) => rules.push(rule),
            Err(errs) => {
                // As in Falco: a rule that names a field this engine lacks is an error, unless
                // it opts out with skip-if-unknown-filter (then it is skipped, and counted).
                let unknown = errs.iter().any(|e| e.kind == ErrKind::UnknownField);
                let other = errs.iter().any(|e| e.kind != ErrKind::UnknownField);
                if unknown && !other && r.skip_if_unknown_filter {
                    skipped_unknown.push(r.name.clone());
                    continue;
                }
                let mut seen = HashSet::new();
                for e in errs {
                    if e.kind == ErrKind::Silent || !seen.insert((e.pos, e.message.clone())) {
                        continue;
                    }
                    c.diag(Severity::Error, e.file, e.pos, "rule", &r.name, e.message);
                }
            }
        }
    }
    // Check the macros no rule used, so their errors are reported too.
    for i in 0..defs.macros.len() {
        if c.macro_state[i].is_none() {
            let _ = c.macro_expr(i);
        }
    }
    let name = |l: &Loc| defs.files.get(l.file).map(|f| f.name.clone()).unwrap_or_default();
    let unused_macros = defs
        .macros
        .iter()
        .enumerate()
        .filter(|(i, _)| !c.used_macros.contains(i))
        .map(|(_, m)| (m.name.clone(), name(&m.loc), m.loc.pos))
        .collect();
    let unused_lists = defs
        .lists
        .iter()
        .enumerate()
        .filter(|(i, _)| !c.used_lists.contains(i))
        .map(|(_, l)| (l.name.clone(), name(&l.loc), l.loc.pos))
        .collect();
    let report = LoadReport {
        diagnostics: c.diagnostics,
        unused_macros,
        unused_lists,
        skipped_unknown,
        ..LoadReport::default()
    };
    RuleSet { rules, report }
}

/// A list item as the condition parser would read it: Falco pastes list items into the
/// condition text, so an item written `'"10.0.0.0/8"'` is the quoted string `10.0.0.0/8`.
fn unquote(item: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = item.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            if !inner.contains(q) {
                return inner;
            }
        }
    }
    item
}

/// Quotes a value for a generated condition.
fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

impl<'a> Compiler<'a> {
    fn diag(&mut self, severity: Severity, file: usize, pos: Pos, kind: &'static str, name: &str, message: String) {
        let file = self.defs.files.get(file).map(|f| f.name.clone()).unwrap_or_default();
        self.diagnostics.push(Diagnostic {
            severity,
            file,
            pos,
            subject: Some(Subject { kind, name: name.to_owned() }),
            message,
        });
    }

    fn err_at(&self, src: &SourceText, span: Span, kind: ErrKind, message: String) -> CErr {
        let (file, pos) = src.locate(span, &self.defs.files);
        CErr { kind, file, pos, message }
    }

    /// Exceptions as condition text, Falco style.
    fn exception_text(&self, ex: &ExceptionDef) -> Result<String, String> {
        let comp_ok = |c: &str| Op::ALL.iter().any(|o| o.as_str() == c) || c == "==";
        let value = |n: &Node, comp: &str| -> Result<String, String> {
            let list_op = matches!(comp, "in" | "intersects" | "pmatch");
            match n {
                Node::Seq { items, .. } => {
                    let vals: Result<Vec<String>, String> = items
                        .iter()
                        .map(|i| i.as_str().map(quote).ok_or_else(|| "exception values must be strings".to_owned()))
                        .collect();
                    Ok(format!("({})", vals?.join(", ")))
                }
                Node::Scalar { value, .. } if list_op => {
                    if self.lists.contains_key(value.as_str()) {
                        Ok(value.clone())
                    } else {
                        Ok(format!("({})", quote(value)))
                    }
                }
                Node::Scalar { value, .. } => Ok(quote(value)),
                _ => Err("exception values must be strings or lists".to_owned()),
            }
        };
        let name = &ex.name;
        match &ex.fields {
            None => Err(format!("exception '{name}' has no 'fields'")),
            Some(OneOrMany::One(field)) => {
                let comp = match &ex.comps {
                    None => "in".to_owned(),
                    Some(OneOrMany::One(c)) => c.clone(),
                    Some(OneOrMany::Many(_)) => {
                        return Err(format!(
                            "exception '{name}': 'comps' must be one operator when 'fields' is one field"
                        ))
                    }
                };
                if !comp_ok(&comp) {
                    return Err(format!("exception '{name}': unknown operator '{comp}'"));
                }
                if ex.values.is_empty() {
                    return Ok(String::new());
                }
                let mut vals = Vec::new();
                for v in &ex.values {
                    match v {
                        Node::Scalar { value, .. } => vals.push(value.clone()),
                        _ => {
                            return Err(format!(
                                "exception '{name}': with one field, 'values' must be a list of strings"
                            ))
                        }
                    }
                }
                if matches!(comp.as_str(), "in" | "intersects" | "pmatch") {
                    Ok(format!("{field} {comp} ({})", vals.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")))
                } else {
                    Ok(vals.iter().map(|v| format!("{field} {comp} {}", quote(v))).collect::<Vec<_>>().join(" or "))
                }
            }
            Some(OneOrMany::Many(fields)) => {
                let comps: Vec<String> = match &ex.comps {
                    None => vec!["=".to_owned(); fields.len()],
                    Some(OneOrMany::Many(c)) => c.clone(),
                    Some(OneOrMany::One(c)) => vec![c.clone(); fields.len()],
                };
                if comps.len() != fields.len() {
                    return Err(format!("exception '{name}': {} fields but {} comps", fields.len(), comps.len()));
                }
                if let Some(bad) = comps.iter().find(|c| !comp_ok(c)) {
                    return Err(format!("exception '{name}': unknown operator '{bad}'"));
                }
                let mut alts = Vec::new();
                for tuple in &ex.values {
                    let Node::Seq { items, .. } = tuple else {
                        return Err(format!("exception '{name}': each value must be a list with one item per field"));
                    };
                    if items.len() != fields.len() {
                        return Err(format!(
                            "exception '{name}': a value has {} items but there are {} fields",
                            items.len(),
                            fields.len()
                        ));
                    }
                    let mut parts = Vec::new();
                    for ((f, c), v) in fields.iter().zip(&comps).zip(items) {
                        parts.push(format!("{f} {c} {}", value(v, c)?));
                    }
                    alts.push(format!("({})", parts.join(" and ")));
                }
                Ok(alts.join(" or "))
            }
        }
    }

    fn rule(&mut self, r: &RuleDef) -> Result<Rule, Vec<CErr>> {
        let mut src = r.condition.clone();
        let mut ex_parts = Vec::new();
        let mut errs = Vec::new();
        for ex in &r.exceptions {
            match self.exception_text(ex) {
                Ok(t) if t.is_empty() => {}
                Ok(t) => ex_parts.push(SourceText::new(&t, ex.loc.file, ex.loc.pos, false)),
                Err(m) => errs.push(CErr { kind: ErrKind::Other, file: ex.loc.file, pos: ex.loc.pos, message: m }),
            }
        }
        if !ex_parts.is_empty() {
            src.wrap("(", ")");
            let mut all = ex_parts.remove(0);
            for p in &ex_parts {
                all.append(" or ", p);
            }
            src.append(" and not (", &all);
            src.text.push(')');
        }
        let expr = match parser::parse(&src.text) {
            Ok(ast) => self.expr(&ast, &src, &mut errs),
            Err(e) => {
                errs.push(self.err_at(&src, e.span, ErrKind::Other, e.message));
                None
            }
        };
        let (output, unknown_output_fields) = Template::parse(&r.output);
        for w in unknown_output_fields {
            let kind = ErrKind::UnknownField;
            errs.push(CErr { kind, file: r.output_loc.file, pos: r.output_loc.pos, message: format!("output: {w}") });
        }
        match expr {
            Some(e) if errs.is_empty() => Ok(Rule {
                name: r.name.clone(),
                desc: r.desc.clone(),
                priority: r.priority,
                tags: r.tags.clone(),
                source: r.source.clone(),
                format: "falco",
                enabled: r.enabled,
                file: self.defs.files.get(r.loc.file).map(|f| f.name.clone()).unwrap_or_default(),
                pos: r.loc.pos,
                condition: e.simplify(),
                output,
                sigma: None,
            }),
            _ => Err(errs),
        }
    }

    fn macro_expr(&mut self, i: usize) -> Result<Expr, Vec<CErr>> {
        if let Some(MacroState::Done(r)) = &self.macro_state[i] {
            return r.clone();
        }
        let m = &self.defs.macros[i];
        self.macro_state[i] = Some(MacroState::InProgress);
        self.macro_stack.push(m.name.clone());
        let src = m.condition.clone();
        let mut errs = Vec::new();
        let expr = match parser::parse(&src.text) {
            Ok(ast) => self.expr(&ast, &src, &mut errs),
            Err(e) => {
                errs.push(self.err_at(&src, e.span, ErrKind::Other, e.message));
                None
            }
        };
        self.macro_stack.pop();
        let result = match expr {
            Some(e) if errs.is_empty() => Ok(e),
            _ => {
                // Report the macro's own errors once; rules that use it fail silently, except
                // for unknown fields, which each rule reports (and may skip quietly).
                let mut out = Vec::new();
                for e in errs {
                    match e.kind {
                        ErrKind::Other => {
                            let name = m.name.clone();
                            self.diag(Severity::Error, e.file, e.pos, "macro", &name, e.message.clone());
                            out.push(CErr { kind: ErrKind::Silent, ..e });
                        }
                        _ => out.push(e),
                    }
                }
                Err(out)
            }
        };
        self.macro_state[i] = Some(MacroState::Done(result.clone()));
        result
    }

    fn expand_list(&mut self, name: &str, out: &mut Vec<String>, seen: &mut Vec<usize>) {
        let Some(&i) = self.lists.get(name) else { return };
        if seen.contains(&i) {
            return;
        }
        seen.push(i);
        self.used_lists.insert(i);
        let defs = self.defs;
        for (item, _) in &defs.lists[i].items {
            if self.lists.contains_key(item.as_str()) {
                self.expand_list(item, out, seen);
            } else {
                out.push(unquote(item).to_owned());
            }
        }
    }

    fn expr(&mut self, ast: &Ast, src: &SourceText, errs: &mut Vec<CErr>) -> Option<Expr> {
        match ast {
            Ast::And(v) | Ast::Or(v) => {
                let mut out = Vec::new();
                let mut ok = true;
                for a in v {
                    match self.expr(a, src, errs) {
                        Some(e) => out.push(e),
                        None => ok = false,
                    }
                }
                ok.then(|| if matches!(ast, Ast::And(_)) { Expr::And(out) } else { Expr::Or(out) })
            }
            Ast::Not(a) => self.expr(a, src, errs).map(|e| Expr::Not(Box::new(e))),
            Ast::Macro(name, span) => {
                let Some(&i) = self.macros.get(name.as_str()) else {
                    errs.push(self.err_at(src, *span, ErrKind::Other, format!("undefined macro '{name}'")));
                    return None;
                };
                self.used_macros.insert(i);
                if matches!(self.macro_state[i], Some(MacroState::InProgress)) {
                    let start = self.macro_stack.iter().position(|m| m == name).unwrap_or(0);
                    let mut cycle = self.macro_stack[start..].to_vec();
                    cycle.push(name.clone());
                    errs.push(self.err_at(
                        src,
                        *span,
                        ErrKind::Other,
                        format!("cyclic macro reference: {}", cycle.join(" -> ")),
                    ));
                    return None;
                }
                match self.macro_expr(i) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        errs.extend(e);
                        None
                    }
                }
            }
            Ast::Check { field, op, op_span, value } => {
                let f = match resolve(&field.name, field.arg.as_deref()) {
                    Ok(f) => Some(f),
                    Err(m) => {
                        let kind = if m.starts_with("unknown field") { ErrKind::UnknownField } else { ErrKind::Other };
                        errs.push(self.err_at(src, field.span, kind, m));
                        None
                    }
                };
                let (values, vspan) = match value {
                    Operand::None => (Vec::new(), *op_span),
                    Operand::Single(l) => (vec![l.text.clone()], l.span),
                    Operand::List(items, span) => {
                        let mut out = Vec::new();
                        for l in items {
                            if !l.quoted && self.lists.contains_key(l.text.as_str()) {
                                self.expand_list(&l.text, &mut out, &mut Vec::new());
                            } else {
                                out.push(l.text.clone());
                            }
                        }
                        (out, *span)
                    }
                    Operand::ListRef(l) => {
                        if !self.lists.contains_key(l.text.as_str()) {
                            errs.push(self.err_at(src, l.span, ErrKind::Other, format!("undefined list '{}'", l.text)));
                            return None;
                        }
                        let mut out = Vec::new();
                        self.expand_list(&l.text, &mut out, &mut Vec::new());
                        (out, l.span)
                    }
                };
                let f = f?;
                match Pred::new(f, *op, values) {
                    Ok(p) => Some(Expr::Check(Box::new(p))),
                    Err(m) => {
                        let span = if m.starts_with("operator") { *op_span } else { vspan };
                        errs.push(self.err_at(src, span, ErrKind::Other, m));
                        None
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile_text(t: &str) -> RuleSet {
        let mut d = Definitions::default();
        d.add_file("t.yaml", t);
        assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
        compile(&d)
    }

    fn msgs(c: &RuleSet, sev: Severity) -> Vec<String> {
        c.report.diagnostics.iter().filter(|d| d.severity == sev).map(|d| d.to_string()).collect()
    }

    fn rule(cond: &str) -> String {
        format!("- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: info\n")
    }

    #[test]
    fn error_unknown_operator_has_exact_column() {
        let c = compile_text(&rule("evt.type = open and proc.name likes x"));
        assert_eq!(msgs(&c, Severity::Error), ["t.yaml:3:44: rule 'r': unknown operator 'likes'"]);
    }

    #[test]
    fn error_unknown_field() {
        let c = compile_text(&rule("evt.type = open and proc.nme = x"));
        assert_eq!(msgs(&c, Severity::Error), ["t.yaml:3:34: rule 'r': unknown field 'proc.nme'"]);
        assert!(c.rules.is_empty());
        assert!(c.report.skipped_unknown.is_empty());
    }

    #[test]
    fn quoted_list_items_are_read_as_the_condition_reads_quotes() {
        let c = compile_text(&format!(
            "- list: nets\n  items: ['\"10.0.0.0/8\"', \"'192.168.0.0/16'\", 172.16.0.0/12]\n{}",
            rule("fd.snet in (nets)")
        ));
        assert!(c.report.diagnostics.is_empty(), "{:?}", c.report.diagnostics);
        assert_eq!(c.rules.len(), 1);
    }

    #[test]
    fn unknown_field_silent_with_skip_if_unknown_filter() {
        let c = compile_text(&format!("{}  skip-if-unknown-filter: true\n", rule("proc.nme = x")));
        assert!(c.report.diagnostics.is_empty(), "{:?}", c.report.diagnostics);
        assert_eq!(c.report.skipped_unknown, ["r"]);
    }

    #[test]
    fn error_wrong_operand_type() {
        let c = compile_text(&rule("proc.pid = abc"));
        assert_eq!(
            msgs(&c, Severity::Error),
            ["t.yaml:3:25: rule 'r': wrong operand type: field 'proc.pid' (number) needs a number, got 'abc'"]
        );
    }

    #[test]
    fn error_undefined_macro() {
        let c = compile_text(&rule("evt.type = open and nope"));
        assert_eq!(msgs(&c, Severity::Error), ["t.yaml:3:34: rule 'r': undefined macro 'nope'"]);
    }

    #[test]
    fn error_cyclic_macro() {
        let c = compile_text(&format!("- macro: a\n  condition: b\n- macro: b\n  condition: a\n{}", rule("a")));
        let e = msgs(&c, Severity::Error);
        assert_eq!(e, ["t.yaml:4:14: macro 'b': cyclic macro reference: a -> b -> a"], "{e:?}");
        assert!(c.rules.is_empty());
    }

    #[test]
    fn error_missing_list() {
        let c = compile_text(&rule("proc.name in nolist"));
        assert_eq!(msgs(&c, Severity::Error), ["t.yaml:3:27: rule 'r': undefined list 'nolist'"]);
    }

    #[test]
    fn error_bad_regex() {
        let c = compile_text(&rule("proc.name regex '(a'"));
        let e = msgs(&c, Severity::Error);
        assert!(e[0].starts_with("t.yaml:3:30: rule 'r': bad regex '(a':"), "{e:?}");
    }

    #[test]
    fn all_errors_of_a_file_at_once() {
        let c = compile_text(&format!(
            "{}{}",
            rule("proc.pid = x and proc.name likes y"),
            rule("a").replace("- rule: r", "- rule: r2")
        ));
        assert_eq!(msgs(&c, Severity::Error).len(), 2);
    }

    #[test]
    fn lists_nest_and_inline_items_expand() {
        let c = compile_text(&format!(
            "- list: a\n  items: [x, y]\n- list: b\n  items: [a, z]\n{}",
            rule("proc.name in (b, w, \"a\")")
        ));
        assert!(c.report.diagnostics.is_empty(), "{:?}", c.report.diagnostics);
        let Expr::Check(p) = &c.rules[0].condition else { panic!() };
        assert_eq!(p.values, ["x", "y", "z", "w", "a"]);
        assert!(c.report.unused_lists.is_empty());
    }

    #[test]
    fn exceptions_expand_like_falco() {
        let mut d = Definitions::default();
        d.add_file(
            "t.yaml",
            "- list: ok_names\n  items: [cron]\n- rule: r\n  desc: d\n  condition: proc.name = sh\n  output: o\n  priority: info\n  exceptions:\n    - name: pair\n      fields: [proc.pname, fd.name]\n      comps: [in, startswith]\n      values:\n        - [ok_names, /tmp]\n        - [[a, b], /var]\n    - name: single\n      fields: user.name\n      values: [root, admin]\n",
        );
        let defs_rule = &d.rules[0];
        let c = Compiler {
            defs: &d,
            lists: d.lists.iter().enumerate().map(|(i, l)| (l.name.as_str(), i)).collect(),
            macros: HashMap::new(),
            macro_state: vec![],
            macro_stack: vec![],
            used_macros: HashSet::new(),
            used_lists: HashSet::new(),
            diagnostics: vec![],
        };
        assert_eq!(
            c.exception_text(&defs_rule.exceptions[0]).unwrap(),
            r#"(proc.pname in ok_names and fd.name startswith "/tmp") or (proc.pname in ("a", "b") and fd.name startswith "/var")"#
        );
        assert_eq!(c.exception_text(&defs_rule.exceptions[1]).unwrap(), r#"user.name in ("root", "admin")"#);
        let compiled = compile(&d);
        assert!(compiled.report.diagnostics.is_empty(), "{:?}", compiled.report.diagnostics);
        assert!(compiled.rules[0].condition.to_text().contains("not"));
    }

    #[test]
    fn error_exception_arity() {
        let c = compile_text(&format!(
            "{}  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      values: [[a]]\n",
            rule("proc.name = sh")
        ));
        assert_eq!(
            msgs(&c, Severity::Error),
            ["t.yaml:7:7: rule 'r': exception 'e': a value has 1 items but there are 2 fields"]
        );
    }

    #[test]
    fn unused_macros_and_lists() {
        let c = compile_text(&format!(
            "- macro: m\n  condition: proc.name = x\n- list: l\n  items: []\n{}",
            rule("evt.type = open")
        ));
        assert_eq!(c.report.unused_macros[0].0, "m");
        assert_eq!(c.report.unused_lists[0].0, "l");
    }

    #[test]
    fn macro_errors_reported_once_under_the_macro() {
        let c = compile_text(&format!(
            "- macro: m\n  condition: proc.pid = x\n{}{}",
            rule("m"),
            rule("m and evt.type=open").replace("rule: r", "rule: r2")
        ));
        assert_eq!(
            msgs(&c, Severity::Error),
            ["t.yaml:2:25: macro 'm': wrong operand type: field 'proc.pid' (number) needs a number, got 'x'"]
        );
        assert!(c.rules.is_empty());
    }
}
