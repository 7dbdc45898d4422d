//! `make bench`: what counting costs each syscall, and how /metrics scales.
//!
//! 1. ns per getppid in a tight loop, in interleaved rounds (medians): (a) nothing attached,
//!    (b) an empty program on each hook (the floor), (c) the exporter binary on each hook,
//!    (d) bpftrace doing the same aggregation. Prints overheads and the ratios
//!    (c-a)/(b-a) (target <= 1.3) and (c-a)/(d-a) (target <= 0.5).
//! 2. /metrics with 1,000 containers x 50 syscalls: response time (target < 50 ms) and the
//!    exporter's resident memory (target < 64 MiB).
//! 3. A benign host workload (`gcc -c` x10, 300 x (`cat` two files; `ls /usr/bin`), 200 x gzip
//!    and zcat) in interleaved rounds: time ratio to nothing attached (target <= 1.05x) with no
//!    rules, the shipped rules, Falco's stable rules and SigmaHQ's Linux rules (copied at run
//!    time from ../shared/data), the share of syscalls sent to user space (target < 1 %), events lost,
//!    the exporter's CPU seconds and each kernel program's time (`bpf_stats`); on the host, then
//!    the same workload in a runc container.
//!
//! Needs root, the release exporter binary, bpftrace, bpftool and runc (`scripts/bootstrap.sh`).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use exporter::kernel::{Hook, Probe, ProbeConfig, Workload};
use support::{bpf_stats, fail, http, median, plain_command, runc, start_exporter, sum_of};

mod support;

const ROUNDS: usize = 41;
const SHIPPED_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules");
const CALLS_PER_SAMPLE: u64 = 500_000;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Setup {
    Nothing,
    Empty(Hook),
    Exporter(Hook),
    /// The exporter with the shipped rules: detection on, getppid not among their syscalls.
    ExporterWithRules,
    Bpftrace,
}

impl Setup {
    fn label(self) -> String {
        match self {
            Setup::Nothing => "(a) nothing attached".into(),
            Setup::Empty(h) => format!("(b) empty program, {}", h.name()),
            Setup::Exporter(h) => format!("(c) exporter, {}", h.name()),
            Setup::ExporterWithRules => "(c') exporter, tp-btf, shipped rules loaded".into(),
            Setup::Bpftrace => "(d) bpftrace @[cgroup, args->id] = count()".into(),
        }
    }
}

/// Whatever is attached for one sample; detaches on drop.
enum Attached {
    None,
    Probe(#[allow(dead_code)] Box<Probe>),
    Process(Child),
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Attached::Process(child) = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("overhead bench: needs root (loads BPF programs); run `make bench` as root");
        std::process::exit(1);
    }
    // `cargo bench --bench overhead -- <section>` runs one section: getppid, detection, scale,
    // workload.
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |section: &str| only.as_deref().is_none_or(|o| o == section);
    if wanted("getppid") {
        getppid_overhead();
    }
    if wanted("detection") {
        println!();
        benign_workload_events();
    }
    if wanted("scale") {
        println!();
        metrics_at_scale();
    }
    if wanted("workload") {
        println!();
        real_workload();
    }
}

/// Rounds of the real workload per setup (`TW_WORKLOAD_ROUNDS` overrides it for a smoke run).
const WORKLOAD_ROUNDS: usize = 5;
/// Falco's stable rules, outside the repository (never committed).
const FALCO_RULES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/falcosecurity-rules/falco_rules.yaml");

/// Copies every SigmaHQ rule file a syscall sensor serves into `dest` (one flat rules
/// directory); the number copied.
fn copy_sigma_rules(dest: &Path) -> usize {
    support::sigma::sigma_rule_files()
        .iter()
        .filter_map(|path| std::fs::copy(path, dest.join(path.file_name()?)).ok())
        .count()
}

/// The workload, in its own directory (`$1`).
const WORKLOAD: &str = r#"set -e; mkdir -p "$1"; cd "$1"
printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) { puts("x"); return 0; }\n' > a.c
i=0; while [ $i -lt 200 ]; do echo "line $i" > f$i; i=$((i+1)); done
i=0; while [ $i -lt 10 ]; do gcc -O0 -c -o a.o a.c; i=$((i+1)); done
i=0; while [ $i -lt 300 ]; do cat /etc/hostname /etc/os-release > /dev/null; ls /usr/bin > /dev/null; i=$((i+1)); done
i=0; while [ $i -lt 200 ]; do gzip -f f$i; i=$((i+1)); done
i=0; while [ $i -lt 200 ]; do zcat f$i.gz > /dev/null; gunzip -f f$i.gz; i=$((i+1)); done
"#;

/// The exporter's program at every syscall's entry (the default hook).
const COUNTING_PROGRAM: &str = "sys_enter";

/// Per setup: workload seconds, and with the exporter its counters and its programs' kernel
/// time over the workload.
#[derive(Default, Clone)]
struct WorkloadSample {
    seconds: f64,
    syscalls: f64,
    sent: f64,
    lost: f64,
    cpu: f64,
    programs: bpf_stats::ProgramTimes,
}

/// Where the workload runs.
#[derive(Clone, Copy)]
enum Placement {
    Host,
    /// A runc container whose root file system is the host's programs (see [`runc::host_rootfs`]).
    Container,
}

/// The real workload on the host and in a container, with nothing attached, and with the
/// exporter and each rule set.
fn real_workload() {
    let dir = tempfile_dir("tw-bench-workload");
    let falco = dir.join("falco");
    let have_falco =
        std::fs::create_dir_all(&falco).is_ok() && std::fs::copy(FALCO_RULES, falco.join("falco_rules.yaml")).is_ok();
    let falco_dir = falco.to_string_lossy().into_owned();
    let mut setups: Vec<(String, Option<Vec<&str>>)> = vec![
        ("nothing attached".into(), None),
        ("exporter, no rules".into(), Some(vec![])),
        ("exporter, shipped rules".into(), Some(vec!["--rules-dir", SHIPPED_RULES])),
    ];
    if have_falco {
        setups.push(("exporter, Falco's stable rules".into(), Some(vec!["--rules-dir", &falco_dir])));
    } else {
        println!("Falco's rules not found at {FALCO_RULES}: that setup is left out");
    }
    let sigma = dir.join("sigma");
    let sigma_files = std::fs::create_dir_all(&sigma).map_or(0, |_| copy_sigma_rules(&sigma));
    let sigma_dir = sigma.to_string_lossy().into_owned();
    if sigma_files > 0 {
        setups.push((
            format!("exporter, SigmaHQ's Linux rules ({sigma_files} files)"),
            Some(vec!["--rules-dir", &sigma_dir]),
        ));
    } else {
        println!("SigmaHQ's rules not found under {}: that setup is left out", support::sigma::SIGMA_RULES);
    }
    let rounds = std::env::var("TW_WORKLOAD_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(WORKLOAD_ROUNDS);
    bpf_stats::enable();
    for placement in [Placement::Host, Placement::Container] {
        let samples = workload_samples(&dir, placement, &setups, rounds);
        print_workload_table(placement, &setups, &samples);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rounds` interleaved rounds of the workload at `placement` per setup.
fn workload_samples(
    dir: &Path,
    placement: Placement,
    setups: &[(String, Option<Vec<&str>>)],
    rounds: usize,
) -> Vec<Vec<WorkloadSample>> {
    let work = dir.join("work");
    let rootfs = match placement {
        Placement::Host => None,
        Placement::Container => Some(runc::host_rootfs(dir)),
    };
    let run = || match &rootfs {
        None => {
            let _ = std::fs::remove_dir_all(&work);
            let started = Instant::now();
            let ok = plain_command("sh").args(["-c", WORKLOAD, "sh"]).arg(&work).status().is_ok_and(|s| s.success());
            if !ok {
                fail("the workload failed (needs gcc, gzip)");
            }
            started.elapsed().as_secs_f64()
        }
        Some(rootfs) => {
            let _ = std::fs::remove_dir_all(rootfs.join("tmp/work"));
            let args = ["sh", "-c", WORKLOAD, "sh", "/tmp/work"];
            runc::run_container(rootfs, &args, "bench.test/workload:1", &runc::host_mounts())
        }
    };
    let mut samples: Vec<Vec<WorkloadSample>> = vec![Vec::new(); setups.len()];
    let place = match placement {
        Placement::Host => "on the host",
        Placement::Container => "in a runc container",
    };
    println!("real workload {place}: {rounds} interleaved rounds per setup");
    for round in 0..rounds {
        for k in 0..setups.len() {
            let i = (k + round) % setups.len();
            let Some(args) = &setups[i].1 else {
                samples[i].push(WorkloadSample { seconds: run(), ..Default::default() });
                continue;
            };
            // Name resolution off: Falco's rules name hosts, and the bench measures the kernel path.
            let (mut exporter, port) = start_exporter(&[&["--names.resolve", "off"], args.as_slice()].concat());
            std::thread::sleep(Duration::from_secs(1));
            let read = || {
                let body = http(port, "GET", "/metrics").unwrap_or_default();
                let total = |name: &str| sum_of(&body, name);
                [
                    total("tracewarden_events_total{source=\"userspace\"}"),
                    total("tracewarden_events_lost_total{"),
                    total("process_cpu_seconds_total"),
                ]
            };
            let (before, programs_before) = (read(), bpf_stats::program_times(exporter.id()));
            let seconds = run();
            // Let the evaluator drain what the workload sent before reading its CPU.
            std::thread::sleep(Duration::from_millis(500));
            let (after, programs_after) = (read(), bpf_stats::program_times(exporter.id()));
            let d = |j: usize| after[j] - before[j];
            let programs = bpf_stats::difference(&programs_before, &programs_after);
            // The counting program runs once per syscall on the machine. The counters on
            // /metrics would miss a container's: its series go when it ends.
            let syscalls = programs.get(COUNTING_PROGRAM).map_or(0.0, |(_, runs)| *runs as f64);
            samples[i].push(WorkloadSample { seconds, syscalls, sent: d(0), lost: d(1), cpu: d(2), programs });
            let _ = exporter.kill();
            let _ = exporter.wait();
        }
    }
    samples
}

/// Per setup: time and ratio, user-space share, events lost, exporter CPU (medians) and, per
/// kernel program, its median ns per run and ms over the workload.
fn print_workload_table(placement: Placement, setups: &[(String, Option<Vec<&str>>)], samples: &[Vec<WorkloadSample>]) {
    let med = |i: usize, f: &dyn Fn(&WorkloadSample) -> f64| median(&samples[i].iter().map(f).collect::<Vec<_>>());
    let alone = med(0, &|s| s.seconds);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let place = match placement {
        Placement::Host => "host",
        Placement::Container => "container",
    };
    println!("load average at the end: {}", load.split(' ').take(3).collect::<Vec<_>>().join(" "));
    // The share is of the workload's own syscalls: the machine-wide count of the no-rules run.
    // With rules the exporter's own syscalls (reading /proc at execs, evaluating) add to the
    // machine's count, and dividing by that would flatter the share.
    let no_rules = setups.iter().position(|(_, args)| args.as_ref().is_some_and(|a| a.is_empty()));
    let workload_syscalls = no_rules.map_or(0.0, |i| med(i, &|s| s.syscalls));
    println!("\n| {place}: setup | s, median | ratio (target <= 1.05) | to user space / the workload's syscalls, median (target < 1 %) | events lost | exporter CPU s, median (target <= 5 % of the time) | kernel programs: ns per run, ms in all (medians) |\n|---|---|---|---|---|---|---|");
    for (i, (label, args)) in setups.iter().enumerate() {
        let seconds = med(i, &|s| s.seconds);
        if args.is_none() {
            println!("| {label} | {seconds:.2} | 1.00 | | | | |");
            continue;
        }
        let (sent, syscalls, cpu) = (med(i, &|s| s.sent), workload_syscalls, med(i, &|s| s.cpu));
        let lost: f64 = samples[i].iter().map(|s| s.lost).sum();
        let names: std::collections::BTreeSet<&String> = samples[i].iter().flat_map(|s| s.programs.keys()).collect();
        let programs: Vec<String> = names
            .into_iter()
            .map(|name| {
                let of = |s: &WorkloadSample| s.programs.get(name).copied().unwrap_or_default();
                let per_run = med(i, &|s| of(s).0 as f64 / of(s).1.max(1) as f64);
                let total_ms = med(i, &|s| of(s).0 as f64 / 1e6);
                format!("{name} {per_run:.0} ns, {total_ms:.1} ms")
            })
            .collect();
        println!(
            "| {label} | {seconds:.2} | {:.2} ({}) | {sent:.0} / {syscalls:.0} = {:.2} % ({}) | {lost:.0} | {cpu:.2} ({}) | {} |",
            seconds / alone,
            verdict(seconds / alone <= if args.as_ref().is_some_and(|a| a.is_empty()) { 1.02 } else { 1.05 }),
            100.0 * sent / syscalls.max(1.0),
            verdict(sent / syscalls.max(1.0) < 0.01),
            verdict(cpu <= 0.05 * seconds),
            programs.join("; ")
        );
    }
}

/// A fresh directory under the temp dir.
fn tempfile_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("creating {}: {e}", dir.display())));
    dir
}

/// The cost of one syscall with each setup attached, and the ratios the targets name.
fn getppid_overhead() {
    let setups = [
        Setup::Nothing,
        Setup::Empty(Hook::TpBtf),
        Setup::Empty(Hook::RawTp),
        Setup::Exporter(Hook::TpBtf),
        Setup::Exporter(Hook::RawTp),
        Setup::ExporterWithRules,
        Setup::Bpftrace,
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    println!("getppid cost: {ROUNDS} interleaved rounds of {CALLS_PER_SAMPLE} calls per setup");
    for round in 0..ROUNDS {
        // Rotate the order each round so drift (thermal, other load) spreads over all setups.
        for k in 0..setups.len() {
            let i = (k + round) % setups.len();
            let attached = attach(setups[i]);
            getppid_loop(CALLS_PER_SAMPLE / 10); // warm caches and the per-CPU slot cache
            samples[i].push(getppid_loop(CALLS_PER_SAMPLE));
            drop(attached);
        }
    }
    let samples_of = |s: Setup| &samples[setups.iter().position(|&x| x == s).expect("setup")];
    let minimum = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (a_med, a_min) = (median(samples_of(Setup::Nothing)), minimum(samples_of(Setup::Nothing)));
    println!("\n| setup | ns per getppid, median | overhead | ns per getppid, min | overhead |\n|---|---|---|---|---|");
    for setup in setups {
        let (med, min) = (median(samples_of(setup)), minimum(samples_of(setup)));
        println!("| {} | {med:.0} | {:.0} | {min:.0} | {:.0} |", setup.label(), med - a_med, min - a_min);
    }
    // Medians are what the targets name; minimums show the cost without interference from
    // other work on the machine (a 2-core VM is rarely idle).
    println!();
    for (statistic, stat) in [("median", median as fn(&[f64]) -> f64), ("min", minimum)] {
        let a = stat(samples_of(Setup::Nothing));
        let d = stat(samples_of(Setup::Bpftrace));
        for hook in [Hook::TpBtf, Hook::RawTp] {
            let (b, c) = (stat(samples_of(Setup::Empty(hook))), stat(samples_of(Setup::Exporter(hook))));
            let floor_ratio = (c - a) / (b - a);
            let bpftrace_ratio = (c - a) / (d - a);
            println!(
                "{statistic:>6} {}: (c-a)/(b-a) = {floor_ratio:.2} (target <= 1.3: {}), (c-a)/(d-a) = {bpftrace_ratio:.2} (target <= 0.5: {})",
                hook.name(),
                verdict(floor_ratio <= 1.3),
                verdict(bpftrace_ratio <= 0.5)
            );
        }
    }
}

/// With the shipped rules loaded: how many of a benign workload's syscalls become events for
/// the user-space evaluator (open/read/close of ordinary files, then a compile-like mix: gcc
/// runs that exec the compiler and open headers), and what a chmod loop on an unwatched file
/// pays (the "Change permissions of sensitive file" rule watches chmod).
fn benign_workload_events() {
    let chmod_target = std::env::temp_dir().join(format!("tw-bench-chmod-{}", std::process::id()));
    let source = std::env::temp_dir().join(format!("tw-bench-{}.c", std::process::id()));
    let _ = std::fs::write(&chmod_target, b"");
    let _ = std::fs::write(
        &source,
        b"#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) { puts(\"x\"); return 0; }\n",
    );
    let chmod_before: Vec<f64> = (0..3).map(|_| chmod_loop(&chmod_target, CHMODS)).collect();

    let (mut exporter, port) = start_exporter(&["--rules-dir", SHIPPED_RULES]);
    let total = |name: &str| sum_of(&http(port, "GET", "/metrics").unwrap_or_default(), name);
    let files: Vec<PathBuf> = std::fs::read_dir("/usr/share/doc")
        .map(|d| d.flatten().map(|e| e.path().join("copyright")).filter(|p| p.exists()).take(500).collect())
        .unwrap_or_default();
    std::thread::sleep(Duration::from_secs(1));
    let measure = |label: &str, work: &dyn Fn()| {
        let sent = "tracewarden_events_total{source=\"userspace\"}";
        let settled = "tracewarden_events_total{source=\"kernel\"}";
        let (syscalls0, sent0, settled0) = (total("tracewarden_syscalls_total{"), total(sent), total(settled));
        work();
        std::thread::sleep(Duration::from_secs(1));
        let syscalls = total("tracewarden_syscalls_total{") - syscalls0;
        let (sent, settled) = (total(sent) - sent0, total(settled) - settled0);
        println!(
            "{label}: {sent:.0} of {syscalls:.0} syscalls host-wide sent to user space = {:.2} % (target < 1 %: {}); the kernel settled {settled:.0} events of the rules' syscalls itself",
            100.0 * sent / syscalls.max(1.0),
            verdict(sent / syscalls.max(1.0) < 0.01)
        );
    };
    measure(&format!("benign reads ({} files x4)", files.len()), &|| {
        for _ in 0..4 {
            for file in &files {
                let _ = std::fs::read(file);
            }
        }
    });
    measure("compile-like mix (gcc -c x20)", &|| {
        for _ in 0..20 {
            let _ = plain_command("gcc").args(["-O0", "-c", "-o", "/dev/null"]).arg(&source).status();
        }
    });
    let chmod_with: Vec<f64> = (0..3).map(|_| chmod_loop(&chmod_target, CHMODS)).collect();
    let _ = exporter.kill();
    let _ = exporter.wait();
    let chmod_after: Vec<f64> = (0..3).map(|_| chmod_loop(&chmod_target, CHMODS)).collect();
    let without = median(&[chmod_before, chmod_after].concat());
    let with = median(&chmod_with);
    println!(
        "chmod loop on an unwatched file: {without:.0} ns per call without the exporter, {with:.0} ns with the shipped rules = {:.2}x (target <= 1.1x: {}; auditd -S chmod is ~17x)",
        with / without,
        verdict(with / without <= 1.1)
    );
    let _ = std::fs::remove_file(&chmod_target);
    let _ = std::fs::remove_file(&source);
}

/// chmod(2) calls on one file per measurement.
const CHMODS: u64 = 200_000;

/// ns per chmod of `path`, alternating two modes.
fn chmod_loop(path: &std::path::Path, n: u64) -> f64 {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path without NUL");
    let started = Instant::now();
    for i in 0..n {
        // SAFETY: a valid NUL-terminated path; the result is not needed.
        unsafe { libc::chmod(path.as_ptr(), if i % 2 == 0 { 0o644 } else { 0o600 }) };
    }
    started.elapsed().as_nanos() as f64 / n as f64
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

fn attach(setup: Setup) -> Attached {
    match setup {
        Setup::Nothing => Attached::None,
        Setup::Empty(hook) => {
            let config = ProbeConfig { hook, workload: Workload::Empty, ..Default::default() };
            let probe = Probe::load(&config).unwrap_or_else(|e| fail(&format!("loading the empty program: {e}")));
            Attached::Probe(Box::new(probe))
        }
        Setup::Exporter(hook) => {
            let (child, _) = start_exporter(&["--hook", hook.name()]);
            Attached::Process(child)
        }
        Setup::ExporterWithRules => Attached::Process(start_exporter(&["--rules-dir", SHIPPED_RULES]).0),
        Setup::Bpftrace => Attached::Process(start_bpftrace()),
    }
}

/// ns per call of `n` getppid syscalls.
fn getppid_loop(n: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn start_bpftrace() -> Child {
    let mut child = Command::new("bpftrace")
        .args(["-e", "tracepoint:raw_syscalls:sys_enter { @[cgroup, args->id] = count(); }"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("starting bpftrace (scripts/bootstrap.sh installs it): {e}")));
    // bpftrace prints "Attaching 1 probe..." once the program is attached.
    let stdout = child.stdout.take().unwrap_or_else(|| fail("bpftrace has no stdout"));
    let mut first = String::new();
    let mut reader = BufReader::new(stdout);
    if reader.read_line(&mut first).is_err() || !first.contains("Attaching") {
        fail(&format!("bpftrace did not attach: {first:?}"));
    }
    // Keep draining so bpftrace never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    child
}

/// Syscalls that are harmless with these arguments (getters, or calls on fd -1 that fail).
fn fifty_syscalls() {
    use libc::*;
    let nrs: [c_long; 36] = [
        SYS_getppid,
        SYS_getpid,
        SYS_gettid,
        SYS_getuid,
        SYS_geteuid,
        SYS_getgid,
        SYS_getegid,
        SYS_getpgrp,
        SYS_sched_yield,
        SYS_getsid,
        SYS_getpgid,
        SYS_read,
        SYS_write,
        SYS_close,
        SYS_fstat,
        SYS_lseek,
        SYS_pread64,
        SYS_pwrite64,
        SYS_readv,
        SYS_writev,
        SYS_dup,
        SYS_fsync,
        SYS_fdatasync,
        SYS_ftruncate,
        SYS_fchdir,
        SYS_fchmod,
        SYS_fchown,
        SYS_flock,
        SYS_fstatfs,
        SYS_getdents64,
        SYS_fadvise64,
        SYS_syncfs,
        SYS_shutdown,
        SYS_listen,
        SYS_accept,
        SYS_getsockname,
    ];
    for nr in nrs {
        unsafe { syscall(nr, -1, 0, 0, 0) };
    }
    // 14 more getters/queries with null or invalid pointers: they fail with EFAULT or EINVAL.
    let more: [c_long; 14] = [
        SYS_uname,
        SYS_sysinfo,
        SYS_times,
        SYS_getrusage,
        SYS_getrlimit,
        SYS_getcwd,
        SYS_getgroups,
        SYS_getresuid,
        SYS_getresgid,
        SYS_getpriority,
        SYS_sched_getscheduler,
        SYS_sched_getparam,
        SYS_capget,
        SYS_getitimer,
    ];
    for nr in more {
        unsafe { syscall(nr, 99_999, 0, 0, 0) };
    }
}

/// 1,000 docker-shaped cgroups, each making 50 distinct syscalls, then /metrics timed.
fn metrics_at_scale() {
    const CONTAINERS: usize = 1000;
    let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists())
        .unwrap_or_else(|| fail("no cgroup v2 mount"));
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own_path = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/").to_owned();
    let base = root.join("tracewarden-bench/docker");
    let (mut exporter, port) = start_exporter(&["--max-cgroups", "2048", "--container-ttl", "1h"]);
    // Distinct in the first 12 hex digits, which is the container_id label.
    let dirs: Vec<PathBuf> = (0..CONTAINERS).map(|i| base.join(format!("{i:012x}{}", "c".repeat(52)))).collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("mkdir {}: {e}", dir.display())));
        // Move this (single-threaded) process into the cgroup, then make the syscalls there.
        std::fs::write(dir.join("cgroup.procs"), "0").unwrap_or_else(|e| fail(&format!("join cgroup: {e}")));
        fifty_syscalls();
    }
    let _ = std::fs::write(root.join(own_path.trim_start_matches('/')).join("cgroup.procs"), "0");
    // These cgroups have no runtime state, so they are provisional until the grace period ends.
    std::thread::sleep(exporter::container::SETTLE_GRACE + Duration::from_secs(2));
    let mut times = Vec::new();
    let mut body = String::new();
    for _ in 0..11 {
        let start = Instant::now();
        body = http(port, "GET", "/metrics").unwrap_or_else(|e| fail(&format!("scrape: {e}")));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let series = body.lines().filter(|l| l.starts_with("tracewarden_syscalls_total{")).count();
    let containers = dirs
        .iter()
        .filter(|d| {
            body.contains(&format!("container_id=\"{}\"", &d.file_name().unwrap_or_default().to_string_lossy()[..12]))
        })
        .count();
    let status = std::fs::read_to_string(format!("/proc/{}/status", exporter.id())).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (rss, hwm) = (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0);
    let _ = exporter.kill();
    let _ = exporter.wait();
    for dir in &dirs {
        let _ = std::fs::remove_dir(dir);
    }
    let _ = std::fs::remove_dir(&base);
    let _ = std::fs::remove_dir(base.parent().unwrap_or(&base));
    let scrape_ms = median(&times);
    println!("/metrics at scale: {containers} containers on /metrics, {series} syscall series, {} bytes", body.len());
    println!("| measure | value | target |\n|---|---|---|");
    println!("| /metrics response (median of 11) | {scrape_ms:.1} ms | < 50 ms: {} |", verdict(scrape_ms < 50.0));
    println!("| exporter RSS after scrapes | {rss:.1} MiB (peak {hwm:.1}) | < 64 MiB: {} |", verdict(hwm < 64.0));
    if containers < CONTAINERS || series < CONTAINERS * 50 {
        println!("WARNING: expected {CONTAINERS} containers and >= {} series", CONTAINERS * 50);
    }
}
