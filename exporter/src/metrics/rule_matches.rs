//! `tracewarden_rule_matches_total`'s one owner. Matches are counted in two places: user space
//! adds the ones its evaluator decides ([`RuleMatches::add`]), and the kernel counts the rules
//! it decides itself in its own map, read live at each scrape. When a cgroup is freed, its
//! kernel counts are moved here ([`RuleMatches::add`] again), so the counter never goes back.
//!
//! Keyed by rule *name*, so a reload that keeps a rule keeps its counter.

use std::{collections::HashMap, sync::Arc, sync::Mutex};

use crate::container::Container;

/// A rule's matches in one container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchKey {
    pub rule: Arc<str>,
    /// Lower-case Falco priority name.
    pub priority: &'static str,
    pub container: Arc<Container>,
}

/// Rule matches by (rule, container), shared by the detection thread and the scrapes.
#[derive(Debug, Default)]
pub struct RuleMatches {
    counts: Mutex<HashMap<MatchKey, u64>>,
}

impl RuleMatches {
    pub fn add(&self, key: MatchKey, n: u64) {
        // A poisoned lock only means another thread panicked mid-add: the map is still whole.
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(key).or_insert(0) += n;
    }

    /// The counts so far plus `live` ones not yet moved here (the kernel's, read at a scrape).
    pub fn with_live(&self, live: impl IntoIterator<Item = (MatchKey, u64)>) -> Vec<(MatchKey, u64)> {
        let mut all = self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (key, n) in live {
            *all.entry(key).or_insert(0) += n;
        }
        all.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rule: &str, container: &str) -> MatchKey {
        MatchKey { rule: rule.into(), priority: "warning", container: Arc::new(Container::labelled(container)) }
    }

    #[test]
    fn counted_and_live_matches_add_up_per_rule_and_container() {
        let matches = RuleMatches::default();
        matches.add(key("a", "host"), 2);
        matches.add(key("a", "host"), 1);
        matches.add(key("b", "c1"), 4);
        let mut all = matches.with_live([(key("a", "host"), 10), (key("c", "c1"), 1)]);
        all.sort_by(|x, y| x.0.rule.cmp(&y.0.rule));
        let got: Vec<(&str, u64)> = all.iter().map(|(k, n)| (&*k.rule, *n)).collect();
        assert_eq!(got, [("a", 13), ("b", 4), ("c", 1)]);
        // Live counts are not kept: the next scrape reads the kernel again.
        assert_eq!(matches.with_live([]).iter().map(|(_, n)| n).sum::<u64>(), 7);
    }
}
