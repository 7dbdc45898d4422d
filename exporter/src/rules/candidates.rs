//! The rules worth evaluating for one event, beyond its type: a rule that can only match a
//! process whose executable has a given base name (`Image|endswith: '/nc'` in Sigma, a test of
//! `proc.exec_path`; `proc.exepath = /usr/bin/nc` in Falco) is filed under that name and field,
//! and an event tries only the rules filed under its own executable's names plus those filed
//! under none.
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

/// Rules by the base name of the executable they require (lower case) in `proc.exepath` or in
/// `proc.exec_path`, and those that require none; each list in load order.
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    unkeyed: Box<[u32]>,
    by_exepath: HashMap<Box<str>, Box<[u32]>>,
    by_exec_path: HashMap<Box<str>, Box<[u32]>>,
}

/// The executable fields rules are filed by.
const EXE_FIELDS: [FieldId; 2] = [FieldId::ProcExepath, FieldId::ProcExecPath];

impl Candidates {
    /// Files each `(rule index, its condition)`, given in load order.
    pub fn new<'a>(rules: impl IntoIterator<Item = (u32, &'a Expr)>) -> Candidates {
        let mut unkeyed = Vec::new();
        let mut by_field: [HashMap<Box<str>, Vec<u32>>; 2] = Default::default();
        for (i, condition) in rules {
            let keyed = EXE_FIELDS.iter().zip(&mut by_field).find_map(|(f, map)| Some((exe_names(condition, f)?, map)));
            match keyed {
                Some((names, by_exe)) => {
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
        let [by_exepath, by_exec_path] = by_field.map(|m| m.into_iter().map(|(k, v)| (k, v.into())).collect());
        Candidates { unkeyed: unkeyed.into(), by_exepath, by_exec_path }
    }

    /// Whether no rule is filed.
    pub fn is_empty(&self) -> bool {
        self.unkeyed.is_empty() && self.by_exepath.is_empty() && self.by_exec_path.is_empty()
    }

    /// The rules to try for a process whose executable is `exepath`, exec'd as `exec_path`, in
    /// load order.
    pub fn for_exe(&self, exepath: &str, exec_path: &str) -> Merged<'_> {
        Merged { lists: [&self.unkeyed, filed(&self.by_exepath, exepath), filed(&self.by_exec_path, exec_path)] }
    }

    /// Every rule filed, in load order (for callers without an event).
    #[cfg(test)]
    pub fn all(&self) -> Vec<u32> {
        let keyed = self.by_exepath.values().chain(self.by_exec_path.values()).flat_map(|v| v.iter());
        let mut v: Vec<u32> = self.unkeyed.iter().chain(keyed).copied().collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The rules `by_exe` files under the base name of `path`.
fn filed<'a>(by_exe: &'a HashMap<Box<str>, Box<[u32]>>, path: &str) -> &'a [u32] {
    if by_exe.is_empty() {
        return &[];
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let rules = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        by_exe.get(name.to_ascii_lowercase().as_str())
    } else {
        by_exe.get(name)
    };
    rules.map_or(&[], |v| &**v)
}

/// Ascending lists of rule indices as one ascending sequence (a rule in two lists once).
pub struct Merged<'a> {
    lists: [&'a [u32]; 3],
}

impl Iterator for Merged<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let next = self.lists.iter().filter_map(|l| l.first()).min().copied()?;
        for list in &mut self.lists {
            if list.first() == Some(&next) {
                *list = &list[1..];
            }
        }
        Some(next)
    }
}

/// The base names (lower case) in `field` one of which every process matching `e` has, or
/// `None` when `e` does not require one.
fn exe_names(e: &Expr, field: &FieldId) -> Option<Vec<Box<str>>> {
    match e {
        // Any one conjunct that requires a name is enough.
        Expr::And(v) => v.iter().find_map(|c| exe_names(c, field)),
        // Each alternative must require one: the names of all of them.
        Expr::Or(v) => {
            let mut names = Vec::new();
            for alternative in v {
                names.extend(exe_names(alternative, field)?);
            }
            Some(names)
        }
        Expr::Check(p) if p.field.id == *field && !p.values.is_empty() => {
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
        assert!(!engine.has_errors(), "{:?}", engine.report.diagnostics);
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
        let tried = |exe: &str| c.for_exe(exe, exe).collect::<Vec<_>>();
        assert_eq!(tried("/bin/nc"), [0, 2, 3, 4, 5, 6]);
        assert_eq!(tried("/usr/bin/ncat"), [1, 2, 3, 4, 5, 6]);
        assert_eq!(tried("/opt/NCat"), [1, 2, 3, 4, 5, 6], "names are compared lower-cased");
        assert_eq!(tried("socat"), [1, 2, 3, 4, 5, 6]);
        assert_eq!(tried("/bin/cat"), [2, 3, 4, 5, 6]);
        assert_eq!(c.all(), [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rules_on_the_exec_d_path_are_filed_by_it() {
        let conds = conditions(&[
            "proc.exec_path endswith /cat",
            "proc.exepath endswith /busybox",
            "proc.exec_path endswith /cat and proc.exepath endswith /busybox",
        ]);
        let c = Candidates::new(conds.iter().enumerate().map(|(i, e)| (i as u32, e)));
        assert_eq!(c.for_exe("/bin/busybox", "/bin/cat").collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(c.for_exe("/bin/busybox", "/bin/ls").collect::<Vec<_>>(), [1, 2]);
        assert_eq!(c.for_exe("/usr/bin/cat", "/usr/bin/cat").collect::<Vec<_>>(), [0]);
    }
}
