//! A restart keeps what the exporter counted: the kernel's counters are pinned in bpffs, so a
//! new exporter continues a container's syscall counts and kernel-decided rule hits where the
//! killed one stopped, and `--record` is appended to, never truncated. A pin of another layout (a different
//! `--max-cgroups`) is dropped with a log line and the counts start fresh.

#[macro_use]
mod common;

use std::{
    io::BufRead,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::attack::{Action, Opts, Target};
use common::{eventually, sample, Exporter};

/// A rule the kernel decides alone (writes below one directory) and one it leaves to user space
/// (`contains`, below another), on paths inside the test's container.
const RULES: &str = "- rule: Decided write\n  desc: d\n  condition: evt.type in (open, openat) and evt.is_open_write = true and evt.rawres >= 0 and fd.name startswith /tmp/tw-decided/\n  output: wrote %fd.name\n  priority: error\n\
- rule: Evaluated open\n  desc: d\n  condition: evt.type = openat and evt.rawres >= 0 and fd.name startswith /tmp/tw-evaluated/ and fd.name contains /u\n  output: opened %fd.name\n  priority: notice\n";
const RULE: (&str, &str) = ("Decided write", "error");

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

/// The container's chmod count and its hits of the kernel-decided rule.
fn counts(metrics: &str, target: &Target) -> (f64, f64) {
    let mut labels = target.match_labels(RULE.0, RULE.1)[2..].to_vec();
    labels.push(("syscall", "chmod"));
    let chmods = sample(metrics, "tracewarden_syscalls_total", &labels).unwrap_or(0.0);
    let hits = sample(metrics, "tracewarden_rule_matches_total", &target.match_labels(RULE.0, RULE.1));
    (chmods, hits.unwrap_or(0.0))
}

/// Runs `args` in the running container `id`.
fn exec_in(id: &str, args: &[&str]) {
    let status = Command::new("runc").args(["exec", id]).args(args).status().expect("runc exec");
    assert!(status.success(), "runc exec {id} {args:?}");
}

fn recorded_lines(record: &Path) -> usize {
    std::fs::read_to_string(record).map(|t| t.lines().count()).unwrap_or(0)
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
    std::fs::write(tmp.path().join("rules.yaml"), RULES).expect("write rules");
    let record = tmp.path().join("record.jsonl");
    let (rules_dir, pin_dir, record_file) =
        (tmp.path().to_str().expect("utf-8"), pins.0.to_str().expect("utf-8"), record.to_str().expect("utf-8"));
    let args = ["--rules-dir", rules_dir, "--bpf.pin-dir", pin_dir, "--record", record_file];
    // A container of the test's own, so its series hold only what it does: a second of chmods,
    // 50 writes the kernel counts as rule hits, 20 opens user space evaluates (and records).
    let target = Target::new("restart");
    let work = "cd /tmp && touch f && /bin/tw-helper chmod-flood f 1 && mkdir tw-decided tw-evaluated \
                && for i in $(seq 50); do touch tw-decided/d$i; done && for i in $(seq 20); do touch tw-evaluated/u$i; done";
    let first = Exporter::start(&args);
    let mut container = Action::start(&target, work, &Opts::writable());
    container.wait_done();
    let mut metrics = String::new();
    let mut last = (0.0, 0.0);
    // Counted once two scrapes a second apart agree (the container idles after its work).
    let settled = eventually(Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_secs(1));
        metrics = first.metrics();
        let now = counts(&metrics, &target);
        let same = now == last && now.1 >= 50.0;
        last = now;
        same
    });
    assert!(settled, "the first exporter counted the work: {last:?}\n{metrics}");
    let (chmods_before, hits_before) = last;
    let recorded = eventually(Duration::from_secs(10), || recorded_lines(&record) >= 20);
    assert!(recorded, "the first exporter recorded the opens it evaluated");
    // Killed, as a crash or an OOM kill would: the pins outlive any end.
    drop(first);
    let record_before = std::fs::read_to_string(&record).expect("record");

    let second = Exporter::start(&args);
    let mut now = (0.0, 0.0);
    // The container is named again (its cgroup came back with the pins): then its counts are there.
    let named = eventually(Duration::from_secs(5), || {
        now = counts(&second.metrics(), &target);
        now.0 > 0.0
    });
    eprintln!("RESTART chmods {chmods_before} -> {}, rule hits {hits_before} -> {}", now.0, now.1);
    assert!(named && now.0 >= chmods_before, "syscall counts continue: {chmods_before} -> {}", now.0);
    assert_eq!(now.1, hits_before, "kernel-decided rule hits continue");
    exec_in(&target.id, &["/bin/sh", "-c", "touch /tmp/tw-decided/again /tmp/tw-evaluated/u-again"]);
    let continued = eventually(Duration::from_secs(10), || counts(&second.metrics(), &target).1 == hits_before + 1.0);
    assert!(continued, "a new hit adds to the earlier ones: {:?}", counts(&second.metrics(), &target));
    let appended = eventually(Duration::from_secs(10), || recorded_lines(&record) > record_before.lines().count());
    assert!(appended, "the second exporter records too");
    drop(second);
    drop(container);
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
