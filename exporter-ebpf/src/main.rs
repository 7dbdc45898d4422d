//! tracewarden's kernel side: one program on `sys_enter` that counts every syscall per
//! (cgroup slot, syscall nr) in per-CPU maps.
//!
//! Hot path (a cgroup seen before on this CPU): one per-CPU array read for the cached
//! (cgroup, slot), one array read to confirm the slot still belongs to that cgroup, one per-CPU
//! array read for the slot's row, one add. No hash look-up. The verifier inlines all three
//! array look-ups.
#![no_std]
#![no_main]
// The BPF target has no `AtomicU64::fetch_add`; the intrinsic lowers to BPF's atomic add.
#![feature(core_intrinsics)]
#![allow(internal_features)]

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::bpf_get_current_cgroup_id,
    macros::{btf_tracepoint, map, raw_tracepoint},
    maps::{Array, HashMap, PerCpuArray, Queue},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use exporter_ebpf::{DropReason, SlotCache, SyscallRow, DEFAULT_MAX_SLOTS, DROP_REASONS, MAX_SYSCALLS, OVERFLOW_SLOT};

// Sizes of the slot-indexed maps are defaults: user space sets them before load.
#[map]
static SYSCALL_COUNTS: PerCpuArray<SyscallRow> = PerCpuArray::with_max_entries(DEFAULT_MAX_SLOTS, 0);
#[map]
static CGROUP_SLOTS: HashMap<u64, u32> = HashMap::with_max_entries(DEFAULT_MAX_SLOTS, 0);
/// slot -> cgroup id owning it (0 = free). Validates the per-CPU cache: user space clears an
/// owner when it frees a slot, which invalidates every CPU's cached copy at once.
#[map]
static SLOT_OWNERS: Array<u64> = Array::with_max_entries(DEFAULT_MAX_SLOTS, 0);
/// Free slots. User space fills it at start and pushes slots back when it frees them.
#[map]
static FREE_SLOTS: Queue<u32> = Queue::with_max_entries(DEFAULT_MAX_SLOTS, 0);
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
    if nr < 0 || nr >= MAX_SYSCALLS as i64 {
        count_drop(DropReason::SyscallOutOfRange);
        return;
    }
    let slot = current_slot();
    if let Some(row) = SYSCALL_COUNTS.get_ptr_mut(slot) {
        increment(unsafe { (*row).as_mut_ptr().add(nr as usize) });
    }
}

#[inline(always)]
fn count_drop(reason: DropReason) {
    if let Some(cell) = DROPS.get_ptr_mut(reason as u32) {
        increment(cell);
    }
}

/// Adds one to a per-CPU counter. Per-CPU, yet a preemptible kernel can interleave two
/// programs on one CPU, so the add is atomic: exact counts for one locked instruction.
#[inline(always)]
fn increment(cell: *mut u64) {
    use core::intrinsics::{atomic_xadd, AtomicOrdering};
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(cell, 1) };
}

/// The slot of the current task's cgroup: cached per CPU, else looked up, else allocated.
#[inline(always)]
fn current_slot() -> u32 {
    let cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    let Some(cache) = SLOT_CACHE.get_ptr_mut(0) else {
        return OVERFLOW_SLOT;
    };
    let cache = unsafe { &mut *cache };
    if cache.cgroup_id == cgroup_id && owner_of(cache.slot) == cgroup_id {
        return cache.slot;
    }
    let slot = lookup_or_assign_slot(cgroup_id);
    if slot != OVERFLOW_SLOT {
        cache.cgroup_id = cgroup_id;
        cache.slot = slot;
    }
    slot
}

#[inline(always)]
fn owner_of(slot: u32) -> u64 {
    SLOT_OWNERS.get(slot).copied().unwrap_or(0)
}

#[inline(never)]
fn lookup_or_assign_slot(cgroup_id: u64) -> u32 {
    if let Some(slot) = unsafe { CGROUP_SLOTS.get(&cgroup_id) } {
        return *slot;
    }
    let Ok(Some(slot)) = FREE_SLOTS.pop() else {
        count_drop(DropReason::SlotsExhausted);
        return OVERFLOW_SLOT;
    };
    // Claim the slot before publishing it, so a reader that finds it in CGROUP_SLOTS also
    // finds the matching owner.
    if let Some(owner) = SLOT_OWNERS.get_ptr_mut(slot) {
        unsafe { *owner = cgroup_id };
    }
    if CGROUP_SLOTS.insert(&cgroup_id, &slot, BPF_NOEXIST as u64).is_ok() {
        return slot;
    }
    // Lost a race with another CPU for the same cgroup, or the map is full: give the slot back.
    if let Some(owner) = SLOT_OWNERS.get_ptr_mut(slot) {
        unsafe { *owner = 0 };
    }
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
