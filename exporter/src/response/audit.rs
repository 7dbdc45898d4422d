//! What the responder did, twice: one audit log line per decision (with its reason), and the
//! counters behind `tracewarden_responses_total{action,result}`.

use std::{collections::BTreeMap, sync::Mutex};

/// How a decision ended. The label values are a fixed set, so the series stay bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The action was carried out.
    Applied,
    /// The policy is in dry-run mode: the action was decided and not carried out.
    DryRun,
    /// Carrying it out failed (the cgroup file could not be written).
    Failed,
    /// The alert is about the host, never a target.
    RefusedHost,
    /// The target holds the exporter itself.
    RefusedSelf,
    /// The container id maps to no cgroup the exporter knows.
    RefusedUnknown,
    /// No policy covers the alert.
    RefusedNoPolicy,
    /// The container was acted on within the cool-down.
    RefusedCooldown,
    /// The per-minute limit of containers acted on is spent.
    RefusedRateLimit,
    /// The request carried no valid credentials.
    RefusedUnauthorized,
    /// The request body is not an Alertmanager webhook payload.
    RefusedMalformed,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::DryRun => "dry_run",
            Outcome::Failed => "failed",
            Outcome::RefusedHost => "refused_host",
            Outcome::RefusedSelf => "refused_self",
            Outcome::RefusedUnknown => "refused_unknown",
            Outcome::RefusedNoPolicy => "refused_no_policy",
            Outcome::RefusedCooldown => "refused_cooldown",
            Outcome::RefusedRateLimit => "refused_rate_limit",
            Outcome::RefusedUnauthorized => "refused_unauthorized",
            Outcome::RefusedMalformed => "refused_malformed",
        }
    }
}

/// One decision, as logged and answered.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Decision {
    /// `freeze`, `kill`, `log`, `release`, or `none` when no action was chosen.
    pub action: &'static str,
    pub result: &'static str,
    pub container_id: String,
    /// The rule (or alert name) that asked, empty for a release or a refused request.
    pub rule: String,
    /// The policy entry that chose the action, if one did.
    pub policy: String,
    /// Why, in words, for the log reader.
    pub reason: String,
}

/// Counts per (action, result); every decision passes through [`ResponseStats::record`].
#[derive(Debug, Default)]
pub struct ResponseStats {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl ResponseStats {
    /// Counts `decision` and writes its audit line: refusals and failures as warnings.
    pub fn record(&self, decision: &Decision) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry((decision.action, decision.result)).or_default() += 1;
        }
        let Decision { action, result, container_id, rule, policy, reason } = decision;
        if *result == Outcome::Applied.label() || *result == Outcome::DryRun.label() {
            tracing::info!(target: "tracewarden::audit", action, result, container_id, rule, policy, reason, "response");
        } else {
            tracing::warn!(target: "tracewarden::audit", action, result, container_id, rule, policy, reason, "response");
        }
    }

    /// (action, result, count), sorted.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.counts.lock().map(|c| c.iter().map(|(&(a, r), &n)| (a, r, n)).collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_action_and_result() {
        let stats = ResponseStats::default();
        let decision = |action, result: Outcome| Decision {
            action,
            result: result.label(),
            container_id: "c1".into(),
            rule: String::new(),
            policy: String::new(),
            reason: String::new(),
        };
        stats.record(&decision("freeze", Outcome::Applied));
        stats.record(&decision("freeze", Outcome::Applied));
        stats.record(&decision("none", Outcome::RefusedHost));
        assert_eq!(stats.snapshot(), vec![("freeze", "applied", 2), ("none", "refused_host", 1)]);
    }
}
