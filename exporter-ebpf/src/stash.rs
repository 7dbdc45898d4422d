//! The entry half of an event: for the syscalls some rule needs (`INTERESTING`), `stash_entry`
//! records identity, arguments, paths and socket address before the call can change them, and
//! keeps the record in `PENDING`, by thread, for the exit program (`exit.rs`) when the prefilter
//! finds a rule it can still match.

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_ktime_get_ns,
        bpf_probe_read_kernel, bpf_probe_read_user_buf, bpf_probe_read_user_str_bytes,
    },
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray},
};
use exporter_ebpf::{
    ArgSpec, DropReason, SyscallEvent, INTERESTING_WORDS, MAX_PATH, MAX_PENDING, MAX_SOCKADDR, MAX_SYSCALLS,
    SYSCALL_ARGS_START, SYSCALL_ARG_OFFSETS,
};

use crate::{
    counting::count_drop,
    long_path::send_long_path,
    prefilter::{judge, may_match},
    task::effective_ids,
};

const ENOSYS: i64 = 38;

/// Bitmap of the syscalls some loaded rule needs events of; written by user space on (re)load.
#[map]
static INTERESTING: Array<u64> = Array::with_max_entries(INTERESTING_WORDS, 0);
/// Per syscall number: which arguments to copy from user memory into its event.
#[map]
pub(crate) static ARG_SPECS: Array<ArgSpec> = Array::with_max_entries(MAX_SYSCALLS as u32, 0);
/// Entry records awaiting their syscall's exit, by thread id.
#[map]
pub(crate) static PENDING: LruHashMap<u32, SyscallEvent> = LruHashMap::with_max_entries(MAX_PENDING, 0);
/// Where an entry record is built: it is too large for the 512-byte BPF stack.
#[map]
static SCRATCH: PerCpuArray<SyscallEvent> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
pub(crate) fn is_interesting(nr: usize) -> bool {
    INTERESTING.get((nr / 64) as u32).is_some_and(|word| word & (1u64 << (nr % 64)) != 0)
}

/// Records a syscall's entry: identity, the six raw arguments, and the path and socket-address
/// arguments `ARG_SPECS` names, copied from user memory, stashed in `PENDING` for the exit.
/// Kept out of line so the common path stays small.
#[inline(never)]
pub(crate) fn stash_entry(regs: *const u8, nr: usize, cgroup_id: u64) {
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
        let read = unsafe { bpf_probe_read_user_str_bytes(user, &mut event.paths[i]) }.map(|bytes| bytes.len());
        event.path_lens[i] = match read {
            Ok(len) => {
                // `len` excludes the NUL: a string that filled the buffer was cut. It is never
                // judged by its first bytes (the prefilter leaves it undecided), and user space
                // gets it whole, before the event. Sent before the prefilter's verdict: a few
                // are for events it then drops (user space lets those go).
                if len >= MAX_PATH - 1 && !send_long_path(event, i as u32, user) {
                    count_drop(DropReason::PathTruncated);
                }
                len as i32 + 1
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
    if spec.enosys == 1 {
        // Not implemented here: the call can only fail with ENOSYS, and there is no exit
        // tracepoint to wait for.
        event.res = -ENOSYS;
        judge(event);
        return;
    }
    if PENDING.insert(&event.tid, &*event, 0).is_err() {
        count_drop(DropReason::PendingStashFailed);
    }
}

/// Argument `index` of six (`NO_ARG` or out of range: None). Constant indices only: with a
/// variable index LLVM may fuse the spec bytes and the verifier loses the bound.
#[inline(always)]
pub(crate) fn arg_at(args: &[u64; 6], index: u8) -> Option<u64> {
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
