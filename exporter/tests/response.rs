//! The response API with the real exporter, real runc containers and their real cgroups: an
//! Alertmanager-shaped push freezes the container an alert names (cgroup.events says frozen, its
//! syscalls stop) and `exporter respond release` thaws it; the host, a dry run and the policy's
//! limits never let an alert act beyond what they allow; bad calls and bad policy files are
//! refused. (The same through real Prometheus and Alertmanager: tests/alerting/response_e2e.py.)

#[macro_use]
mod common;

use std::{
    io::{Read, Write},
    path::Path,
    process::Command,
    time::Duration,
};

use base64::Engine as _;
use common::{attack::Target, eventually, sample, Exporter, Rootfs, RuncContainer};

const USER: &str = "alertmanager";
const PASSWORD: &str = "respond-s3cret";

/// A policy freezing containers for the shadow-read rule, with `extra` top-level lines.
fn policy(dir: &Path, extra: &str) -> String {
    let path = dir.join("response.yml");
    let text = format!(
        "{extra}cooldown_seconds: 300\npolicies:\n  - name: freeze credential readers\n    action: freeze\n    rules: [Read sensitive file untrusted]\n"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A web config with basic auth for [`USER`].
fn web_config(dir: &Path) -> String {
    let path = dir.join("web.yml");
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    std::fs::write(&path, format!("basic_auth_users:\n  {USER}: '{hash}'\n")).unwrap();
    path.display().to_string()
}

/// One HTTP/1.1 request to the exporter; (status, body).
fn request(port: u16, method: &str, path: &str, auth: bool, body: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let authorization = if auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        format!("Authorization: Basic {token}\r\n")
    } else {
        String::new()
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// /metrics, with the credentials (which an exporter without basic auth ignores).
fn metrics(exporter: &Exporter) -> String {
    let (status, body) = request(exporter.port, "GET", "/metrics", true, "");
    assert_eq!(status, 200, "{body}");
    body
}

/// Alertmanager's webhook body for one firing alert per container id.
fn webhook(container_ids: &[&str]) -> String {
    let alerts: Vec<serde_json::Value> = container_ids
        .iter()
        .map(|id| {
            serde_json::json!({"status": "firing", "labels": {
                "alertname": "TracewardenRuleViolation", "rule": "Read sensitive file untrusted",
                "priority": "warning", "severity": "ticket", "response": "freeze", "container_id": id}})
        })
        .collect();
    serde_json::json!({"version": "4", "status": "firing", "receiver": "tracewarden-response", "alerts": alerts})
        .to_string()
}

/// A running container that reads /etc/shadow in a loop, and its cgroup v2 directory.
struct Reader {
    target: Target,
    container: RuncContainer,
    _rootfs: Rootfs,
}

impl Reader {
    fn start(name: &str, exporter: &Exporter) -> Reader {
        let target = Target::new(name);
        let rootfs = Rootfs::build();
        let script = "while true; do /bin/cat /etc/shadow > /dev/null; /bin/sleep 0.1; done";
        let container = target.container(&rootfs, script, &Default::default());
        container.start_detached();
        let reader = Reader { target, container, _rootfs: rootfs };
        let named = eventually(Duration::from_secs(20), || reader.syscalls(exporter) > 0.0);
        assert!(named, "container {} never appeared in /metrics", reader.id());
        reader
    }

    fn id(&self) -> &str {
        self.target.short_id()
    }

    fn cgroup_events(&self) -> String {
        let dir = common::cgroup2_root().unwrap().join("docker").join(&self.target.id);
        std::fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default()
    }

    fn frozen(&self) -> bool {
        self.cgroup_events().lines().any(|l| l == "frozen 1")
    }

    /// The container's syscalls so far, as the exporter counted them.
    fn syscalls(&self, exporter: &Exporter) -> f64 {
        let prefix = format!("tracewarden_syscalls_total{{container_id=\"{}\",", self.id());
        metrics(exporter)
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // A frozen cgroup is thawed first, so runc's SIGKILL is not left pending.
        let dir = common::cgroup2_root().unwrap().join("docker").join(&self.target.id);
        let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
        self.container.delete();
    }
}

fn responses(exporter: &Exporter, action: &str, result: &str) -> f64 {
    sample(&metrics(exporter), "tracewarden_responses_total", &[("action", action), ("result", result)]).unwrap_or(0.0)
}

#[test]
fn a_pushed_alert_freezes_its_container_and_the_cli_releases_it() {
    kernel_test!(a_pushed_alert_freezes_its_container_and_the_cli_releases_it);
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--web.config.file",
        &web_config(dir.path()),
        "--response.config",
        &policy(dir.path(), "max_containers_per_minute: 5\n"),
    ];
    let exporter = Exporter::start(&args);
    let reader = Reader::start("freeze-push", &exporter);

    // Without credentials, and with a body that is no webhook payload: refused and counted.
    assert_eq!(request(exporter.port, "POST", "/api/v1/respond", false, &webhook(&[reader.id()])).0, 401);
    let (status, body) = request(exporter.port, "POST", "/api/v1/respond", true, "{\"alerts\": 1}");
    assert_eq!(status, 400, "{body}");
    assert!(!reader.frozen());
    // The host is never acted on.
    let (status, body) = request(exporter.port, "POST", "/api/v1/respond", true, &webhook(&["host"]));
    assert!(status == 200 && body.contains("refused_host"), "{status} {body}");

    let (status, body) = request(exporter.port, "POST", "/api/v1/respond", true, &webhook(&[reader.id()]));
    assert!(status == 200 && body.contains("\"result\":\"applied\""), "{status} {body}");
    assert!(eventually(Duration::from_secs(5), || reader.frozen()), "cgroup.events: {}", reader.cgroup_events());
    // Frozen: its processes make no more syscalls (a refresh or two for the last counts to land).
    std::thread::sleep(Duration::from_secs(2));
    let before = reader.syscalls(&exporter);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(reader.syscalls(&exporter), before, "a frozen container made syscalls");

    let password = dir.path().join("password");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(["respond", "release", reader.id(), "--url", &format!("http://127.0.0.1:{}", exporter.port)])
        .args(["--user", USER, "--password-file"])
        .arg(&password)
        .output()
        .expect("exporter respond release");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("released {}: thawed", reader.id()));
    assert!(eventually(Duration::from_secs(5), || !reader.frozen()), "still frozen: {}", reader.cgroup_events());
    let thawed = reader.syscalls(&exporter);
    assert!(eventually(Duration::from_secs(5), || reader.syscalls(&exporter) > thawed), "no syscalls after release");

    for (action, result, n) in [
        ("none", "refused_unauthorized", 1.0),
        ("none", "refused_malformed", 1.0),
        ("none", "refused_host", 1.0),
        ("freeze", "applied", 1.0),
        ("release", "applied", 1.0),
    ] {
        assert_eq!(responses(&exporter, action, result), n, "{action} {result}");
    }
    // A release of an id no cgroup has is refused, and says so.
    let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(["respond", "release", "0123456789ab", "--url", &format!("http://127.0.0.1:{}", exporter.port)])
        .args(["--user", USER, "--password-file"])
        .arg(&password)
        .output()
        .expect("exporter respond release");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("404 Not Found"), "{stderr}");
}

#[test]
fn dry_run_and_the_per_minute_limit_hold_under_an_alert_storm() {
    kernel_test!(dry_run_and_the_per_minute_limit_hold_under_an_alert_storm);
    let dir = tempfile::tempdir().unwrap();
    let dry = policy(dir.path(), "dry_run: true\nmax_containers_per_minute: 5\n");
    let exporter = Exporter::start(&["--response.config", &dry, "--response.allow-insecure"]);
    let readers: Vec<Reader> = (0..3).map(|i| Reader::start(&format!("storm-{i}"), &exporter)).collect();
    let ids: Vec<&str> = readers.iter().map(Reader::id).collect();
    let (status, body) = request(exporter.port, "POST", "/api/v1/respond", false, &webhook(&ids));
    assert!(status == 200 && body.matches("\"dry_run\"").count() == 3, "{status} {body}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(readers.iter().all(|r| !r.frozen()), "a dry run froze a container");
    drop(exporter);

    // One container a minute, under 20 notifications naming all three, each three times.
    let limited = dir.path().join("limited");
    std::fs::create_dir(&limited).unwrap();
    let exporter = Exporter::start(&[
        "--response.config",
        &policy(&limited, "max_containers_per_minute: 1\n"),
        "--response.allow-insecure",
    ]);
    assert!(eventually(Duration::from_secs(20), || readers.iter().all(|r| r.syscalls(&exporter) > 0.0)));
    let storm: Vec<&str> = ids.iter().flat_map(|id| [*id; 3]).collect();
    for _ in 0..20 {
        assert_eq!(request(exporter.port, "POST", "/api/v1/respond", false, &webhook(&storm)).0, 200);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(readers.iter().filter(|r| r.frozen()).count(), 1, "max_containers_per_minute: 1");
    assert_eq!(responses(&exporter, "freeze", "applied"), 1.0);
    let refused =
        responses(&exporter, "freeze", "refused_cooldown") + responses(&exporter, "freeze", "refused_rate_limit");
    assert_eq!(refused, 20.0 * 9.0 - 1.0);
}

#[test]
fn the_exporters_own_container_is_never_a_target() {
    kernel_test!(the_exporters_own_container_is_never_a_target);
    // The exporter runs in a cgroup shaped like a docker container's: the resolver names it by
    // its path once the settle grace passes without a runtime record.
    let id = Target::new("self").id;
    let cgroup = common::cgroup2_root().unwrap().join("docker").join(&id);
    std::fs::create_dir_all(&cgroup).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$0/cgroup.procs" && exec "$@""#)
        .arg(&cgroup)
        .arg(env!("CARGO_BIN_EXE_exporter"))
        .args(["--web.listen-address", &format!("127.0.0.1:{port}"), "--response.allow-insecure"])
        .args(["--response.config", &policy(dir.path(), "max_containers_per_minute: 5\n")])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn the exporter in its cgroup");
    let short = &id[..12];
    let named = eventually(exporter::container::SETTLE_GRACE + Duration::from_secs(20), || {
        common::http_get(port, "/metrics").is_ok_and(|(_, m)| m.contains(&format!("container_id=\"{short}\"")))
    });
    let (status, body) = request(port, "POST", "/api/v1/respond", false, &webhook(&[short]));
    let frozen = std::fs::read_to_string(cgroup.join("cgroup.events")).unwrap_or_default();
    let _ = std::fs::write(cgroup.join("cgroup.freeze"), "0");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir(&cgroup);
    assert!(named, "the exporter's own cgroup was never named {short}");
    assert!(status == 200 && body.contains("\"refused_self\""), "{status} {body}");
    assert!(frozen.contains("frozen 0"), "{frozen}");
}

#[test]
fn bad_policy_files_and_an_open_api_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_exporter"))
            .args(["--web.listen-address", "127.0.0.1:0"])
            .args(args)
            .output()
            .expect("run exporter");
        assert!(!out.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        stderr
    };
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "cooldown_seconds: 60\nmax_containers_per_minute: 2\npolicies:\n  - name: x\n    action: quarantine\n",
    )
    .unwrap();
    let stderr = run(&["--response.config", bad.to_str().unwrap(), "--response.allow-insecure"]);
    let want = format!(
        "exporter: error: --response.config {}:5:13: policy 'x': action 'quarantine': use freeze, kill or log",
        bad.display()
    );
    assert_eq!(stderr.trim(), want);
    let good = policy(dir.path(), "max_containers_per_minute: 2\n");
    let stderr = run(&["--response.config", &good]);
    assert!(stderr.contains("needs authentication") && stderr.contains("--response.allow-insecure"), "{stderr}");
}
