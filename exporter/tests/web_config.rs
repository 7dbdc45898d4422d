//! `--web.config.file` on the running exporter: /metrics over TLS (rustls), basic auth with
//! bcrypt hashes, client certificates. Needs the kernel (the exporter loads its programs).

mod common;

use std::time::{Duration, Instant};

use common::{
    http_get, kernel_available,
    tls::{https_get, TestCa},
    Exporter,
};

/// Starts the exporter with `web.yml` and waits for https /healthz (open even with basic auth).
fn start_tls(web: &std::path::Path, ca: &std::path::Path, client: Option<&common::tls::Leaf>) -> Exporter {
    let web = web.display().to_string();
    Exporter::start_until(&["--web.config.file", &web, "--log-level", "warn"], |port| {
        matches!(https_get(port, "/healthz", ca, None, client), Ok((200, _)))
    })
}

/// The median time of `n` runs of `f`.
fn median_of(n: usize, f: impl Fn()) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

#[test]
fn tls_and_basic_auth() {
    if !kernel_available("tls_and_basic_auth") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path(), "web");
    // Written as server.crt/server.key next to web.yml, which names them relatively.
    ca.leaf(dir.path(), "server", false);
    // Cost 10, the usual htpasswd -B cost, so the cache's effect below is the real one.
    let hash = bcrypt::hash("s3cret", 10).expect("bcrypt");
    let web = dir.path().join("web.yml");
    // Relative paths: resolved against the config file's directory, as exporter-toolkit does.
    std::fs::write(
        &web,
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\nbasic_auth_users:\n  prometheus: {hash}\n"),
    )
    .expect("write web.yml");
    let exporter = start_tls(&web, &ca.cert_path, None);
    let port = exporter.port;
    let get = |creds| https_get(port, "/metrics", &ca.cert_path, creds, None).expect("https GET");

    let (status, response) = get(None);
    assert_eq!(status, 401, "{response}");
    assert!(response.to_ascii_lowercase().contains("www-authenticate: basic realm=\"tracewarden\""), "{response}");
    assert_eq!(get(Some(("prometheus", "wrong"))).0, 401);
    assert_eq!(get(Some(("nobody", "s3cret"))).0, 401);
    let first = Instant::now();
    let (status, response) = get(Some(("prometheus", "s3cret")));
    let first = first.elapsed();
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("tracewarden_syscalls_total"), "{response}");
    // A wrong password after the right one is still refused (only successes are cached).
    assert_eq!(get(Some(("prometheus", "s3creT"))).0, 401);

    // The control API sits behind the same TLS and basic auth; `exporter baseline` speaks both
    // (this exporter runs without --baseline.dir, so the API answers that it is off).
    let api = |creds| https_get(port, "/api/v1/baseline/profiles", &ca.cert_path, creds, None).expect("https GET");
    assert_eq!(api(None).0, 401);
    let (status, response) = api(Some(("prometheus", "s3cret")));
    assert_eq!(status, 404, "{response}");
    assert!(response.contains("start the exporter with --baseline.dir"), "{response}");
    let password = dir.path().join("password");
    std::fs::write(&password, "s3cret\n").expect("write the password file");
    let cli = |auth: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_exporter"))
            .args(["baseline", "list", "--url", &format!("https://127.0.0.1:{port}"), "--tls-ca-file"])
            .arg(&ca.cert_path)
            .args(auth)
            .output()
            .expect("exporter baseline list");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, stderr) = cli(&[]);
    assert!(!ok && stderr.contains("401 Unauthorized"), "{stderr}");
    let (ok, stderr) = cli(&["--user", "prometheus", "--password-file", &password.display().to_string()]);
    assert!(!ok && stderr.contains("404 Not Found: the baseline is off"), "{stderr}");

    // Plain HTTP on the TLS port: a 400 that names the mistake, never the metrics.
    let (status, body) = http_get(port, "/metrics").expect("plain GET");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("HTTP request to an HTTPS server"), "{body}");

    // Each scrape is a new connection (full handshake), as Prometheus' first scrape is.
    let cached = median_of(15, || assert_eq!(get(Some(("prometheus", "s3cret"))).0, 200));
    let refused = median_of(5, || assert_eq!(get(Some(("prometheus", "nope"))).0, 401));
    let healthz =
        median_of(15, || assert_eq!(https_get(port, "/healthz", &ca.cert_path, None, None).expect("healthz").0, 200));
    eprintln!(
        "https /metrics: first (bcrypt) {first:?}, cached median {:?}; wrong password (bcrypt each) median {:?}; https /healthz median {:?}",
        cached, refused, healthz
    );

    // A renewed certificate (another CA here, so the switch is visible) is served without a
    // restart; written as a Secret update does it: new files swapped in by rename.
    let renewed = tempfile::tempdir_in(dir.path()).expect("tempdir");
    let ca2 = TestCa::new(renewed.path(), "web2");
    let leaf = ca2.leaf(renewed.path(), "server", false);
    std::fs::rename(&leaf.key_path, dir.path().join("server.key")).expect("swap key");
    std::fs::rename(&leaf.cert_path, dir.path().join("server.crt")).expect("swap cert");
    let (status, _) = https_get(port, "/metrics", &ca2.cert_path, Some(("prometheus", "s3cret")), None)
        .expect("https with the renewed certificate");
    assert_eq!(status, 200);
    assert!(https_get(port, "/healthz", &ca.cert_path, None, None).is_err(), "old certificate still served");
}

#[test]
fn client_certificates() {
    if !kernel_available("client_certificates") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path(), "web");
    let server = ca.leaf(dir.path(), "server", false);
    let clients = TestCa::new(dir.path(), "clients");
    let good = clients.leaf(dir.path(), "prometheus", true);
    let stranger = ca.leaf(dir.path(), "stranger", true);
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            server.cert_path.display(),
            server.key_path.display(),
            clients.cert_path.display()
        ),
    )
    .expect("write web.yml");
    let exporter = start_tls(&web, &ca.cert_path, Some(&good));
    let port = exporter.port;
    let (status, response) = https_get(port, "/metrics", &ca.cert_path, None, Some(&good)).expect("with cert");
    assert_eq!(status, 200, "{response}");
    for (what, client) in [("no certificate", None), ("a certificate of another CA", Some(&stranger))] {
        match https_get(port, "/metrics", &ca.cert_path, None, client) {
            Err(_) | Ok((0, _)) => {}
            Ok((status, response)) => panic!("{what}: got {status}: {response}"),
        }
    }
}
