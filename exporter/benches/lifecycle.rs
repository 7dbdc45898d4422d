//! `make bench`: the process-lifecycle pipeline (task_newtask, sched_process_exec,
//! sched_process_exit -> ring -> process table, /proc read at each exec) under fork+exec+exit
//! loops: what the three programs add to 3,000 `/bin/true` runs from one and from four parallel
//! shell loops, how many records per second the table applies, how busy its consumer is, and what
//! a flood of parallel loops loses (counted by the kernel, never silent).
//!
//! Needs root and a kernel with BTF.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use exporter::{
    detect::process::{lifecycle::LifecycleQueue, ProcessTable},
    kernel::{LifecycleEvents, Probe, ProbeConfig},
};
use exporter_ebpf::DropReason;
use support::{fail, median, plain_command};

mod support;

const EXECS: usize = 3000;
const ROUNDS: usize = 5;

/// Runs `EXECS` fork+exec+exit of /bin/true split over `loops` parallel shell loops.
fn shell_loops(loops: usize) -> Duration {
    let script = format!("i=0; while [ $i -lt {} ]; do /bin/true; i=$((i+1)); done", EXECS / loops);
    let started = Instant::now();
    let children: Vec<_> = (0..loops)
        .map(|_| plain_command("/bin/sh").args(["-c", &script]).spawn().unwrap_or_else(|e| fail(&format!("sh: {e}"))))
        .collect();
    for mut child in children {
        if !child.wait().is_ok_and(|s| s.success()) {
            fail("a shell loop failed");
        }
    }
    started.elapsed()
}

fn lifecycle_lost(probe: &Probe) -> u64 {
    let snapshot = probe.snapshot().unwrap_or_else(|e| fail(&format!("reading the counting maps: {e:#}")));
    snapshot.dropped(DropReason::LifecycleRingFull)
}

/// What the consumer thread did: records applied, time spent applying them, table entries.
struct Consumed {
    applied: u64,
    busy: Duration,
    entries: usize,
}

/// Drains the lifecycle ring into a process table seeded from /proc until `stop` is set.
fn consume(mut lifecycle: LifecycleEvents, stop: Arc<AtomicBool>) -> Consumed {
    let mut table = ProcessTable::system();
    if let Err(e) = table.seed_from_proc() {
        fail(&format!("seeding the process table from /proc: {e:#}"));
    }
    let mut queue = LifecycleQueue::default();
    let (mut applied, mut busy) = (0u64, Duration::ZERO);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if !stopping {
            lifecycle.wait_readable(50);
        }
        let started = Instant::now();
        applied += queue.refill(|v| lifecycle.drain(|record| v.push(*record))) as u64;
        queue.apply_until(&mut table, u64::MAX);
        busy += started.elapsed();
        // One last drain after the stop, for what the loops' last exits left.
        if stopping {
            break;
        }
    }
    Consumed { applied, busy, entries: table.stats().entries }
}

/// One sample: the loops with the lifecycle programs attached and drained into a table.
fn with_programs(loops: usize) -> (Duration, Consumed, u64) {
    let mut probe = Probe::load(&ProbeConfig::default()).unwrap_or_else(|e| fail(&format!("loading: {e:#}")));
    let lifecycle = probe.attach_lifecycle().unwrap_or_else(|e| fail(&format!("attaching: {e:#}")));
    let before = lifecycle_lost(&probe);
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let stop = stop.clone();
        std::thread::spawn(move || consume(lifecycle, stop))
    };
    let elapsed = shell_loops(loops);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let consumed = consumer.join().unwrap_or_else(|_| fail("the consumer panicked"));
    (elapsed, consumed, lifecycle_lost(&probe) - before)
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        fail("needs root (it loads eBPF programs)");
    }
    for loops in [1usize, 4] {
        // Interleaved, so a drift of the machine hits both setups alike.
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            without.push(shell_loops(loops).as_secs_f64());
            with.push(with_programs(loops));
        }
        let seconds: Vec<f64> = with.iter().map(|(elapsed, ..)| elapsed.as_secs_f64()).collect();
        let (base, attached) = (median(&without), median(&seconds));
        let applied: u64 = with.iter().map(|(_, c, _)| c.applied).sum();
        let busy: f64 = with.iter().map(|(_, c, _)| c.busy.as_secs_f64()).sum();
        let lost: u64 = with.iter().map(|(.., lost)| lost).sum();
        let entries = with.iter().map(|(_, c, _)| c.entries).max().unwrap_or(0);
        println!(
            "{loops} loop(s), {EXECS} fork+exec+exit, medians of {ROUNDS} interleaved rounds: {base:.2} s without \
             the lifecycle programs, {attached:.2} s with them ({:.2}x); {applied} records applied in all, {lost} \
             lost; consumer busy {:.1} us/record ({:.0} records/s capacity); table up to {entries} entries",
            attached / base,
            busy * 1e6 / applied.max(1) as f64,
            applied as f64 / busy.max(1e-9),
        );
    }
}
