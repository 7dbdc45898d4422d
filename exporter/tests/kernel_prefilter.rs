//! The in-kernel prefilter, end to end through the real exporter: a rule the kernel decides
//! alone is counted exactly without events (one sampled alert), files are named as the kernel
//! opened them, and a full event ring loses events without touching the kernel's counts.

mod common;

use std::time::Duration;

use common::{eventually, kernel_available, sample, Exporter, TestCgroup};

const HOST: [(&str, &str); 5] =
    [("container_id", "host"), ("container_name", ""), ("image", ""), ("pod", ""), ("namespace", "")];

/// The exporter running `rules` (one YAML file), with the directory that holds them.
fn exporter_with(rules: &str) -> (tempfile::TempDir, Exporter) {
    exporter_with_args(rules, &[])
}

fn exporter_with_args(rules: &str, args: &[&str]) -> (tempfile::TempDir, Exporter) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), rules).expect("write rules");
    let mut all = vec!["--rules-dir", dir.path().to_str().expect("utf-8")];
    all.extend_from_slice(args);
    let exporter = Exporter::start(&all);
    (dir, exporter)
}

/// One kernel-decidable rule on writes below `watched`, and one rule the kernel can only
/// prefilter (a `contains` is not decided there) on opens below `flooded`.
fn two_rules(watched: &str, flooded: &str) -> String {
    format!(
        "- rule: Decided write\n  desc: d\n  condition: evt.type in (open, openat) and evt.is_open_write = true and evt.rawres >= 0 and fd.name startswith {watched}/\n  output: wrote %fd.name\n  priority: error\n\
         - rule: Flooded open\n  desc: d\n  condition: evt.type = openat and evt.rawres >= 0 and fd.name startswith {flooded}/ and fd.name contains /f\n  output: opened %fd.name\n  priority: notice\n"
    )
}

fn rule_count(metrics: &str, rule: &str, priority: &str) -> f64 {
    let mut labels = vec![("rule", rule), ("priority", priority)];
    labels.extend(HOST);
    sample(metrics, "tracewarden_rule_matches_total", &labels).unwrap_or(0.0)
}

/// Python in `cgroup`: `n` opens for writing of relative names after a chdir (the kernel must
/// resolve them against the cwd), then `n` opens for reading of the same files.
fn write_then_read(cgroup: &TestCgroup, dir: &std::path::Path, n: u32) {
    let script = format!(
        "import os\nos.chdir({dir:?})\nfor i in range({n}):\n    open('f%d' % i, 'w').close()\nfor i in range({n}):\n    open('../{name}/f%d' % i).close()\n",
        dir = dir.to_str().expect("utf-8"),
        name = dir.file_name().and_then(|n| n.to_str()).expect("name"),
    );
    cgroup.run("python3", &["-c", &script]);
}

#[test]
fn a_kernel_decided_rule_is_counted_exactly_with_sampled_alerts() {
    if !kernel_available("a_kernel_decided_rule_is_counted_exactly_with_sampled_alerts") {
        return;
    }
    let watched = tempfile::Builder::new().prefix("tw-decided-").tempdir_in("/tmp").expect("tempdir");
    let (_rules, exporter) = exporter_with(&two_rules(watched.path().to_str().expect("utf-8"), "/nonexistent-flood"));
    let cgroup = TestCgroup::new("prefilter");
    let before = exporter.metrics();
    let evaluated_before = sample(&before, "tracewarden_events_total", &[("source", "userspace")]).unwrap_or(0.0);
    const N: u32 = 2000;
    write_then_read(&cgroup, watched.path(), N);

    let mut last = String::new();
    let counted = eventually(Duration::from_secs(5), || {
        last = exporter.metrics();
        rule_count(&last, "Decided write", "error") == N as f64
    });
    assert!(counted, "want {N} kernel-counted writes (reads not counted):\n{last}");
    let evaluated = sample(&last, "tracewarden_events_total", &[("source", "userspace")]).unwrap_or(0.0);
    let in_kernel = sample(&last, "tracewarden_events_total", &[("source", "kernel")]).unwrap_or(0.0);
    // The writes were counted in the kernel and the reads dropped there: user space saw only
    // the sampled alerts (one per CPU per second) and the host's unrelated opens that passed.
    assert!(in_kernel >= 2.0 * N as f64, "kernel settled {in_kernel}");
    assert!(evaluated - evaluated_before < N as f64 / 20.0, "user space evaluated {}", evaluated - evaluated_before);
    let alerted = || exporter.stdout_lines().iter().filter(|l| l.contains("\"rule\":\"Decided write\"")).count();
    eventually(Duration::from_secs(5), || alerted() > 0);
    let alerts = alerted();
    assert!((1..=20).contains(&alerts), "{alerts} sampled alerts for {N} hits");
    let named = exporter.stdout_lines().iter().any(|l| l.contains(&format!("{}/f", watched.path().display())));
    assert!(named, "the alert names the file by its absolute path");
}

#[test]
fn a_full_event_ring_loses_events_but_not_kernel_counts() {
    if !kernel_available("a_full_event_ring_loses_events_but_not_kernel_counts") {
        return;
    }
    let watched = tempfile::Builder::new().prefix("tw-exact-").tempdir_in("/tmp").expect("tempdir");
    let flooded = tempfile::Builder::new().prefix("tw-flood-").tempdir_in("/tmp").expect("tempdir");
    // No per-cgroup budget: one cgroup fills the ring here (the budget has its own test).
    let rules = two_rules(watched.path().to_str().expect("utf-8"), flooded.path().to_str().expect("utf-8"));
    let (_rules, exporter) = exporter_with_args(&rules, &["--events.cgroup-budget", "0"]);
    let cgroup = TestCgroup::new("prefilter-flood");
    // Stop the exporter so nothing drains the ring: its 4 MiB hold ~6,000 events.
    let pid = exporter.pid().to_string();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill").args([sig, &pid]).status().expect("kill");
        assert!(status.success(), "kill {sig} {pid}");
    };
    signal("-STOP");
    const FLOOD: u32 = 20_000;
    const EXACT: u32 = 700;
    write_then_read(&cgroup, flooded.path(), FLOOD / 2);
    write_then_read(&cgroup, watched.path(), EXACT);
    signal("-CONT");

    // Every flood event is either evaluated (once the exporter drains its ring) or counted lost.
    let lost = |m: &str| sample(m, "tracewarden_events_lost_total", &[("reason", "event_ring_full")]).unwrap_or(0.0);
    let mut last = String::new();
    let settled = eventually(Duration::from_secs(10), || {
        last = exporter.metrics();
        rule_count(&last, "Flooded open", "notice") + lost(&last) >= FLOOD as f64
    });
    assert!(settled, "want {FLOOD} flood events matched or counted lost:\n{last}");
    assert!(lost(&last) > 0.0 && rule_count(&last, "Flooded open", "notice") > 0.0, "{last}");
    assert_eq!(rule_count(&last, "Decided write", "error"), EXACT as f64, "kernel counts are exact:\n{last}");
}

#[test]
fn a_hard_link_to_a_watched_file_is_the_watched_file() {
    if !kernel_available("a_hard_link_to_a_watched_file_is_the_watched_file") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("tw-link-").tempdir_in("/tmp").expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret").expect("write secret");
    let (_rules, exporter) = exporter_with(&format!(
            "- rule: Secret read\n  desc: d\n  condition: evt.type in (open, openat) and evt.is_open_read = true and evt.rawres >= 0 and fd.name = {}\n  output: read %fd.name\n  priority: critical\n",
            secret.display()
        ));
    let cgroup = TestCgroup::new("prefilter-link");
    // Another name for the same file, made after the exporter started, then read by that name.
    let link = dir.path().join("innocent");
    std::fs::hard_link(&secret, &link).expect("hard link");
    cgroup.run("cat", &[link.to_str().expect("utf-8")]);
    let mut last = String::new();
    let seen = eventually(Duration::from_secs(5), || {
        last = exporter.metrics();
        rule_count(&last, "Secret read", "critical") == 1.0
    });
    assert!(seen, "the read through the hard link was not the watched file's:\n{last}");
    // The kernel counted it; its sampled alert event reaches the evaluator a moment later.
    let want = format!("\"fd.name\":\"{}\"", secret.display());
    let named = eventually(Duration::from_secs(5), || exporter.stdout_lines().iter().any(|l| l.contains(&want)));
    assert!(named, "the alert names the watched path: {:?}", exporter.stdout_lines());
}

#[test]
fn a_memfd_exec_is_decided_in_the_kernel() {
    if !kernel_available("a_memfd_exec_is_decided_in_the_kernel") {
        return;
    }
    let exporter = Exporter::start(&["--rules-dir", common::SHIPPED_RULES]);
    let cgroup = TestCgroup::new("prefilter-memfd");
    // fexecve: execveat(fd, "", AT_EMPTY_PATH), whose success this kernel reports at execve's exit.
    let script = "import os\nfd = os.memfd_create('payload')\nos.write(fd, open('/bin/true', 'rb').read())\nos.execve(fd, ['payload'], {})\n";
    cgroup.run("python3", &["-c", script]);
    cgroup.run("/bin/true", &[]);
    let mut last = String::new();
    let seen = eventually(Duration::from_secs(5), || {
        last = exporter.metrics();
        rule_count(&last, "Fileless execution via memfd", "critical") == 1.0
    });
    assert!(seen, "one memfd exec, one ordinary exec:\n{last}");
    let alerted = eventually(Duration::from_secs(5), || {
        exporter
            .stdout_lines()
            .iter()
            .any(|l| l.contains("Fileless execution via memfd") && l.contains("memfd:payload"))
    });
    assert!(alerted, "{:?}", exporter.stdout_lines());
}

#[test]
fn user_uid_is_the_effective_uid() {
    if !kernel_available("user_uid_is_the_effective_uid") {
        return;
    }
    let dir = tempfile::Builder::new().prefix("tw-euid-").tempdir_in("/tmp").expect("tempdir");
    let file = dir.path().join("data");
    std::fs::write(&file, "x").expect("write");
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod dir");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).expect("chmod file");
    let (_rules, exporter) = exporter_with(&format!(
            "- rule: Read as 1000\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = {0} and user.uid = 1000\n  output: read %fd.name uid=%user.uid\n  priority: notice\n\
             - rule: Read as 0\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = {0} and user.uid = 0\n  output: read %fd.name uid=%user.uid\n  priority: notice\n",
            file.display()
        ));
    let cgroup = TestCgroup::new("prefilter-euid");
    // Real uid 0, effective uid 1000: as a setuid program run by root would be, the other way.
    let script = format!("import os\nos.setresuid(0, 1000, 0)\nopen({:?}).read()\n", file.display().to_string());
    cgroup.run("python3", &["-c", &script]);
    let mut last = String::new();
    let seen = eventually(Duration::from_secs(5), || {
        last = exporter.metrics();
        rule_count(&last, "Read as 1000", "notice") == 1.0
    });
    assert!(seen, "the read by effective uid 1000 was not user.uid=1000:\n{last}");
    assert_eq!(rule_count(&last, "Read as 0", "notice"), 0.0, "the real uid is not user.uid");
}

#[test]
fn a_traversal_reaches_user_space_and_a_plain_open_does_not() {
    if !kernel_available("a_traversal_reaches_user_space_and_a_plain_open_does_not") {
        return;
    }
    // Falco's directory-traversal test: the path as passed (`fd.nameraw`) is searched at entry.
    let (_rules, exporter) = exporter_with(
        "- rule: Traversal read\n  desc: d\n  condition: evt.type in (open, openat) and fd.nameraw contains \"../\" and fd.name startswith /etc/\n  output: read %fd.name raw=%fd.nameraw\n  priority: warning\n",
    );
    let cgroup = TestCgroup::new("prefilter-traversal");
    let sent = |metrics: &str| sample(metrics, "tracewarden_events_total", &[("source", "userspace")]).unwrap_or(0.0);
    let before = sent(&exporter.metrics());
    cgroup.run("python3", &["-c", "for i in range(500):\n    open('/etc/hostname').close()\n"]);
    cgroup.run("cat", &["/etc/../etc/hostname"]);
    let alerted = eventually(Duration::from_secs(5), || {
        exporter
            .stdout_lines()
            .iter()
            .any(|l| l.contains("Traversal read") && l.contains("\"fd.name\":\"/etc/hostname\""))
    });
    assert!(alerted, "the traversal was not evaluated: {:?}", exporter.stdout_lines());
    // The 500 plain opens never left the kernel (other processes on the machine may add a few).
    let after = sent(&exporter.metrics());
    assert!(
        after - before < 100.0,
        "{} events went to user space for 500 plain opens and one traversal",
        after - before
    );
}

#[test]
fn a_descriptor_argument_is_named_in_the_kernel() {
    if !kernel_available("a_descriptor_argument_is_named_in_the_kernel") {
        return;
    }
    // fchmod and fchown act on a descriptor's file: the exit program names it, as an open's.
    let watched = tempfile::Builder::new().prefix("tw-fchmod-watched-").tempdir_in("/tmp").expect("tempdir");
    let plain = tempfile::Builder::new().prefix("tw-fchmod-plain-").tempdir_in("/tmp").expect("tempdir");
    let (_rules, exporter) = exporter_with(&format!(
        "- rule: Descriptor mode change\n  desc: d\n  condition: evt.type in (fchmod, fchown) and evt.rawres >= 0 and fd.name startswith {}/\n  output: changed %fd.name\n  priority: warning\n",
        watched.path().display()
    ));
    let cgroup = TestCgroup::new("prefilter-fchmod");
    let sent = |metrics: &str| sample(metrics, "tracewarden_events_total", &[("source", "userspace")]).unwrap_or(0.0);
    let before = sent(&exporter.metrics());
    let script = format!(
        "import os\nfd = os.open({plain:?}, os.O_CREAT | os.O_WRONLY)\nfor i in range(500):\n    os.fchmod(fd, 0o600)\n    os.fchown(fd, -1, -1)\nos.close(fd)\nfd = os.open({watched:?}, os.O_CREAT | os.O_WRONLY)\nos.fchmod(fd, 0o600)\nos.close(fd)\n",
        plain = plain.path().join("f").display().to_string(),
        watched = watched.path().join("f").display().to_string(),
    );
    cgroup.run("python3", &["-c", &script]);
    let want = format!("\"fd.name\":\"{}/f\"", watched.path().display());
    let alerted = eventually(Duration::from_secs(5), || {
        exporter.stdout_lines().iter().any(|l| l.contains("Descriptor mode change") && l.contains(&want))
    });
    assert!(alerted, "the watched file's fchmod was not alerted: {:?}", exporter.stdout_lines());
    assert_eq!(rule_count(&exporter.metrics(), "Descriptor mode change", "warning"), 1.0);
    // The 1,000 calls on the plain file never left the kernel (other processes may add a few).
    let after = sent(&exporter.metrics());
    assert!(after - before < 100.0, "{} events went to user space for 1,000 calls on a plain file", after - before);
}
