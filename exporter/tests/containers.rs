//! Real runc containers, the real exporter binary, the real kernel: each container's syscalls
//! appear under exactly its labels, host activity under container_id="host", and a container
//! that has gone disappears from /metrics after the TTL.

mod common;

use std::time::Duration;

use common::attack::{self, Opts, Target};
use common::{eventually, kernel_available, outputs::Outputs, sample, Exporter, Rootfs, RuncContainer, SHIPPED_RULES};
use exporter::container::Container;

/// bytes dd copies one at a time: at least this many read and write syscalls.
const N: u64 = 20_000;

struct Case {
    runc_id: String,
    cgroups_path: String,
    annotations: Vec<(&'static str, String)>,
    /// container_id, container_name, image, pod, namespace as /metrics must show them.
    labels: [String; 5],
}

fn hex64(seed: u64) -> String {
    let a = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ std::process::id() as u64;
    let b = a.rotate_left(17) ^ 0xd6e8_feb8_6659_fd93;
    format!("{a:016x}{b:016x}{:016x}{:016x}", a ^ b, a.wrapping_add(b))
}

fn cases() -> Vec<Case> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let (docker, containerd, kubepods) = (hex64(nanos), hex64(nanos + 1), hex64(nanos + 2));
    let pod_uid = "0a1b2c3d-4e5f-4789-abcd-ef0123456789";
    let plain = format!("tw-plain-{}", std::process::id());
    let k8s = |name: &str, image: &str, pod: &str, ns: &str| {
        vec![
            ("io.kubernetes.cri.container-name", name.to_owned()),
            ("io.kubernetes.cri.image-name", image.to_owned()),
            ("io.kubernetes.cri.sandbox-name", pod.to_owned()),
            ("io.kubernetes.cri.sandbox-namespace", ns.to_owned()),
        ]
    };
    let labels = |id: &str, name: &str, image: &str, pod: &str, ns: &str| {
        [id.to_owned(), name.to_owned(), image.to_owned(), pod.to_owned(), ns.to_owned()]
    };
    vec![
        Case {
            cgroups_path: format!("/docker/{docker}"),
            annotations: vec![("io.kubernetes.cri.container-name", "redis".into()), ("io.kubernetes.cri.image-name", "redis:7".into())],
            labels: labels(&docker[..12], "redis", "redis:7", "", ""),
            runc_id: docker,
        },
        Case {
            cgroups_path: format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{containerd}.scope",
                pod_uid.replace('-', "_")
            ),
            annotations: k8s("nginx", "docker.io/library/nginx:1.25", "web-7d9c8b6f5-x2x4z", "shop"),
            labels: labels(&containerd[..12], "nginx", "docker.io/library/nginx:1.25", "web-7d9c8b6f5-x2x4z", "shop"),
            runc_id: containerd,
        },
        Case {
            cgroups_path: format!("/kubepods/besteffort/pod{pod_uid}/{kubepods}"),
            annotations: k8s("worker", "ghcr.io/acme/worker:2.1", "batch-0", "jobs"),
            labels: labels(&kubepods[..12], "worker", "ghcr.io/acme/worker:2.1", "batch-0", "jobs"),
            runc_id: kubepods,
        },
        Case {
            cgroups_path: format!("/{plain}"),
            annotations: vec![],
            labels: labels(&plain, "", "", "", ""),
            runc_id: plain,
        },
    ]
}

fn syscall_count(metrics: &str, labels: &[String; 5], syscall: &str) -> Option<f64> {
    let names = ["container_id", "container_name", "image", "pod", "namespace"];
    let mut pairs: Vec<(&str, &str)> = names.iter().zip(labels.iter()).map(|(n, v)| (*n, v.as_str())).collect();
    pairs.push(("syscall", syscall));
    sample(metrics, "tracewarden_syscalls_total", &pairs)
}

#[test]
fn containers_are_counted_under_their_own_labels_then_expire() {
    if !kernel_available("containers_are_counted_under_their_own_labels_then_expire") {
        return;
    }
    let rootfs = Rootfs::build();
    let exporter = Exporter::start(&["--container-ttl", "2s"]);
    let script = format!("dd if=/dev/zero of=/dev/null bs=1 count={N} 2>/dev/null; sleep 2");
    let cases = cases();
    let containers: Vec<RuncContainer> = cases
        .iter()
        .map(|case| {
            let annotations: Vec<(&str, &str)> = case.annotations.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let container =
                RuncContainer::create(&rootfs, &case.runc_id, &case.cgroups_path, &annotations, &["sh", "-c", &script]);
            container.start_detached();
            container
        })
        .collect();

    let mut last = String::new();
    let all_counted = eventually(Duration::from_secs(20), || {
        last = exporter.metrics();
        cases.iter().all(|case| {
            ["read", "write"].iter().all(|s| syscall_count(&last, &case.labels, s).is_some_and(|n| n >= N as f64))
        })
    });
    for case in &cases {
        for syscall in ["read", "write"] {
            let got = syscall_count(&last, &case.labels, syscall);
            assert!(
                got.is_some_and(|n| n >= N as f64),
                "{} {syscall}: {got:?} (want >= {N})\n{last}",
                case.cgroups_path
            );
        }
    }
    assert!(all_counted);
    let host = ["host", "", "", "", ""].map(String::from);
    assert!(syscall_count(&last, &host, "read").is_some_and(|n| n > 0.0), "no host series:\n{last}");

    for container in &containers {
        container.wait_stopped(Duration::from_secs(20));
        container.delete();
    }
    let gone = eventually(Duration::from_secs(15), || {
        last = exporter.metrics();
        cases.iter().all(|case| !last.contains(&format!("container_id=\"{}\"", case.labels[0])))
    });
    assert!(gone, "containers still on /metrics after the 2 s TTL:\n{last}");
    assert!(syscall_count(&last, &host, "read").is_some_and(|n| n > 0.0), "host series must stay");
}

/// A container that lives for a fraction of a second and is gone (state and cgroup) before the
/// periodic refresh would look: the kernel's new-cgroup notice gets it named while it runs.
#[test]
fn a_short_lived_container_is_still_named() {
    if !kernel_available("a_short_lived_container_is_still_named") {
        return;
    }
    let rootfs = Rootfs::build();
    let exporter = Exporter::start(&["--container-ttl", "1m"]);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let id = hex64(nanos ^ 0x5eed);
    let annotations = [("io.kubernetes.cri.container-name", "job"), ("io.kubernetes.cri.sandbox-namespace", "batch")];
    let script = format!("dd if=/dev/zero of=/dev/null bs=1 count={N} 2>/dev/null");
    let container = RuncContainer::create(&rootfs, &id, &format!("/docker/{id}"), &annotations, &["sh", "-c", &script]);
    let started = std::time::Instant::now();
    container.run_to_completion();
    let lifetime = started.elapsed();
    let labels = [id[..12].to_owned(), "job".into(), String::new(), String::new(), "batch".into()];
    let mut last = String::new();
    let counted = eventually(Duration::from_secs(5), || {
        last = exporter.metrics();
        syscall_count(&last, &labels, "write").is_some_and(|n| n >= N as f64)
    });
    assert!(counted, "container that lived {lifetime:?} not on /metrics under its labels:\n{last}");
    // Other tests of this binary run containers at the same time, and the exporter sees the
    // whole machine: only this container's own mark (its N writes) tells its syscalls apart.
    let unknown = [Container::UNKNOWN_ID.to_owned(), String::new(), String::new(), String::new(), String::new()];
    let misplaced = syscall_count(&last, &unknown, "write").unwrap_or(0.0);
    assert!(misplaced < N as f64, "its writes landed under unknown ({misplaced}):\n{last}");
}

/// The live exposition, with host and container series, passes `promtool check metrics`
/// (Prometheus' own linter: names, types, HELP, label syntax, counter suffixes).
/// Short-lived container cgroups that never get a runtime record (held back while one may come,
/// up to 10 s) under a TTL shorter than that wait: each one's syscalls must still reach its own
/// series, seen by a scrape, before it expires. Each cgroup makes `CALLS` getppid calls exactly
/// (python), plus what the shell that moves into it makes.
#[test]
fn every_short_lived_cgroup_is_counted_with_a_ttl_under_the_record_wait() {
    if !kernel_available("every_short_lived_cgroup_is_counted_with_a_ttl_under_the_record_wait") {
        return;
    }
    const CGROUPS: u64 = 30;
    const CALLS: u64 = 500;
    let exporter = Exporter::start(&["--container-ttl", "3s"]);
    let parent = common::cgroup2_root()
        .expect("cgroup v2")
        .join("tracewarden-test")
        .join(format!("churn-{}", std::process::id()));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let ids: Vec<String> = (0..CGROUPS).map(|i| hex64(nanos ^ (i << 40))).collect();
    // The most getppid calls each cgroup's series showed in any scrape.
    let mut seen = std::collections::HashMap::<String, f64>::new();
    let scrape = |seen: &mut std::collections::HashMap<String, f64>| {
        let metrics = exporter.metrics();
        for id in &ids {
            let short = &id[..12];
            let labels = [
                ("container_id", short),
                ("container_name", ""),
                ("image", ""),
                ("pod", ""),
                ("namespace", ""),
                ("syscall", "getppid"),
            ];
            if let Some(n) = sample(&metrics, "tracewarden_syscalls_total", &labels) {
                let best = seen.entry(id.clone()).or_insert(0.0);
                *best = best.max(n);
            }
        }
    };
    for id in &ids {
        let dir = parent.join(id);
        std::fs::create_dir_all(&dir).expect("mkdir cgroup");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec python3 "$@""#)
            .arg(&dir)
            .args(common::getppid_loop_args(CALLS))
            .status()
            .expect("run in cgroup");
        assert!(status.success());
        std::fs::remove_dir(&dir).expect("rmdir cgroup");
        scrape(&mut seen);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        scrape(&mut seen);
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir(&parent);
    let missing: Vec<&String> = ids.iter().filter(|id| seen.get(*id).is_none_or(|&n| n < CALLS as f64)).collect();
    assert!(
        missing.is_empty(),
        "{} of {CGROUPS} cgroups never counted (want >= {CALLS} getppid each): {missing:?}\n{seen:?}",
        missing.len()
    );
}

#[test]
fn live_metrics_pass_promtool_check() {
    if !kernel_available("live_metrics_pass_promtool_check") {
        return;
    }
    let exporter = Exporter::start(&["--rules-dir", SHIPPED_RULES]);
    let metrics = exporter.metrics();
    assert!(metrics.contains("tracewarden_syscalls_total{container_id=\"host\""), "{metrics}");
    let loaded = sample(&metrics, "tracewarden_rules_loaded", &[]);
    assert!(loaded.is_some_and(|n| n >= 15.0), "shipped rules not loaded: {loaded:?}");
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (scripts/bootstrap.sh installs prometheus)");
    std::io::Write::write_all(&mut promtool.stdin.take().expect("stdin"), metrics.as_bytes()).expect("write");
    let output = promtool.wait_with_output().expect("promtool");
    let findings = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && findings.trim().is_empty(), "promtool check metrics:\n{findings}");
}

/// Detection end to end: the shipped rules, a container reading its /etc/shadow and a benign
/// twin reading /etc/hostname, both named as a CRI runtime names them (no image). The rule fires
/// for exactly the first container (counter under its labels, alert line on stdout and in the
/// alerts file) and never for the twin, judged once the exporter has evaluated the twin's whole
/// action, on the counters, stdout, the alerts file and the record ([`attack::check_twins_of`]).
#[test]
fn a_rule_fires_for_exactly_the_container_that_broke_it() {
    if !kernel_available("a_rule_fires_for_exactly_the_container_that_broke_it") {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start_with_outputs(&["--rules-dir", SHIPPED_RULES], Outputs::in_dir(out.path(), true));
    let cri = |name: &str| Target { namespace: "shop".into(), image: String::new(), ..Target::new(name) };
    let (thief, reader) = (cri("thief"), cri("reader"));
    let rule = "Read sensitive file untrusted";
    let (detection, _) = attack::check_twins_of(
        &exporter,
        rule,
        "warning",
        (&thief, "/bin/cat /etc/shadow >/dev/null", &Opts::default()),
        (&reader, "/bin/cat /etc/hostname >/dev/null", &Opts::default()),
    );
    assert_eq!(detection.field("fd.name"), "/etc/shadow", "{}", detection.alert);
}

/// Least privilege at run time: once serving, with detection on, the exporter holds only the
/// capabilities it still uses, in every set, and cannot regain others.
#[test]
fn a_running_exporter_keeps_only_the_capabilities_it_uses() {
    if !kernel_available("a_running_exporter_keeps_only_the_capabilities_it_uses") {
        return;
    }
    let exporter = Exporter::start(&["--rules-dir", SHIPPED_RULES]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", exporter.pid())).expect("status");
    let field =
        |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned()).unwrap_or_default();
    let hex = |name: &str| u64::from_str_radix(&field(name), 16).unwrap_or(u64::MAX);
    let kept = exporter::privileges::kept_mask();
    assert_eq!(hex("CapEff:"), kept, "effective");
    assert_eq!(hex("CapPrm:"), kept, "permitted");
    assert_eq!(hex("CapBnd:"), kept, "bounding");
    assert_eq!(hex("CapInh:"), 0, "inheritable");
    assert_eq!(hex("CapAmb:"), 0, "ambient");
    assert_eq!(field("NoNewPrivs:"), "1");
    // Every thread, not only the main one (capabilities are per thread).
    for task in std::fs::read_dir(format!("/proc/{}/task", exporter.pid())).expect("tasks").flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let eff =
            status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(|v| v.trim().to_owned()).unwrap_or_default();
        assert_eq!(u64::from_str_radix(&eff, 16).ok(), Some(kept), "thread {:?}", task.file_name());
    }
    // And it still works: metrics are served.
    assert!(exporter.metrics().contains("tracewarden_rules_loaded"));
}

/// Live reload: a broken rules file is refused (running rules kept, failure counted, still
/// serving); a repaired set with one more rule goes live within seconds, without restarting, and
/// counters of rules that stay keep counting; SIGHUP reloads even without a change.
#[test]
fn rules_reload_live_and_refuse_broken_sets() {
    if !kernel_available("rules_reload_live_and_refuse_broken_sets") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(SHIPPED_RULES).expect("rules").flatten() {
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy rules");
    }
    let exporter = Exporter::start(&["--rules-dir", dir.path().to_str().expect("utf-8")]);
    let value = |name: &str, labels: &[(&str, &str)]| sample(&exporter.metrics(), name, labels).unwrap_or(0.0);
    let shadow_reads = || {
        let m = exporter.metrics();
        m.lines()
            .filter(|l| l.starts_with("tracewarden_rule_matches_total{rule=\"Read sensitive file untrusted\""))
            .filter(|l| l.contains("container_id=\"host\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let read_shadow = || {
        std::process::Command::new("busybox").args(["cat", "/etc/shadow"]).output().expect("cat");
    };
    read_shadow();
    assert!(eventually(Duration::from_secs(5), || shadow_reads() >= 1.0), "no match before the reload");
    let before = shadow_reads();
    let loaded = value("tracewarden_rules_loaded", &[]);

    std::fs::write(
        dir.path().join("90-extra.yaml"),
        "- rule: Broken\n  desc: d\n  condition: evt.type = (\n  output: o\n  priority: INFO\n",
    )
    .expect("write broken");
    assert!(
        eventually(Duration::from_secs(5), || value("tracewarden_rules_reloads_total", &[("result", "failure")])
            >= 1.0),
        "a broken set was not counted as a failed reload"
    );
    assert_eq!(value("tracewarden_rules_loaded", &[]), loaded, "the running rules must stay");

    std::fs::write(
        dir.path().join("90-extra.yaml"),
        "- rule: Hostname read\n  desc: d\n  condition: open_read and fd.name = /etc/hostname\n  output: o %fd.name\n  priority: INFO\n",
    )
    .expect("write fixed");
    assert!(
        eventually(Duration::from_secs(5), || value("tracewarden_rules_loaded", &[]) == loaded + 1.0),
        "the repaired set did not go live"
    );
    assert!(value("tracewarden_rules_reloads_total", &[("result", "success")]) >= 1.0);
    // The new file shows in rules_file_info with its digest.
    let digest = exporter
        .metrics()
        .lines()
        .find(|l| l.starts_with("tracewarden_rules_file_info{file=\"90-extra.yaml\""))
        .map(str::to_owned)
        .expect("rules_file_info of the new file");
    assert!(digest.contains("sha256=\"") && digest.ends_with(" 1"), "{digest}");
    read_shadow();
    assert!(
        eventually(Duration::from_secs(5), || shadow_reads() > before),
        "the unchanged rule's counter did not carry on"
    );
    std::process::Command::new("busybox").args(["cat", "/etc/hostname"]).output().expect("cat");
    assert!(
        eventually(Duration::from_secs(5), || exporter.metrics().contains("rule=\"Hostname read\"")),
        "the new rule never matched"
    );

    let successes = value("tracewarden_rules_reloads_total", &[("result", "success")]);
    unsafe { libc::kill(exporter.pid() as i32, libc::SIGHUP) };
    assert!(
        eventually(Duration::from_secs(5), || value("tracewarden_rules_reloads_total", &[("result", "success")])
            > successes),
        "SIGHUP did not reload"
    );
}

/// A rule on the container's privilege and mounts, and its twin for unprivileged containers
/// (it shows the twin's read was evaluated, with its mount; rules are first-match).
fn container_field_rules() -> String {
    [("Privileged", "true", "WARNING"), ("Unprivileged", "false", "INFO")]
        .map(|(who, privileged, priority)| {
            format!(
                r#"- rule: {who} container reads through the runtime socket mount
  desc: a container with the host's runtime directory mounted reads from it
  condition: >
    evt.type in (open, openat, openat2) and fd.name startswith /var/run/docker/
    and container.privileged={privileged}
    and not container.mount.dest[/var/run/docker*] in ("<NA>","N/A")
  output: privileged=%container.privileged start=%container.start_ts mounts=%container.mounts
  priority: {priority}
"#
            )
        })
        .concat()
}

/// Falco's `container.privileged`, `container.start_ts`, `container.mounts` and
/// `container.mount.dest[...]` from the runtime's own record, end to end: two real runc
/// containers bind the same host directory at /var/run/docker and read a file through it; one
/// holds every capability this host can give, its twin has `runc spec`'s defaults. The rule on
/// privilege fires for the first only; both carry their creation time and the mount.
#[test]
fn privileged_start_and_mounts_come_from_the_runtime_record() {
    if !kernel_available("privileged_start_and_mounts_come_from_the_runtime_record") {
        return;
    }
    let rootfs = Rootfs::build();
    std::fs::create_dir_all(rootfs.path().join("var/run/docker")).expect("mkdir mount point");
    let dir = tempfile::tempdir().expect("tempdir");
    let (rules, host_dir) = (dir.path().join("rules"), dir.path().join("docker-run"));
    std::fs::create_dir(&rules).expect("mkdir rules");
    std::fs::write(rules.join("container-fields.yaml"), container_field_rules()).expect("write rules");
    std::fs::create_dir(&host_dir).expect("mkdir host dir");
    std::fs::write(host_dir.join("api"), "ok\n").expect("write host file");
    let exporter = Exporter::start(&["--rules-dir", rules.to_str().expect("utf-8")]);

    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64;
    let (privileged_id, benign_id) = (hex64(nanos ^ 0x9e1), hex64(nanos ^ 0xbe9));
    let start = |id: &str, name: &str, caps: Option<&[&str]>| {
        let annotations = [("io.kubernetes.cri.container-name", name)];
        let args = ["sh", "-c", "cat /var/run/docker/api >/dev/null; sleep 1"];
        let container = RuncContainer::create(&rootfs, id, &format!("/docker/{id}"), &annotations, &args);
        let path = container.bundle().join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read config.json")).expect("parse config.json");
        let mount = serde_json::json!({
            "destination": "/var/run/docker", "type": "bind", "source": host_dir, "options": ["rbind", "rw", "rprivate"]
        });
        config["mounts"].as_array_mut().expect("runc spec has mounts").push(mount);
        if let Some(caps) = caps {
            for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
                config["process"]["capabilities"][set] = caps.into();
            }
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("serialise")).expect("write config.json");
        container.start_detached();
        container
    };
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
    let _benign = start(&benign_id, "benign", None);
    let _privileged = start(&privileged_id, "privileged", Some(&common::bounding_set_names()));
    let after = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();

    let (privileged_rule, unprivileged_rule) = (
        "Privileged container reads through the runtime socket mount",
        "Unprivileged container reads through the runtime socket mount",
    );
    let alert_of = |rule: &str, id: &str| {
        exporter.stdout_lines().iter().find_map(|line| {
            let alert: serde_json::Value = serde_json::from_str(line).ok()?;
            (alert["rule"] == rule && alert["container_id"] == id[..12]).then_some(alert)
        })
    };
    let seen = eventually(Duration::from_secs(10), || {
        alert_of(privileged_rule, &privileged_id).is_some() && alert_of(unprivileged_rule, &benign_id).is_some()
    });
    assert!(seen, "alerts missing; stdout:\n{}", exporter.stdout_lines().join("\n"));
    assert!(alert_of(privileged_rule, &benign_id).is_none(), "the unprivileged twin fired the privileged rule");
    assert!(
        alert_of(unprivileged_rule, &privileged_id).is_none(),
        "the privileged container was taken for unprivileged"
    );

    let mount = format!("{}:/var/run/docker:rw:true:rprivate", host_dir.display());
    for (rule, id, privileged) in [(privileged_rule, &privileged_id, true), (unprivileged_rule, &benign_id, false)] {
        let fields = alert_of(rule, id).expect("alert")["output_fields"].clone();
        assert_eq!(fields["container.privileged"], privileged, "{id}: {fields}");
        assert_eq!(fields["container.mounts"], mount, "{id}: {fields}");
        let start_ts = fields["container.start_ts"].as_u64().unwrap_or_else(|| panic!("{id}: start_ts: {fields}"));
        assert!(
            (before..=after).contains(&u128::from(start_ts)),
            "{id}: start_ts {start_ts} not within the runs, {before}..={after}"
        );
    }
}
