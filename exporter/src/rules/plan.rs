//! How the engine evaluates its rules on one event: each rule's condition (already fused, see
//! [`Expr::fused`]) is split into its top-level conjuncts, and a conjunct that several rules
//! share is evaluated once per event and remembered. Front ends put the same guard in front of
//! every rule of a kind (Sigma's `file_event` rules all test "opened for writing or created",
//! Falco's macros `open_write`, `spawned_process`), so an event pays for it once, not per rule.

use super::eval::Expr;
use super::event::Event;
use std::collections::HashMap;

/// Conjuncts remembered per event, at most (the most shared ones).
const MAX_SHARED: usize = 64;

/// The evaluation plan of a rule set.
#[derive(Clone, Debug, Default)]
pub struct Plans {
    shared: Vec<Expr>,
    rules: Vec<Plan>,
}

/// One rule: the shared conjuncts it needs (indices into `Plans::shared`), then the rest.
#[derive(Clone, Debug)]
struct Plan {
    shared: Box<[u8]>,
    rest: Expr,
}

fn conjuncts(e: &Expr) -> &[Expr] {
    match e {
        Expr::And(v) => v,
        e => std::slice::from_ref(e),
    }
}

/// A structural key: two conjuncts with the same key are the same test (`Debug` spells out every
/// field, operator, operand and compiled pattern).
fn key(e: &Expr) -> String {
    format!("{e:?}")
}

impl Plans {
    /// Plans for `conditions`, by rule index.
    pub fn new(conditions: &[Expr]) -> Plans {
        let mut counts: HashMap<String, (usize, &Expr)> = HashMap::new();
        for c in conditions {
            for part in conjuncts(c) {
                counts.entry(key(part)).or_insert((0, part)).0 += 1;
            }
        }
        let mut common: Vec<(String, usize, &Expr)> =
            counts.into_iter().filter(|(_, (n, _))| *n > 1).map(|(k, (n, e))| (k, n, e)).collect();
        common.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        common.truncate(MAX_SHARED);
        let ids: HashMap<&str, u8> = common.iter().enumerate().map(|(i, (k, _, _))| (k.as_str(), i as u8)).collect();
        let rules = conditions
            .iter()
            .map(|c| {
                let (mut shared, mut rest) = (Vec::new(), Vec::new());
                for part in conjuncts(c) {
                    match ids.get(key(part).as_str()) {
                        Some(&id) => shared.push(id),
                        None => rest.push(part.clone()),
                    }
                }
                Plan { shared: shared.into(), rest: Expr::And(rest).simplify() }
            })
            .collect();
        Plans { shared: common.into_iter().map(|(_, _, e)| e.clone()).collect(), rules }
    }

    /// Evaluation of these plans on `ev`, remembering shared conjuncts.
    pub fn on<'a>(&'a self, ev: &'a Event) -> OneEvent<'a> {
        OneEvent { plans: self, ev, known: [Verdict::Unknown; MAX_SHARED] }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Unknown,
    False,
    True,
}

/// The plans applied to one event.
pub struct OneEvent<'a> {
    plans: &'a Plans,
    ev: &'a Event,
    known: [Verdict; MAX_SHARED],
}

impl OneEvent<'_> {
    /// Whether rule `i`'s condition holds.
    #[inline]
    pub fn matches(&mut self, i: usize) -> bool {
        let plan = &self.plans.rules[i];
        for &id in plan.shared.iter() {
            let id = id as usize;
            if self.known[id] == Verdict::Unknown {
                self.known[id] = if self.plans.shared[id].eval(self.ev) { Verdict::True } else { Verdict::False };
            }
            if self.known[id] == Verdict::False {
                return false;
            }
        }
        plan.rest.eval(self.ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Engine;

    #[test]
    fn shared_conjuncts_are_planned_once_and_verdicts_do_not_change() {
        let text = "- macro: writing\n  condition: (evt.is_open_write = true or evt.is_open_create = true)\n\
            - rule: a\n  desc: d\n  condition: evt.type = openat and writing and fd.name startswith /etc\n  output: o\n  priority: info\n\
            - rule: b\n  desc: d\n  condition: evt.type = openat and writing and fd.name endswith .service\n  output: o\n  priority: info\n\
            - rule: c\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow\n  output: o\n  priority: info\n";
        let engine = Engine::from_sources(&[("r.yaml", text)]);
        assert!(!engine.has_errors(), "{:?}", engine.report.diagnostics);
        let conditions: Vec<Expr> = engine.rules().iter().map(|r| r.condition.clone()).collect();
        let plans = Plans::new(&conditions);
        // `evt.type = openat` (3 rules) and the macro (2) are shared.
        assert_eq!(plans.shared.len(), 2);
        assert_eq!(plans.rules.iter().map(|p| p.shared.len()).collect::<Vec<_>>(), [2, 2, 1]);
        let open = |name: &str, flags: &str| {
            Event::from_json(&format!(
                r#"{{"type":"openat","args":{{"name":"{name}","flags":"{flags}"}},"fd":{{"type":"file","name":"{name}"}}}}"#
            ))
            .expect("event")
        };
        for ev in [
            open("/etc/x", "O_WRONLY"),
            open("/etc/shadow", "O_RDONLY"),
            open("/lib/systemd/x.service", "O_RDWR|O_CREAT"),
            open("/tmp/y", "O_WRONLY"),
        ] {
            let mut one = plans.on(&ev);
            for (i, c) in conditions.iter().enumerate() {
                assert_eq!(one.matches(i), c.eval(&ev), "rule {i} on {ev:?}");
            }
        }
    }
}
