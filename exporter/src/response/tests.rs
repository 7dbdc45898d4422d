use std::{collections::HashMap, path::PathBuf};

use super::*;

/// Containers in a temporary directory standing in for the cgroup v2 root: each has the files
/// the actions write.
struct FakeContainers {
    root: tempfile::TempDir,
    known: HashMap<String, (String, String)>,
}

impl FakeContainers {
    fn new(containers: &[(&str, &str, &str)]) -> FakeContainers {
        let root = tempfile::tempdir().unwrap();
        let mut known = HashMap::new();
        for &(id, relative, image) in containers {
            let dir = root.path().join(relative.trim_start_matches('/'));
            std::fs::create_dir_all(&dir).unwrap();
            for file in ["cgroup.freeze", "cgroup.kill"] {
                std::fs::write(dir.join(file), "").unwrap();
            }
            known.insert(id.to_owned(), (relative.to_owned(), image.to_owned()));
        }
        FakeContainers { root, known }
    }
}

/// What the responder sees of a [`FakeContainers`].
struct FakeLookup {
    root: PathBuf,
    known: HashMap<String, (String, String)>,
}

impl Containers for FakeLookup {
    fn find(&self, container_id: &str) -> Lookup {
        match self.known.get(container_id) {
            Some((relative, _)) if relative == "/" => Lookup::Host,
            Some((relative, image)) => Lookup::Found(Target {
                cgroup: CgroupDir { v2: self.root.join(relative.trim_start_matches('/')), relative: relative.clone() },
                namespace: "prod".into(),
                image: image.clone(),
            }),
            None => Lookup::Unknown,
        }
    }
}

/// The exporter's pid in these tests: written to the cgroup.procs of its cgroup.
const OWN_PID: u32 = 4_000_001;

/// A responder over `fake` with `policy` (YAML), the exporter itself in cgroup `own`.
fn responder(fake: &FakeContainers, policy: &str, own: &str) -> Responder {
    let path = fake.root.path().join("policy.yml");
    std::fs::write(&path, policy).unwrap();
    let own_dir = fake.root.path().join(own.trim_start_matches('/'));
    std::fs::create_dir_all(&own_dir).unwrap();
    std::fs::write(own_dir.join("cgroup.procs"), format!("1\n{OWN_PID}\n")).unwrap();
    let policy = Policy::load(&path).unwrap();
    let lookup = FakeLookup { root: fake.root.path().to_path_buf(), known: fake.known.clone() };
    Responder::with_own_pid(policy, Box::new(lookup), OWN_PID)
}

const FREEZE: &str = "cooldown_seconds: 300\nmax_containers_per_minute: 2\npolicies:\n  - name: creds\n    action: freeze\n    rules: [Read sensitive file untrusted]\n";

fn webhook(alerts: &[(&str, &str)]) -> Vec<u8> {
    let alerts: Vec<serde_json::Value> = alerts
        .iter()
        .map(|(status, id)| {
            serde_json::json!({"status": status, "labels": {"alertname": "TracewardenRuleViolation", "rule": "Read sensitive file untrusted", "priority": "warning", "container_id": id}})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"version": "4", "status": "firing", "alerts": alerts})).unwrap()
}

fn results(reply: &Reply) -> Vec<(&str, &str, &str)> {
    reply.decisions.iter().map(|d| (d.container_id.as_str(), d.action, d.result)).collect()
}

fn freeze_file(fake: &FakeContainers, relative: &str) -> String {
    std::fs::read_to_string(fake.root.path().join(relative).join("cgroup.freeze")).unwrap()
}

#[test]
fn freezes_known_containers_and_refuses_host_self_and_unknown() {
    let fake = FakeContainers::new(&[
        ("web", "/kubepods/web", "nginx"),
        ("rootcg", "/", ""),
        ("exporter", "/system/tracewarden", ""),
    ]);
    let r = responder(&fake, FREEZE, "/system/tracewarden");
    let reply = r.handle_webhook(&webhook(&[
        ("firing", "web"),
        ("firing", "host"),
        ("firing", "rootcg"),
        ("firing", "exporter"),
        ("firing", "gone"),
        ("resolved", "web"),
    ]));
    assert_eq!(reply.status, 200);
    assert_eq!(
        results(&reply),
        [
            ("web", "freeze", "applied"),
            ("host", "none", "refused_host"),
            ("rootcg", "none", "refused_host"),
            ("exporter", "none", "refused_self"),
            ("gone", "none", "refused_unknown"),
        ]
    );
    assert_eq!(freeze_file(&fake, "kubepods/web"), "1");
    let release = r.release("web");
    assert_eq!((release.status, results(&release)), (200, vec![("web", "release", "applied")]));
    assert_eq!(freeze_file(&fake, "kubepods/web"), "0");
    assert_eq!(r.release("gone").status, 404);
    assert_eq!(r.release("host").status, 403);
    // Released: the cool-down holds it out of the alert that still fires.
    assert_eq!(results(&r.handle_webhook(&webhook(&[("firing", "web")]))), [("web", "freeze", "refused_cooldown")]);
    let stats = r.stats();
    assert!(stats.contains(&("freeze", "applied", 1)) && stats.contains(&("none", "refused_host", 2)), "{stats:?}");
    assert!(stats.contains(&("release", "refused_unknown", 1)), "{stats:?}");
}

#[test]
fn an_ancestor_of_the_exporters_cgroup_is_refused() {
    let fake = FakeContainers::new(&[("pod", "/kubepods/pod1", "")]);
    let r = responder(&fake, FREEZE, "/kubepods/pod1/exporter");
    assert_eq!(results(&r.handle_webhook(&webhook(&[("firing", "pod")]))), [("pod", "none", "refused_self")]);
    assert_eq!(freeze_file(&fake, "kubepods/pod1"), "");
}

#[test]
fn dry_run_decides_and_touches_nothing() {
    let fake = FakeContainers::new(&[("web", "/web", "")]);
    let r = responder(&fake, &format!("dry_run: true\n{FREEZE}"), "/");
    assert_eq!(results(&r.handle_webhook(&webhook(&[("firing", "web")]))), [("web", "freeze", "dry_run")]);
    assert_eq!(freeze_file(&fake, "web"), "");
}

#[test]
fn an_alert_storm_acts_on_at_most_the_limit() {
    let ids: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    let specs: Vec<(String, String)> = ids.iter().map(|id| (id.clone(), format!("/{id}"))).collect();
    let containers: Vec<(&str, &str, &str)> = specs.iter().map(|(id, rel)| (id.as_str(), rel.as_str(), "")).collect();
    let fake = FakeContainers::new(&containers);
    let r = responder(&fake, FREEZE, "/");
    let storm: Vec<(&str, &str)> = ids.iter().flat_map(|id| [("firing", id.as_str()); 3]).collect();
    let reply = r.handle_webhook(&webhook(&storm));
    let applied = reply.decisions.iter().filter(|d| d.result == "applied").count();
    assert_eq!(applied, 2, "max_containers_per_minute");
    let frozen = ids.iter().filter(|id| freeze_file(&fake, id) == "1").count();
    assert_eq!(frozen, 2);
    let cooldown = reply.decisions.iter().filter(|d| d.result == "refused_cooldown").count();
    assert_eq!(cooldown, 4, "the two frozen containers' repeated alerts");
    assert_eq!(reply.decisions.len() - applied - cooldown, 54, "every other alert: refused_rate_limit");
}

#[test]
fn kill_log_and_uncovered_alerts() {
    let fake = FakeContainers::new(&[("a", "/a", "busybox:1"), ("b", "/b", "nginx")]);
    let policy = "cooldown_seconds: 0\nmax_containers_per_minute: 10\npolicies:\n  - {name: k, action: kill, images: ['busybox*']}\n  - {name: l, action: log, namespaces: [prod], priorities: [warning]}\n";
    let r = responder(&fake, policy, "/");
    let reply = r.handle_webhook(&webhook(&[("firing", "a"), ("firing", "b")]));
    assert_eq!(results(&reply), [("a", "kill", "applied"), ("b", "log", "applied")]);
    assert_eq!(std::fs::read_to_string(fake.root.path().join("a/cgroup.kill")).unwrap(), "1");
    assert_eq!(std::fs::read_to_string(fake.root.path().join("b/cgroup.kill")).unwrap(), "");
    let none =
        "cooldown_seconds: 0\nmax_containers_per_minute: 10\npolicies:\n  - {name: k, action: kill, rules: [Other]}\n";
    let r = responder(&fake, none, "/");
    assert_eq!(results(&r.handle_webhook(&webhook(&[("firing", "a")]))), [("a", "none", "refused_no_policy")]);
}

#[test]
fn malformed_and_unauthorized_requests_are_counted() {
    let fake = FakeContainers::new(&[]);
    let r = responder(&fake, FREEZE, "/");
    let reply = r.handle_webhook(b"{\"alerts\": 3}");
    assert_eq!((reply.status, results(&reply)), (400, vec![("", "none", "refused_malformed")]));
    assert!(reply.body().contains("not an Alertmanager webhook payload"), "{}", reply.body());
    assert_eq!(r.refuse(Outcome::RefusedUnauthorized, "no credentials".into()).status, 401);
    assert_eq!(r.stats(), [("none", "refused_malformed", 1), ("none", "refused_unauthorized", 1)]);
}
