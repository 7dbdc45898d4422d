//! Response: Alertmanager notifications (`POST /api/v1/respond`) turned into actions on the
//! containers they name, as `--response.config` allows ([`policy`]), within its safety limits
//! ([`limits`]), on the container's cgroup ([`cgroup`]), each decision audited ([`audit`]).
//!
//! Never acted on: the host, a cgroup holding the exporter's own process (itself or below), and any
//! container id that maps to no cgroup the exporter has resolved; each such refusal is audited
//! like an action. A frozen container is thawed by a release (`DELETE /api/v1/respond/ID`, or
//! `exporter respond release ID`).

pub mod audit;
pub mod cgroup;
pub mod cli;
pub mod limits;
pub mod payload;
pub mod policy;

use std::{sync::Mutex, time::Instant};

use audit::{Decision, Outcome, ResponseStats};
use cgroup::CgroupDir;
use limits::Limiter;
use payload::WebhookAlert;
use policy::{Action, Policy, Subject};

use crate::{container::Container, rules::Priority, server::ResponseApi};

/// A container that can be acted on: its cgroup, and what a policy compares of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub cgroup: CgroupDir,
    pub namespace: String,
    pub image: String,
}

/// What a container id names, as the exporter's container resolver knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(Target),
    Host,
    Unknown,
}

/// Finds containers by the id their series and alerts carry (`container_id`).
pub trait Containers: Send + Sync {
    fn find(&self, container_id: &str) -> Lookup;
}

/// An answer to an API call: HTTP status and the decisions made (the JSON body).
#[derive(Debug, serde::Serialize)]
pub struct Reply {
    #[serde(skip)]
    pub status: u16,
    pub decisions: Vec<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reply {
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default() + "\n"
    }
}

pub struct Responder {
    policy: Policy,
    containers: Box<dyn Containers>,
    limiter: Mutex<Limiter>,
    stats: ResponseStats,
    /// The exporter's own pid: a cgroup holding it (or holding a cgroup that does) is refused.
    own_pid: u32,
}

impl Responder {
    pub fn new(policy: Policy, containers: Box<dyn Containers>) -> Responder {
        Responder::with_own_pid(policy, containers, std::process::id())
    }

    fn with_own_pid(policy: Policy, containers: Box<dyn Containers>, own_pid: u32) -> Responder {
        let limiter = Mutex::new(Limiter::new(policy.cooldown, policy.max_per_minute));
        Responder { policy, containers, limiter, stats: ResponseStats::default(), own_pid }
    }

    pub fn stats(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.stats.snapshot()
    }

    /// Acts on every firing alert with a `container_id` in an Alertmanager webhook body.
    pub fn handle_webhook(&self, body: &[u8]) -> Reply {
        let alerts = match payload::parse(body) {
            Ok(alerts) => alerts,
            Err(e) => return self.refuse(Outcome::RefusedMalformed, e),
        };
        let now = Instant::now();
        let decisions = alerts
            .iter()
            .filter(|a| a.firing() && !a.label("container_id").is_empty())
            .map(|alert| {
                let decision = self.decide(alert, now);
                self.stats.record(&decision);
                decision
            })
            .collect();
        Reply { status: 200, decisions, error: None }
    }

    /// Counts and audits a request refused before any alert was read (bad credentials, bad body).
    pub fn refuse(&self, outcome: Outcome, reason: String) -> Reply {
        let decision = decision("none", outcome, "", "", "", reason.clone());
        self.stats.record(&decision);
        let status = if outcome == Outcome::RefusedUnauthorized { 401 } else { 400 };
        Reply { status, decisions: vec![decision], error: Some(reason) }
    }

    /// Thaws a container (a release), and holds it out of new actions for the cool-down.
    pub fn release(&self, container_id: &str) -> Reply {
        let (status, decision) = match self.target(container_id) {
            Err((outcome, reason)) => {
                let status = if outcome == Outcome::RefusedUnknown { 404 } else { 403 };
                (status, decision("release", outcome, container_id, "", "", reason))
            }
            Ok(target) => match target.cgroup.set_frozen(false) {
                Ok(()) => {
                    if let Ok(mut limiter) = self.limiter.lock() {
                        limiter.hold(container_id, Instant::now());
                    }
                    (200, decision("release", Outcome::Applied, container_id, "", "", "thawed".into()))
                }
                Err(e) => (500, decision("release", Outcome::Failed, container_id, "", "", e.to_string())),
            },
        };
        self.stats.record(&decision);
        Reply { status, decisions: vec![decision], error: None }
    }

    fn decide(&self, alert: &WebhookAlert, now: Instant) -> Decision {
        let (id, rule) = (alert.label("container_id"), alert.rule());
        let target = match self.target(id) {
            Ok(target) => target,
            Err((outcome, reason)) => return decision("none", outcome, id, rule, "", reason),
        };
        let subject = Subject {
            rule,
            priority: Priority::parse(alert.label("priority")),
            namespace: &target.namespace,
            image: &target.image,
        };
        let Some(chosen) = self.policy.decide(&subject) else {
            return decision("none", Outcome::RefusedNoPolicy, id, rule, "", "no policy covers this alert".into());
        };
        let action = chosen.action;
        let refused = |outcome, reason: &str| decision(action.as_str(), outcome, id, rule, &chosen.name, reason.into());
        match self.limiter.lock().map(|mut l| l.admit(id, now)) {
            Ok(Ok(())) => {}
            Ok(Err(outcome @ Outcome::RefusedCooldown)) => return refused(outcome, "acted on within the cool-down"),
            Ok(Err(outcome)) => return refused(outcome, "max_containers_per_minute reached"),
            Err(_) => return refused(Outcome::Failed, "limiter poisoned"),
        }
        if self.policy.dry_run {
            return refused(Outcome::DryRun, "dry_run: nothing done");
        }
        let done = match action {
            Action::Freeze => target.cgroup.set_frozen(true),
            Action::Kill => target.cgroup.kill(),
            Action::Log => Ok(()),
        };
        match done {
            Ok(()) => refused(Outcome::Applied, &target.cgroup.relative),
            Err(e) => refused(Outcome::Failed, &e.to_string()),
        }
    }

    /// The container `container_id` names, or why it is no target.
    fn target(&self, container_id: &str) -> Result<Target, (Outcome, String)> {
        if container_id == Container::HOST_ID {
            return Err((Outcome::RefusedHost, "the host is never a target".into()));
        }
        let target = match self.containers.find(container_id) {
            Lookup::Found(target) => target,
            Lookup::Host => return Err((Outcome::RefusedHost, "its cgroup is the host's".into())),
            Lookup::Unknown => {
                return Err((Outcome::RefusedUnknown, "no cgroup of this exporter's node has this container id".into()))
            }
        };
        if target.cgroup.relative.trim_matches('/').is_empty() {
            return Err((Outcome::RefusedHost, "its cgroup is the root".into()));
        }
        if target.cgroup.holds(self.own_pid) {
            return Err((Outcome::RefusedSelf, format!("{} holds the exporter itself", target.cgroup.relative)));
        }
        Ok(target)
    }
}

fn decision(action: &'static str, outcome: Outcome, id: &str, rule: &str, policy: &str, reason: String) -> Decision {
    Decision {
        action,
        result: outcome.label(),
        container_id: id.to_owned(),
        rule: rule.to_owned(),
        policy: policy.to_owned(),
        reason,
    }
}

impl ResponseApi for Responder {
    fn respond(&self, body: &[u8]) -> (u16, String) {
        let reply = self.handle_webhook(body);
        (reply.status, reply.body())
    }

    fn release(&self, container_id: &str) -> (u16, String) {
        let reply = Responder::release(self, container_id);
        (reply.status, reply.body())
    }

    fn refused(&self, unauthorized: bool, reason: String) -> (u16, String) {
        let outcome = if unauthorized { Outcome::RefusedUnauthorized } else { Outcome::RefusedMalformed };
        let reply = self.refuse(outcome, reason);
        (reply.status, reply.body())
    }
}

#[cfg(test)]
mod tests;
