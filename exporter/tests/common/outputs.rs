//! The exporter's file outputs as the detection tests read them: its `--alerts-file` lines, and
//! the events its `--record` file shows it evaluated, in evaluation order.

use std::{
    io::{Read, Seek},
    path::{Path, PathBuf},
    sync::Mutex,
};

use super::attack::ACTION_OK;

/// Where an exporter writes its alerts file, and its record if it keeps one: recording every
/// event of the machine costs the exporter about a fifth of a core (debug build, a busy host)
/// and megabytes a second of disk, which would skew the latencies a whole suite measures.
pub struct Outputs {
    pub alerts_file: PathBuf,
    pub record: Option<PathBuf>,
    scan: Mutex<RecordScan>,
}

/// How far the record was read, and the events read so far.
#[derive(Default)]
struct RecordScan {
    offset: u64,
    /// The start of a line the exporter had not finished writing.
    partial: Vec<u8>,
    events: Vec<Recorded>,
}

/// One event the exporter evaluated, as the record shows it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The container's short id, `host` for none.
    pub container: String,
    /// The process id (`proc.pid`, as the host sees it).
    pub pid: i64,
    /// The process's command line (`proc.cmdline`).
    pub cmdline: String,
}

impl Outputs {
    /// An alerts file in `dir`, which must exist, and a record too if `record`.
    pub fn in_dir(dir: &Path, record: bool) -> Outputs {
        Outputs {
            alerts_file: dir.join("alerts.jsonl"),
            record: record.then(|| dir.join("events.jsonl")),
            scan: Mutex::new(RecordScan::default()),
        }
    }

    /// The exporter's flags that write these outputs.
    pub fn args(&self) -> Vec<String> {
        let path = |p: &Path| p.to_str().expect("utf-8 output path").to_owned();
        let mut args = vec!["--alerts-file".into(), path(&self.alerts_file)];
        if let Some(record) = &self.record {
            args.extend(["--record".into(), path(record)]);
        }
        args
    }

    /// The alerts-file lines that mention `needle` (checked as text first), parsed.
    pub fn file_alerts(&self, needle: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.alerts_file).unwrap_or_default();
        text.lines().filter(|line| line.contains(needle)).filter_map(|line| serde_json::from_str(line).ok()).collect()
    }

    /// The events recorded so far that `keep` keeps, in evaluation order; `None` without a
    /// record. Reads only what the exporter wrote since the last call (the record holds every
    /// event of the machine, so it grows by megabytes a second).
    pub fn recorded(&self, keep: impl Fn(&Recorded) -> bool) -> Option<Vec<Recorded>> {
        let path = self.record.as_ref()?;
        let mut scan = self.scan.lock().expect("record scan");
        let mut file = std::fs::File::open(path)
            .unwrap_or_else(|e| panic!("{}: {e} (the exporter writes its record there)", path.display()));
        file.seek(std::io::SeekFrom::Start(scan.offset)).expect("seek the record");
        let mut fresh = Vec::new();
        file.read_to_end(&mut fresh).expect("read the record");
        scan.offset += fresh.len() as u64;
        let mut bytes = std::mem::take(&mut scan.partial);
        bytes.extend_from_slice(&fresh);
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        scan.partial = bytes.split_off(complete);
        // Host events are most of the record, with long command lines (compilers): only those
        // of an action's script are kept (a container's action taken for the host's).
        let of_host = |l: &[u8]| l.windows(16).any(|w| w == b"\"container\":null");
        let of_action = |l: &[u8]| l.windows(ACTION_OK.len()).any(|w| w == ACTION_OK.as_bytes());
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty() && (!of_host(l) || of_action(l))) {
            let Ok(event) = serde_json::from_slice::<serde_json::Value>(line) else {
                panic!("{}: a record line is not JSON: {}", path.display(), String::from_utf8_lossy(line));
            };
            let recorded = Recorded {
                container: event["container"]["id"].as_str().unwrap_or("host").to_owned(),
                pid: event["proc"]["pid"].as_i64().unwrap_or_default(),
                cmdline: event["proc"]["cmdline"].as_str().unwrap_or_default().to_owned(),
            };
            scan.events.push(recorded);
        }
        Some(scan.events.iter().filter(|r| keep(r)).cloned().collect())
    }
}
