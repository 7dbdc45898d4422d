//! Alert outputs against real receivers on 127.0.0.1, written here: a UDP socket and a TCP
//! listener for syslog, and an HTTP server standing in for a webhook and for Alertmanager's
//! `/api/v2/alerts`. Dead receivers (closed ports) must show up in `failed`/`dropped`.

mod common;

use bytes::Bytes;
use common::alerts::{counts, wait_until};
use exporter::alerts::{
    alert_json, AlertmanagerConfig, AlertsConfig, Backoff, Dispatcher, DispatcherOptions, KafkaConfig, ManualClock,
    SubmitOutcome, SyslogConfig, WebhookConfig,
};
use exporter::rules::output::render_time;
use exporter::rules::Alert;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

fn alert(rule: &str, priority: &str, container: &str) -> Alert {
    let mut output_fields = BTreeMap::new();
    output_fields.insert("proc.name".to_owned(), serde_json::json!("bash"));
    Alert {
        time: "2026-11-28T21:00:01.123456789Z".into(),
        rule: rule.into(),
        priority: priority.into(),
        output: format!("{rule} fired (proc=bash container={container})"),
        output_fields,
        tags: vec!["container".into(), "mitre_execution".into()],
        source: "syscall".into(),
        hostname: "node-1".into(),
        container_id: container.into(),
        container_name: "web".into(),
        image: "docker.io/library/nginx:1.25".into(),
        pod: "web-0".into(),
        namespace: "shop".into(),
        sigma: None,
    }
}

fn unix_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Quick retries so dead-receiver tests finish fast.
fn fast() -> Backoff {
    Backoff { initial: Duration::from_millis(5), max: Duration::from_millis(20) }
}

fn only(cfg: AlertsConfig) -> AlertsConfig {
    AlertsConfig { stdout: false, rate: 0.0, ..cfg }
}

/// A port nothing listens on (bound, then closed).
async fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// A listener that accepts connections and holds them, never reading or answering.
async fn black_hole() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (addr, holder)
}

// ---------------------------------------------------------------- syslog

/// Splits `MSG-LEN SP MSG` frames off the front of `buf`.
fn take_frames(buf: &mut Vec<u8>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(sp) = buf.iter().position(|&b| b == b' ') {
        let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().expect("MSG-LEN is digits");
        if buf.len() < sp + 1 + len {
            break;
        }
        out.push(String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap());
        buf.drain(..sp + 1 + len);
    }
    out
}

async fn read_frames(conn: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < n {
        got.extend(take_frames(buf));
        if got.len() >= n {
            break;
        }
        let mut chunk = [0u8; 4096];
        let r = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), conn.read(&mut chunk))
            .await
            .expect("frames in time")
            .unwrap();
        assert!(r > 0, "connection closed after {} frames", got.len());
        buf.extend_from_slice(&chunk[..r]);
    }
    got
}

/// `<PRI>1 TS HOST APP PROCID MSGID SD MSG` -> (header fields, SD, MSG).
fn split_5424(m: &str) -> (Vec<&str>, &str, &str) {
    let mut head = Vec::new();
    let mut rest = m;
    for _ in 0..6 {
        let (h, r) = rest.split_once(' ').unwrap();
        head.push(h);
        rest = r;
    }
    let sd_end = if rest.starts_with('-') {
        1
    } else {
        // The SD ends at the first `]` not escaped by a backslash and followed by a space.
        let b = rest.as_bytes();
        (0..b.len()).find(|&i| b[i] == b']' && b[i - 1] != b'\\' && b.get(i + 1) == Some(&b' ')).unwrap() + 1
    };
    (head, &rest[..sd_end], &rest[sd_end + 1..])
}

#[tokio::test]
async fn syslog_udp_rfc5424() {
    let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut s = SyslogConfig::from_address(&format!("udp://{}", rx.local_addr().unwrap())).unwrap();
    s.facility = 1; // user
    let d = Dispatcher::new(only(AlertsConfig { syslog: Some(s), ..AlertsConfig::default() })).unwrap();
    let a = alert("Terminal shell in container", "warning", "3ad7b2c1e0f4");
    d.submit(&a);
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(WAIT, rx.recv(&mut buf)).await.expect("datagram in time").unwrap();
    let m = std::str::from_utf8(&buf[..n]).unwrap();
    let (head, sd, msg) = split_5424(m);
    assert_eq!(head[0], "<12>1", "user (1) * 8 + warning (4), version 1");
    assert_eq!(head[1], "2026-11-28T21:00:01.123456Z");
    assert_eq!(&head[2..], ["node-1", "tracewarden", &std::process::id().to_string(), "Terminal_shell_in_container"]);
    assert!(sd.starts_with("[tracewarden@32473 rule=\"Terminal shell in container\" priority=\"warning\""), "{sd}");
    assert_eq!(msg, alert_json(&a, 0), "MSG is the alert JSON line");
    wait_until("sent counted", WAIT, || counts(&d, "syslog") == (1, 0, 0)).await;
}

#[tokio::test]
async fn syslog_tcp_octet_counting_and_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = SyslogConfig::from_address(&format!("tcp://{}", listener.local_addr().unwrap())).unwrap();
    s.structured_data = false;
    s.backoff = fast();
    let d = Dispatcher::new(only(AlertsConfig { syslog: Some(s), ..AlertsConfig::default() })).unwrap();
    let a = alert("Read sensitive file", "critical", "c1");
    let b = alert("Outbound connection to C2", "error", "c2");
    d.submit(&a);
    d.submit(&b);
    let (mut conn, _) = tokio::time::timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut buf = Vec::new();
    let frames = read_frames(&mut conn, &mut buf, 2).await;
    let (h0, sd0, m0) = split_5424(&frames[0]);
    assert_eq!((h0[0], h0[5], sd0), ("<130>1", "Read_sensitive_file", "-"), "local0 + critical, no SD");
    assert_eq!(m0, alert_json(&a, 0));
    let (h1, _, m1) = split_5424(&frames[1]);
    assert_eq!(h1[0], "<131>1");
    assert_eq!(m1, alert_json(&b, 0));
    wait_until("2 sent", WAIT, || counts(&d, "syslog").0 == 2).await;

    // The receiver restarts: the sender must notice the closed connection and reconnect.
    drop(conn);
    tokio::time::sleep(Duration::from_millis(50)).await; // let the FIN arrive
    d.submit(&a);
    let (mut conn2, _) = tokio::time::timeout(WAIT, listener.accept()).await.expect("reconnected").unwrap();
    let mut buf = Vec::new();
    let frames = read_frames(&mut conn2, &mut buf, 1).await;
    assert_eq!(split_5424(&frames[0]).2, alert_json(&a, 0));
    wait_until("3 sent", WAIT, || counts(&d, "syslog") == (3, 0, 0)).await;
}

#[tokio::test]
async fn syslog_tcp_dead_receiver_counts_failed() {
    let mut s = SyslogConfig::from_address(&format!("tcp://{}", dead_port().await)).unwrap();
    s.retries = 2;
    s.backoff = fast();
    let d = Dispatcher::new(only(AlertsConfig { syslog: Some(s), ..AlertsConfig::default() })).unwrap();
    for i in 0..3 {
        d.submit(&alert("r", "notice", &format!("c{i}")));
    }
    wait_until("3 failed", WAIT, || counts(&d, "syslog") == (0, 3, 0)).await;
}

#[tokio::test]
async fn syslog_udp_dead_receiver_counts_failed() {
    // A UDP sender learns of a dead receiver only from the ICMP port-unreachable of an earlier
    // datagram: about every other alert fails, which is what makes the outage visible.
    let dead = UdpSocket::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut s = SyslogConfig::from_address(&format!("udp://{dead}")).unwrap();
    s.backoff = fast();
    let d = Dispatcher::new(only(AlertsConfig { syslog: Some(s), ..AlertsConfig::default() })).unwrap();
    for i in 0..10u64 {
        d.submit(&alert("r", "notice", "c"));
        wait_until("the alert to be counted", WAIT, || {
            let (sent, failed, _) = counts(&d, "syslog");
            sent + failed == i + 1
        })
        .await;
    }
    let (_, failed, dropped) = counts(&d, "syslog");
    assert!(failed >= 3, "failed {failed} of 10");
    assert_eq!(dropped, 0);
}

#[tokio::test]
async fn syslog_tcp_receiver_that_stops_reading_times_out() {
    // Accepts and holds connections without reading: the socket buffers fill, and each write
    // that cannot finish within the timeout counts as failed instead of stalling the queue.
    let (addr, holder) = black_hole().await;
    let mut s = SyslogConfig::from_address(&format!("tcp://{addr}")).unwrap();
    s.timeout = Duration::from_millis(200);
    s.retries = 0;
    let d = Dispatcher::new(only(AlertsConfig { syslog: Some(s), ..AlertsConfig::default() })).unwrap();
    let mut big = alert("r", "notice", "c");
    big.output = "x".repeat(2 << 20);
    for _ in 0..20 {
        d.submit(&big);
    }
    wait_until("a write timeout", WAIT, || counts(&d, "syslog").1 > 0).await;
    wait_until("every alert accounted for", WAIT, || {
        let (sent, failed, dropped) = counts(&d, "syslog");
        sent + failed + dropped == 20
    })
    .await;
    holder.abort();
}

#[test]
fn dispatcher_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Dispatcher>();
    send_sync::<exporter::alerts::Recorder>();
}

// ---------------------------------------------------------------- HTTP receiver

#[derive(Debug)]
struct Received {
    path: String,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
    at: Instant,
}

/// An HTTP/1 server answering successive requests with the statuses of `script`, then 200;
/// every request is reported on the channel.
async fn http_receiver(script: &[u16]) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    receiver(script, None).await
}

/// [`http_receiver`] behind TLS with this server config.
async fn receiver(
    script: &[u16],
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<u16>>()));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (tx, script, tls) = (tx.clone(), script.clone(), tls.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let (tx, script) = (tx.clone(), script.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        let headers = req.headers().clone();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                        let _ = tx.send(Received { path, headers, body, at: Instant::now() });
                        let status = script.lock().unwrap().pop_front().unwrap_or(200);
                        let resp = Response::builder().status(status).body(Full::new(Bytes::from_static(b"ok")));
                        Ok::<_, Infallible>(resp.unwrap())
                    }
                });
                let _ = match tls {
                    None => http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await,
                    Some(tls) => match tls.accept(stream).await {
                        Ok(stream) => http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await,
                        Err(_) => return,
                    },
                };
            });
        }
    });
    (addr, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("request in time").expect("server alive")
}

// ---------------------------------------------------------------- https

/// An https [`http_receiver`] whose certificate (for localhost and 127.0.0.1) a fresh test CA
/// signed; the directory holds the CA file.
async fn tls_receiver() -> (tempfile::TempDir, common::tls::TestCa, SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let dir = tempfile::tempdir().unwrap();
    let ca = common::tls::TestCa::new(dir.path(), "private");
    let server = ca.leaf(dir.path(), "receiver", false);
    let (addr, rx) = receiver(&[], Some(common::tls::server_config(&server))).await;
    (dir, ca, addr, rx)
}

#[tokio::test]
async fn webhook_and_alertmanager_over_https_with_a_private_ca() {
    let (_dir, ca, addr, mut rx) = tls_receiver().await;
    let mut w = WebhookConfig::new(format!("https://localhost:{}/hook", addr.port()));
    w.tls_ca_file = Some(ca.cert_path.clone());
    let mut am = AlertmanagerConfig::new(format!("https://127.0.0.1:{}", addr.port()));
    am.tls_ca_file = Some(ca.cert_path.clone());
    let cfg = AlertsConfig { webhook: Some(w), alertmanager: Some(am), ..AlertsConfig::default() };
    let d = Dispatcher::new(only(cfg)).unwrap();
    let a = alert("Write below etc", "error", "c1");
    d.submit(&a);
    let mut paths = vec![next(&mut rx).await.path, next(&mut rx).await.path];
    paths.sort();
    assert_eq!(paths, ["/api/v2/alerts", "/hook"]);
    wait_until("both sent", WAIT, || counts(&d, "webhook") == (1, 0, 0) && counts(&d, "alertmanager") == (1, 0, 0))
        .await;
}

#[tokio::test]
async fn https_receiver_with_an_untrusted_certificate_fails() {
    let (_dir, _ca, addr, mut rx) = tls_receiver().await;
    // The system store does not know the test CA: the handshake must fail, nothing is posted.
    let mut w = WebhookConfig::new(format!("https://localhost:{}/hook", addr.port()));
    (w.retries, w.backoff) = (1, fast());
    let d = Dispatcher::new(only(AlertsConfig { webhook: Some(w), ..AlertsConfig::default() })).unwrap();
    d.submit(&alert("Write below etc", "error", "c1"));
    wait_until("failed", WAIT, || counts(&d, "webhook") == (0, 1, 0)).await;
    assert!(rx.try_recv().is_err(), "nothing may reach a receiver whose certificate is not trusted");
    // The client error names the cause.
    let tls = exporter::server::client::ClientTls::load(None).unwrap();
    let client = exporter::server::client::HttpClient::new(Duration::from_secs(5), &tls);
    let url = exporter::server::client::HttpUrl::parse("t", &format!("https://localhost:{}/", addr.port())).unwrap();
    let e = client.post(&url, &[], "text/plain", Bytes::new()).await.unwrap_err().to_string();
    assert!(e.contains("invalid peer certificate") && e.contains("UnknownIssuer"), "{e}");
}

// ---------------------------------------------------------------- webhook

#[tokio::test]
async fn webhook_posts_alert_json_with_suppressed_carry() {
    let (addr, mut rx) = http_receiver(&[]).await;
    let mut w = WebhookConfig::new(format!("http://{addr}/hooks/tracewarden"));
    w.headers.push(("Authorization".into(), "Bearer t0ken".into()));
    let clock = Arc::new(ManualClock::default());
    let cfg = AlertsConfig { stdout: false, rate: 1.0, burst: 1, webhook: Some(w), ..AlertsConfig::default() };
    let d =
        Dispatcher::with_options(cfg, DispatcherOptions { clock: Some(clock.clone()), ..Default::default() }).unwrap();
    let a = alert("Write below etc", "error", "c1");
    d.submit(&a);
    assert_eq!(d.submit(&a), SubmitOutcome::Suppressed);
    assert_eq!(d.submit(&a), SubmitOutcome::Suppressed);
    clock.advance(Duration::from_secs(1));
    d.submit(&a);

    let r = next(&mut rx).await;
    assert_eq!(r.path, "/hooks/tracewarden");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["authorization"], "Bearer t0ken");
    assert!(r.headers["user-agent"].to_str().unwrap().starts_with("tracewarden/"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v, serde_json::to_value(&a).unwrap(), "first: the plain alert, no suppressed field");
    let r = next(&mut rx).await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["suppressed"], 2);
    assert_eq!(v["rule"], "Write below etc");
    wait_until("2 sent", WAIT, || counts(&d, "webhook") == (2, 0, 0)).await;
    assert_eq!(d.stats().suppressed.get("Write below etc"), Some(&2));
}

#[tokio::test]
async fn webhook_retries_server_errors_not_client_errors() {
    let (addr, mut rx) = http_receiver(&[503, 500, 200, 400]).await;
    let mut w = WebhookConfig::new(format!("http://{addr}/"));
    w.retries = 3;
    w.backoff = fast();
    let d = Dispatcher::new(only(AlertsConfig { webhook: Some(w), ..AlertsConfig::default() })).unwrap();
    let a = alert("r", "warning", "c");
    d.submit(&a);
    let bodies: Vec<Vec<u8>> = vec![next(&mut rx).await.body, next(&mut rx).await.body, next(&mut rx).await.body];
    assert!(bodies.iter().all(|b| b == alert_json(&a, 0).as_bytes()), "the same body each attempt");
    wait_until("sent after 2 retries", WAIT, || counts(&d, "webhook") == (1, 0, 0)).await;
    // 400: the receiver rejects the request itself; repeating it cannot help.
    d.submit(&a);
    next(&mut rx).await;
    wait_until("failed without retry", WAIT, || counts(&d, "webhook") == (1, 1, 0)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.try_recv().is_err(), "no retry after a 4xx");
}

#[tokio::test]
async fn webhook_timeout_is_a_failure() {
    // Accepts connections and never answers.
    let (addr, hold) = black_hole().await;
    let mut w = WebhookConfig::new(format!("http://{addr}/"));
    w.timeout = Duration::from_millis(200);
    w.retries = 1;
    w.backoff = fast();
    let d = Dispatcher::new(only(AlertsConfig { webhook: Some(w), ..AlertsConfig::default() })).unwrap();
    d.submit(&alert("r", "warning", "c"));
    wait_until("failed after timeouts", WAIT, || counts(&d, "webhook") == (0, 1, 0)).await;
    hold.abort();
}

// ---------------------------------------------------------------- Alertmanager

#[tokio::test]
async fn alertmanager_push_within_one_second() {
    let (addr, mut rx) = http_receiver(&[]).await;
    let mut am = AlertmanagerConfig::new(format!("http://{addr}/am/"));
    am.extra_labels.push(("instance".into(), "node-1:9862".into()));
    am.generator_url = Some("http://node-1:9862/".into());
    let d = Dispatcher::new(only(AlertsConfig { alertmanager: Some(am), ..AlertsConfig::default() })).unwrap();
    let a = alert("Terminal shell in container", "critical", "3ad7b2c1e0f4");
    let t0 = Instant::now();
    let sent_ns = unix_ns();
    d.submit(&a);
    let r = next(&mut rx).await;
    let delay = r.at.duration_since(t0);
    assert!(delay < Duration::from_secs(1), "delivered after {delay:?}");
    assert_eq!(r.path, "/am/api/v2/alerts");
    assert_eq!(r.headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let arr = v.as_array().expect("a JSON array");
    assert_eq!(arr.len(), 1);
    let x = &arr[0];
    let want_labels = serde_json::json!({
        "alertname": "TracewardenRuleMatch", "severity": "page", "rule": "Terminal shell in container",
        "priority": "critical", "container_id": "3ad7b2c1e0f4", "container_name": "web",
        "image": "docker.io/library/nginx:1.25", "pod": "web-0", "namespace": "shop", "hostname": "node-1",
        "instance": "node-1:9862"
    });
    assert_eq!(x["labels"], want_labels);
    assert_eq!(x["annotations"]["summary"], a.output.as_str());
    assert!(x["annotations"]["description"].as_str().unwrap().contains(&a.output));
    assert_eq!(x["startsAt"], a.time.as_str());
    let ends = x["endsAt"].as_str().unwrap();
    let (mut lo, mut hi) = (String::new(), String::new());
    render_time(sent_ns + 299_000_000_000, &mut lo);
    render_time(unix_ns() + 300_000_000_000, &mut hi);
    assert!(lo.as_str() <= ends && ends <= hi.as_str(), "endsAt = send time + 5m: {lo} <= {ends} <= {hi}");
    assert_eq!(x["generatorURL"], "http://node-1:9862/");
    wait_until("sent", WAIT, || counts(&d, "alertmanager") == (1, 0, 0)).await;

    // Several alerts at once: every one arrives (batched or not), each within 1 s.
    let t1 = Instant::now();
    for (i, p) in ["error", "warning", "notice"].iter().enumerate() {
        d.submit(&alert(&format!("rule {i}"), p, "c9"));
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        let r = next(&mut rx).await;
        assert!(r.at.duration_since(t1) < Duration::from_secs(1));
        let v: Vec<serde_json::Value> = serde_json::from_slice(&r.body).unwrap();
        got.extend(v);
    }
    let sev: Vec<_> = got.iter().map(|x| x["labels"]["severity"].as_str().unwrap().to_owned()).collect();
    assert_eq!(sev, ["ticket", "ticket", "info"]);
    wait_until("4 sent", WAIT, || counts(&d, "alertmanager") == (4, 0, 0)).await;
}

#[tokio::test]
async fn alertmanager_retries_with_backoff() {
    let (addr, mut rx) = http_receiver(&[503, 503]).await;
    let mut am = AlertmanagerConfig::new(format!("http://{addr}"));
    am.backoff = fast();
    let d = Dispatcher::new(only(AlertsConfig { alertmanager: Some(am), ..AlertsConfig::default() })).unwrap();
    d.submit(&alert("r", "critical", "c"));
    for _ in 0..3 {
        assert_eq!(next(&mut rx).await.path, "/api/v2/alerts");
    }
    wait_until("sent on the third attempt", WAIT, || counts(&d, "alertmanager") == (1, 0, 0)).await;
}

#[tokio::test]
async fn alertmanager_dead_receiver_fails_and_drops_without_blocking() {
    let mut am = AlertmanagerConfig::new(format!("http://{}", dead_port().await));
    am.queue = 4;
    am.max_batch = 2;
    am.retries = 2;
    am.backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(50) };
    let d = Dispatcher::new(only(AlertsConfig { alertmanager: Some(am), ..AlertsConfig::default() })).unwrap();
    for i in 0..200 {
        d.submit(&alert("r", "critical", &format!("c{i}")));
    }
    let (sent, _, dropped) = counts(&d, "alertmanager");
    assert_eq!(sent, 0);
    // At most the queue (4) and one batch (2) can be taken; the rest is dropped at submit.
    assert!(dropped >= 200 - 6, "dropped {dropped}");
    wait_until("every alert failed or dropped", WAIT, || {
        let (s, f, dr) = counts(&d, "alertmanager");
        s == 0 && f > 0 && f + dr == 200
    })
    .await;
}

// ---------------------------------------------------------------- kafka (a live broker: tests/alerts_kafka.rs)

#[tokio::test]
async fn kafka_dead_broker_holds_then_fails_and_drops_without_blocking() {
    let mut k = KafkaConfig::new(vec![dead_port().await.to_string()], "alerts");
    k.queue = 4;
    k.max_batch = 2;
    k.backoff = Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(20) };
    k.delivery_timeout = Duration::from_millis(300);
    let d = Dispatcher::new(only(AlertsConfig { kafka: Some(k), ..AlertsConfig::default() })).unwrap();
    let started = Instant::now();
    for i in 0..200 {
        d.submit(&alert("r", "critical", &format!("c{i}")));
    }
    assert!(started.elapsed() < Duration::from_millis(300), "submit waited for the broker");
    // Within the delivery timeout nothing has failed yet: the batch is being retried.
    let (sent, failed, dropped) = counts(&d, "kafka");
    assert_eq!((sent, failed), (0, 0));
    assert!(dropped >= 200 - 6, "dropped {dropped}");
    wait_until("every alert failed or dropped", WAIT, || {
        let (s, f, dr) = counts(&d, "kafka");
        s == 0 && f > 0 && f + dr == 200
    })
    .await;
}
