//! The prefilter: narrows the rules an event can still match with what the kernel knows, from
//! tables user space writes on (re)load. `may_match` runs at entry, so most events that no rule
//! can match are never stashed; `judge` runs at exit and counts the rules it decided alone in
//! `RULE_HITS` instead of sending their events.

use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, generated},
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap},
};
use exporter_ebpf::{
    ArgSpec, DropReason, FilterMasks, FilterOutcome, RuleHitKey, RuleHitValue, RuleMasks, SyscallEvent, CGROUP_HOST,
    EVENT_NARROWED, FILTER_OUTCOMES, KERNEL_RULE_BITS, MAX_SYSCALLS, NO_ARG, OPEN_FLAGS_CREAT, OPEN_FLAGS_HOW,
    SAMPLE_INTERVAL_NS,
};

use crate::{
    counting::{count_drop, increment},
    exit::send,
    path_rules::{path_rules, raw_needle_rules, raw_path_rules},
    stash::{arg_at, ARG_SPECS},
    task::exe_is_memfd,
};

/// The prefilter's tables (see `FilterMasks`), all written by user space on (re)load.
#[map]
static FILTER: Array<FilterMasks> = Array::with_max_entries(1, 0);
/// Per syscall number: the rule bits that can match it.
#[map]
static SYSCALL_RULES: Array<u64> = Array::with_max_entries(MAX_SYSCALLS as u32, 0);
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
/// Processes killed by `tracewarden.kill` rules, per rule id, per CPU.
#[map]
static RULE_KILLS: PerCpuHashMap<u32, u64> = PerCpuHashMap::with_max_entries(1024, 0);
#[map]
static FILTER_STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(FILTER_OUTCOMES, 0);

/// The prefilter: narrows the rules that can match `event` with what the kernel knows (result,
/// container, comm, uid, open flags, path, remote port), counts the rules it decided outright,
/// and sends the event when user space has something left to evaluate (or a sampled alert).
#[inline(never)]
pub(crate) fn judge(event: &mut SyscallEvent) {
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
        // The path as passed (`fd.nameraw`) is searched at entry only: once more here would
        // take this program past the verifier's budget. Rare: the rules changed meanwhile.
        let mut undecided = masks.raw_needles;
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
    // A path argument was already tested at entry; the file an open returned, or a descriptor
    // argument's, is tested here.
    if rules & masks.path != 0 && !(narrowed && !spec.names_file_at_exit()) {
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
    if decided & masks.kill != 0 {
        kill_current(decided & masks.kill, &masks.rule_ids);
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
        Some((read, write, create)) => {
            if !read {
                rules &= !masks.open_read;
            }
            if !write {
                rules &= !masks.open_write;
            }
            if !(write || create) {
                rules &= !masks.open_write_or_create;
            }
        }
        None => *undecided |= masks.open_read | masks.open_write | masks.open_write_or_create,
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
pub(crate) fn may_match(event: &mut SyscallEvent) -> bool {
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
    if rules & masks.raw_needles != 0 {
        match raw_needle_rules(event) {
            Some(matching) => rules &= !masks.raw_needles | matching,
            None => undecided |= masks.raw_needles,
        }
    }
    // A file named at the exit (an open's result, a descriptor argument) is tested there.
    if !spec.names_file_at_exit() && rules & masks.path != 0 {
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
pub(crate) fn count_outcome(outcome: FilterOutcome) {
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

/// SIGKILLs the calling process (delivered as the syscall returns, before it runs another
/// instruction: an open's file is never read) and counts it for each rule in `killing`.
#[inline(never)]
fn kill_current(killing: u64, rule_ids: &[u32; KERNEL_RULE_BITS]) {
    const SIGKILL: u32 = 9;
    if unsafe { generated::bpf_send_signal(SIGKILL) } != 0 {
        return count_drop(DropReason::KillFailed);
    }
    for bit in 0..KERNEL_RULE_BITS {
        if killing >> bit & 1 == 0 {
            continue;
        }
        match RULE_KILLS.get_ptr_mut(&rule_ids[bit]) {
            Some(kills) => increment(unsafe { &mut *kills }),
            None => {
                if RULE_KILLS.insert(&rule_ids[bit], &1, 0).is_err() {
                    count_drop(DropReason::RuleHitMapFull);
                }
            }
        }
    }
}

/// (read, write, create) of an open-family call, as the rules' `evt.is_open_read/write/create`
/// define them; `Some((true, true, true))` for other syscalls (nothing to narrow), `None` when
/// unknown.
#[inline(always)]
fn open_access(event: &SyscallEvent, spec: &ArgSpec) -> Option<(bool, bool, bool)> {
    let flags = match spec.open_flags {
        NO_ARG => return Some((true, true, true)),
        OPEN_FLAGS_CREAT => return Some((false, true, true)),
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
    // O_CREAT 0o100 (asm-generic, x86 and arm64).
    Some((access == 0 || access == 2, access == 1 || access == 2, flags & 0o100 != 0))
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
