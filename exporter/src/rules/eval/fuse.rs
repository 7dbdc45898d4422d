//! A condition rewritten for speed, same verdicts: inside an `or`, the checks of one field with
//! one text operator are merged into a single check against all their operands, so the field is
//! read once and `contains`/`icontains` operands are searched for in one pass.
//!
//! Sigma rules are made of such lists (`CommandLine|contains: [a, b, c]` is `a or b or c`), and
//! a rule set like SigmaHQ's evaluates over a hundred of them on every exec.

use super::{Expr, Matcher, Pred};
use crate::rules::ir::Op;

/// Operators whose checks of one field are merged; their `Pred::eval` is "some value of the
/// field matches", so an `or` of them is one check with any of their matchers.
fn mergeable(p: &Pred) -> bool {
    matches!(
        p.op,
        Op::Eq
            | Op::IEq
            | Op::Contains
            | Op::IContains
            | Op::StartsWith
            | Op::IStartsWith
            | Op::EndsWith
            | Op::IEndsWith
            | Op::Glob
            | Op::IGlob
            | Op::Regex
    ) && !matches!(p.matcher, Matcher::FieldRef(_))
}

impl Expr {
    /// This condition with the checks of each `or` merged by (field, operator); see the module.
    pub fn fused(&self) -> Expr {
        match self {
            Expr::And(v) => Expr::And(v.iter().map(Expr::fused).collect()),
            Expr::Not(e) => Expr::Not(Box::new(e.fused())),
            Expr::Or(v) => fuse_or(v),
            e => e.clone(),
        }
    }
}

fn fuse_or(alternatives: &[Expr]) -> Expr {
    let mut out: Vec<Expr> = Vec::new();
    // Merged groups: (index in `out`, their preds).
    let mut groups: Vec<(usize, Vec<&Pred>)> = Vec::new();
    for e in alternatives {
        let Expr::Check(p) = e else {
            out.push(e.fused());
            continue;
        };
        if !mergeable(p) {
            out.push(e.clone());
            continue;
        }
        let same = |q: &&Pred| q.field == p.field && q.op == p.op;
        match groups.iter_mut().find(|(_, preds)| preds.first().is_some_and(same)) {
            Some((_, preds)) => preds.push(p),
            None => {
                groups.push((out.len(), vec![p]));
                out.push(e.clone());
            }
        }
    }
    for (at, preds) in groups.into_iter().filter(|(_, preds)| preds.len() > 1) {
        out[at] = Expr::Check(Box::new(merge(&preds)));
    }
    match out.len() {
        1 => out.pop().unwrap_or(Expr::Const(false)),
        _ => Expr::Or(out),
    }
}

/// One check of `preds`' field that matches when any of theirs does.
fn merge(preds: &[&Pred]) -> Pred {
    let first = preds[0];
    let values: Vec<String> = preds.iter().flat_map(|p| p.values.iter().cloned()).collect();
    let literal = |icase: bool| {
        let alternatives: Vec<String> = values.iter().map(|v| regex::escape(v)).collect();
        let flags = if icase { "(?i)" } else { "" };
        regex::Regex::new(&format!("{flags}(?:{})", alternatives.join("|"))).ok()
    };
    // Substrings: one search for all (the regex engine's literal prefilters); any other
    // operator: the field is read once and each matcher tried on it.
    let searched = match first.op {
        Op::Contains => literal(false),
        Op::IContains => literal(true),
        _ => None,
    };
    let matcher = match searched {
        Some(regex) => Matcher::Regex(regex),
        None => Matcher::AnyOf(preds.iter().map(|p| p.matcher.clone()).collect()),
    };
    Pred { field: first.field.clone(), op: first.op, values, matcher }
}

#[cfg(test)]
mod tests {
    use crate::rules::{Engine, Event};

    /// The Sigma-shaped rule below, as a rule set: each list is an `or` of checks of one field.
    const RULE: &str = "- rule: R\n  desc: d\n  condition: evt.type = execve and (proc.cmdline icontains \"-E \" or proc.cmdline icontains \"Base64\" or proc.cmdline icontains \"a.b\") and (proc.exepath endswith /nc or proc.exepath endswith /ncat or proc.name = socat) and not (proc.pname = x or proc.pname = y)\n  output: o\n  priority: info\n";

    fn exec(exepath: &str, name: &str, cmdline: &str, pname: &str) -> Event {
        let json = format!(
            r#"{{"type":"execve","proc":{{"pid":1,"name":"{name}","exepath":"{exepath}","cmdline":"{cmdline}","ancestors":[{{"pid":2,"name":"{pname}"}}]}}}}"#
        );
        Event::from_json(&json).expect("event")
    }

    #[test]
    fn merged_checks_give_the_same_verdicts() {
        let engine = Engine::from_sources(&[("r.yaml", RULE)]);
        let rule = &engine.rules()[0];
        let fused = rule.condition.fused();
        let cases = [
            (exec("/bin/nc", "nc", "nc -e BASE64x", "sh"), true),
            (exec("/bin/ncat", "ncat", "ncat A.B", "sh"), true),
            (exec("/bin/ncat", "ncat", "ncat aXb", "sh"), false),
            (exec("/usr/bin/socat", "socat", "socat -e ", "sh"), true),
            (exec("/bin/nc", "nc", "nc -e base64", "x"), false),
            (exec("/bin/cat", "cat", "cat base64", "sh"), false),
        ];
        for (ev, want) in &cases {
            assert_eq!((rule.condition.eval(ev), fused.eval(ev)), (*want, *want), "{ev:?}");
        }
        // Three `or`s became three checks: the field of each list is read once.
        let checks = |e: &super::Expr| {
            let mut n = 0;
            e.visit(&mut |_| n += 1);
            n
        };
        assert_eq!((checks(&rule.condition), checks(&fused)), (9, 5));
    }
}
