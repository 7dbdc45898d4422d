//! Process lifecycle: one small record per new process, exec and process exit, on a ring buffer
//! of its own (`LIFECYCLE`), so user space keeps its process table from the kernel instead of
//! racing /proc. Classic tracepoints only: their record layouts are stable ABI (see
//! /sys/kernel/tracing/events/<group>/<name>/format), so no kernel struct offsets are needed.
//!
//! Fork is taken from `task/task_newtask` rather than `sched/sched_process_fork`: both run in
//! the parent for every new task, but only `task_newtask` has the clone flags, which is how a
//! new thread (not sent: the table knows processes) is told from a new process.

use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        bpf_ktime_get_ns, bpf_probe_read_kernel_str_bytes,
    },
    macros::{map, tracepoint},
    maps::RingBuf,
    programs::TracePointContext,
    EbpfContext,
};
use exporter_ebpf::{lifecycle_kind, DropReason, LifecycleEvent, MAX_EXEC_FILENAME};

use crate::count_drop;

/// 320-byte records: 1 MiB holds about 3,200, several seconds of a fork+exec storm.
#[map]
static LIFECYCLE: RingBuf = RingBuf::with_byte_size(1024 * 1024, 0);

/// `CLONE_THREAD` from include/uapi/linux/sched.h.
const CLONE_THREAD: u64 = 0x0001_0000;

/// `task/task_newtask`: pid_t pid @8, char comm[16] @12, u64 clone_flags @32.
#[tracepoint]
pub fn lifecycle_fork(ctx: TracePointContext) -> u32 {
    let (Ok(child), Ok(flags)) = (unsafe { ctx.read_at::<i32>(8) }, unsafe { ctx.read_at::<u64>(32) }) else {
        return 0;
    };
    if flags & CLONE_THREAD != 0 {
        return 0;
    }
    send(lifecycle_kind::FORK, child as u32, flags as u32, None);
    0
}

/// `sched/sched_process_exec`: __data_loc char[] filename @8, pid_t pid @12, old_pid @16.
/// Runs after the new image is committed: current's comm and credentials are the new ones.
#[tracepoint]
pub fn lifecycle_exec(ctx: TracePointContext) -> u32 {
    let Ok(loc) = (unsafe { ctx.read_at::<u32>(8) }) else {
        return 0;
    };
    send(lifecycle_kind::EXEC, 0, 0, Some((&ctx, loc)));
    0
}

/// `sched/sched_process_exit`: bool group_dead @32. Runs once per exiting thread; only the
/// last one (group_dead) ends the process, whichever thread it is.
#[tracepoint]
pub fn lifecycle_exit(ctx: TracePointContext) -> u32 {
    match unsafe { ctx.read_at::<u8>(32) } {
        Ok(0) | Err(_) => {}
        Ok(_) => send(lifecycle_kind::EXIT, 0, 0, None),
    }
    0
}

/// Builds the record in place in the ring (no copy through the 512-byte stack) and sends it.
/// `filename`: the tracepoint context and its `__data_loc` word (offset in the low 16 bits).
#[inline(always)]
fn send(kind: u32, child: u32, clone_flags: u32, filename: Option<(&TracePointContext, u32)>) {
    let Some(mut entry) = LIFECYCLE.reserve::<LifecycleEvent>(0) else {
        count_drop(DropReason::LifecycleRingFull);
        return;
    };
    // SAFETY: the reservation is a whole, exclusively owned LifecycleEvent; every field is
    // written below before submit (the ring is not zeroed).
    let event = unsafe { &mut *entry.as_mut_ptr() };
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    event.ktime_ns = unsafe { bpf_ktime_get_ns() };
    event.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    event.kind = kind;
    event.tgid = (pid_tgid >> 32) as u32;
    event.tid = pid_tgid as u32;
    event.child = child;
    event.uid = uid_gid as u32;
    event.gid = (uid_gid >> 32) as u32;
    event.clone_flags = clone_flags;
    event.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    event.filename_len = 0;
    event.filename[0] = 0;
    if let Some((ctx, loc)) = filename {
        // The offset is relative to the record; masking keeps it a bounded scalar for the
        // verifier (the helper reads kernel memory safely whatever the address).
        let src = unsafe { (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize) };
        event.filename_len = match unsafe { bpf_probe_read_kernel_str_bytes(src, &mut event.filename) } {
            Ok(bytes) => {
                if bytes.len() >= MAX_EXEC_FILENAME - 1 {
                    count_drop(DropReason::PathTruncated);
                }
                bytes.len() as i32 + 1
            }
            Err(errno) => errno as i32,
        };
    }
    entry.submit(0);
}
