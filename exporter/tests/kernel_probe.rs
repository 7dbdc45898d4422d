//! The kernel programs on the real kernel: exact per-cgroup counts, slot exhaustion counted
//! as a drop, slots released and reused.

mod common;

use common::{getppid_loop_args, kernel_available, TestCgroup};
use exporter::kernel::{Hook, Probe, ProbeConfig, Workload};
use exporter_ebpf::DropReason;

const SYS_GETPPID: usize = libc::SYS_getppid as usize;

fn run_getppid(cgroup: &TestCgroup, n: u64) {
    let args = getppid_loop_args(n);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cgroup.run("python3", &args);
}

/// getppid calls the interpreter makes by itself at start-up, measured in a cgroup of its own.
fn startup_getppids(probe: &Probe, name: &str) -> u64 {
    let baseline = TestCgroup::new(name);
    run_getppid(&baseline, 0);
    count_for(probe, baseline.id()).unwrap_or(0)
}

fn count_for(probe: &Probe, cgroup_id: u64) -> Option<u64> {
    let snapshot = probe.snapshot().expect("snapshot");
    snapshot.cgroups.iter().find(|c| c.cgroup_id == cgroup_id).map(|c| c.syscalls[SYS_GETPPID])
}

fn load(hook: Hook, max_slots: u32) -> Probe {
    let config = ProbeConfig { max_slots, hook, workload: Workload::Count, ..Default::default() };
    Probe::load(&config).unwrap_or_else(|e| panic!("loading the probe failed: {e}"))
}

#[test]
fn counts_syscalls_per_cgroup_exactly_on_both_hooks() {
    if !kernel_available("counts_syscalls_per_cgroup_exactly_on_both_hooks") {
        return;
    }
    for hook in [Hook::TpBtf, Hook::RawTp] {
        let probe = load(hook, 64);
        let base = startup_getppids(&probe, &format!("base-{hook:?}"));
        let cgroup = TestCgroup::new(&format!("exact-{hook:?}"));
        run_getppid(&cgroup, 12_345);
        assert_eq!(count_for(&probe, cgroup.id()), Some(base + 12_345), "{hook:?}");
    }
}

#[test]
fn slot_exhaustion_is_counted_and_totals_stay_exact() {
    if !kernel_available("slot_exhaustion_is_counted_and_totals_stay_exact") {
        return;
    }
    // Two slots: the overflow row and one cgroup slot, which the busy host takes at once.
    let probe = load(Hook::TpBtf, 2);
    let cgroup = TestCgroup::new("exhaust");
    let before = probe.snapshot().expect("snapshot");
    run_getppid(&cgroup, 5_000);
    let after = probe.snapshot().expect("snapshot");
    assert_eq!(after.slots_used, 1);
    assert!(after.cgroups.iter().all(|c| c.cgroup_id != cgroup.id()));
    let overflow_delta = after.overflow[SYS_GETPPID] - before.overflow[SYS_GETPPID];
    assert!(overflow_delta >= 5_000, "overflow row got {overflow_delta}");
    let dropped = after.dropped(DropReason::SlotsExhausted) - before.dropped(DropReason::SlotsExhausted);
    assert!(dropped >= 5_000);
}

#[test]
fn released_slot_is_zeroed_and_reused() {
    if !kernel_available("released_slot_is_zeroed_and_reused") {
        return;
    }
    let mut probe = load(Hook::TpBtf, 64);
    let base = startup_getppids(&probe, "release-base");
    let first = TestCgroup::new("release-a");
    run_getppid(&first, 1_000);
    assert_eq!(count_for(&probe, first.id()), Some(base + 1_000));
    let used_before = probe.snapshot().expect("snapshot").slots_used;
    probe.release_cgroup(first.id()).expect("release");
    assert_eq!(count_for(&probe, first.id()), None);
    assert_eq!(probe.snapshot().expect("snapshot").slots_used, used_before - 1);
    // The same cgroup coming back starts from zero in a fresh slot (its cached slot on each
    // CPU is invalidated by the owner check).
    run_getppid(&first, 700);
    assert_eq!(count_for(&probe, first.id()), Some(base + 700));
    // Releasing twice, or something never seen, is harmless.
    probe.release_cgroup(first.id()).expect("release");
    probe.release_cgroup(first.id()).expect("release again");
}
