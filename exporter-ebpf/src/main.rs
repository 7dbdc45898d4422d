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
mod path_walk;
mod task;

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_probe_read_user_buf, bpf_probe_read_user_str_bytes, generated,
    },
    macros::{btf_tracepoint, map, raw_tracepoint, tracepoint},
    maps::{lpm_trie::Key, Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{BtfTracePointContext, RawTracePointContext, TracePointContext},
};
use counting::{count_drop, count_syscall, increment};
use exporter_ebpf::{
    ArgSpec, DropReason, FilterMasks, FilterOutcome, InodeKey, RuleHitKey, RuleHitValue, RuleMasks, SyscallEvent,
    CGROUP_HOST, EVENT_MULTI_LINK, EVENT_NARROWED, EVENT_RESOLVED_PATH, EXEC_SYSCALLS, FILTER_OUTCOMES,
    INTERESTING_WORDS, KERNEL_RULE_BITS, MAX_PATH, MAX_PENDING, MAX_SOCKADDR, MAX_SYSCALLS, NO_ARG, OPEN_FLAGS_CREAT,
    OPEN_FLAGS_HOW, SAMPLE_INTERVAL_NS, SYSCALL_ARGS_START, SYSCALL_ARG_OFFSETS,
};
use path_walk::name_open_file;
use task::{effective_ids, exe_is_memfd};

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
/// The prefilter's tables (see `FilterMasks`), all written by user space on (re)load.
#[map]
static FILTER: Array<FilterMasks> = Array::with_max_entries(1, 0);
/// Per syscall number: the rule bits that can match it.
#[map]
static SYSCALL_RULES: Array<u64> = Array::with_max_entries(MAX_SYSCALLS as u32, 0);
/// Watched paths: exact ones with their NUL, prefixes without. Each value holds the bits of every
/// rule matching that key, including those of shorter prefixes (the trie returns one entry).
#[map]
static PATHS: LpmTrie<[u8; MAX_PATH], u64> = LpmTrie::with_max_entries(4096, BPF_F_NO_PREALLOC);
/// Remote ports (host order) -> rule bits.
#[map]
static PORTS: HashMap<u16, u64> = HashMap::with_max_entries(1024, 0);
#[map]
static COMMS: HashMap<[u8; 16], RuleMasks> = HashMap::with_max_entries(1024, 0);
#[map]
static UIDS: HashMap<u32, RuleMasks> = HashMap::with_max_entries(256, 0);
/// Host or container, per cgroup id, as user space resolved it.
#[map]
static CGROUP_KIND: LruHashMap<u64, u8> = LruHashMap::with_max_entries(16384, 0);
/// Hits of kernel-decided rules per (cgroup, rule id), per CPU.
#[map]
static RULE_HITS: PerCpuHashMap<RuleHitKey, RuleHitValue> = PerCpuHashMap::with_max_entries(16384, 0);
#[map]
static FILTER_STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(FILTER_OUTCOMES, 0);
/// Watched files by (device, inode) -> rule bits, so a hard link to one is seen as that file.
#[map]
static INODES: HashMap<InodeKey, u64> = HashMap::with_max_entries(4096, 0);
/// The `PATHS` look-up key (260 bytes, too large for the stack next to the rest).
#[map]
static LPM_KEY: PerCpuArray<Key<[u8; MAX_PATH]>> = PerCpuArray::with_max_entries(1, 0);

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

/// The prefilter: narrows the rules that can match `event` with what the kernel knows (result,
/// container, comm, uid, open flags, path, remote port), counts the rules it decided outright,
/// and sends the event when user space has something left to evaluate (or a sampled alert).
#[inline(never)]
fn judge(event: &mut SyscallEvent) {
    let (Some(masks), Some(spec)) = (FILTER.get(0), ARG_SPECS.get(event.nr)) else {
        return send(event, FilterOutcome::Sent);
    };
    // Generation 0: no tables yet, or user space is rewriting them. Send unfiltered.
    if masks.generation == 0 {
        return send(event, FilterOutcome::Sent);
    }
    // What the entry found still holds unless the rules were swapped in between.
    let narrowed = event.flags & EVENT_NARROWED != 0 && event.generation == masks.generation;
    let (mut rules, mut undecided) = if narrowed {
        (event.rules, event.undecided)
    } else {
        let mut undecided = 0u64;
        (narrow_by_caller(event, spec, masks, &mut undecided), undecided)
    };
    if event.res < 0 {
        rules &= !masks.success;
    }
    if event.res != 0 {
        rules &= !masks.res_zero;
    }
    if rules & masks.memfd_exe != 0 {
        match exe_is_memfd() {
            Some(true) => {}
            Some(false) => rules &= !masks.memfd_exe,
            None => undecided |= masks.memfd_exe,
        }
    }
    // A path argument was already tested at entry; the file an open returned is tested here.
    if rules & masks.path != 0 && !(narrowed && spec.returns_fd == 0) {
        match path_rules(event, spec) {
            Some(matching) => rules &= !masks.path | matching,
            None => undecided |= masks.path,
        }
    }
    let decided = rules & masks.complete & !undecided;
    event.rules = rules;
    event.decided = decided;
    event.undecided = undecided;
    event.generation = masks.generation;
    if rules == 0 {
        return count_outcome(FilterOutcome::Dropped);
    }
    let sampled = decided != 0 && count_hits(event.cgroup_id, decided, &masks.rule_ids);
    if rules & !decided != 0 || sampled {
        send(event, if rules & !decided != 0 { FilterOutcome::Sent } else { FilterOutcome::Counted });
    } else {
        count_outcome(FilterOutcome::Counted);
    }
}

/// The rules `event` can still match by what is known before the call runs: the syscall, the
/// cgroup's kind, comm, uid, open flags and remote port. Tests it could not make are added to
/// `undecided`.
#[inline(always)]
fn narrow_by_caller(event: &SyscallEvent, spec: &ArgSpec, masks: &FilterMasks, undecided: &mut u64) -> u64 {
    let mut rules = SYSCALL_RULES.get(event.nr).copied().unwrap_or(0);
    // Each hash look-up only when some rule left needs it.
    if rules & masks.container_only != 0 {
        match unsafe { CGROUP_KIND.get(&event.cgroup_id) } {
            Some(&CGROUP_HOST) => rules &= !masks.container_only,
            Some(_) => {}
            None => *undecided |= masks.container_only,
        }
    }
    if rules & (masks.comm_any | masks.comm_none) != 0 {
        rules = narrow(rules, masks.comm_any, unsafe { COMMS.get(&event.comm) });
    }
    if rules & (masks.uid_any | masks.uid_none) != 0 {
        rules = narrow(rules, masks.uid_any, unsafe { UIDS.get(&event.uid) });
    }
    match open_access(event, spec) {
        Some((read, write)) => {
            if !read {
                rules &= !masks.open_read;
            }
            if !write {
                rules &= !masks.open_write;
            }
        }
        None => *undecided |= masks.open_read | masks.open_write,
    }
    if rules & masks.rport != 0 {
        match remote_port(event) {
            Some(port) => rules &= !masks.rport | unsafe { PORTS.get(&port) }.copied().unwrap_or(0),
            None => *undecided |= masks.rport,
        }
    }
    rules
}

/// At entry: whether a rule can still match, from what is known before the call (all but the
/// result, and for the open family the file actually opened). An event that cannot is never
/// stashed, so its exit costs one failed look-up; one that can keeps what was found for the exit
/// (`EVENT_NARROWED`). The exec family waits for its exit: the program, and with it comm and
/// executable, change.
#[inline(never)]
fn may_match(event: &mut SyscallEvent) -> bool {
    let (Some(masks), Some(spec)) = (FILTER.get(0), ARG_SPECS.get(event.nr)) else {
        return true;
    };
    if event.tgid == masks.self_tgid {
        count_outcome(FilterOutcome::Dropped);
        return false;
    }
    if masks.generation == 0 || spec.exec_family == 1 {
        return true;
    }
    let mut undecided = 0u64;
    let mut rules = narrow_by_caller(event, spec, masks, &mut undecided);
    if spec.returns_fd == 0 && rules & masks.path != 0 {
        match raw_path_rules(event) {
            Some(matching) => rules &= !masks.path | matching,
            None => undecided |= masks.path,
        }
    }
    if rules == 0 {
        count_outcome(FilterOutcome::Dropped);
        return false;
    }
    event.rules = rules;
    event.undecided = undecided;
    event.generation = masks.generation;
    event.flags |= EVENT_NARROWED;
    true
}

/// Applies a `COMMS`/`UIDS` look-up: rules listing values (`listed`) keep only those that list
/// this one; rules excluding this value drop.
#[inline(always)]
fn narrow(rules: u64, listed: u64, entry: Option<&RuleMasks>) -> u64 {
    match entry {
        Some(m) => rules & (!listed | m.any) & !m.none,
        None => rules & !listed,
    }
}

#[inline(always)]
fn send(event: &SyscallEvent, outcome: FilterOutcome) {
    if EVENTS.output::<SyscallEvent>(event, 0).is_err() {
        count_drop(DropReason::EventRingFull);
    } else {
        count_outcome(outcome);
    }
}

#[inline(always)]
fn count_outcome(outcome: FilterOutcome) {
    if let Some(cell) = FILTER_STATS.get_ptr_mut(outcome as u32) {
        increment(unsafe { &mut *cell });
    }
}

/// Counts a hit of every rule in `decided` for the cgroup; true when one of them is due an
/// alert event (its first hit here, or `SAMPLE_INTERVAL_NS` since the last one on this CPU).
#[inline(never)]
fn count_hits(cgroup_id: u64, decided: u64, rule_ids: &[u32; KERNEL_RULE_BITS]) -> bool {
    let now = unsafe { bpf_ktime_get_ns() };
    let mut sample = false;
    for bit in 0..KERNEL_RULE_BITS {
        if decided >> bit & 1 == 0 {
            continue;
        }
        let key = RuleHitKey { cgroup_id, rule_id: rule_ids[bit], _pad: 0 };
        match RULE_HITS.get_ptr_mut(&key) {
            Some(hit) => {
                let hit = unsafe { &mut *hit };
                increment(&mut hit.hits);
                if now.wrapping_sub(hit.last_sent_ns) >= SAMPLE_INTERVAL_NS {
                    hit.last_sent_ns = now;
                    sample = true;
                }
            }
            None => {
                let first = RuleHitValue { hits: 1, last_sent_ns: now };
                if RULE_HITS.insert(&key, &first, 0).is_err() {
                    count_drop(DropReason::RuleHitMapFull);
                }
                sample = true;
            }
        }
    }
    sample
}

/// (read, write) access of an open-family call, as the rules' `evt.is_open_read/write` define
/// it; `Some((true, true))` for other syscalls (nothing to narrow), `None` when unknown.
#[inline(always)]
fn open_access(event: &SyscallEvent, spec: &ArgSpec) -> Option<(bool, bool)> {
    let flags = match spec.open_flags {
        NO_ARG => return Some((true, true)),
        OPEN_FLAGS_CREAT => return Some((false, true)),
        OPEN_FLAGS_HOW if event.sockaddr_len >= 8 => u64::from_ne_bytes([
            event.sockaddr[0],
            event.sockaddr[1],
            event.sockaddr[2],
            event.sockaddr[3],
            event.sockaddr[4],
            event.sockaddr[5],
            event.sockaddr[6],
            event.sockaddr[7],
        ]),
        index => arg_at(&event.args, index)?,
    };
    // O_RDONLY 0, O_WRONLY 1, O_RDWR 2 (the same on every architecture).
    let access = flags & 3;
    Some((access == 0 || access == 2, access == 1 || access == 2))
}

/// The rules whose path predicate `event` satisfies, or `None` when the kernel cannot tell: no
/// path, a relative or unnormalised one (`..`, `//`), or a name that did not fit.
#[inline(never)]
fn path_rules(event: &mut SyscallEvent, spec: &ArgSpec) -> Option<u64> {
    let key = LPM_KEY.get_ptr_mut(0)?;
    let key = unsafe { &mut *key };
    if spec.returns_fd == 1 && event.res >= 0 {
        // The file actually opened: symlinks, `..`, `//` and the cwd resolved by the kernel.
        let len = name_open_file(event.res as u64, event)?;
        event.path_lens[1] = len as i32;
        event.flags |= EVENT_RESOLVED_PATH;
        let by_inode = InodeKey { dev: event.dev as u64, ino: event.ino };
        let by_path = lookup_path(key, &event.paths[1], len);
        return match unsafe { INODES.get(&by_inode) } {
            Some(linked) => Some(by_path | linked),
            // Another name of this file may be watched, and user space may know it (it looks
            // watched files up by identity in each root) before this map does.
            None if event.flags & EVENT_MULTI_LINK != 0 => None,
            None => Some(by_path),
        };
    }
    raw_path_rules(event)
}

/// The path test on the path arguments as passed (see `path_rules`).
#[inline(never)]
fn raw_path_rules(event: &SyscallEvent) -> Option<u64> {
    let key = LPM_KEY.get_ptr_mut(0)?;
    let key = unsafe { &mut *key };
    let mut matching = 0;
    let mut seen = false;
    for i in 0..2 {
        let len = event.path_lens[i];
        if len <= 0 {
            continue;
        }
        let len = len as usize;
        if !is_normalised(&event.paths[i], len) {
            return None;
        }
        matching |= lookup_path(key, &event.paths[i], len);
        seen = true;
    }
    seen.then_some(matching)
}

/// `PATHS` look-up of `path[..len]` (`len` counts the NUL, so exact entries need the whole path
/// and prefix entries match any path they start).
#[inline(always)]
fn lookup_path(key: &mut Key<[u8; MAX_PATH]>, path: &[u8; MAX_PATH], len: usize) -> u64 {
    let len = len & (MAX_PATH - 1);
    key.prefix_len = (len * 8) as u32;
    // SAFETY: both buffers are MAX_PATH bytes and `len` is masked below that.
    if unsafe {
        generated::bpf_probe_read_kernel(key.data.as_mut_ptr() as *mut _, len as u32, path.as_ptr() as *const _)
    } != 0
    {
        return 0;
    }
    PATHS.get(&*key).copied().unwrap_or(0)
}

/// Whether a NUL-terminated path of `len` bytes (NUL included) is absolute and normalised: no
/// empty, `.` or `..` component and no trailing slash (the root `/` itself is).
#[inline(never)]
fn is_normalised(path: &[u8; MAX_PATH], len: usize) -> bool {
    // Room to look three bytes past any slash without leaving the buffer.
    if !(2..MAX_PATH - 3).contains(&len) || path[0] != b'/' {
        return false;
    }
    if len == 2 {
        return true;
    }
    if path[(len - 2) & (MAX_PATH - 1)] == b'/' {
        return false;
    }
    let end = |c: u8| c == b'/' || c == 0;
    // Each step looks only at bytes, never at state from earlier steps: the verifier then walks
    // the loop in one pass instead of one path per combination of counters.
    for i in 0..MAX_PATH - 3 {
        if i + 1 >= len {
            return true;
        }
        if path[i] != b'/' {
            continue;
        }
        let (a, b, c) = (path[i + 1], path[i + 2], path[i + 3]);
        if a == b'/' || (a == b'.' && (end(b) || (b == b'.' && end(c)))) {
            return false;
        }
    }
    true
}

/// The remote port of a connect/sendto address: `Some(0)` for non-IP families (no port can
/// match), `None` when no address was copied.
#[inline(always)]
fn remote_port(event: &SyscallEvent) -> Option<u16> {
    if event.sockaddr_len < 4 {
        return None;
    }
    let family = u16::from_ne_bytes([event.sockaddr[0], event.sockaddr[1]]);
    // AF_INET and AF_INET6 keep the port, big-endian, right after the family.
    Some(if family == 2 || family == 10 { u16::from_be_bytes([event.sockaddr[2], event.sockaddr[3]]) } else { 0 })
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
