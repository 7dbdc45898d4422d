//! tracewarden's kernel side: one program on `sys_enter` that counts every syscall per
//! (cgroup slot, syscall nr) in per-CPU maps.
//!
//! Hot path (the cgroup last seen on this CPU): one per-CPU array read for the cached
//! (cgroup, slot), one per-CPU array read for the slot's row, whose owner field confirms the
//! cache is still valid, one add, then one array read and a bit test of the `INTERESTING`
//! bitmap. No hash look-up. Only syscalls some rule needs build an event: `stash_entry` records
//! identity, arguments, paths and socket address at entry (before the call can change them) in
//! `PENDING`, keyed by thread; `sys_exit_tracked`, attached by user space to the exit tracepoint
//! of just those syscalls, adds the result and sends the record on `EVENTS`. Other syscalls never
//! pay for the exit side.
//!
//! One file per job: `counting` (the hot path), `stash` (entry records), `exit` (the exit
//! program and `EVENTS`), `long_path` (path arguments too long for an event), `prefilter` and `path_rules` (the rules decided in the kernel),
//! `path_walk` (naming an opened file), `socket` (describing a descriptor's socket), `task`
//! (task-field reads), `lifecycle` (process records), `throttle` (each cgroup's share of the
//! event ring).
#![no_std]
#![no_main]

mod counting;
mod exit;
mod lifecycle;
mod long_path;
mod path_rules;
mod path_walk;
mod prefilter;
mod socket;
mod stash;
mod task;
mod throttle;

use aya_ebpf::{
    helpers::bpf_get_current_cgroup_id,
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use counting::{count_drop, count_syscall};
use exporter_ebpf::{DropReason, EXEC_SYSCALLS, MAX_SYSCALLS};
use stash::{is_interesting, stash_entry};

#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter(ctx: BtfTracePointContext) -> i32 {
    // sys_enter(struct pt_regs *regs, long id)
    on_sys_enter(ctx.arg(0), ctx.arg(1));
    0
}

/// The same on the raw tracepoint: needs no kernel BTF. The benchmark compares both.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter_raw(ctx: RawTracePointContext) -> i32 {
    on_sys_enter(ctx.arg(0), ctx.arg(1));
    0
}

#[inline(always)]
fn on_sys_enter(regs: *const u8, nr: i64) {
    // The verifier needs the index bounded before it indexes the row and the bitmap.
    if !(0..MAX_SYSCALLS as i64).contains(&nr) {
        count_drop(DropReason::SyscallOutOfRange);
        return;
    }
    let nr = nr as usize;
    let cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    count_syscall(cgroup_id, nr);
    if nr == EXEC_SYSCALLS[0] || nr == EXEC_SYSCALLS[1] {
        lifecycle::keep_exec_args(regs, nr);
    }
    if is_interesting(nr) {
        stash_entry(regs, nr, cgroup_id);
    }
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

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
