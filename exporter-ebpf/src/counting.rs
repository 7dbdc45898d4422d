//! The counting hot path: every syscall, per (cgroup slot, syscall nr), in per-CPU rows. Slots
//! come from `FREE_SLOTS` the first time a cgroup is seen and are cached per CPU. Also the drop
//! counters (`DROPS`) that every job reports to.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    macros::map,
    maps::{HashMap, PerCpuArray, Queue, RingBuf},
};
use exporter_ebpf::{
    DropReason, KernelRow, SlotCache, DEFAULT_MAX_SLOTS, DROP_REASONS, MAX_SYSCALLS, OVERFLOW_SLOT, ROW_OWNER,
};

// Sizes of the slot-indexed maps are defaults: user space sets them before load.
#[map]
static SYSCALL_COUNTS: PerCpuArray<KernelRow> = PerCpuArray::with_max_entries(DEFAULT_MAX_SLOTS, 0);
#[map]
static CGROUP_SLOTS: HashMap<u64, u32> = HashMap::with_max_entries(DEFAULT_MAX_SLOTS, 0);
/// Free slots. User space fills it at start and pushes slots back when it frees them.
#[map]
static FREE_SLOTS: Queue<u32> = Queue::with_max_entries(DEFAULT_MAX_SLOTS, 0);
/// Ids of cgroups that just got a slot, so user space names them while they exist (a container
/// can live for milliseconds). Written only on the slow path; 16 bytes a record.
#[map]
static NEW_CGROUPS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);
#[map]
static SLOT_CACHE: PerCpuArray<SlotCache> = PerCpuArray::with_max_entries(1, 0);
#[map]
static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(DROP_REASONS, 0);

#[inline(always)]
pub(crate) fn count_syscall(cgroup_id: u64, nr: usize) {
    let Some(cache) = SLOT_CACHE.get_ptr_mut(0) else {
        return;
    };
    let cache = unsafe { &mut *cache };
    if cache.cgroup_id == cgroup_id {
        if let Some(row) = SYSCALL_COUNTS.get_ptr_mut(cache.slot) {
            let row = unsafe { &mut *row };
            if row[ROW_OWNER] == cgroup_id {
                increment(&mut row[nr]);
                return;
            }
        }
    }
    count_slow(cgroup_id, cache, nr);
}

/// A different cgroup than last time on this CPU, or a freed slot: find or assign the slot,
/// claim this CPU's copy of its row and re-prime the cache.
#[inline(never)]
fn count_slow(cgroup_id: u64, cache: &mut SlotCache, nr: usize) {
    let slot = lookup_or_assign_slot(cgroup_id);
    let Some(row) = SYSCALL_COUNTS.get_ptr_mut(slot) else {
        return;
    };
    let row = unsafe { &mut *row };
    if slot != OVERFLOW_SLOT {
        row[ROW_OWNER] = cgroup_id;
        cache.cgroup_id = cgroup_id;
        cache.slot = slot;
    }
    if nr < MAX_SYSCALLS {
        increment(&mut row[nr]);
    }
}

#[inline(always)]
pub(crate) fn count_drop(reason: DropReason) {
    if let Some(cell) = DROPS.get_ptr_mut(reason as u32) {
        increment(unsafe { &mut *cell });
    }
}

/// Adds one to a per-CPU counter. A plain add is exact: the kernel never runs one tracing
/// program nested on the same CPU (`__bpf_trace_run` skips it while `prog->active` is set, even
/// when the first run was preempted), and user space only writes rows it has unpublished.
#[inline(always)]
pub(crate) fn increment(cell: &mut u64) {
    *cell += 1;
}

#[inline(always)]
fn lookup_or_assign_slot(cgroup_id: u64) -> u32 {
    if let Some(slot) = unsafe { CGROUP_SLOTS.get(&cgroup_id) } {
        return *slot;
    }
    let Ok(Some(slot)) = FREE_SLOTS.pop() else {
        count_drop(DropReason::SlotsExhausted);
        return OVERFLOW_SLOT;
    };
    if CGROUP_SLOTS.insert(&cgroup_id, &slot, BPF_NOEXIST as u64).is_ok() {
        if NEW_CGROUPS.output::<u64>(cgroup_id, 0).is_err() {
            count_drop(DropReason::NewCgroupNoticeLost);
        }
        return slot;
    }
    // Lost a race with another CPU for the same cgroup, or the map is full: give the slot back.
    let _ = FREE_SLOTS.push(&slot, 0);
    match unsafe { CGROUP_SLOTS.get(&cgroup_id) } {
        Some(slot) => *slot,
        None => {
            count_drop(DropReason::SlotMapFull);
            OVERFLOW_SLOT
        }
    }
}
