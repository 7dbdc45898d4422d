//! The dispatcher as the detection path sees it: submit never blocks, a dead or hanging
//! receiver leaves the other outputs whole, suppression is carried and counted, the file
//! output rotates, and the recorder writes what `exporter rules test --events` replays.

mod common;

use common::alerts::{counts, wait_until};
use exporter::alerts::{
    AlertmanagerConfig, AlertsConfig, Backoff, Dispatcher, DispatcherOptions, FileConfig, ManualClock, Recorder,
    WebhookConfig,
};
use exporter::rules::{Alert, Engine, Event, MatchMode};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(20);

fn alert(rule: &str, container: &str, n: usize) -> Alert {
    let mut output_fields = BTreeMap::new();
    output_fields.insert("evt.num".to_owned(), serde_json::json!(n));
    Alert {
        time: "2026-11-28T21:00:00.000000000Z".into(),
        rule: rule.into(),
        priority: "critical".into(),
        output: format!("alert number {n}"),
        output_fields,
        tags: vec![],
        source: "syscall".into(),
        hostname: "node-1".into(),
        container_id: container.into(),
        container_name: "web".into(),
        image: "nginx".into(),
        pod: String::new(),
        namespace: String::new(),
        sigma: None,
    }
}

/// A stdout stand-in the test can read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

fn file_lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_hanging_receivers_never_block_detection_or_other_outputs() {
    const N: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    // Alertmanager stand-in that accepts connections and never answers.
    let hang = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = hang.accept().await {
            held.push(s);
        }
    });
    let mut webhook = WebhookConfig::new(format!("http://{dead}/hook"));
    webhook.queue = 64;
    webhook.retries = 1;
    webhook.backoff = Backoff { initial: Duration::from_millis(1), max: Duration::from_millis(1) };
    let mut am = AlertmanagerConfig::new(format!("http://{hang_addr}"));
    am.queue = 64;
    am.timeout = Duration::from_millis(300);
    am.retries = 0;
    let file = FileConfig { queue: N, ..FileConfig::new(&path) };
    let stdout = Captured::default();
    let cfg = AlertsConfig {
        rate: 0.0,
        stdout_queue: N,
        file: Some(file),
        webhook: Some(webhook),
        alertmanager: Some(am),
        ..AlertsConfig::default()
    };
    let d = Dispatcher::with_options(cfg, DispatcherOptions { stdout: Some(Box::new(stdout.clone())), clock: None })
        .unwrap();
    assert_eq!(d.outputs(), ["stdout", "file", "webhook", "alertmanager"]);

    let alerts: Vec<Alert> = (0..N).map(|i| alert("Flood", &format!("c{}", i % 50), i)).collect();
    let t0 = Instant::now();
    for a in &alerts {
        d.submit(a);
    }
    let took = t0.elapsed();
    // Not a performance figure: a submit that waited on either receiver would take at least
    // 10,000 x 1 ms (webhook backoff) or 300 ms per alert (Alertmanager timeout).
    assert!(took < Duration::from_secs(5), "10,000 submits took {took:?}");

    wait_until("stdout and file have every alert", WAIT, || {
        counts(&d, "stdout").0 == N as u64 && counts(&d, "file").0 == N as u64
    })
    .await;
    let out = stdout.lines();
    assert_eq!(out.len(), N);
    assert_eq!(out[N - 1]["output"], format!("alert number {}", N - 1));
    let lines = file_lines(&path);
    assert_eq!(lines.len(), N);
    assert!(lines.iter().enumerate().all(|(i, l)| l["output"] == format!("alert number {i}")), "in order");

    let (sent, _, dropped) = counts(&d, "webhook");
    assert_eq!(sent, 0);
    assert!(dropped > 0, "a 64-slot queue cannot take 10,000 alerts");
    wait_until("webhook: every alert failed or dropped", WAIT, || {
        let (s, f, dr) = counts(&d, "webhook");
        s == 0 && f > 0 && f + dr == N as u64
    })
    .await;
    wait_until("alertmanager: timeouts counted as failures", WAIT, || counts(&d, "alertmanager").1 > 0).await;
    let (s, _, dr) = counts(&d, "alertmanager");
    assert_eq!(s, 0);
    assert!(dr > 0);
    assert_eq!(
        (counts(&d, "stdout").1, counts(&d, "stdout").2, counts(&d, "file").1, counts(&d, "file").2),
        (0, 0, 0, 0)
    );

    // Shutdown does not hang on the receiver that never answers.
    let stats = d.shutdown(Duration::from_secs(1)).await;
    assert_eq!(stats.submitted, N as u64);
    holder.abort();
}

#[tokio::test]
async fn suppression_is_per_rule_and_container_and_carried() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let clock = Arc::new(ManualClock::default());
    let cfg = AlertsConfig {
        rate: 2.0,
        burst: 5,
        stdout: false,
        file: Some(FileConfig::new(&path)),
        ..AlertsConfig::default()
    };
    let d = Dispatcher::with_options(cfg, DispatcherOptions { clock: Some(clock.clone()), stdout: None }).unwrap();
    for i in 0..100 {
        d.submit(&alert("Flood", "c1", i));
    }
    for i in 0..3 {
        d.submit(&alert("Flood", "c2", 100 + i));
        d.submit(&alert("Quiet", "c1", 200 + i));
    }
    clock.advance(Duration::from_millis(500)); // one token at 2/s
    d.submit(&alert("Flood", "c1", 300));
    d.submit(&alert("Flood", "c1", 301));
    wait_until("12 lines written", WAIT, || counts(&d, "file").0 == 12).await;
    let lines = file_lines(&path);
    let outputs: Vec<&str> = lines.iter().map(|l| l["output"].as_str().unwrap()).collect();
    let want: Vec<String> = (0..5)
        .map(|i| format!("alert number {i}"))
        .chain((0..3).flat_map(|i| [format!("alert number {}", 100 + i), format!("alert number {}", 200 + i)]))
        .chain(["alert number 300".to_owned()])
        .collect();
    assert_eq!(outputs, want);
    assert!(lines[..11].iter().all(|l| l.get("suppressed").is_none()));
    assert_eq!(lines[11]["suppressed"], 95, "the 95 held-back alerts of (Flood, c1)");
    let stats = d.stats();
    assert_eq!(stats.suppressed.get("Flood"), Some(&96), "95 + the last one, which found no token");
    assert_eq!(stats.suppressed.get("Quiet"), None);
    assert_eq!(stats.submitted, 108);
}

#[tokio::test]
async fn file_output_rotates_with_backups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let line_len = serde_json::to_string(&alert("R", "c", 10)).unwrap().len() as u64 + 1;
    // Room for 4 lines of alerts 10..99 (same length), 2 backups.
    let file = FileConfig { max_bytes: 4 * line_len, backups: 2, ..FileConfig::new(&path) };
    let cfg = AlertsConfig { rate: 0.0, stdout: false, file: Some(file), ..AlertsConfig::default() };
    let d = Dispatcher::new(cfg).unwrap();
    for i in 10..40 {
        d.submit(&alert("R", "c", i));
    }
    wait_until("30 written", WAIT, || counts(&d, "file").0 == 30).await;
    let names = |p: &PathBuf| -> Vec<u64> {
        file_lines(p).iter().map(|l| l["output_fields"]["evt.num"].as_u64().unwrap()).collect()
    };
    let b1 = PathBuf::from(format!("{}.1", path.display()));
    let b2 = PathBuf::from(format!("{}.2", path.display()));
    let b3 = PathBuf::from(format!("{}.3", path.display()));
    // 30 lines, 4 a file: 10-13, ..., 34-37, 38-39 -> current 38-39, .1 34-37, .2 30-33.
    assert_eq!(names(&path), vec![38u64, 39]);
    assert_eq!(names(&b1), vec![34u64, 35, 36, 37]);
    assert_eq!(names(&b2), vec![30u64, 31, 32, 33]);
    assert!(!b3.exists());
    for p in [&path, &b1, &b2] {
        assert!(std::fs::metadata(p).unwrap().len() <= 4 * line_len);
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn recorder_output_replays_through_rules_test() {
    let mut engine = Engine::load_dir(&repo().join("rules"));
    assert!(!engine.has_errors());
    engine.hostname = "rec-host".into();
    engine.mode = MatchMode::All;
    let dir = tempfile::tempdir().unwrap();
    let rec_path = dir.path().join("recorded.jsonl");
    let rec = Recorder::create(&rec_path, 100_000).unwrap();

    // Every recorded attack and benign event of the default rules goes through the evaluator
    // and the recorder, as the exporter's detection loop does.
    let mut files: Vec<_> = std::fs::read_dir(repo().join("exporter/tests/data/rules/events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut expected = Vec::new();
    let mut hits = Vec::new();
    let mut n = 0u64;
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            let mut ev = Event::from_json(line).unwrap();
            n += 1;
            ev.num = n;
            hits.clear();
            engine.evaluate(&ev, &mut hits);
            for &r in &hits {
                expected.push(serde_json::to_value(engine.alert(r as usize, &ev)).unwrap());
            }
            rec.record(&ev);
        }
    }
    assert!(!expected.is_empty(), "the default rules' events must fire some rules");
    let stats = rec.close();
    assert_eq!((stats.recorded, stats.dropped, stats.failed), (n, 0, 0));

    let text = std::fs::read_to_string(&rec_path).unwrap();
    assert_eq!(text.lines().count() as u64, n);
    for (i, l) in text.lines().enumerate() {
        let ev: Event = Event::from_json(l).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        assert_eq!(ev.num, i as u64 + 1);
    }

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_exporter"))
        .args(["rules", "test", "--all-matches", "--hostname", "rec-host", "--rules-dir"])
        .arg(repo().join("rules"))
        .arg("--events")
        .arg(&rec_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("{n} events, {} alerts, 0 bad lines", expected.len())), "{stderr}");
    let replayed: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(replayed, expected, "replaying the recording gives the same alerts as the live evaluation");
}

#[test]
fn recorder_drops_when_full_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let rec = Recorder::create(dir.path().join("r.jsonl"), 1).unwrap();
    let ev = Event::default();
    for _ in 0..100_000 {
        rec.record(&ev);
    }
    let s = rec.close();
    assert_eq!(s.recorded + s.dropped, 100_000);
    assert!(s.dropped > 0, "a 1-slot queue cannot take 100,000 events at once");
    assert_eq!(s.failed, 0);
}
