//! Lints over a compiled rule set: rules that can never match, rules every event type reaches,
//! shadowed and conflicting rules, unused macros and lists.

use super::diag::{Diagnostic, Severity, Subject};
use super::engine::Engine;
use super::eval::Expr;
use super::kernel;
use std::collections::BTreeSet;

fn warning(file: &str, pos: super::yaml::Pos, kind: &'static str, name: &str, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Warning,
        file: file.to_owned(),
        pos,
        subject: Some(Subject { kind, name: name.to_owned() }),
        message,
    }
}

/// The top-level conjuncts of a condition, as canonical text.
fn conjuncts(e: &Expr) -> BTreeSet<String> {
    match e {
        Expr::And(v) => v.iter().map(Expr::to_text).collect(),
        other => std::iter::once(other.to_text()).collect(),
    }
}

/// Lint warnings for `engine` (load and compile diagnostics are in `engine.diagnostics`).
pub fn lint(engine: &Engine) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let rules = engine.rules();
    for r in rules {
        if matches!(r.condition, Expr::Const(false)) {
            out.push(warning(&r.file, r.pos, "rule", &r.name, "can never match: its condition is always false".into()));
            continue;
        }
        match kernel::event_types(&r.condition) {
            Some(t) if t.is_empty() => out.push(warning(
                &r.file,
                r.pos,
                "rule",
                &r.name,
                "can never match: no event type satisfies its evt.type tests".into(),
            )),
            None => out.push(warning(
                &r.file,
                r.pos,
                "rule",
                &r.name,
                "condition does not restrict evt.type: the rule is evaluated for every event".into(),
            )),
            _ => {}
        }
    }
    let conj: Vec<BTreeSet<String>> = rules.iter().map(|r| conjuncts(&r.condition)).collect();
    for (b, rb) in rules.iter().enumerate() {
        if !rb.enabled {
            continue;
        }
        for (a, ra) in rules.iter().enumerate().take(b) {
            if !ra.enabled || !conj[a].is_subset(&conj[b]) {
                continue;
            }
            let msg = if conj[a] == conj[b] && ra.priority != rb.priority {
                format!(
                    "conflicts with rule '{}' ({}:{}): same condition, priority {} vs {}",
                    ra.name, ra.file, ra.pos.line, ra.priority, rb.priority
                )
            } else if conj[a] == conj[b] {
                format!("duplicates rule '{}' ({}:{}): same condition", ra.name, ra.file, ra.pos.line)
            } else {
                format!(
                    "is shadowed by rule '{}' ({}:{}): every event it matches also matches that earlier, more general rule",
                    ra.name, ra.file, ra.pos.line
                )
            };
            out.push(warning(&rb.file, rb.pos, "rule", &rb.name, msg));
            break;
        }
    }
    for (name, file, pos) in &engine.report.unused_macros {
        out.push(warning(file, *pos, "macro", name, "unused macro".into()));
    }
    for (name, file, pos) in &engine.report.unused_lists {
        out.push(warning(file, *pos, "list", name, "unused list".into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, cond: &str, prio: &str) -> String {
        format!("- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: {prio}\n")
    }

    fn lints(text: &str) -> Vec<String> {
        let e = Engine::from_sources(&[("t.yaml", text)]);
        assert!(!e.has_errors(), "{:?}", e.report.diagnostics);
        lint(&e).iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn never_matching() {
        let l = lints(&rule("a", "evt.type = open and evt.type = execve", "info"));
        assert_eq!(l, ["t.yaml:1:3: rule 'a': can never match: no event type satisfies its evt.type tests"]);
        let l = lints(&rule("a", "evt.type = open and proc.name in ()", "info"));
        assert!(l.is_empty(), "{l:?}");
    }

    #[test]
    fn unrestricted_event_type() {
        let l = lints(&rule("a", "proc.name = sh", "info"));
        assert_eq!(
            l,
            ["t.yaml:1:3: rule 'a': condition does not restrict evt.type: the rule is evaluated for every event"]
        );
    }

    #[test]
    fn shadowed_and_conflicting() {
        let text = [
            rule("general", "evt.type = open and proc.name = sh", "info"),
            rule("specific", "evt.type = open and proc.name = sh and user.uid = 0", "info"),
            rule("same", "proc.name = sh and evt.type = open", "critical"),
        ]
        .concat();
        let l = lints(&text);
        assert_eq!(l.len(), 2, "{l:?}");
        assert!(l[0].starts_with("t.yaml:6:3: rule 'specific': is shadowed by rule 'general' (t.yaml:1)"), "{l:?}");
        assert!(l[1].starts_with("t.yaml:11:3: rule 'same': conflicts with rule 'general' (t.yaml:1): same condition, priority informational vs critical"), "{l:?}");
    }

    #[test]
    fn unused() {
        let text = format!(
            "- macro: m\n  condition: proc.name = x\n- list: l\n  items: [a]\n{}",
            rule("a", "evt.type = open", "info")
        );
        assert_eq!(lints(&text), ["t.yaml:1:3: macro 'm': unused macro", "t.yaml:3:3: list 'l': unused list"]);
    }
}
