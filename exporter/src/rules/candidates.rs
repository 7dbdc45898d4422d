//! The rules worth evaluating for one event, beyond its type: a rule that can only match a
//! process whose executable has a given base name (`Image|endswith: '/nc'` in Sigma,
//! `proc.exepath = /usr/bin/nc` in Falco) is filed under that name, and an event tries only the
//! rules filed under its own executable's name plus those filed under none.
//!
//! The index may keep a rule that cannot match (the full condition still decides), never drop
//! one that can: a key is taken only from a check every match must pass, and names are compared
//! ASCII-lower-cased (a superset of case-sensitive and case-insensitive equality). SigmaHQ's
//! process rules nearly all name their executables, so an exec tries a handful of rules, not
//! a hundred.

use super::eval::Expr;
use super::fields::FieldId;
use super::ir::Op;
use std::collections::HashMap;

/// Rules by the base name of the executable they require (lower case), and those that require
/// none; each list in load order.
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    unkeyed: Box<[u32]>,
    by_exe: HashMap<Box<str>, Box<[u32]>>,
}

impl Candidates {
    /// Files each `(rule index, its condition)`, given in load order.
    pub fn new<'a>(rules: impl IntoIterator<Item = (u32, &'a Expr)>) -> Candidates {
        let mut unkeyed = Vec::new();
        let mut by_exe: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        for (i, condition) in rules {
            match exe_names(condition) {
                Some(names) => {
                    for name in names {
                        let rules = by_exe.entry(name).or_default();
                        if rules.last() != Some(&i) {
                            rules.push(i);
                        }
                    }
                }
                None => unkeyed.push(i),
            }
        }
        Candidates { unkeyed: unkeyed.into(), by_exe: by_exe.into_iter().map(|(k, v)| (k, v.into())).collect() }
    }

    /// Whether no rule is filed.
    pub fn is_empty(&self) -> bool {
        self.unkeyed.is_empty() && self.by_exe.is_empty()
    }

    /// The rules to try for a process whose executable is `exepath`, in load order.
    pub fn for_exe(&self, exepath: &str) -> Merged<'_> {
        let keyed = match self.by_exe.is_empty() {
            true => None,
            false => {
                let name = exepath.rsplit('/').next().unwrap_or(exepath);
                if name.bytes().any(|b| b.is_ascii_uppercase()) {
                    self.by_exe.get(name.to_ascii_lowercase().as_str())
                } else {
                    self.by_exe.get(name)
                }
            }
        };
        Merged { a: &self.unkeyed, b: keyed.map_or(&[][..], |v| &**v) }
    }

    /// Every rule filed, in load order (for callers without an event).
    #[cfg(test)]
    pub fn all(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.unkeyed.iter().chain(self.by_exe.values().flat_map(|v| v.iter())).copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Two ascending lists of rule indices as one ascending sequence.
pub struct Merged<'a> {
    a: &'a [u32],
    b: &'a [u32],
}

impl Iterator for Merged<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let pick_a = match (self.a.first(), self.b.first()) {
            (Some(x), Some(y)) => x <= y,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let side = if pick_a { &mut self.a } else { &mut self.b };
        let (&first, rest) = side.split_first()?;
        *side = rest;
        Some(first)
    }
}

/// The executable base names (lower case) one of which every process matching `e` has, or
/// `None` when `e` does not require one.
fn exe_names(e: &Expr) -> Option<Vec<Box<str>>> {
    match e {
        // Any one conjunct that requires a name is enough.
        Expr::And(v) => v.iter().find_map(exe_names),
        // Each alternative must require one: the names of all of them.
        Expr::Or(v) => {
            let mut names = Vec::new();
            for alternative in v {
                names.extend(exe_names(alternative)?);
            }
            Some(names)
        }
        Expr::Check(p) if p.field.id == FieldId::ProcExepath && !p.values.is_empty() => {
            let equality = matches!(p.op, Op::Eq | Op::IEq | Op::In);
            let suffix = matches!(p.op, Op::EndsWith | Op::IEndsWith);
            if !(equality || suffix) {
                return None;
            }
            p.values
                .iter()
                .map(|v| {
                    // A suffix names the whole base name only when it starts at a '/'.
                    let (_, name) = v.rsplit_once('/').or(equality.then_some(("", v.as_str())))?;
                    (!name.is_empty() && name.is_ascii()).then(|| name.to_ascii_lowercase().into_boxed_str())
                })
                .collect()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Engine;

    fn conditions(conds: &[&str]) -> Vec<Expr> {
        let text: String = conds
            .iter()
            .enumerate()
            .map(|(i, c)| format!("- rule: r{i}\n  desc: d\n  condition: {c}\n  output: o\n  priority: info\n"))
            .collect();
        let engine = Engine::from_sources(&[("r.yaml", &text)]);
        assert!(!engine.has_errors(), "{:?}", engine.diagnostics);
        engine.rules().iter().map(|r| r.condition.clone()).collect()
    }

    #[test]
    fn rules_are_filed_under_the_executables_every_match_needs() {
        let conds = conditions(&[
            "evt.type = execve and proc.exepath endswith /nc and proc.cmdline contains -e",
            "evt.type = execve and (proc.exepath endswith /usr/bin/NCAT or proc.exepath = socat)",
            "evt.type = execve and proc.cmdline contains base64",
            // Not keyed: a suffix that may be part of a longer name, a negation, an `or` with
            // an alternative that names no executable, a pattern.
            "proc.exepath endswith cat",
            "not proc.exepath endswith /nc",
            "proc.exepath endswith /nc or proc.name = nc",
            "proc.exepath glob '/usr/bin/n*'",
        ]);
        let c = Candidates::new(conds.iter().enumerate().map(|(i, e)| (i as u32, e)));
        let tried = |exe: &str| c.for_exe(exe).collect::<Vec<_>>();
        assert_eq!(tried("/bin/nc"), [0, 2, 3, 4, 5, 6]);
        assert_eq!(tried("/usr/bin/ncat"), [1, 2, 3, 4, 5, 6]);
        assert_eq!(tried("/opt/NCat"), [1, 2, 3, 4, 5, 6], "names are compared lower-cased");
        assert_eq!(tried("socat"), [1, 2, 3, 4, 5, 6]);
        assert_eq!(tried("/bin/cat"), [2, 3, 4, 5, 6]);
        assert_eq!(c.all(), [0, 1, 2, 3, 4, 5, 6]);
    }
}
