//! `--record FILE.jsonl`: every evaluated [`Event`] as one JSON line, the format
//! `exporter rules test --events` replays (the serde form of [`Event`], one object a line).

use super::AlertsError;
use crate::rules::Event;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Recorder counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Lines written.
    pub recorded: u64,
    /// Events refused because the queue was full.
    pub dropped: u64,
    /// Lines lost to write errors.
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Counts {
    recorded: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// Writes events on its own thread; [`Recorder::record`] never waits.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    tx: Option<mpsc::Sender<String>>,
    counts: Arc<Counts>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// Opens `path` for appending (creating it), so a restarted exporter keeps what earlier runs
    /// recorded, and starts the writer; `queue` events may wait to be written.
    pub fn create(path: impl AsRef<Path>, queue: usize) -> Result<Self, AlertsError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| AlertsError::Io { path: path.display().to_string(), source };
        if queue == 0 {
            return Err(AlertsError::Config("recorder queue length must be at least 1".into()));
        }
        // 0600: recorded events hold command lines and paths of every process on the node.
        let mut file = OpenOptions::new().create(true).read(true).append(true).mode(0o600).open(&path).map_err(io)?;
        end_last_line(&mut file).map_err(io)?;
        let (tx, rx) = mpsc::channel::<String>(queue);
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let shown = path.display().to_string();
        let worker = std::thread::Builder::new()
            .name("alerts-recorder".into())
            .spawn(move || write_lines(rx, BufWriter::with_capacity(256 << 10, file), c, shown))
            .map_err(io)?;
        Ok(Recorder { path, tx: Some(tx), counts, worker: Some(worker) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one event; drops (and counts) it when the queue is full. Serialises only when
    /// there is room, so a stalled disk costs the caller a counter increment.
    pub fn record(&self, ev: &Event) {
        let Some(tx) = &self.tx else { return };
        if tx.capacity() == 0 {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let line = match serde_json::to_string(ev) {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "event not recordable");
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        if tx.try_send(line).is_err() {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            recorded: self.counts.recorded.load(Ordering::Relaxed),
            dropped: self.counts.dropped.load(Ordering::Relaxed),
            failed: self.counts.failed.load(Ordering::Relaxed),
        }
    }

    /// Writes what is queued, flushes and closes the file (blocks until done).
    pub fn close(mut self) -> RecorderStats {
        self.finish();
        self.stats()
    }

    fn finish(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Ends a line an earlier run left unfinished (killed mid-write), so the lines appended now
/// start on a line of their own.
fn end_last_line(file: &mut std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut last = [b'\n'];
    if len > 0 {
        file.read_exact_at(&mut last, len - 1)?;
    }
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// Buffered; flushed whenever the queue runs empty, so the file is complete up to the last
/// event whenever the exporter is idle.
fn write_lines(mut rx: mpsc::Receiver<String>, mut w: BufWriter<std::fs::File>, counts: Arc<Counts>, path: String) {
    let mut pending = 0u64;
    let mut warned = false;
    let fail = |n: u64, e: &std::io::Error, warned: &mut bool| {
        counts.failed.fetch_add(n, Ordering::Relaxed);
        if !*warned {
            tracing::warn!(%path, error = %e, "recording events failed (further failures not logged)");
            *warned = true;
        }
    };
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(line) = next {
            match w.write_all(line.as_bytes()).and_then(|_| w.write_all(b"\n")) {
                Ok(()) => pending += 1,
                Err(e) => fail(1, &e, &mut warned),
            }
            next = rx.try_recv().ok();
        }
        match w.flush() {
            Ok(()) => {
                counts.recorded.fetch_add(pending, Ordering::Relaxed);
            }
            Err(e) => fail(pending, &e, &mut warned),
        }
        pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_as_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.jsonl");
        let r = Recorder::create(&path, 16).unwrap();
        let ev = Event::from_json(
            r#"{"num":7,"time":5,"type":"openat","args":{"name":"/etc/shadow","flags":"O_RDONLY"},
                "proc":{"name":"cat","args":["/etc/shadow"]},"fd":{"type":"file","name":"/etc/shadow"},
                "container":{"id":"abc","name":"web","image":"nginx"}}"#,
        )
        .unwrap();
        r.record(&ev);
        r.record(&Event::default());
        let s = r.close();
        assert_eq!(s, RecorderStats { recorded: 2, dropped: 0, failed: 0 });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(Event::from_json(lines[0]).unwrap(), ev);
        assert!(!lines[0].contains('\n'));
    }

    #[test]
    fn a_second_recorder_appends_after_the_first_ones_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.jsonl");
        for _ in 0..2 {
            let r = Recorder::create(&path, 4).unwrap();
            r.record(&Event::default());
            r.close();
        }
        // A line cut short by a killed run stays alone on its line.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"num\":").unwrap();
        let r = Recorder::create(&path, 4).unwrap();
        r.record(&Event::default());
        r.close();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[2], "{\"num\":");
        for i in [0, 1, 3] {
            assert_eq!(Event::from_json(lines[i]).unwrap(), Event::default());
        }
    }

    #[test]
    fn unwritable_path_fails_at_create() {
        let e = Recorder::create("/nonexistent-dir/rec.jsonl", 4).unwrap_err().to_string();
        assert!(e.contains("/nonexistent-dir/rec.jsonl"), "{e}");
        assert!(Recorder::create("/tmp/x", 0).is_err());
    }
}
