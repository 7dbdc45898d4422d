//! A restart keeps what the exporter counted: the kernel's counters are pinned in bpffs, so a
//! new exporter continues the syscall counts and kernel-decided rule hits where the killed one
//! stopped, and `--record` is appended to, never truncated. A pin of another layout (a different
//! `--max-cgroups`) is dropped with a log line and the counts start fresh.

#[macro_use]
mod common;

use std::{
    io::BufRead,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{eventually, sample, Exporter, TestCgroup};

const GETPPIDS: u64 = 5000;

/// A pin directory of this test's own on bpffs, removed with everything pinned in it.
struct PinDir(PathBuf);

impl Drop for PinDir {
    fn drop(&mut self) {
        for stamp in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            for pin in std::fs::read_dir(stamp.path()).into_iter().flatten().flatten() {
                let _ = std::fs::remove_file(pin.path());
            }
            let _ = std::fs::remove_dir(stamp.path());
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A rule the kernel decides alone (writes below `decided`), one it leaves to user space
/// (`contains`, below `evaluated`).
fn rules(decided: &Path, evaluated: &Path) -> String {
    format!(
        "- rule: Decided write\n  desc: d\n  condition: evt.type in (open, openat) and evt.is_open_write = true and evt.rawres >= 0 and fd.name startswith {}/\n  output: wrote %fd.name\n  priority: error\n\
         - rule: Evaluated open\n  desc: d\n  condition: evt.type = openat and evt.rawres >= 0 and fd.name startswith {}/ and fd.name contains /u\n  output: opened %fd.name\n  priority: notice\n",
        decided.display(),
        evaluated.display()
    )
}

fn host_getppid(metrics: &str) -> f64 {
    let host = [("container_id", "host"), ("container_name", ""), ("image", ""), ("pod", ""), ("namespace", "")];
    let mut labels = host.to_vec();
    labels.push(("syscall", "getppid"));
    sample(metrics, "tracewarden_syscalls_total", &labels).unwrap_or(0.0)
}

fn decided_hits(metrics: &str) -> f64 {
    let labels = [
        ("rule", "Decided write"),
        ("priority", "error"),
        ("container_id", "host"),
        ("container_name", ""),
        ("image", ""),
        ("pod", ""),
        ("namespace", ""),
    ];
    sample(metrics, "tracewarden_rule_matches_total", &labels).unwrap_or(0.0)
}

fn write_files(cgroup: &TestCgroup, dir: &Path, prefix: &str, n: u32) {
    let script = format!(
        "import os\nfor i in range({n}):\n    open(os.path.join({:?}, '{prefix}%d' % i), 'w').close()\n",
        dir.display().to_string()
    );
    cgroup.run("python3", &["-c", &script]);
}

/// Runs the exporter with `args` until it serves /metrics (or exits); returns its log lines.
fn start_up_log(args: &[&str]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exporter"))
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{}", common::free_port()))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn exporter");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let serving = line.contains("serving /metrics");
        lines.push(line);
        if serving {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn a_restarted_exporter_continues_its_counts_and_record() {
    kernel_test!(a_restarted_exporter_continues_its_counts_and_record);
    let pins = PinDir(PathBuf::from(format!("/sys/fs/bpf/tw-test-restart-{}", std::process::id())));
    let tmp = tempfile::tempdir().expect("tempdir");
    let (decided, evaluated) = (tmp.path().join("decided"), tmp.path().join("evaluated"));
    std::fs::create_dir(&decided).expect("mkdir");
    std::fs::create_dir(&evaluated).expect("mkdir");
    std::fs::write(tmp.path().join("rules.yaml"), rules(&decided, &evaluated)).expect("write rules");
    let record = tmp.path().join("record.jsonl");
    let (rules_dir, pin_dir, record_file) =
        (tmp.path().to_str().expect("utf-8"), pins.0.to_str().expect("utf-8"), record.to_str().expect("utf-8"));
    let args = ["--rules-dir", rules_dir, "--bpf.pin-dir", pin_dir, "--record", record_file];
    let cgroup = TestCgroup::new("restart");

    let first = Exporter::start(&args);
    let getppids = common::getppid_loop_args(GETPPIDS);
    cgroup.run("python3", &getppids.iter().map(String::as_str).collect::<Vec<_>>());
    write_files(&cgroup, &decided, "d", 50);
    write_files(&cgroup, &evaluated, "u", 20);
    let mut metrics = String::new();
    let counted = eventually(Duration::from_secs(10), || {
        metrics = first.metrics();
        host_getppid(&metrics) >= GETPPIDS as f64 && decided_hits(&metrics) >= 50.0
    });
    assert!(counted, "the first exporter counted the work:\n{metrics}");
    let (getppid_before, hits_before) = (host_getppid(&metrics), decided_hits(&metrics));
    let recorded = eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&record).is_ok_and(|t| t.lines().filter(|l| l.contains("/u")).count() >= 20)
    });
    assert!(recorded, "the first exporter recorded the evaluated opens");
    // Killed, as a crash or an OOM kill would: the pins outlive any end.
    drop(first);
    let record_before = std::fs::read_to_string(&record).expect("record");

    let second = Exporter::start(&args);
    let metrics = second.metrics();
    eprintln!(
        "RESTART getppid {getppid_before} -> {}, rule hits {hits_before} -> {}",
        host_getppid(&metrics),
        decided_hits(&metrics)
    );
    assert!(host_getppid(&metrics) >= getppid_before, "syscall counts continue:\n{metrics}");
    assert!(decided_hits(&metrics) >= hits_before, "kernel-decided rule hits continue:\n{metrics}");
    write_files(&cgroup, &decided, "again", 10);
    write_files(&cgroup, &evaluated, "u-again", 5);
    let mut metrics = String::new();
    let continued = eventually(Duration::from_secs(10), || {
        metrics = second.metrics();
        decided_hits(&metrics) >= hits_before + 10.0
    });
    assert!(continued, "new hits add to the earlier ones:\n{metrics}");
    let appended = eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&record).is_ok_and(|t| t.lines().filter(|l| l.contains("/u-again")).count() >= 5)
    });
    assert!(appended, "the second exporter records too");
    drop(second);
    let record_after = std::fs::read_to_string(&record).expect("record");
    assert!(record_after.starts_with(&record_before), "--record keeps the earlier lines");

    // Another --max-cgroups is another layout: dropped, and said so.
    let mut other = args.to_vec();
    other.extend(["--max-cgroups", "512"]);
    let log = start_up_log(&other);
    let line = log.iter().find(|l| l.contains("starting fresh"));
    assert!(line.is_some_and(|l| l.contains("--max-cgroups 1024") && l.contains("--max-cgroups 512")), "{log:#?}");
    let stamps: Vec<String> = std::fs::read_dir(&pins.0)
        .expect("pin dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(stamps.len() == 1 && stamps[0].contains("_512_"), "only the new layout's pins are left: {stamps:?}");
}
