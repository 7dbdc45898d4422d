//! [`Dispatcher`]: rate limiting and fan-out to the outputs, each with its own bounded queue.

use super::bucket::{Clock, MonotonicClock, RateLimiter, Verdict};
use super::config::AlertsConfig;
use super::file::RotatingFile;
use super::{http, kafka, syslog, AlertStats, AlertsError, OutputStats};
use crate::rules::Alert;
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Per-output counters, shared by the dispatcher (drops) and the worker (sent, failed).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
    fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
    fn snapshot(&self, output: &'static str) -> OutputStats {
        OutputStats {
            output,
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// An alert that passed the rate limiter, as every output gets it (cheap to clone).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub alert: Arc<Alert>,
    /// Alerts of the same (rule, container_id) suppressed since the previous one that passed.
    pub suppressed: u64,
    /// The JSON line (without newline): the alert plus `"suppressed": N` when N > 0.
    pub json: Arc<str>,
}

#[derive(Serialize)]
struct Wire<'a> {
    #[serde(flatten)]
    alert: &'a Alert,
    #[serde(skip_serializing_if = "is_zero")]
    suppressed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The JSON line of `alert` (no newline): the [`Alert`] fields, then `"suppressed": N` if N > 0.
pub fn alert_json(alert: &Alert, suppressed: u64) -> String {
    // Serialising plain strings, maps and numbers cannot fail; an empty object is a safe
    // stand-in should a future field type ever make it fail.
    serde_json::to_string(&Wire { alert, suppressed }).unwrap_or_else(|_| "{}".to_owned())
}

impl Delivery {
    pub fn new(alert: Alert, suppressed: u64) -> Self {
        let json = alert_json(&alert, suppressed);
        Delivery { alert: Arc::new(alert), suppressed, json: json.into() }
    }
}

/// What [`Dispatcher::submit`] did with an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Held back by the token bucket (counted per rule).
    Suppressed,
    /// Passed; `queued` outputs took it (the others' queues were full: counted as dropped).
    Passed { suppressed: u64, queued: usize },
}

struct Output {
    name: &'static str,
    tx: mpsc::Sender<Delivery>,
    counters: Arc<Counters>,
}

enum Worker {
    Task(tokio::task::JoinHandle<()>),
    Thread(std::thread::JoinHandle<()>),
}

/// Optional parts of a [`Dispatcher`] that tests (or an embedding program) replace.
#[derive(Default)]
pub struct DispatcherOptions {
    /// Where the stdout output writes (default: the process's stdout).
    pub stdout: Option<Box<dyn Write + Send>>,
    /// The token buckets' clock (default: monotonic).
    pub clock: Option<Arc<dyn Clock>>,
}

/// Takes alerts from the detection path and delivers them to every configured output.
pub struct Dispatcher {
    limiter: RateLimiter,
    outputs: Vec<Output>,
    workers: Vec<Worker>,
    submitted: AtomicU64,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("limiter", &self.limiter)
            .field("outputs", &self.outputs.iter().map(|o| o.name).collect::<Vec<_>>())
            .finish()
    }
}

impl Dispatcher {
    /// Validates `cfg`, opens the alerts file, and starts one worker per output. Network
    /// outputs need a tokio runtime (call from inside one).
    pub fn new(cfg: AlertsConfig) -> Result<Self, AlertsError> {
        Self::with_options(cfg, DispatcherOptions::default())
    }

    /// As [`Dispatcher::new`], with a replaced stdout writer and/or clock.
    pub fn with_options(cfg: AlertsConfig, opts: DispatcherOptions) -> Result<Self, AlertsError> {
        cfg.validate()?;
        let clock = opts.clock.unwrap_or_else(|| Arc::new(MonotonicClock::default()));
        let needs_runtime =
            cfg.syslog.is_some() || cfg.webhook.is_some() || cfg.alertmanager.is_some() || cfg.kafka.is_some();
        let runtime = if needs_runtime {
            Some(tokio::runtime::Handle::try_current().map_err(|e| AlertsError::NoRuntime(e.to_string()))?)
        } else {
            None
        };
        let mut d = Dispatcher {
            limiter: RateLimiter::new(cfg.rate, cfg.burst, clock),
            outputs: Vec::new(),
            workers: Vec::new(),
            submitted: AtomicU64::new(0),
        };
        // Opened here, not in the worker, so a bad path fails start-up with its cause.
        let file = match &cfg.file {
            Some(f) => Some((RotatingFile::open(&f.path, f.max_bytes, f.backups)?, f.queue)),
            None => None,
        };
        if cfg.stdout {
            let w = opts.stdout.unwrap_or_else(|| Box::new(std::io::stdout()));
            let (rx, counters) = d.add_output("stdout", cfg.stdout_queue);
            d.spawn_thread("stdout", move || write_stream(rx, w, counters))?;
        }
        if let Some((f, queue)) = file {
            let (rx, counters) = d.add_output("file", queue);
            d.spawn_thread("file", move || write_file(rx, f, counters))?;
        }
        if let (Some(rt), Some(s)) = (&runtime, cfg.syslog) {
            let (rx, counters) = d.add_output("syslog", s.queue);
            d.workers.push(Worker::Task(rt.spawn(syslog::run(s, rx, counters))));
        }
        if let (Some(rt), Some(w)) = (&runtime, cfg.webhook) {
            let (rx, counters) = d.add_output("webhook", w.queue);
            d.workers.push(Worker::Task(rt.spawn(http::run_webhook(w, rx, counters))));
        }
        if let (Some(rt), Some(a)) = (&runtime, cfg.alertmanager) {
            let (rx, counters) = d.add_output("alertmanager", a.queue);
            d.workers.push(Worker::Task(rt.spawn(http::run_alertmanager(a, rx, counters))));
        }
        if let (Some(rt), Some(k)) = (&runtime, cfg.kafka) {
            // Read here (TLS roots, SASL password), not in the worker, so a bad file fails
            // start-up with its cause.
            let client = kafka::ClientSettings::load(&k)?;
            let (rx, counters) = d.add_output("kafka", k.queue);
            d.workers.push(Worker::Task(rt.spawn(kafka::run(k, client, rx, counters))));
        }
        Ok(d)
    }

    fn add_output(&mut self, name: &'static str, queue: usize) -> (mpsc::Receiver<Delivery>, Arc<Counters>) {
        let (tx, rx) = mpsc::channel(queue);
        let counters = Arc::new(Counters::default());
        self.outputs.push(Output { name, tx, counters: counters.clone() });
        (rx, counters)
    }

    fn spawn_thread(&mut self, name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), AlertsError> {
        let h = std::thread::Builder::new()
            .name(format!("alerts-{name}"))
            .spawn(f)
            .map_err(|e| AlertsError::Io { path: format!("alerts-{name} thread"), source: e })?;
        self.workers.push(Worker::Thread(h));
        Ok(())
    }

    /// Hands an alert over; never waits. Rate-limits per (rule, container_id), serialises the
    /// JSON once, and offers it to every output's queue (a full queue drops and counts).
    pub fn submit(&self, alert: &Alert) -> SubmitOutcome {
        self.submitted.fetch_add(1, Ordering::Relaxed);
        let suppressed = match self.limiter.check(&alert.rule, &alert.container_id) {
            Verdict::Suppress => return SubmitOutcome::Suppressed,
            Verdict::Pass { suppressed } => suppressed,
        };
        // When every queue is full the clone and the JSON would be wasted work on the
        // detection path: count the drops without building them.
        if self.outputs.iter().all(|o| o.tx.capacity() == 0) {
            for o in &self.outputs {
                o.counters.dropped();
            }
            return SubmitOutcome::Passed { suppressed, queued: 0 };
        }
        let d = Delivery::new(alert.clone(), suppressed);
        let mut queued = 0;
        for o in &self.outputs {
            match o.tx.try_send(d.clone()) {
                Ok(()) => queued += 1,
                Err(_) => o.counters.dropped(),
            }
        }
        SubmitOutcome::Passed { suppressed, queued }
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> AlertStats {
        AlertStats {
            outputs: self.outputs.iter().map(|o| o.counters.snapshot(o.name)).collect(),
            suppressed: self.limiter.suppressed(),
            submitted: self.submitted.load(Ordering::Relaxed),
        }
    }

    /// Names of the configured outputs, in stats order.
    pub fn outputs(&self) -> Vec<&'static str> {
        self.outputs.iter().map(|o| o.name).collect()
    }

    /// Stops taking alerts and gives the workers up to `grace` to deliver what is queued;
    /// returns the final counters. Workers still busy then (a receiver that hangs) are
    /// abandoned: their queued alerts are neither sent nor counted.
    pub async fn shutdown(self, grace: Duration) -> AlertStats {
        let deadline = Instant::now() + grace;
        let Dispatcher { limiter, outputs, workers, submitted } = self;
        let counters: Vec<_> = outputs.iter().map(|o| (o.name, o.counters.clone())).collect();
        // Dropping the senders closes the queues, which is what tells the workers to finish.
        drop(outputs);
        for w in workers {
            let left = deadline.saturating_duration_since(Instant::now());
            match w {
                Worker::Task(h) => {
                    let abort = h.abort_handle();
                    if tokio::time::timeout(left, h).await.is_err() {
                        tracing::warn!("alert output still busy at shutdown; abandoning its queue");
                        abort.abort();
                    }
                }
                Worker::Thread(h) => {
                    while !h.is_finished() && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    if h.is_finished() {
                        let _ = h.join();
                    }
                }
            }
        }
        AlertStats {
            outputs: counters.iter().map(|(name, c)| c.snapshot(name)).collect(),
            suppressed: limiter.suppressed(),
            submitted: submitted.load(Ordering::Relaxed),
        }
    }
}

/// Waits for the next alert and takes whatever else is queued behind it, up to `max` in all,
/// into the empty `batch`: a batch goes out as soon as one alert is there, so an alert waits
/// only for the request before it. False when the queue is closed and empty.
pub(crate) async fn next_batch(rx: &mut mpsc::Receiver<Delivery>, batch: &mut Vec<Delivery>, max: usize) -> bool {
    let Some(first) = rx.recv().await else { return false };
    batch.push(first);
    while batch.len() < max {
        match rx.try_recv() {
            Ok(d) => batch.push(d),
            Err(_) => break,
        }
    }
    true
}

/// Logs the first failure of a run as a warning and the rest at debug, so a dead receiver, a
/// full disk or a closed stdout does not flood the log.
#[derive(Default)]
pub(crate) struct ErrorLog {
    failing: bool,
}

impl ErrorLog {
    pub(crate) fn error(&mut self, output: &str, e: &dyn std::fmt::Display) {
        if self.failing {
            tracing::debug!(output, error = %e, "alert not delivered");
        } else {
            tracing::warn!(output, error = %e, "alert not delivered (further failures logged at debug)");
        }
        self.failing = true;
    }
    pub(crate) fn ok(&mut self, output: &str) {
        if self.failing {
            tracing::info!(output, "alert output delivers again");
        }
        self.failing = false;
    }

    /// Counts one alert's delivery as sent or failed, and logs it as `ok`/`error` do.
    pub(crate) fn delivered<E: std::fmt::Display>(&mut self, output: &str, counters: &Counters, result: Result<(), E>) {
        match result {
            Ok(()) => {
                counters.sent();
                self.ok(output);
            }
            Err(e) => {
                counters.failed();
                self.error(output, &e);
            }
        }
    }
}

/// The stdout worker: buffered, flushed whenever the queue runs empty.
fn write_stream(mut rx: mpsc::Receiver<Delivery>, w: Box<dyn Write + Send>, counters: Arc<Counters>) {
    let mut w = std::io::BufWriter::with_capacity(64 << 10, w);
    let mut log = ErrorLog::default();
    let mut pending = 0u64;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(d) = next {
            let res = w.write_all(d.json.as_bytes()).and_then(|_| w.write_all(b"\n"));
            match res {
                Ok(()) => pending += 1,
                Err(e) => {
                    counters.failed();
                    log.error("stdout", &e);
                }
            }
            next = rx.try_recv().ok();
        }
        // Only a flushed line is "sent": a reader of stdout has it now.
        match w.flush() {
            Ok(()) => {
                for _ in 0..pending {
                    counters.sent();
                }
                log.ok("stdout");
            }
            Err(e) => {
                for _ in 0..pending {
                    counters.failed();
                }
                log.error("stdout", &e);
            }
        }
        pending = 0;
    }
}

/// The file worker: one write per line, reopen check whenever the queue ran empty.
fn write_file(mut rx: mpsc::Receiver<Delivery>, mut f: RotatingFile, counters: Arc<Counters>) {
    let mut log = ErrorLog::default();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(d) = next {
            log.delivered("file", &counters, f.write_line(&d.json));
            next = rx.try_recv().ok();
        }
        f.mark_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::ManualClock;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn alert(rule: &str, container: &str) -> Alert {
        Alert {
            time: "2026-11-28T21:00:00.000000000Z".into(),
            rule: rule.into(),
            priority: "warning".into(),
            output: "out".into(),
            output_fields: BTreeMap::new(),
            tags: vec![],
            source: "syscall".into(),
            hostname: "h".into(),
            container_id: container.into(),
            container_name: "n".into(),
            image: String::new(),
            pod: String::new(),
            namespace: String::new(),
            sigma: None,
        }
    }

    #[test]
    fn json_has_suppressed_only_when_nonzero() {
        let a = alert("r", "c");
        let plain = alert_json(&a, 0);
        assert_eq!(plain, serde_json::to_string(&a).unwrap(), "same line as `rules test` prints");
        let v: serde_json::Value = serde_json::from_str(&alert_json(&a, 5)).unwrap();
        assert_eq!(v["suppressed"], 5);
        assert_eq!(v["rule"], "r");
    }

    async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn stdout_lines_with_suppressed_carry() {
        let out = Shared::default();
        let clock = Arc::new(ManualClock::default());
        let cfg = AlertsConfig { rate: 1.0, burst: 2, ..AlertsConfig::default() };
        let d = Dispatcher::with_options(
            cfg,
            DispatcherOptions { stdout: Some(Box::new(out.clone())), clock: Some(clock.clone()) },
        )
        .unwrap();
        assert_eq!(d.outputs(), ["stdout"]);
        let a = alert("r", "c");
        assert_eq!(d.submit(&a), SubmitOutcome::Passed { suppressed: 0, queued: 1 });
        assert_eq!(d.submit(&a), SubmitOutcome::Passed { suppressed: 0, queued: 1 });
        for _ in 0..3 {
            assert_eq!(d.submit(&a), SubmitOutcome::Suppressed);
        }
        clock.advance(Duration::from_secs(1));
        assert_eq!(d.submit(&a), SubmitOutcome::Passed { suppressed: 3, queued: 1 });
        let stats = d.shutdown(Duration::from_secs(5)).await;
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].get("suppressed").is_none());
        assert_eq!(lines[2]["suppressed"], 3);
        assert_eq!(stats.output("stdout").map(|o| (o.sent, o.failed, o.dropped)), Some((3, 0, 0)));
        assert_eq!(stats.suppressed.get("r"), Some(&3));
        assert_eq!(stats.submitted, 6);
    }

    #[tokio::test]
    async fn full_queue_drops_and_counts() {
        // A writer that blocks until released: the queue (2) fills and the rest is dropped.
        struct Gate(Arc<std::sync::Barrier>, Arc<std::sync::atomic::AtomicBool>);
        impl Write for Gate {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                if !self.1.swap(true, Ordering::SeqCst) {
                    self.0.wait();
                }
                Ok(())
            }
        }
        let gate = Arc::new(std::sync::Barrier::new(2));
        let entered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cfg = AlertsConfig { rate: 0.0, stdout_queue: 2, ..AlertsConfig::default() };
        let d = Dispatcher::with_options(
            cfg,
            DispatcherOptions { stdout: Some(Box::new(Gate(gate.clone(), entered.clone()))), clock: None },
        )
        .unwrap();
        d.submit(&alert("r", "c"));
        // The worker took the first alert and now waits in flush; the queue has room for 2.
        wait_for("worker to block in flush", || entered.load(Ordering::SeqCst)).await;
        assert_eq!(d.outputs[0].tx.capacity(), 2);
        let outcomes: Vec<_> = (0..10).map(|_| d.submit(&alert("r", "c"))).collect();
        assert_eq!(outcomes.iter().filter(|o| matches!(o, SubmitOutcome::Passed { queued: 1, .. })).count(), 2);
        assert_eq!(d.stats().output("stdout").map(|o| o.dropped), Some(8));
        gate.wait();
        let stats = d.shutdown(Duration::from_secs(5)).await;
        assert_eq!(stats.output("stdout").map(|o| (o.sent, o.dropped)), Some((3, 8)));
    }

    #[test]
    fn network_outputs_need_a_runtime() {
        let cfg = AlertsConfig {
            webhook: Some(crate::alerts::WebhookConfig::new("http://127.0.0.1:1/")),
            ..AlertsConfig::default()
        };
        assert!(matches!(Dispatcher::new(cfg), Err(AlertsError::NoRuntime(_))));
        let cfg = AlertsConfig { stdout: false, ..AlertsConfig::default() };
        let d = Dispatcher::new(cfg).unwrap();
        assert!(d.outputs().is_empty());
        assert_eq!(d.submit(&alert("r", "c")), SubmitOutcome::Passed { suppressed: 0, queued: 0 });
    }

    #[test]
    fn bad_file_path_fails_at_start() {
        let cfg = AlertsConfig {
            file: Some(crate::alerts::FileConfig::new("/nonexistent-dir/x/alerts.jsonl")),
            ..AlertsConfig::default()
        };
        let e = Dispatcher::new(cfg).unwrap_err().to_string();
        assert!(e.contains("/nonexistent-dir/x/alerts.jsonl"), "{e}");
    }
}
