//! Syscall events from the real kernel: only marked syscalls are sent, with identity, raw
//! arguments, paths and socket addresses copied; a full ring buffer is counted, not silent.

mod common;

use common::{kernel_available, TestCgroup};
use exporter::{
    kernel::{Probe, ProbeConfig, SyscallEvents},
    syscalls::{arg_spec, Arch, SyscallNames},
};
use exporter_ebpf::{DropReason, SyscallEvent};

fn text(bytes: &[u8], len: i32) -> String {
    let len = (len.max(1) as usize - 1).min(bytes.len());
    String::from_utf8_lossy(&bytes[..len]).into_owned()
}

fn interest(probe: &mut Probe, names: &[&str]) {
    let table = SyscallNames::new(Arch::host());
    let specs: Vec<_> = names.iter().map(|n| (table.number(n).expect("syscall"), *n, arg_spec(n))).collect();
    let untraceable = probe.set_interest(&specs).expect("set interest");
    assert!(untraceable.is_empty(), "no exit tracepoint for {untraceable:?}");
}

fn drain_for(probe: &mut Probe, cgroup_id: u64) -> Vec<SyscallEvent> {
    drain(&mut probe.take_events().expect("events"), cgroup_id)
}

fn drain(events: &mut SyscallEvents, cgroup_id: u64) -> Vec<SyscallEvent> {
    let mut mine = Vec::new();
    events.drain(|e| {
        if e.cgroup_id == cgroup_id {
            mine.push(*e)
        }
    });
    mine
}

#[test]
fn marked_syscalls_arrive_with_paths_and_addresses() {
    if !kernel_available("marked_syscalls_arrive_with_paths_and_addresses") {
        return;
    }
    let mut probe = Probe::load(&ProbeConfig::default()).expect("load");
    interest(&mut probe, &["openat", "connect"]);
    let cgroup = TestCgroup::new("events");
    // busybox makes few syscalls, so the undrained ring buffer cannot overflow here.
    cgroup.run(
        "busybox",
        &["sh", "-c", "busybox cat /etc/hostname >/dev/null; busybox nc -w 1 127.0.0.1 4444 </dev/null || true"],
    );
    let table = SyscallNames::new(Arch::host());
    let events = drain_for(&mut probe, cgroup.id());
    let openat = table.number("openat").expect("openat") as u32;
    let opens: Vec<String> =
        events.iter().filter(|e| e.nr == openat).map(|e| text(&e.paths[0], e.path_lens[0])).collect();
    assert!(
        opens.iter().any(|p| p == "/etc/hostname"),
        "{} openat paths, first: {:?}",
        opens.len(),
        opens.iter().take(10).collect::<Vec<_>>()
    );
    let connect =
        events.iter().find(|e| e.nr == table.number("connect").expect("connect") as u32).expect("connect event");
    // struct sockaddr_in: family (host order), port (network order), address.
    assert_eq!(u16::from_ne_bytes([connect.sockaddr[0], connect.sockaddr[1]]), libc::AF_INET as u16);
    assert_eq!(u16::from_be_bytes([connect.sockaddr[2], connect.sockaddr[3]]), 4444);
    assert_eq!(&connect.sockaddr[4..8], &[127, 0, 0, 1]);
    assert_eq!(connect.sockaddr_len, 16);
    assert_eq!(connect.res, -(libc::ECONNREFUSED as i64), "nobody listens on 4444");
    let comm = String::from_utf8_lossy(&connect.comm).trim_end_matches('\0').to_owned();
    assert_eq!(comm, "busybox");
    assert_eq!(connect.uid, 0);
    // Unmarked syscalls never produce events.
    let unmarked: Vec<u32> = events.iter().map(|e| e.nr).filter(|&nr| nr != openat && nr != connect.nr).collect();
    assert!(unmarked.is_empty(), "{} unmarked syscalls sent, e.g. {:?}", unmarked.len(), unmarked.first());
}

#[test]
fn a_full_event_ring_is_counted() {
    if !kernel_available("a_full_event_ring_is_counted") {
        return;
    }
    // No per-cgroup budget: one cgroup fills the ring here.
    let mut probe = Probe::load(&ProbeConfig { event_budget: 0, ..ProbeConfig::default() }).expect("load");
    interest(&mut probe, &["getppid"]);
    let dropped = |p: &Probe| p.snapshot().expect("snapshot").dropped(DropReason::EventRingFull);
    let before = dropped(&probe);
    // Nobody drains: 20,000 events of ~660 bytes overflow the 4 MiB ring.
    let cgroup = TestCgroup::new("flood");
    cgroup.run("python3", &["-c", "import os\nfor _ in range(20000): os.getppid()"]);
    let lost = dropped(&probe) - before;
    let delivered = drain_for(&mut probe, cgroup.id()).len() as u64;
    assert!(lost > 0, "no loss counted");
    assert!(delivered + lost >= 20_000, "delivered {delivered} + lost {lost} < 20000: events vanished silently");
}

#[test]
fn withdrawn_interest_sends_nothing() {
    if !kernel_available("withdrawn_interest_sends_nothing") {
        return;
    }
    let mut probe = Probe::load(&ProbeConfig::default()).expect("load");
    let mut events = probe.take_events().expect("events");
    let cat = ["sh", "-c", "busybox cat /etc/hostname >/dev/null"];
    interest(&mut probe, &["openat"]);
    interest(&mut probe, &[]);
    let cgroup = TestCgroup::new("withdrawn");
    cgroup.run("busybox", &cat);
    assert_eq!(drain(&mut events, cgroup.id()).len(), 0);
    // And back: the exit tracepoint is attached again.
    interest(&mut probe, &["openat"]);
    cgroup.run("busybox", &cat);
    assert!(!drain(&mut events, cgroup.id()).is_empty());
}
