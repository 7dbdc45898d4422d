//! The exit half of an event: `sys_exit_tracked` completes the thread's entry record with the
//! result and has the prefilter judge it; `send` puts what is left for user space on `EVENTS`.

use aya_ebpf::{
    bindings::BPF_RB_AVAIL_DATA,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid},
    macros::{map, tracepoint},
    maps::RingBuf,
    programs::TracePointContext,
};
use exporter_ebpf::{DropReason, FilterOutcome, SyscallEvent, EVENTS_RING_BYTES};

use crate::{
    counting::count_drop,
    prefilter::{count_outcome, judge},
    socket::describe_socket,
    stash::{arg_at, ARG_SPECS, PENDING},
    throttle::admit,
};

/// Candidate events for the user-space evaluator.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_RING_BYTES, 0);

/// `syscalls/sys_exit_<name>` of each interesting syscall (user space attaches it per syscall):
/// completes the thread's entry record with the result, runs the prefilter, and sends the record
/// only if a rule can still match and the kernel could not decide it alone.
#[tracepoint]
pub fn sys_exit_tracked(ctx: TracePointContext) -> u32 {
    // Layout of every syscalls/sys_exit_* record: int __syscall_nr at 8, long ret at 16.
    let (Ok(nr), Ok(ret)) = (unsafe { ctx.read_at::<i32>(8) }, unsafe { ctx.read_at::<i64>(16) }) else {
        return 0;
    };
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(pending) = PENDING.get_ptr_mut(&tid) else {
        return 0;
    };
    let pending = unsafe { &mut *pending };
    // A record of another syscall is stale (its exit was not tracked): drop it, send nothing.
    // Exceptions: the exec family, whose successful calls may exit under the other's number.
    let same_exec = |nr: u32| ARG_SPECS.get(nr).is_some_and(|s| s.exec_family == 1);
    if pending.nr as i32 == nr || (nr >= 0 && same_exec(pending.nr) && same_exec(nr as u32)) {
        pending.res = ret;
        // An exec changed the name: the rules see the new program.
        pending.comm = bpf_get_current_comm().unwrap_or(pending.comm);
        judge(pending);
    }
    let _ = PENDING.remove(&tid);
    0
}

/// Sends `event` if its cgroup has ring share left or the ring room (`throttle`), first describing the socket its spec names (only events that leave the
/// kernel pay for it; read after the call, so connect's local end and dup's socket are there).
#[inline(always)]
pub(crate) fn send(event: &mut SyscallEvent, outcome: FilterOutcome) {
    // A quarter of the ring unread: the point from which cgroups over their budget wait.
    let crowded = || EVENTS.query(BPF_RB_AVAIL_DATA as u64) > EVENTS_RING_BYTES as u64 / 4;
    if !admit(event.cgroup_id, crowded) {
        return;
    }
    if let Some(fd) = ARG_SPECS.get(event.nr).and_then(|s| arg_at(&event.args, s.sock_fd)) {
        describe_socket(fd & 0xffff_ffff, event);
    }
    if EVENTS.output::<SyscallEvent>(event, 0).is_err() {
        count_drop(DropReason::EventRingFull);
    } else {
        count_outcome(outcome);
    }
}
