//! A container cannot borrow another's identity through a cgroup's name: a process moved into a
//! cgroup made below its own container's and named like a victim container
//! (`/docker/<attacker>/docker/<victim id>`, what a delegated cgroup subtree allows) is still
//! the attacker. Its alert and counter carry the attacker's id, name, image and namespace, none
//! of the victim's, and the refusal is counted under the attacker.

#[macro_use]
mod common;

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use common::attack::{expect_detection, expect_no_detection, suite_exporter, Action, Opts, Target};
use common::{cgroup2_root, sample};

const RULE: &str = "Read sensitive file untrusted";

/// A cgroup directory the test made below a container's, removed (deepest first) when dropped,
/// after the container that used it is gone.
#[derive(Default)]
struct NestedCgroup(Vec<PathBuf>);

impl Drop for NestedCgroup {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The pid of a container's first process, once runc has started it.
fn init_pid(id: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new("runc").args(["state", id]).output().expect("runc state");
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(pid) = state["pid"].as_u64().filter(|&p| p > 0 && state["status"] == "running") {
            return pid as u32;
        }
        assert!(Instant::now() < deadline, "container {id} never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_cgroup_named_like_another_container_keeps_its_own_identity() {
    kernel_test!(a_cgroup_named_like_another_container_keeps_its_own_identity);
    let exporter = suite_exporter();
    let mut nested = NestedCgroup::default();
    let victim = Target::new("spoof-victim");
    let mut victim_run = Action::start(&victim, "true", &Opts::default());
    let victim_done = victim_run.wait_evaluated(exporter);
    let attacker = Target::new("spoof-attacker");
    let mut attack = Action::start(&attacker, "cat /etc/shadow", &Opts::default());
    // Before the action, its process moves into a cgroup of its own container's subtree that
    // bears the victim's id, as a process holding that delegation would do itself.
    let pid = init_pid(&attacker.id);
    let own = cgroup2_root().expect("cgroup v2").join("docker").join(&attacker.id);
    let spoofed = own.join("docker").join(&victim.id);
    for dir in [own.join("docker"), spoofed.clone()] {
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        nested.0.push(dir);
    }
    std::fs::write(spoofed.join("cgroup.procs"), pid.to_string()).expect("move the attacker into the nested cgroup");
    let detection = expect_detection(exporter, &mut attack, RULE, "warning");
    assert_eq!(detection.alert["container_id"], attacker.short_id(), "{}", detection.alert);
    expect_no_detection(exporter, &victim_done, &detection, Some(RULE));
    let labels = [
        ("container_id", attacker.short_id()),
        ("container_name", attacker.name.as_str()),
        ("image", attacker.image.as_str()),
        ("pod", ""),
        ("namespace", attacker.namespace.as_str()),
    ];
    let metrics = exporter.metrics();
    let refused = sample(&metrics, "tracewarden_container_identity_refused_total", &labels);
    let lines: Vec<&str> = metrics.lines().filter(|l| l.contains("identity_refused")).collect();
    assert_eq!(refused, Some(1.0), "the refused identity is counted under the attacker: {lines:#?}");
    drop(attack);
    drop(victim_run);
}
