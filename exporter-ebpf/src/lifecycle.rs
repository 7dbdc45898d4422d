//! Process lifecycle: one record per new process, exec and process exit, on a ring buffer
//! of its own (`LIFECYCLE`), so user space keeps its process table from the kernel instead of
//! racing /proc. Classic tracepoints only: their record layouts are stable ABI (see
//! /sys/kernel/tracing/events/<group>/<name>/format). Only the exec record's start time,
//! capabilities and pid in its namespace need kernel struct offsets (from BTF, by user space);
//! without them they are 0.
//!
//! Fork is taken from `task/task_newtask` rather than `sched/sched_process_fork`: both run in
//! the parent for every new task, but only `task_newtask` has the clone flags, which is how a
//! new thread (not sent: the table knows processes) is told from a new process.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_kernel_buf, bpf_probe_read_kernel_str_bytes,
        bpf_probe_read_user, bpf_probe_read_user_str_bytes,
    },
    macros::{map, tracepoint},
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
    programs::TracePointContext,
    EbpfContext,
};
use exporter_ebpf::{
    lifecycle_kind, DropReason, ExecArgs, LifecycleEvent, EXEC_SYSCALLS, MAX_EXEC_ARGS, MAX_EXEC_FILENAME,
    SYSCALL_ARG_OFFSETS,
};

use crate::counting::count_drop;

/// 864-byte records: 2 MiB holds about 2,400, about a second of a fork+exec storm.
#[map]
static LIFECYCLE: RingBuf = RingBuf::with_byte_size(2 * 1024 * 1024, 0);
/// Waiting bytes past which a record wakes the reader (a quarter of the ring). Below it records
/// go in without a wake-up: a wake-up per record costs the process several microseconds at each
/// fork, exec and exit (an interrupt and a reschedule; measured with `bpf_stats`), and the reader
/// takes them at its poll interval or with the next syscall event.
const WAKE_AT_BYTES: u64 = 512 * 1024;
/// Arguments of execs in progress, by calling thread, until their `sched_process_exec`. Least
/// recently used entries make room, so failed execs cannot leak one.
#[map]
static EXEC_ARGV: LruHashMap<u32, ExecArgs> = LruHashMap::with_max_entries(1024, 0);
/// Set to 1 by user space when it attaches the lifecycle programs.
#[map]
static ARGV_ON: Array<u32> = Array::with_max_entries(1, 0);
/// Where `ExecArgs` is built: too large for the 512-byte BPF stack.
#[map]
static ARGV_SCRATCH: PerCpuArray<ExecArgs> = PerCpuArray::with_max_entries(1, 0);

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
    let (Ok(loc), Ok(old_pid)) = (unsafe { ctx.read_at::<u32>(8) }, unsafe { ctx.read_at::<u32>(16) }) else {
        return 0;
    };
    // The arguments were kept at the syscall's entry by the thread that called exec (old_pid).
    let argv = unsafe { EXEC_ARGV.get(&old_pid) };
    send(lifecycle_kind::EXEC, 0, 0, Some((&ctx, loc, argv)));
    let _ = EXEC_ARGV.remove(&old_pid);
    0
}

/// Called by the `sys_enter` program for execve and execveat (`nr`): keeps the arguments while
/// the lifecycle programs run. Taken there, not from `syscalls/sys_enter_execve`: enabling any
/// classic syscall tracepoint makes every syscall on the machine pay the kernel's check for it.
#[inline(never)]
pub(crate) fn keep_exec_args(regs: *const u8, nr: usize) {
    if ARGV_ON.get(0).is_none_or(|on| *on == 0) {
        return;
    }
    // execve(filename, argv, envp); execveat(dirfd, filename, argv, envp, flags).
    let offset = if nr == EXEC_SYSCALLS[0] { SYSCALL_ARG_OFFSETS[1] } else { SYSCALL_ARG_OFFSETS[2] };
    if let Ok(argv) = unsafe { bpf_probe_read_kernel(regs.add(offset) as *const u64) } {
        keep_argv(argv as *const u64);
    }
}

/// Copies up to `MAX_EXEC_ARGS` arguments from the caller's memory (still the old image: this
/// runs at the syscall's entry) and keeps them for the exec record.
#[inline(always)]
fn keep_argv(argv: *const u64) {
    let Some(buf) = ARGV_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let buf = unsafe { &mut *buf };
    buf.argc = 0;
    // A constant trip count: the verifier bounds the loop and every slot index.
    for i in 0..MAX_EXEC_ARGS {
        let Ok(arg) = (unsafe { bpf_probe_read_user(argv.add(i)) }) else {
            break;
        };
        if arg == 0 {
            break;
        }
        if unsafe { bpf_probe_read_user_str_bytes(arg as *const u8, &mut buf.args[i]) }.is_err() {
            buf.args[i][0] = 0;
        }
        buf.argc = i as u32 + 1;
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    let _ = EXEC_ARGV.insert(&tid, &*buf, 0);
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
/// `exec`: the tracepoint context, its filename's `__data_loc` word (offset in the low 16 bits)
/// and the arguments kept at the syscall's entry.
#[inline(always)]
fn send(kind: u32, child: u32, clone_flags: u32, exec: Option<(&TracePointContext, u32, Option<&ExecArgs>)>) {
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
    event.argv.argc = 0;
    (event.start_boottime_ns, event.cap_effective, event.cap_permitted, event.vpid) = (0, 0, 0, 0);
    if let Some((ctx, loc, argv)) = exec {
        if let Some(identity) = crate::task::start_and_caps() {
            (event.start_boottime_ns, event.cap_effective, event.cap_permitted) = identity;
        }
        event.vpid = crate::task::pid_in_namespace().unwrap_or(0);
        if let Some(argv) = argv {
            // A helper copy: a plain 520-byte assignment would be a memcpy call BPF lacks.
            let dst = unsafe {
                core::slice::from_raw_parts_mut(
                    &mut event.argv as *mut ExecArgs as *mut u8,
                    core::mem::size_of::<ExecArgs>(),
                )
            };
            if unsafe { bpf_probe_read_kernel_buf(argv as *const ExecArgs as *const u8, dst) }.is_err() {
                event.argv.argc = 0;
            }
        }
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
    let waiting = LIFECYCLE.query(BPF_RB_AVAIL_DATA as u64);
    entry.submit(if waiting >= WAKE_AT_BYTES { BPF_RB_FORCE_WAKEUP } else { BPF_RB_NO_WAKEUP } as u64);
}
