//! tracewarden's kernel side: one program on `sys_enter` that counts every syscall per
//! (cgroup slot, syscall nr) in per-CPU maps.
//!
//! Hot path (the cgroup last seen on this CPU): one per-CPU array read for the cached
//! (cgroup, slot), one per-CPU array read for the slot's row, whose owner field confirms the
//! cache is still valid, one add. No hash look-up.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::bpf_get_current_cgroup_id,
    macros::{btf_tracepoint, map, raw_tracepoint},
    maps::{HashMap, PerCpuArray, Queue, RingBuf},
    programs::{BtfTracePointContext, RawTracePointContext},
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

#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter(ctx: BtfTracePointContext) -> i32 {
    // sys_enter(struct pt_regs *regs, long id)
    let nr: i64 = ctx.arg(1);
    count_syscall(nr);
    0
}

/// The same counting on the raw tracepoint: needs no kernel BTF. The benchmark compares both.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_raw(ctx: RawTracePointContext) -> i32 {
    let nr: i64 = ctx.arg(1);
    count_syscall(nr);
    0
}

/// Same hooks, no work: the benchmark's floor for "a program is attached".
#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter_empty(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_raw_empty(_ctx: RawTracePointContext) -> i32 {
    0
}

#[inline(always)]
fn count_syscall(nr: i64) {
    // The verifier needs the index bounded before it indexes the row.
    if !(0..MAX_SYSCALLS as i64).contains(&nr) {
        count_drop(DropReason::SyscallOutOfRange);
        return;
    }
    let cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    let Some(cache) = SLOT_CACHE.get_ptr_mut(0) else {
        return;
    };
    let cache = unsafe { &mut *cache };
    if cache.cgroup_id == cgroup_id {
        if let Some(row) = SYSCALL_COUNTS.get_ptr_mut(cache.slot) {
            let row = unsafe { &mut *row };
            if row[ROW_OWNER] == cgroup_id {
                increment(&mut row[nr as usize]);
                return;
            }
        }
    }
    count_slow(cgroup_id, cache, nr as usize);
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
fn count_drop(reason: DropReason) {
    if let Some(cell) = DROPS.get_ptr_mut(reason as u32) {
        increment(unsafe { &mut *cell });
    }
}

/// Adds one to a per-CPU counter. A plain add is exact: the kernel never runs one tracing
/// program nested on the same CPU (`__bpf_trace_run` skips it while `prog->active` is set, even
/// when the first run was preempted), and user space only writes rows it has unpublished.
#[inline(always)]
fn increment(cell: &mut u64) {
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

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
