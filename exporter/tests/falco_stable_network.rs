//! Falco's own stable rules (falcosecurity/rules' `falco_rules.yaml`, unmodified, the only rules
//! file) fired from inside real runc containers: the network, ptrace and kernel-module rules,
//! each by an action modelled on falcosecurity/event-generator's syscall actions, each with a
//! benign twin that must fire nothing of the file.
//!
//! The rules file is copied at test time from `../../shared/data/falcosecurity-rules/` into a
//! temporary directory (a copy is never committed). `fd.sip.name` needs the name
//! `kubernetes.default.svc.cluster.local` resolved: the exporter reads a hosts file the test
//! writes (`--names.resolve hosts --names.hosts-file`), mapping it to an address of this host,
//! so no DNS query and no packet leaves the machine. Latencies are printed as
//! `LATENCY rule [container]: ms` (run with `--nocapture`).

#[macro_use]
mod common;

use std::{net::Ipv4Addr, path::Path, sync::OnceLock};

use common::attack::{self, accept_on, host_address, suite_exporter_with, Detection, NetNs, Opts};
use common::Exporter;

/// The name Falco's `k8s_api_server` macro compares `fd.sip.name` with.
const K8S_API_NAME: &str = "kubernetes.default.svc.cluster.local";
/// The address the test's hosts file gives it: a cluster's usual API service address, on the
/// loopback of a network namespace the test makes ([`NetNs`]).
const K8S_API_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);

/// The exporter of this test binary: `falco_rules.yaml` alone, and names from the hosts file
/// this test writes, where the API server's name is this host's address.
fn exporter() -> &'static Exporter {
    static FILES: OnceLock<(tempfile::TempDir, String, String)> = OnceLock::new();
    let (_, rules, hosts) = FILES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).expect("mkdir rules");
        let stable = common::shared_data("falcosecurity-rules/falco_rules.yaml");
        std::fs::copy(&stable, rules.join("falco_rules.yaml"))
            .unwrap_or_else(|e| panic!("{}: {e} (falcosecurity/rules' files)", stable.display()));
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, format!("127.0.0.1 localhost\n{K8S_API_ADDRESS} {K8S_API_NAME} kubernetes\n"))
            .expect("write hosts");
        let (rules, hosts) = (rules.display().to_string(), hosts.display().to_string());
        (dir, rules, hosts)
    });
    suite_exporter_with(&["--rules-dir", rules, "--names.resolve", "hosts", "--names.hosts-file", hosts])
}

/// [`attack::check_silent_twins`] on this binary's exporter.
fn check_twins(rule: &str, priority: &str, attack: (&str, &Opts), benign: (&str, &Opts)) -> Detection {
    attack::check_silent_twins(exporter(), rule, priority, attack, benign)
}

fn check(rule: &str, priority: &str, attack: &str, benign: &str, opts: Opts) -> Detection {
    check_twins(rule, priority, (attack, &opts), (benign, &opts))
}

fn field<'a>(detection: &'a Detection, name: &str) -> &'a serde_json::Value {
    &detection.alert["output_fields"][name]
}

fn host_network() -> Opts {
    Opts { host_network: true, ..Opts::default() }
}

/// A TCP port nothing listens on now (bound, then released).
fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

// ---- network ----------------------------------------------------------------------------------

/// A connection from a container to the address the API server's name resolves to, where the
/// test listens, inside a network namespace the test made; the twin, in the same namespace,
/// connects to the same port on loopback, which has no such name.
#[test]
fn contact_k8s_api_server_from_container() {
    kernel_test!(contact_k8s_api_server_from_container);
    let netns = NetNs::new("k8s", K8S_API_ADDRESS);
    let port = unused_port();
    let _listener = netns.accept_on(port);
    let opts = Opts { netns: Some(netns.path()), ..Opts::default() };
    let connect = |ip: Ipv4Addr| format!("echo hi | /bin/nc -w 2 {ip} {port}");
    let (attack, twin) = (connect(K8S_API_ADDRESS), connect(Ipv4Addr::LOCALHOST));
    let d = check("Contact K8S API Server From Container", "notice", &attack, &twin, opts);
    assert_eq!(field(&d, "fd.name"), format!("{K8S_API_ADDRESS}:{port}").as_str(), "{}", d.alert);
}

/// event-generator's action: an AF_PACKET raw socket (a sniffer), with CAP_NET_RAW as Docker
/// grants it by default (runc's default spec does not); the twin opens a UDP socket.
#[test]
fn packet_socket_created_in_container() {
    kernel_test!(packet_socket_created_in_container);
    let d = check(
        "Packet socket created in container",
        "notice",
        "/bin/tw-helper socket packet",
        "/bin/tw-helper socket inet",
        Opts { caps: vec!["CAP_NET_RAW"], ..Opts::default() },
    );
    let args = field(&d, "evt.args").as_str().unwrap_or_default();
    assert!(args.contains("domain=AF_PACKET"), "{}", d.alert);
}

/// event-generator's action: the accepted end of a loopback TCP connection dup2'd onto stdout;
/// the twin dup2's one end of a unix socketpair the same way.
#[test]
fn redirect_stdout_stdin_to_network_connection_in_container() {
    kernel_test!(redirect_stdout_stdin_to_network_connection_in_container);
    let d = check(
        "Redirect STDOUT/STDIN to Network Connection in Container",
        "notice",
        "/bin/tw-helper dup-socket tcp",
        "/bin/tw-helper dup-socket unix",
        Opts::default(),
    );
    assert_eq!(field(&d, "fd.type"), "ipv4", "{}", d.alert);
    assert_eq!(field(&d, "fd.sip"), "127.0.0.1", "{}", d.alert);
}

/// event-generator runs `ssh -p 2222 example.com`; here the ssh client (the helper under that
/// name) connects to a port of Falco's `ssh_non_standard_ports` on this host's address, where the
/// test listens; the twin connects the same way to port 22.
#[test]
fn disallowed_ssh_connection_non_standard_port() {
    kernel_test!(disallowed_ssh_connection_non_standard_port);
    let ip = host_address();
    let _listeners = (accept_on(8443), accept_on(22));
    let (attack, twin) = (format!("/bin/ssh -p 8443 {ip}"), format!("/bin/ssh -p 22 {ip}"));
    let d = check("Disallowed SSH Connection Non Standard Port", "notice", &attack, &twin, host_network());
    assert_eq!(field(&d, "fd.name"), format!("{ip}:8443").as_str(), "{}", d.alert);
    // The kernel described the connected socket: its local end is known.
    assert!(field(&d, "fd.lport").as_u64().is_some_and(|port| port > 0), "{}", d.alert);
}

// ---- processes ----------------------------------------------------------------------------------

/// PTRACE_ATTACH to a child; the twin peeks into a child it does not trace (fails with ESRCH).
#[test]
fn ptrace_attached_to_process() {
    kernel_test!(ptrace_attached_to_process);
    check(
        "PTRACE attached to process",
        "warning",
        "/bin/tw-helper ptrace-attach",
        "/bin/tw-helper ptrace-peek",
        Opts::default(),
    );
}

/// A child asks to be traced by its parent (PTRACE_TRACEME), as anti-debugging malware does.
#[test]
fn ptrace_anti_debug_attempt() {
    kernel_test!(ptrace_anti_debug_attempt);
    check(
        "PTRACE anti-debug attempt",
        "notice",
        "/bin/tw-helper ptrace-traceme",
        "/bin/tw-helper ptrace-peek",
        Opts::default(),
    );
}

/// event-generator runs insmod in a container; the rule needs CAP_SYS_MODULE in the thread's
/// effective set, so the twin makes the same call without it. Falco's condition does not test the
/// result, so a failed load fires it too: on a kernel without module support (no /proc/modules,
/// CONFIG_MODULES off, as on these VMs) init_module is the kernel's "not implemented" stub, has
/// no tracepoint, and fails with ENOSYS; the exporter completes such a call at its entry.
#[test]
fn linux_kernel_module_injection_detected() {
    kernel_test!(linux_kernel_module_injection_detected);
    let load = "echo 'not really a module' > /tmp/rootkit.ko && /bin/tw-helper init-module /tmp/rootkit.ko";
    let with_module_cap = Opts { writable: true, caps: vec!["CAP_SYS_MODULE"], ..Opts::default() };
    let without = Opts { writable: true, ..Opts::default() };
    let d =
        check_twins("Linux Kernel Module Injection Detected", "warning", (load, &with_module_cap), (load, &without));
    assert_eq!(field(&d, "evt.type"), "init_module", "{}", d.alert);
    if !Path::new("/proc/modules").exists() {
        assert_eq!(field(&d, "evt.res"), "ENOSYS", "no module support: the load fails; {}", d.alert);
    }
}
