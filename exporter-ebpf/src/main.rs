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
#![no_std]
#![no_main]

mod counting;
mod lifecycle;
mod path_rules;
mod path_walk;
mod prefilter;
mod task;

use aya_ebpf::{
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_user_buf, bpf_probe_read_user_str_bytes,
    },
    macros::{btf_tracepoint, map, raw_tracepoint, tracepoint},
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
    programs::{BtfTracePointContext, RawTracePointContext, TracePointContext},
};
use counting::{count_drop, count_syscall};
use exporter_ebpf::{
    ArgSpec, DropReason, FilterOutcome, SyscallEvent, EXEC_SYSCALLS, INTERESTING_WORDS, MAX_PATH, MAX_PENDING,
    MAX_SOCKADDR, MAX_SYSCALLS, SYSCALL_ARGS_START, SYSCALL_ARG_OFFSETS,
};
use prefilter::{count_outcome, judge, may_match};
use task::effective_ids;

/// Bitmap of the syscalls some loaded rule needs events of; written by user space on (re)load.
#[map]
static INTERESTING: Array<u64> = Array::with_max_entries(INTERESTING_WORDS, 0);
/// Per syscall number: which arguments to copy from user memory into its event.
#[map]
static ARG_SPECS: Array<ArgSpec> = Array::with_max_entries(MAX_SYSCALLS as u32, 0);
/// Candidate events for the user-space evaluator.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(4 * 1024 * 1024, 0);
/// Entry records awaiting their syscall's exit, by thread id.
#[map]
static PENDING: LruHashMap<u32, SyscallEvent> = LruHashMap::with_max_entries(MAX_PENDING, 0);
/// Where an entry record is built: it is too large for the 512-byte BPF stack.
#[map]
static SCRATCH: PerCpuArray<SyscallEvent> = PerCpuArray::with_max_entries(1, 0);

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

#[inline(always)]
fn is_interesting(nr: usize) -> bool {
    INTERESTING.get((nr / 64) as u32).is_some_and(|word| word & (1u64 << (nr % 64)) != 0)
}

/// Records a syscall's entry: identity, the six raw arguments, and the path and socket-address
/// arguments `ARG_SPECS` names, copied from user memory, stashed in `PENDING` for the exit.
/// Kept out of line so the common path stays small.
#[inline(never)]
fn stash_entry(regs: *const u8, nr: usize, cgroup_id: u64) {
    let Some(event) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let event = unsafe { &mut *event };
    let pid_tgid = bpf_get_current_pid_tgid();
    event.res = 0;
    let uid_gid = bpf_get_current_uid_gid();
    event.ktime_ns = unsafe { bpf_ktime_get_ns() };
    event.cgroup_id = cgroup_id;
    event.tgid = (pid_tgid >> 32) as u32;
    event.tid = pid_tgid as u32;
    let (uid, gid) = effective_ids().unwrap_or((uid_gid as u32, (uid_gid >> 32) as u32));
    event.uid = uid;
    event.gid = gid;
    event.nr = nr as u32;
    event.flags = 0;
    // Until the exit's prefilter narrows them: every rule possible, none decided.
    event.rules = u64::MAX;
    event.decided = 0;
    event.undecided = 0;
    event.generation = 0;
    event.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    // One read of the 64 bytes that hold all six (six reads cost six helper calls).
    let block: [u64; 8] =
        unsafe { bpf_probe_read_kernel(regs.add(SYSCALL_ARGS_START) as *const [u64; 8]) }.unwrap_or([0; 8]);
    for (i, offset) in SYSCALL_ARG_OFFSETS.iter().enumerate() {
        event.args[i] = block[(offset - SYSCALL_ARGS_START) / 8];
    }
    let spec = ARG_SPECS.get(nr as u32).copied().unwrap_or(ArgSpec::NONE);
    for i in 0..2 {
        event.path_lens[i] = 0;
        let Some(user) = arg_at(&event.args, spec.paths[i]) else {
            continue;
        };
        let user = user as *const u8;
        event.path_lens[i] = match unsafe { bpf_probe_read_user_str_bytes(user, &mut event.paths[i]) } {
            Ok(bytes) => {
                // `bytes` excludes the NUL: a string that filled the buffer was cut.
                if bytes.len() >= MAX_PATH - 1 {
                    count_drop(DropReason::PathTruncated);
                }
                bytes.len() as i32 + 1
            }
            Err(errno) => errno as i32,
        };
    }
    event.sockaddr_len = 0;
    if let (Some(user), Some(len)) = (arg_at(&event.args, spec.sockaddr), arg_at(&event.args, spec.sockaddr_len)) {
        let user = user as *const u8;
        let len = (len as usize).min(MAX_SOCKADDR);
        // A constant-size read keeps the verifier simple; user space uses the first `len` bytes.
        if unsafe { bpf_probe_read_user_buf(user, &mut event.sockaddr) }.is_ok() {
            event.sockaddr_len = len as u32;
        }
    }
    if !may_match(event) {
        return;
    }
    if PENDING.insert(&event.tid, &*event, 0).is_err() {
        count_drop(DropReason::PendingStashFailed);
    }
}

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

#[inline(always)]
fn send(event: &SyscallEvent, outcome: FilterOutcome) {
    if EVENTS.output::<SyscallEvent>(event, 0).is_err() {
        count_drop(DropReason::EventRingFull);
    } else {
        count_outcome(outcome);
    }
}

/// Argument `index` of six (`NO_ARG` or out of range: None). Constant indices only: with a
/// variable index LLVM may fuse the spec bytes and the verifier loses the bound.
#[inline(always)]
fn arg_at(args: &[u64; 6], index: u8) -> Option<u64> {
    match index {
        0 => Some(args[0]),
        1 => Some(args[1]),
        2 => Some(args[2]),
        3 => Some(args[3]),
        4 => Some(args[4]),
        5 => Some(args[5]),
        _ => None,
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
