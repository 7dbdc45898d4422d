//! Process-lifecycle records from the real kernel (task_newtask, sched_process_exec,
//! sched_process_exit) applied to the process table: a process that is over before user space
//! could read /proc is still known with its exec filename and parent, its exit removes it, and a
//! full lifecycle ring is counted, not silent.

mod common;

use std::{
    os::fd::AsRawFd,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use common::{kernel_available, TestCgroup};
use exporter::{
    detect::process::{lifecycle::LifecycleQueue, ProcessTable},
    kernel::{LifecycleEvents, Probe, ProbeConfig},
    rules::{Process, User},
};
use exporter_ebpf::{lifecycle_kind, DropReason, LifecycleEvent};

fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Held by the tests that start hundreds of processes or count wake-ups.
static FORK_FLOODS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn drain(lifecycle: &mut LifecycleEvents) -> Vec<LifecycleEvent> {
    let mut records = Vec::new();
    lifecycle.drain(|record| records.push(*record));
    records
}

fn lost(probe: &Probe) -> u64 {
    probe.snapshot().expect("snapshot").dropped(DropReason::LifecycleRingFull)
}

/// A loaded probe with the lifecycle programs attached, or None when the test is skipped (only
/// on the developer's opt-out, never under CI=true: see `kernel_available`).
fn lifecycle_probe(test: &str) -> Option<(Probe, LifecycleEvents)> {
    if !kernel_available(test) {
        return None;
    }
    let mut probe = Probe::load(&ProbeConfig::default()).expect("load");
    let lifecycle = probe.attach_lifecycle().expect("attach lifecycle programs");
    Some((probe, lifecycle))
}

#[test]
fn a_short_lived_process_is_known_after_it_is_gone_and_its_exit_removes_it() {
    let Some((_probe, mut lifecycle)) =
        lifecycle_probe("a_short_lived_process_is_known_after_it_is_gone_and_its_exit_removes_it")
    else {
        return;
    };
    let mut table = ProcessTable::system().with_exit_grace(Duration::from_millis(100));
    table.seed_from_proc().expect("seed");
    let me = std::process::id();

    let started = Instant::now();
    let status = Command::new("/bin/sh").args(["-c", "exec /bin/true"]).spawn().expect("spawn");
    let pid = status.id();
    let mut status = status;
    assert!(status.wait().expect("wait").success());
    let lifetime = started.elapsed();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "{pid} is reaped: /proc cannot tell about it any more");
    // The kernel commits before the waited-for child is reaped, so this returns at once; the
    // timeout only guards a broken probe.
    lifecycle.wait_readable(1000);
    let records = drain(&mut lifecycle);

    let mine: Vec<&LifecycleEvent> =
        records.iter().filter(|r| r.tgid == pid || (r.kind == lifecycle_kind::FORK && r.child == pid)).collect();
    let kinds: Vec<u32> = mine.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [lifecycle_kind::FORK, lifecycle_kind::EXEC, lifecycle_kind::EXEC, lifecycle_kind::EXIT],
        "fork, exec of sh, exec of true, exit"
    );
    assert_eq!(mine[0].tgid, me, "the test process forked it");
    assert_eq!(text(&mine[1].filename), "/bin/sh");
    let argv = |r: &LifecycleEvent| r.argv.args[..r.argv.argc as usize].iter().map(|a| text(a)).collect::<Vec<_>>();
    assert_eq!(argv(mine[1]), ["/bin/sh", "-c", "exec /bin/true"]);
    assert_eq!(argv(mine[2]), ["/bin/true"]);
    assert_eq!((text(&mine[2].filename), text(&mine[2].comm)), ("/bin/true".to_owned(), "true".to_owned()));
    assert!(mine.windows(2).all(|w| w[0].ktime_ns <= w[1].ktime_ns));

    // Everything up to the exit: the table knows the gone process from the records alone.
    let exit_at = mine[3].ktime_ns;
    let mut queue = LifecycleQueue::default();
    queue.refill(|v| {
        v.extend_from_slice(&records);
        records.len()
    });
    queue.apply_until(&mut table, exit_at - 1);
    let p = table.get(pid as i32).expect("known after it is gone").clone();
    assert_eq!(
        (p.comm.as_str(), p.exepath.as_str(), p.ppid, p.exited),
        ("true", "/bin/true", me as i32, false),
        "lived {lifetime:?}"
    );
    let (mut proc, mut user) = (Process::default(), User::default());
    assert!(table.fill_event_process(pid as i32, &mut proc, &mut user));
    assert_eq!(proc.ancestors.first().map(|a| a.pid), Some(me as i64), "the parent is its first ancestor");

    // The exit removes it (after the table's grace for events still queued).
    queue.apply_until(&mut table, u64::MAX);
    assert!(table.get(pid as i32).expect("within the grace").exited);
    std::thread::sleep(Duration::from_millis(150));
    table.expire(Instant::now());
    assert!(table.get(pid as i32).is_none(), "gone after the exit grace");
}

#[test]
fn threads_are_not_processes() {
    let Some((_probe, mut lifecycle)) = lifecycle_probe("threads_are_not_processes") else {
        return;
    };
    let me = std::process::id();
    let tid = std::thread::spawn(|| unsafe { libc::gettid() }).join().expect("thread");
    let records = drain(&mut lifecycle);
    assert!(
        !records.iter().any(|r| r.child == tid as u32 || (r.tgid == me && r.kind == lifecycle_kind::EXIT)),
        "a thread's start and end are not fork and exit records"
    );
}

#[test]
fn a_full_lifecycle_ring_is_counted() {
    let Some((probe, mut lifecycle)) = lifecycle_probe("a_full_lifecycle_ring_is_counted") else {
        return;
    };
    let _alone = FORK_FLOODS.lock().unwrap_or_else(|e| e.into_inner());
    let before = lost(&probe);
    // Nobody drains: 2,000 fork+exec+exit (6,000 records of 848 ring bytes) overflow 2 MiB.
    let cgroup = TestCgroup::new("lifecycle-flood");
    cgroup.run("sh", &["-c", "i=0; while [ $i -lt 2000 ]; do /bin/true; i=$((i+1)); done"]);
    let lost = lost(&probe) - before;
    let delivered = drain(&mut lifecycle).iter().filter(|r| r.cgroup_id == cgroup.id()).count() as u64;
    println!("undrained flood of 6000 records: {delivered} delivered, {lost} counted lost");
    assert!(lost > 0, "no loss counted ({delivered} delivered)");
    assert!(delivered + lost >= 6_000, "delivered {delivered} + lost {lost} < 6000: records vanished silently");
}

/// Through the running exporter: a host process that reads /etc/shadow and is over in
/// milliseconds is alerted on with its name, arguments and parent, from the lifecycle records,
/// although it is gone before the detection thread gets to its event.
#[test]
fn the_exporter_names_a_process_that_is_already_gone() {
    if !kernel_available("the_exporter_names_a_process_that_is_already_gone") {
        return;
    }
    let exporter = common::Exporter::start(&["--rules-dir", common::SHIPPED_RULES]);
    let status = Command::new("/bin/sh").args(["-c", "exec busybox cat /etc/shadow >/dev/null"]).status().expect("sh");
    assert!(status.success());
    // The leader's comm (the test binary) or the spawning thread's (the test's name): the kernel's
    // comm is per thread and the table takes the one its events carry.
    let leader = std::fs::read_to_string("/proc/self/comm").expect("comm").trim().to_owned();
    let thread = std::fs::read_to_string(format!("/proc/self/task/{}/comm", unsafe { libc::gettid() }))
        .expect("thread comm")
        .trim()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    let alert = loop {
        let found = exporter.stdout_lines().into_iter().find_map(|line| {
            let alert: serde_json::Value = serde_json::from_str(&line).ok()?;
            let fields = &alert["output_fields"];
            (alert["rule"] == "Read sensitive file untrusted" && fields["proc.name"] == "busybox").then_some(alert)
        });
        if let Some(alert) = found {
            break alert;
        }
        assert!(Instant::now() < deadline, "no alert for busybox: {:?}", exporter.stdout_lines());
        std::thread::sleep(Duration::from_millis(50));
    };
    let fields = &alert["output_fields"];
    let pname = fields["proc.pname"].as_str().unwrap_or_default();
    assert!(pname == leader || pname == thread, "parent {pname:?}, expected {leader:?} or {thread:?}: {alert}");
    // From /proc if it was still there when the exec record was applied, else from the record.
    assert_eq!(fields["proc.cmdline"], "busybox cat /etc/shadow");
}

/// Whether a poller already waiting on `lifecycle` is woken before `timeout_ms` while
/// `meanwhile` runs.
fn woken_within(lifecycle: &LifecycleEvents, timeout_ms: i32, meanwhile: impl FnOnce()) -> bool {
    let fd = lifecycle.as_raw_fd();
    let waiter = std::thread::spawn(move || {
        let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call; the ring outlives the thread.
        let waited = Instant::now();
        unsafe { libc::poll(&mut poll, 1, timeout_ms) };
        // At its timeout poll checks the ring once more and reports it readable: only an
        // earlier return is a wake-up.
        waited.elapsed() < Duration::from_millis(timeout_ms as u64)
    });
    // Let the waiter block before the records arrive.
    std::thread::sleep(Duration::from_millis(100));
    meanwhile();
    waiter.join().expect("waiter")
}

#[test]
fn records_wake_the_reader_only_once_the_ring_fills_up() {
    let Some((_probe, mut lifecycle)) = lifecycle_probe("records_wake_the_reader_only_once_the_ring_fills_up") else {
        return;
    };
    // Every probe sees every process: another test's flood would wake this one's reader.
    let _alone = FORK_FLOODS.lock().unwrap_or_else(|e| e.into_inner());
    drain(&mut lifecycle);
    let few = woken_within(&lifecycle, 1500, || {
        assert!(Command::new("/bin/true").status().expect("spawn").success());
    });
    assert!(!few, "one process's records must not wake the reader");
    assert!(drain(&mut lifecycle).iter().any(|r| r.kind == lifecycle_kind::EXEC), "they are queued all the same");
    // 400 processes x (fork + exec + exit) x 864 bytes: past a quarter of the 2 MiB ring.
    let many = woken_within(&lifecycle, 60_000, || {
        let status = Command::new("/bin/sh")
            .args(["-c", "i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done"])
            .status()
            .expect("spawn");
        assert!(status.success());
    });
    assert!(many, "a filling ring must wake the reader");
}
