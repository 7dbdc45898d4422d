//! `make bench`: what the behaviour baseline (`--baseline.dir`) costs on a benign workload in a
//! real runc container: the workload's time, the events sent to user space and the exporter's
//! CPU, with the shipped rules and the baseline off, learning, and enforcing (a profile learned
//! from the same workload, then frozen). Interleaved rounds, medians.
//!
//! Needs root, runc and busybox-static (`scripts/bootstrap.sh`) and the release exporter binary.

use std::{path::Path, process::Child, time::Duration};

use support::{
    fail, http, median,
    runc::{busybox_rootfs, run_container},
    sum_of,
};

mod support;

const ROUNDS: usize = 5;
const SHIPPED_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules");
const IMAGE: &str = "bench.test/baseline-workload:1";
/// Files written, compressed and read back, directory listings and execs, in a busybox container.
const WORKLOAD: &str = r#"cd /tmp
i=0; while [ $i -lt 200 ]; do echo "line $i" > f$i; i=$((i+1)); done
i=0; while [ $i -lt 300 ]; do cat /etc/hostname /etc/passwd > /dev/null; ls /bin > /dev/null; i=$((i+1)); done
i=0; while [ $i -lt 200 ]; do gzip -f f$i; zcat f$i.gz > /dev/null; gunzip -f f$i.gz; i=$((i+1)); done
"#;

#[derive(Default, Clone)]
struct Sample {
    seconds: f64,
    syscalls: f64,
    sent: f64,
    cpu: f64,
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("baseline bench: needs root (loads BPF programs, runs runc); run `make bench` as root");
        std::process::exit(1);
    }
    let dir = std::env::temp_dir().join(format!("tw-bench-baseline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rootfs = busybox_rootfs(&dir, &["sh", "cat", "ls", "echo", "gzip", "gunzip", "zcat"]);
    let (learning, enforcing) = (dir.join("learning"), dir.join("enforcing"));
    prepare_enforcing(&rootfs, &enforcing);
    let learning_arg = learning.to_string_lossy().into_owned();
    let enforcing_arg = enforcing.to_string_lossy().into_owned();
    let setups: Vec<(&str, Option<Vec<&str>>)> = vec![
        ("nothing attached", None),
        ("shipped rules, baseline off", Some(vec![])),
        ("shipped rules, baseline learning", Some(vec!["--baseline.dir", &learning_arg])),
        ("shipped rules, baseline enforcing", Some(vec!["--baseline.dir", &enforcing_arg])),
    ];
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); setups.len()];
    println!("baseline: {ROUNDS} interleaved rounds per setup, the workload in a runc container");
    for round in 0..ROUNDS {
        for k in 0..setups.len() {
            let i = (k + round) % setups.len();
            let Some(args) = &setups[i].1 else {
                samples[i].push(Sample { seconds: run_workload(&rootfs), ..Default::default() });
                continue;
            };
            let (mut exporter, port) = start_exporter(args);
            std::thread::sleep(Duration::from_secs(1));
            let before = counters(port);
            let seconds = run_workload(&rootfs);
            // Let the evaluator drain what the workload sent before reading its CPU.
            std::thread::sleep(Duration::from_millis(500));
            let after = counters(port);
            let d = |j: usize| after[j] - before[j];
            samples[i].push(Sample { seconds, syscalls: d(0), sent: d(1), cpu: d(2) });
            let _ = exporter.kill();
            let _ = exporter.wait();
        }
    }
    let med = |i: usize, f: fn(&Sample) -> f64| median(&samples[i].iter().map(f).collect::<Vec<_>>());
    let alone = med(0, |s| s.seconds);
    println!("\n| setup | s, median | ratio | to user space / syscalls, median | exporter CPU s, median |\n|---|---|---|---|---|");
    for (i, (label, args)) in setups.iter().enumerate() {
        let seconds = med(i, |s| s.seconds);
        if args.is_none() {
            println!("| {label} | {seconds:.2} | 1.00 | | |");
            continue;
        }
        let (sent, syscalls) = (med(i, |s| s.sent), med(i, |s| s.syscalls));
        println!(
            "| {label} | {seconds:.2} | {:.2} | {sent:.0} / {syscalls:.0} = {:.2} % | {:.2} |",
            seconds / alone,
            100.0 * sent / syscalls.max(1.0),
            med(i, |s| s.cpu)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A profile of the workload's image, learned from one run and then frozen, in `dir`.
fn prepare_enforcing(rootfs: &Path, dir: &Path) {
    let dir_arg = dir.to_string_lossy().into_owned();
    let (mut exporter, port) = start_exporter(&["--baseline.dir", &dir_arg]);
    run_workload(rootfs);
    // The syscall set is read once a second.
    std::thread::sleep(Duration::from_secs(2));
    let query: String = IMAGE
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let answer = http(port, "POST", &format!("/api/v1/baseline/freeze?image={query}")).unwrap_or_default();
    if !answer.starts_with("HTTP/1.1 200") {
        fail(&format!("freezing the learned profile failed: {answer}"));
    }
    let _ = exporter.kill();
    let _ = exporter.wait();
}

/// The workload in a new container of [`IMAGE`]; seconds from `runc run` to its end.
fn run_workload(rootfs: &Path) -> f64 {
    run_container(rootfs, &["sh", "-c", WORKLOAD], IMAGE, &serde_json::json!([]))
}

/// Syscalls counted, events sent to user space and the exporter's CPU seconds.
fn counters(port: u16) -> [f64; 3] {
    let body = http(port, "GET", "/metrics").unwrap_or_default();
    [
        sum_of(&body, "tracewarden_syscalls_total{"),
        sum_of(&body, "tracewarden_events_total{source=\"userspace\"}"),
        sum_of(&body, "process_cpu_seconds_total"),
    ]
}

/// The release exporter with the shipped rules and `extra`.
fn start_exporter(extra: &[&str]) -> (Child, u16) {
    let rules = [&["--names.resolve", "off", "--rules-dir", SHIPPED_RULES], extra].concat();
    support::start_exporter(&rules)
}
