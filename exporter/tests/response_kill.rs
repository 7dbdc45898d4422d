//! The in-kernel kill: a rule tagged `tracewarden.kill` that the kernel decides alone has the
//! exit program SIGKILL the process in the syscall that matched, before it can read the file,
//! while the container's other processes run on. Rules the kernel cannot decide alone are
//! refused for the tag at start.
//!
//! The kill rule here also requires uid 4242, which only this test's process has: the kernel
//! kills whatever matches on the whole machine, and other tests read /etc/shadow too.

#[macro_use]
mod common;

use std::{process::Command, time::Duration};

use common::{attack::Target, eventually, sample, Exporter, Rootfs};

const KILL_RULE: &str = "Kill shadow readers";

const RULES: &str = "
- rule: Kill shadow readers
  desc: a process in a container opened /etc/shadow for reading
  condition: >
    evt.type in (open, openat) and evt.is_open_read = true and fd.name = /etc/shadow
    and container.id != host and user.uid = 4242
  output: shadow read by %proc.name (kill) in %container.id
  priority: CRITICAL
  tags: [credentials, tracewarden.kill]
";

/// `runc exec` of `args` as uid 4242 in `container`: (exit status, stdout).
fn exec_as_4242(container: &str, args: &[&str]) -> (std::process::ExitStatus, Vec<u8>) {
    let out = Command::new("runc")
        .args(["exec", "--user", "4242:4242", container])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runc exec");
    (out.status, out.stdout)
}

#[test]
fn cat_of_shadow_is_killed_in_the_open_and_the_container_runs_on() {
    kernel_test!(cat_of_shadow_is_killed_in_the_open_and_the_container_runs_on);
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("kill.yaml"), RULES).unwrap();
    let exporter = Exporter::start(&["--rules-dir", rules.path().to_str().unwrap()]);
    let target = Target::new("kill-target");
    let rootfs = Rootfs::build();
    let container = target.container(&rootfs, "exec /bin/sleep 3600", &Default::default());
    container.start_detached();
    // The kernel decides `container.id != host` once the exporter has named the cgroup.
    let named = eventually(Duration::from_secs(20), || {
        exporter.metrics().contains(&format!("container_id=\"{}\"", target.short_id()))
    });
    assert!(named, "container {} never appeared in /metrics", target.short_id());

    let (status, stdout) = exec_as_4242(&target.id, &["/bin/cat", "/etc/shadow"]);
    use std::os::unix::process::ExitStatusExt;
    // runc exec reports a child killed by signal N as exit status 128 + N.
    assert!(status.code() == Some(137) || status.signal() == Some(9), "cat was not SIGKILLed: {status:?}");
    assert!(
        stdout.is_empty(),
        "cat wrote {} bytes before it died: {:?}",
        stdout.len(),
        String::from_utf8_lossy(&stdout)
    );

    // The container's own process runs on, and a harmless read in it is untouched.
    let state = Command::new("runc").args(["state", &target.id]).output().expect("runc state");
    assert!(String::from_utf8_lossy(&state.stdout).contains("\"running\""), "the container stopped");
    let (status, stdout) = exec_as_4242(&target.id, &["/bin/cat", "/etc/hostname"]);
    assert!(status.success() && stdout == b"box\n", "{status:?} {stdout:?}");

    let labels = [("rule", KILL_RULE), ("priority", "critical")];
    let counted = eventually(Duration::from_secs(5), || {
        sample(&exporter.metrics(), "tracewarden_kernel_kills_total", &labels) == Some(1.0)
    });
    assert!(counted, "kill not counted: {:?}", sample(&exporter.metrics(), "tracewarden_kernel_kills_total", &labels));
    let alerted = eventually(Duration::from_secs(5), || {
        exporter.stdout_lines().iter().any(|l| l.contains(KILL_RULE) && l.contains(target.short_id()))
    });
    assert!(alerted, "the kill's hit raised no alert");
}

#[test]
fn a_kill_tag_on_a_rule_the_kernel_cannot_decide_stops_the_start() {
    let rules = tempfile::tempdir().unwrap();
    let file = rules.path().join("kill.yaml");
    let text = "- rule: Kill netcat\n  desc: d\n  condition: evt.type = execve and proc.cmdline contains \"nc -e\"\n  output: o\n  priority: critical\n  tags: [tracewarden.kill]\n";
    std::fs::write(&file, text).unwrap();
    let dir = rules.path().to_str().unwrap();
    for args in
        [vec!["rules", "check", "--rules-dir", dir], vec!["--rules-dir", dir, "--web.listen-address", "127.0.0.1:0"]]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_exporter")).args(&args).output().expect("run exporter");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted the rule");
        let want = format!(
            "exporter: error: {}:1:3: rule 'Kill netcat': tagged tracewarden.kill, but the kernel cannot decide this rule alone",
            file.display()
        );
        assert!(stderr.lines().any(|l| l.starts_with(&want)), "{args:?}: {stderr}");
    }
}
