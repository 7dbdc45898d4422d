//! Per-container counters of what one tenant tried against the others: events held back for
//! exceeding the cgroup's share of the event ring, and cgroups that claimed another container's
//! identity by their path.

use std::{fmt::Write as _, sync::Arc};

use crate::container::Container;

/// A count per container, in any order.
pub type PerContainer = Vec<(Arc<Container>, u64)>;

#[derive(Debug, Default)]
pub struct TenantCounters {
    pub events_throttled: PerContainer,
    pub identities_refused: PerContainer,
}

impl TenantCounters {
    pub(super) fn write(&self, out: &mut String) {
        write_family(
            out,
            "tracewarden_events_throttled_total",
            "Events not sent to the rule evaluator because their cgroup had used its share of the event ring (--events.cgroup-budget), per container; kernel-decided rule hits are still counted.",
            &self.events_throttled,
        );
        write_family(
            out,
            "tracewarden_container_identity_refused_total",
            "Cgroups whose path named a container that the runtime's record places elsewhere (a cgroup named like another container), per container they were counted as instead.",
            &self.identities_refused,
        );
    }
}

fn write_family(out: &mut String, name: &str, help: &str, counts: &[(Arc<Container>, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    let mut sorted: Vec<&(Arc<Container>, u64)> = counts.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.labels().cmp(&b.0.labels()));
    for (container, count) in sorted {
        out.push_str(name);
        out.push('{');
        super::push_container_labels(out, container);
        let _ = writeln!(out, "}} {count}");
    }
}
