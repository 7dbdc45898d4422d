//! Bad input and bad environment: one line on stderr naming the cause and the fix, a non-zero
//! exit, no panic and no backtrace (RUST_BACKTRACE=1 is set on purpose).

mod common;

use std::process::{Command, Output};

use common::{free_port, kernel_available};

/// Runs the exporter, which must exit by itself: every case here is a start-up failure.
fn exporter(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_exporter"));
    command.args(args).env("RUST_BACKTRACE", "1");
    run_bounded(command)
}

/// Runs a command to completion, killing it (and failing the test) if it is still running after
/// 30 s, so a start-up that unexpectedly succeeds cannot hang the suite.
fn run_bounded(mut command: Command) -> Output {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn exporter");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!("still running after 30 s; stderr:\n{}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

/// Asserts a failed run printed exactly one line, starting `exporter: error: `, containing
/// every `needle`.
fn assert_one_line_error(output: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected failure, got {:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got:\n{stderr}");
    assert!(lines[0].starts_with("exporter: error: "), "{stderr}");
    for needle in needles {
        assert!(lines[0].contains(needle), "missing {needle:?} in: {stderr}");
    }
}

/// A free port, errors only, and nothing pinned (a run that loads before it fails would leave
/// pins behind).
fn listen_args(port: u16) -> Vec<String> {
    ["--web.listen-address", &format!("127.0.0.1:{port}"), "--log-level", "error", "--bpf.pin-dir", ""]
        .map(String::from)
        .to_vec()
}

fn with_listen<'a>(listen: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    listen.iter().map(String::as_str).chain(extra.iter().copied()).collect()
}

#[test]
fn bad_flag_values() {
    for (args, needles) in [
        (vec!["--syscall-label", "maybe"], vec!["maybe", "--syscall-label", "one of: name, none", "--help"]),
        (vec!["--container-ttl", "5 minutes"], vec!["not a duration", "5m"]),
        (vec!["--container-ttl", "500ms"], vec!["--container-ttl", "below 1s", "scraped"]),
        (vec!["--web.listen-address", "localhost"], vec!["HOST:PORT"]),
        (vec!["--max-cgroups", "1"], vec!["--max-cgroups"]),
        (vec!["--log-level", "loud"], vec!["loud"]),
        (vec!["--no-such-flag"], vec!["--no-such-flag"]),
    ] {
        let output = exporter(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_one_line_error(&output, &needles);
    }
}

#[test]
fn unreadable_rules_dir() {
    let listen = listen_args(free_port());
    let output = exporter(&with_listen(&listen, &["--rules-dir", "/nonexistent/rules"]));
    assert_one_line_error(&output, &["cannot read rules directory /nonexistent/rules", "No such file"]);
}

#[test]
fn port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let listen = listen_args(taken.local_addr().expect("addr").port());
    let output = exporter(&with_listen(&listen, &[]));
    assert_one_line_error(&output, &["cannot listen on 127.0.0.1:", "in use", "--web.listen-address"]);
}

#[test]
fn not_privileged() {
    if !kernel_available("not_privileged") {
        return;
    }
    // Root without any capability, as a container without CAP_BPF would run it.
    let listen = listen_args(free_port());
    let mut command = Command::new("setpriv");
    command
        .args(["--inh-caps=-all", "--bounding-set=-all", "--"])
        .arg(env!("CARGO_BIN_EXE_exporter"))
        .args(&listen)
        .env("RUST_BACKTRACE", "1");
    let output = run_bounded(command);
    assert_one_line_error(&output, &["missing capabilities CAP_BPF+CAP_PERFMON", "run as root"]);
}

#[test]
fn no_kernel_btf() {
    if !kernel_available("no_kernel_btf") {
        return;
    }
    let listen = listen_args(free_port());
    let output = exporter(&with_listen(&listen, &["--btf-path", "/nonexistent/vmlinux"]));
    assert_one_line_error(
        &output,
        &["kernel BTF not readable at /nonexistent/vmlinux", "CONFIG_DEBUG_INFO_BTF", "--hook raw-tp"],
    );
}

/// A valid but empty BTF blob: a kernel that has BTF but no `sys_enter` tracepoint in it.
fn empty_btf() -> Vec<u8> {
    let mut blob = Vec::new();
    blob.extend_from_slice(&0xeb9f_u16.to_le_bytes()); // magic
    blob.extend_from_slice(&[1, 0]); // version, flags
    for field in [24u32, 0, 0, 0, 1] {
        // hdr_len, type_off, type_len, str_off, str_len
        blob.extend_from_slice(&field.to_le_bytes());
    }
    blob.push(0); // the empty string
    blob
}

#[test]
fn missing_hook() {
    if !kernel_available("missing_hook") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let btf = dir.path().join("vmlinux");
    std::fs::write(&btf, empty_btf()).expect("write btf");
    let listen = listen_args(free_port());
    let output = exporter(&with_listen(&listen, &["--btf-path", btf.to_str().expect("utf-8")]));
    assert_one_line_error(
        &output,
        &["the kernel has no tp_btf/sys_enter hook", "btf_trace_sys_enter", "--hook raw-tp"],
    );
}

#[test]
fn broken_rules_stop_the_start_with_file_line_and_cause() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "- rule: Bad condition\n  desc: d\n  condition: evt.type = openat and (proc.name = cat\n  output: o\n  priority: WARNING\n",
    )
    .expect("write rules");
    let listen = listen_args(free_port());
    let output = exporter(&with_listen(&listen, &["--rules-dir", dir.path().to_str().expect("utf-8")]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one line for the error, one summary:\n{stderr}");
    assert!(lines[0].starts_with("exporter: error: ") && lines[0].contains("bad.yaml:3:"), "{stderr}");
    assert!(lines[0].contains("rule 'Bad condition'"), "{stderr}");
    assert!(lines[1].contains("1 error(s) in the rules") && lines[1].contains("exporter rules check"), "{stderr}");
}

/// Nine levels of nine aliases to the level below: 9^9 nodes, tens of gigabytes, if expanded.
const ALIAS_BOMB: &str = "\
a: &a [x,x,x,x,x,x,x,x,x]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
";

#[test]
fn alias_bomb_is_one_error_not_out_of_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bomb.yaml"), ALIAS_BOMB).expect("write rules");
    let rules_dir = dir.path().to_str().expect("utf-8");
    let cause = "bomb.yaml:6:8: YAML alias expands to 66430 nodes, more than the 10000 one alias may";
    let started = std::time::Instant::now();
    let output = exporter(&["rules", "check", "--rules-dir", rules_dir]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(output.status.code(), Some(1));
    assert_one_line_error(&output, &[cause]);
    // The running exporter loads rules with the same parser.
    let listen = listen_args(free_port());
    let output = exporter(&with_listen(&listen, &["--rules-dir", rules_dir]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.lines().next().is_some_and(|l| l.starts_with("exporter: error: ") && l.contains(cause)), "{stderr}");
}

#[test]
fn bad_alert_outputs_fail_before_anything_loads() {
    for (args, needles) in [
        (
            vec!["--webhook.url", "https://hooks.example/x", "--alerts.tls-ca-file", "/nonexistent/ca.pem"],
            vec!["alert outputs", "webhook: TLS CA file /nonexistent/ca.pem: No such file"],
        ),
        (vec!["--webhook.url", "hooks.example/x"], vec!["alert outputs", "http(s)://"]),
        (vec!["--syslog.address", "ftp://logs:514"], vec!["alert outputs", "udp:// or tcp://"]),
        (vec!["--alertmanager.url", "not a url"], vec!["alert outputs"]),
        (vec!["--alerts.rate=-1"], vec!["alert outputs", "rate"]),
        (vec!["--kafka.brokers", "kafka-0"], vec!["alert outputs", "kafka broker \"kafka-0\": expected host:port"]),
        (vec!["--kafka.brokers", "k:9092", "--kafka.topic", "a b"], vec!["alert outputs", "kafka topic \"a b\""]),
        (
            vec![
                "--kafka.brokers",
                "k:9092",
                "--kafka.sasl.mechanism",
                "SCRAM-SHA-256",
                "--kafka.sasl.username",
                "u",
                "--kafka.sasl.password-file",
                "/nonexistent/pw",
            ],
            vec!["alert outputs", "kafka SASL password file /nonexistent/pw: No such file"],
        ),
        (vec!["--kafka.brokers", "k:9092", "--kafka.sasl.mechanism", "PLAIN"], vec!["--kafka.sasl.username"]),
    ] {
        let listen = listen_args(free_port());
        let output = exporter(&with_listen(&listen, &args));
        assert_one_line_error(&output, &needles);
    }
}

#[test]
fn bad_web_config_fails_before_anything_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = common::tls::TestCa::new(dir.path(), "web");
    let server = ca.leaf(dir.path(), "server", false);
    let other = ca.leaf(dir.path(), "other", false);
    let (cert, other_key) = (server.cert_path.display().to_string(), other.key_path.display().to_string());
    for (name, text, needles) in [
        ("yaml.yml", "tls_server_config: [\n".to_owned(), vec!["yaml.yml:2:1: invalid YAML"]),
        ("typo.yml", "basic_auth_user:\n  a: b\n".to_owned(), vec!["typo.yml:1:1: unknown key 'basic_auth_user'"]),
        (
            "nokey.yml",
            format!("tls_server_config:\n  cert_file: {cert}\n  key_file: /nonexistent/server.key\n"),
            vec!["nokey.yml:3:13: key_file /nonexistent/server.key: No such file"],
        ),
        (
            "mismatch.yml",
            format!("tls_server_config:\n  cert_file: {cert}\n  key_file: {other_key}\n"),
            vec!["mismatch.yml:3:13: cert_file/key_file:"],
        ),
        (
            "noca.yml",
            format!("tls_server_config:\n  cert_file: {cert}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n", server.key_path.display()),
            vec!["noca.yml:2:3: client_auth_type verifies client certificates: set client_ca_file"],
        ),
        ("tls10.yml", format!("tls_server_config:\n  cert_file: {cert}\n  key_file: k\n  min_version: TLS10\n"), vec!["TLS 1.0 and 1.1 are not supported"]),
        ("hash.yml", "basic_auth_users:\n  prometheus: plaintext\n".to_owned(), vec!["hash.yml:2:15: user 'prometheus': not a bcrypt hash"]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write web config");
        let listen = listen_args(free_port());
        let output = exporter(&with_listen(&listen, &["--web.config.file", path.to_str().expect("utf-8")]));
        let mut needles = needles;
        needles.push("--web.config.file ");
        assert_one_line_error(&output, &needles);
    }
    let listen = listen_args(free_port());
    let output = exporter(&with_listen(&listen, &["--web.config.file", "/nonexistent/web.yml"]));
    assert_one_line_error(&output, &["--web.config.file /nonexistent/web.yml: cannot read: No such file"]);
}
