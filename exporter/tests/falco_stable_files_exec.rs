//! falcosecurity/rules' stable file, unmodified and alone, against attacks inside real runc
//! containers: for each file, process and execution rule, an action modelled on
//! falcosecurity/event-generator's syscall actions must fire it (counter under the container's
//! exact labels and alert line, within 2 s of the action's start) and a benign twin that differs
//! in what the rule looks at must not.
//!
//! The rules file is linked from the shared test data at run time (never copied into the
//! project). Names are not resolved (`--names.resolve off`): no rule here needs them. Latencies
//! are printed as `LATENCY rule [container]: ms` (run with `--nocapture`).

#[macro_use]
mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use common::attack::{check_twins, suite_exporter_with, Detection, Opts};
use common::Exporter;

/// A directory holding only a link to the stable rules file (the same for every run: the link
/// never changes).
fn stable_rules_dir() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let file = common::shared_data("falcosecurity-rules/falco_rules.yaml");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("falco-stable-rules");
        std::fs::create_dir_all(&dir).expect("mkdir rules dir");
        match std::os::unix::fs::symlink(&file, dir.join("falco_rules.yaml")) {
            // Made by an earlier or a concurrent run.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            other => other.expect("link the stable rules"),
        }
        dir.to_str().expect("utf-8 path").to_owned()
    })
}

fn exporter() -> &'static Exporter {
    suite_exporter_with(&["--rules-dir", stable_rules_dir(), "--names.resolve", "off"])
}

/// Attack and twin with the same options.
fn check(rule: &str, priority: &str, attack: &str, benign: &str, opts: Opts) -> Detection {
    check_twins(exporter(), rule, priority, (attack, &opts), (benign, &opts)).0
}

// ---- files ----------------------------------------------------------------------------------

/// A program that is not a shell (xargs, as a web application would) opens /etc/shadow through
/// `../`; the twin opens a file of the same directory by its plain path.
#[test]
fn directory_traversal_monitored_file_read() {
    kernel_test!(directory_traversal_monitored_file_read);
    let d = check(
        "Directory traversal monitored file read",
        "warning",
        "echo /etc/../etc/../etc/shadow | /bin/xargs /bin/cat >/dev/null",
        "echo /etc/hostname | /bin/xargs /bin/cat >/dev/null",
        Opts::default(),
    );
    assert_eq!(d.field("fd.name"), "/etc/shadow", "{}", d.alert);
    assert_eq!(d.field("fd.nameraw"), "/etc/../etc/../etc/shadow", "{}", d.alert);
}

/// A server (httpd) running for over 5 s reads /etc/shadow on request; the twin is the same
/// server asked right after it started (trusted programs may read it at startup). The request
/// waits until the server has served it (removed it), so the server's read is part of the action.
#[test]
fn read_sensitive_file_trusted_after_startup() {
    kernel_test!(read_sensitive_file_trusted_after_startup);
    let server = Some("/bin/httpd read-when /dev/shm/tw-request /etc/shadow");
    let (attack, twin) = (
        Opts { background: server, hold: Duration::from_secs(6), ..Opts::default() },
        Opts { background: server, ..Opts::default() },
    );
    let request = ": > /dev/shm/tw-request && /bin/timeout 5 /bin/sh -c \
                   'while [ -e /dev/shm/tw-request ]; do /bin/usleep 10000; done'";
    let rule = "Read sensitive file trusted after startup";
    let (d, _) = check_twins(exporter(), rule, "warning", (request, &attack), (request, &twin));
    assert_eq!(d.field("proc.name"), "httpd", "{}", d.alert);
}

#[test]
fn read_sensitive_file_untrusted() {
    kernel_test!(read_sensitive_file_untrusted);
    let d = check(
        "Read sensitive file untrusted",
        "warning",
        "/bin/cat /etc/shadow >/dev/null",
        "/bin/cat /etc/hostname >/dev/null",
        Opts::default(),
    );
    assert_eq!(d.field("fd.name"), "/etc/shadow", "{}", d.alert);
}

/// `: >` opens with O_TRUNC; the twin appends to the same log.
#[test]
fn clear_log_activities() {
    kernel_test!(clear_log_activities);
    let d = check(
        "Clear Log Activities",
        "warning",
        "mkdir -p /var/log && : > /var/log/syslog",
        "mkdir -p /var/log && echo note >> /var/log/syslog",
        Opts::writable(),
    );
    assert_eq!(d.field("fd.name"), "/var/log/syslog", "{}", d.alert);
}

#[test]
fn create_symlink_over_sensitive_files() {
    kernel_test!(create_symlink_over_sensitive_files);
    let d = check(
        "Create Symlink Over Sensitive Files",
        "warning",
        "/bin/ln -s /etc/shadow /tmp/s",
        "/bin/ln -s /etc/hostname /tmp/s",
        Opts::writable(),
    );
    assert_eq!(d.field("evt.arg.target"), "/etc/shadow", "{}", d.alert);
}

#[test]
fn create_hardlink_over_sensitive_files() {
    kernel_test!(create_hardlink_over_sensitive_files);
    let d = check(
        "Create Hardlink Over Sensitive Files",
        "warning",
        "/bin/ln /etc/shadow /tmp/h",
        "/bin/ln /etc/hostname /tmp/h",
        Opts::writable(),
    );
    assert_eq!(d.field("evt.arg.oldpath"), "/etc/shadow", "{}", d.alert);
}

/// Root with CAP_SYS_ADMIN writes a file called release_agent (as event-generator does; the
/// real escape writes a cgroup v1 hierarchy's, which would change the host); the twin writes the
/// same file without CAP_SYS_ADMIN.
#[test]
fn detect_release_agent_file_container_escapes() {
    kernel_test!(detect_release_agent_file_container_escapes);
    let action = "echo /tmp/payload > /tmp/release_agent";
    let attack = Opts { writable: true, caps: vec!["CAP_SYS_ADMIN"], ..Opts::default() };
    let rule = "Detect release_agent File Container Escapes";
    let (d, _) = check_twins(exporter(), rule, "critical", (action, &attack), (action, &Opts::writable()));
    assert_eq!(d.field("fd.name"), "/tmp/release_agent", "{}", d.alert);
    let caps = d.field("thread.cap_effective").as_str().unwrap_or_default();
    assert!(caps.split(' ').any(|c| c == "CAP_SYS_ADMIN"), "{}", d.alert);
}

// ---- processes ------------------------------------------------------------------------------

/// A web server (the helper linked as httpd) starts a shell; the twin's shell is started by a
/// program no rule protects.
#[test]
fn run_shell_untrusted() {
    kernel_test!(run_shell_untrusted);
    let d = check(
        "Run shell untrusted",
        "notice",
        "/bin/httpd spawn /bin/sh -c /bin/true",
        "/bin/tw-helper spawn /bin/sh -c /bin/true",
        Opts::default(),
    );
    assert_eq!(d.field("proc.pname"), "httpd", "{}", d.alert);
}

/// The system user daemon runs login (event-generator runs /bin/login as daemon); the twin is
/// root running the same login.
#[test]
fn system_user_interactive() {
    kernel_test!(system_user_interactive);
    let action = "/bin/timeout 2 /bin/login </dev/null >/dev/null 2>&1; true";
    let daemon = Opts { user: Some((1, 1)), ..Opts::default() };
    let (d, _) = check_twins(
        exporter(),
        "System user interactive",
        "informational",
        (action, &daemon),
        (action, &Opts::default()),
    );
    assert_eq!(d.field("user.name"), "daemon", "{}", d.alert);
}

/// The container's shell with a terminal (runc allocates a pty, as `kubectl exec -it` gets one)
/// and, as the twin, without one.
#[test]
fn terminal_shell_in_container() {
    kernel_test!(terminal_shell_in_container);
    let rule = "Terminal shell in container";
    let tty = Opts { terminal: true, ..Opts::default() };
    let (d, _) = check_twins(exporter(), rule, "notice", ("true", &tty), ("true", &Opts::default()));
    assert_eq!(d.field("proc.name"), "sh", "{}", d.alert);
}

/// nc with -e (the listener is not there: the exec is the event); the twin without -e.
#[test]
fn netcat_remote_code_execution_in_container() {
    kernel_test!(netcat_remote_code_execution_in_container);
    let d = check(
        "Netcat Remote Code Execution in Container",
        "warning",
        "/bin/nc 127.0.0.1 9 -e /bin/sh; true",
        "/bin/nc 127.0.0.1 9 </dev/null; true",
        Opts::default(),
    );
    assert_eq!(d.field("proc.name"), "nc", "{}", d.alert);
}

#[test]
fn search_private_keys_or_passwords() {
    kernel_test!(search_private_keys_or_passwords);
    check(
        "Search Private Keys or Passwords",
        "warning",
        "/bin/find /tmp -maxdepth 1 -iname id_rsa",
        "/bin/find /tmp -maxdepth 1 -iname notes",
        Opts::default(),
    );
}

/// grep for an AWS secret key name (the rule's other branch, find, is the private-key rule's);
/// the twin greps for something else. grep exits 1 when nothing matches.
#[test]
fn find_aws_credentials() {
    kernel_test!(find_aws_credentials);
    let d = check(
        "Find AWS Credentials",
        "warning",
        "/bin/grep -ri aws_secret_access_key /etc; true",
        "/bin/grep -ri nameserver /etc; true",
        Opts::default(),
    );
    assert_eq!(d.field("group.name"), "root", "{}", d.alert);
}

#[test]
fn remove_bulk_data_from_disk() {
    kernel_test!(remove_bulk_data_from_disk);
    check(
        "Remove Bulk Data from Disk",
        "warning",
        "echo data > /tmp/f && /bin/shred -u /tmp/f",
        "echo data > /tmp/f && /bin/rm /tmp/f",
        Opts::writable(),
    );
}

/// A script dropped in /dev/shm run by a shell (runc mounts /dev/shm noexec, as Docker does,
/// so this is how it is run there); the twin runs the same script from /tmp.
#[test]
fn execution_from_dev_shm() {
    kernel_test!(execution_from_dev_shm);
    let d = check(
        "Execution from /dev/shm",
        "warning",
        "echo true > /dev/shm/x.sh && /bin/sh /dev/shm/x.sh",
        "echo true > /tmp/x.sh && /bin/sh /tmp/x.sh",
        Opts::writable(),
    );
    assert_eq!(d.field("proc.name"), "sh", "{}", d.alert);
}

/// On an overlay root, a binary copied into the container (the upper layer) runs; the twin runs
/// a binary of the image (the lower layer).
#[test]
fn drop_and_execute_new_binary_in_container() {
    kernel_test!(drop_and_execute_new_binary_in_container);
    let opts = Opts { writable: true, overlay: true, ..Opts::default() };
    let d = check(
        "Drop and execute new binary in container",
        "critical",
        "/bin/cp /bin/tw-helper /tmp/dropped && /tmp/dropped",
        "/bin/tw-helper sleep 1500",
        opts,
    );
    assert_eq!(d.field("proc.exepath"), "/tmp/dropped", "{}", d.alert);
    // The container's shell leads its session; the dropped file's inode times are real.
    assert_eq!(d.field("proc.sname"), "sh", "{}", d.alert);
    for time in ["proc.exe_ino.ctime", "proc.exe_ino.mtime"] {
        assert!(d.field(time).as_i64().is_some_and(|t| t > 0), "{time}: {}", d.alert);
    }
}

/// debugfs started in a container holding every capability the host can give (what the runtime
/// gives a privileged one); the twin starts it in a container with `runc spec`'s defaults. Busybox
/// has no debugfs: the exec of a program of that name is the event, and its failure to run as
/// one does not matter.
#[test]
fn debugfs_launched_in_privileged_container() {
    kernel_test!(debugfs_launched_in_privileged_container);
    let action = "/bin/ln -s /bin/busybox /tmp/debugfs && /tmp/debugfs; true";
    let privileged = Opts { writable: true, caps: common::bounding_set_names(), ..Opts::default() };
    let (d, _) = check_twins(
        exporter(),
        "Debugfs Launched in Privileged Container",
        "warning",
        (action, &privileged),
        (action, &Opts::writable()),
    );
    assert_eq!(d.field("proc.name"), "debugfs", "{}", d.alert);
}

/// memfd_create + fexecve; the twin executes the same program from disk.
#[test]
fn fileless_execution_via_memfd_create() {
    kernel_test!(fileless_execution_via_memfd_create);
    let d = check(
        "Fileless execution via memfd_create",
        "critical",
        "/bin/tw-helper memfd",
        "/bin/tw-helper exec-disk",
        Opts::default(),
    );
    assert!(d.field("proc.exepath").as_str().is_some_and(|p| p.starts_with("/memfd:")), "{}", d.alert);
}
