//! Types and constants shared by tracewarden's kernel programs and the exporter in user space.
//!
//! Everything here is `#[repr(C)]` or a plain integer so both sides agree on the layout without
//! any generated bindings. Map names are the symbols of the `#[map]` statics in the kernel
//! program's modules (one per job, under `main.rs`).
#![no_std]

/// Syscall numbers at or above this are counted as drops (`DropReason::SyscallOutOfRange`).
/// x86_64 and aarch64 both stay below 470 today; 512 leaves room and keeps the row 4 KiB.
pub const MAX_SYSCALLS: usize = 512;

/// Slot 0 is never handed to a cgroup: when every slot is taken, syscalls are counted there
/// (and in the `SlotsExhausted` drop counter), so per-syscall totals stay exact.
pub const OVERFLOW_SLOT: u32 = 0;

/// Default number of cgroup slots, overridable at load time (`--max-cgroups`).
pub const DEFAULT_MAX_SLOTS: u32 = 1024;

/// Syscall counters of one slot, as user space reports them.
pub type SyscallRow = [u64; MAX_SYSCALLS];

/// Index, in a kernel row, of the cgroup id that owns the slot on that CPU (0 = none).
pub const ROW_OWNER: usize = MAX_SYSCALLS;

/// The value type of `SYSCALL_COUNTS`: the counters, then the owner. Keeping the owner in the
/// row lets the hot path validate its cached slot with the look-up it needs anyway; user space
/// zeroes every CPU's row when it frees a slot, which invalidates every cached copy at once.
pub type KernelRow = [u64; MAX_SYSCALLS + 1];

/// Per-CPU "last cgroup seen on this CPU -> its slot" cache, the hot path's first look-up.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SlotCache {
    pub cgroup_id: u64,
    pub slot: u32,
    pub _pad: u32,
}

/// Why the kernel could not record something. Index into the `DROPS` per-CPU array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// No free cgroup slot: the syscall was counted in `OVERFLOW_SLOT` instead.
    SlotsExhausted = 0,
    /// The cgroup -> slot hash map refused an insert (full): counted in `OVERFLOW_SLOT`.
    SlotMapFull = 1,
    /// The syscall number was negative or >= `MAX_SYSCALLS`; not counted anywhere else.
    SyscallOutOfRange = 2,
    /// The new-cgroup ring buffer was full: that cgroup is named by the next periodic refresh
    /// instead of at once. Its counts are not affected.
    NewCgroupNoticeLost = 3,
    /// The syscall-event ring buffer was full: one event for the evaluator lost.
    EventRingFull = 4,
    /// A path argument filled its buffer and its whole (`LongPath`) could not be sent: the
    /// event carries a truncated path.
    PathTruncated = 5,
    /// The entry record could not be stashed until the syscall's exit: event lost.
    PendingStashFailed = 6,
    /// The per-(cgroup, rule) hit map (or the per-rule kill map) was full: one kernel-decided
    /// rule hit (or kill) not counted.
    RuleHitMapFull = 7,
    /// The process-lifecycle ring buffer was full: one fork, exec or exit record lost (the
    /// process table falls back to /proc for that process).
    LifecycleRingFull = 8,
    /// The cgroup had used its share of the event ring (`EVENT_BUDGET`): one event for the
    /// evaluator not sent (also counted per cgroup in `EVENTS_THROTTLED`).
    EventBudgetExceeded = 9,
    /// `bpf_send_signal` failed for a `tracewarden.kill` rule: the process was not killed
    /// (a kernel thread, or a signal already pending).
    KillFailed = 10,
}

impl DropReason {
    pub const ALL: [DropReason; 11] = [
        DropReason::SlotsExhausted,
        DropReason::SlotMapFull,
        DropReason::SyscallOutOfRange,
        DropReason::NewCgroupNoticeLost,
        DropReason::EventRingFull,
        DropReason::PathTruncated,
        DropReason::PendingStashFailed,
        DropReason::RuleHitMapFull,
        DropReason::LifecycleRingFull,
        DropReason::EventBudgetExceeded,
        DropReason::KillFailed,
    ];

    /// Whether this loses or cuts an event for the rule evaluator (exported as
    /// `tracewarden_events_lost_total`) rather than a count (`tracewarden_kernel_dropped_total`).
    pub const fn is_event_loss(self) -> bool {
        matches!(
            self,
            DropReason::EventRingFull
                | DropReason::PathTruncated
                | DropReason::PendingStashFailed
                | DropReason::RuleHitMapFull
                | DropReason::LifecycleRingFull
                | DropReason::EventBudgetExceeded
        )
    }

    /// The `reason` label value.
    pub const fn label(self) -> &'static str {
        match self {
            DropReason::SlotsExhausted => "cgroup_slots_exhausted",
            DropReason::SlotMapFull => "cgroup_slot_map_full",
            DropReason::SyscallOutOfRange => "syscall_nr_out_of_range",
            DropReason::NewCgroupNoticeLost => "new_cgroup_notice_lost",
            DropReason::EventRingFull => "event_ring_full",
            DropReason::PathTruncated => "path_truncated",
            DropReason::PendingStashFailed => "pending_stash_failed",
            DropReason::RuleHitMapFull => "rule_hit_map_full",
            DropReason::LifecycleRingFull => "lifecycle_ring_full",
            DropReason::EventBudgetExceeded => "cgroup_event_budget_exceeded",
            DropReason::KillFailed => "kill_failed",
        }
    }
}

/// Number of entries of the `DROPS` array.
pub const DROP_REASONS: u32 = DropReason::ALL.len() as u32;

/// Words of the `INTERESTING` bitmap: bit `nr % 64` of word `nr / 64` marks syscall `nr` as one
/// some rule needs events of.
pub const INTERESTING_WORDS: u32 = (MAX_SYSCALLS / 64) as u32;

/// `ArgSpec` index value meaning "no such argument".
pub const NO_ARG: u8 = 0xff;

/// Threads that can be inside an interesting syscall at once (entry records awaiting their exit);
/// least recently used entries make room, so a thread that never returns cannot leak one.
pub const MAX_PENDING: u32 = 8192;

/// Bytes kept of each path argument, including the terminating NUL.
pub const MAX_PATH: usize = 256;

/// Bytes kept of a socket address (`sockaddr_in6` is the largest the rules use).
pub const MAX_SOCKADDR: usize = 28;

/// `ArgSpec::open_flags` value of `creat`: always opens for writing.
pub const OPEN_FLAGS_CREAT: u8 = 0xfe;
/// `ArgSpec::open_flags` value of `openat2`: the flags are the first word of the copied
/// `struct open_how` (travelling in the `sockaddr` buffer).
pub const OPEN_FLAGS_HOW: u8 = 0xfd;

/// Which of a syscall's six arguments the kernel copies from user memory into its event, set
/// per syscall number by user space in `ARG_SPECS`. Other arguments travel as raw integers.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgSpec {
    /// Up to two NUL-terminated path arguments (`NO_ARG` for none).
    pub paths: [u8; 2],
    /// A `struct sockaddr *` argument and the argument holding its length (`NO_ARG` for none).
    pub sockaddr: u8,
    pub sockaddr_len: u8,
    /// The open(2) flags argument (`NO_ARG`, an index, `OPEN_FLAGS_CREAT` or `OPEN_FLAGS_HOW`).
    pub open_flags: u8,
    /// 1 when a non-negative result is a new file descriptor for `paths[0]`: the exit program
    /// then names the file from the descriptor (symlinks, `..` and the cwd already resolved).
    pub returns_fd: u8,
    /// 1 for execve and execveat: a successful exec may report its exit under the other one's
    /// number (this kernel reports a successful execveat's exit as execve's).
    pub exec_family: u8,
    /// A descriptor argument the exit program describes in `SyscallEvent::sock` (`NO_ARG` for
    /// none): dup's old descriptor, the socket of connect and sendto.
    pub sock_fd: u8,
    /// 1 when this kernel does not implement the syscall (its entry is the `sys_ni_syscall`
    /// stub, and it has no tracepoints): the result is -ENOSYS, so the entry completes the event.
    pub enosys: u8,
    /// A descriptor argument whose file the exit program names for the path test, as it names
    /// an open's result (fchmod, fchown: `NO_ARG` for none).
    pub named_fd: u8,
    pub _pad: [u8; 2],
}

impl ArgSpec {
    /// Whether the exit program names the file the call acts on (an open's result or a
    /// descriptor argument): the path test then waits for the exit.
    #[inline(always)]
    pub const fn names_file_at_exit(&self) -> bool {
        self.returns_fd == 1 || self.named_fd != NO_ARG
    }

    pub const NONE: ArgSpec = ArgSpec {
        paths: [NO_ARG; 2],
        sockaddr: NO_ARG,
        sockaddr_len: NO_ARG,
        open_flags: NO_ARG,
        returns_fd: 0,
        exec_family: 0,
        sock_fd: NO_ARG,
        enosys: 0,
        named_fd: NO_ARG,
        _pad: [0; 2],
    };
}

/// Rules the kernel prefilter tells apart, one bit each in `u64` masks. Bit `OTHER_RULES` stands
/// for every rule without a bit of its own (beyond the first 63, or with nothing the kernel can
/// check): events of their syscalls always go to user space.
pub const KERNEL_RULE_BITS: usize = 64;
pub const OTHER_RULES: u32 = 63;

/// The prefilter's per-rule facts, as masks over rule bits, written by user space on (re)load.
/// A rule's bit in a mask means "this rule requires ...": an event lacking it cannot match.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterMasks {
    /// `evt.rawres >= 0` (or `= 0`, which implies it).
    pub success: u64,
    /// `evt.rawres = 0`.
    pub res_zero: u64,
    /// `container.id != host`.
    pub container_only: u64,
    /// `evt.is_open_write = true` / `evt.is_open_read = true`.
    pub open_write: u64,
    pub open_read: u64,
    /// An open for writing or with `O_CREAT` (other syscalls pass).
    pub open_write_or_create: u64,
    /// A path in `PATHS` (exact entries or prefixes) or containing a path needle (`NEEDLES`).
    pub path: u64,
    /// The path argument as passed (`fd.nameraw`) contains a raw needle (`NEEDLES`).
    pub raw_needles: u64,
    /// A remote port (connect, sendto) in `PORTS`.
    pub rport: u64,
    /// `user.uid` in a list (`UIDS[uid].any`), or out of one (`UIDS[uid].none`).
    pub uid_any: u64,
    pub uid_none: u64,
    /// `proc.name` in a list (`COMMS[comm].any`), or out of one (`COMMS[comm].none`).
    pub comm_any: u64,
    pub comm_none: u64,
    /// `proc.is_exe_from_memfd = true` (the task's executable is a memfd).
    pub memfd_exe: u64,
    /// Rules whose whole condition is the conjunction of the above: when every predicate was
    /// decidable for an event, the kernel counts the hit in `RULE_HITS` itself.
    pub complete: u64,
    /// Complete rules tagged `tracewarden.kill`: a hit the kernel decides SIGKILLs the process
    /// in the same syscall (`RULE_KILLS` counts them).
    pub kill: u64,
    /// Stable id of each bit's rule, the `RULE_HITS` key (ids survive reloads; bits do not).
    pub rule_ids: [u32; KERNEL_RULE_BITS],
    /// Which rule set the bits refer to; copied into every event so user space reads its bits
    /// with the right table across a reload.
    pub generation: u32,
    /// The exporter's own process: its syscalls (reading /proc for the rules) are not judged,
    /// or they would feed the evaluator its own work.
    pub self_tgid: u32,
}

impl FilterMasks {
    /// No rule requires anything: every rule bit passes every check.
    pub const NONE: FilterMasks = FilterMasks {
        success: 0,
        res_zero: 0,
        container_only: 0,
        open_write: 0,
        open_read: 0,
        open_write_or_create: 0,
        path: 0,
        raw_needles: 0,
        rport: 0,
        uid_any: 0,
        uid_none: 0,
        comm_any: 0,
        comm_none: 0,
        memfd_exe: 0,
        complete: 0,
        kill: 0,
        rule_ids: [0; KERNEL_RULE_BITS],
        generation: 0,
        self_tgid: 0,
    };
}

/// Substrings the prefilter looks for in paths (`contains`, and `endswith` or basenames as
/// substrings ending with the NUL), at most `MAX_NEEDLES` of at most `MAX_NEEDLE` bytes.
pub const MAX_NEEDLES: usize = 32;
pub const MAX_NEEDLE: usize = 16;

/// The `NEEDLES` table (one entry), written by user space on (re)load.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needles {
    /// Per byte value: the needles starting with it (bit `j` for needle `j`), so most positions
    /// of a path cost one look-up.
    pub first: [u32; 256],
    pub bytes: [[u8; MAX_NEEDLE]; MAX_NEEDLES],
    /// 0xff for each byte of a needle, 0 past its end: the kernel compares all `MAX_NEEDLE`
    /// bytes without a branch on the length.
    pub masks: [[u8; MAX_NEEDLE]; MAX_NEEDLES],
    pub lens: [u8; MAX_NEEDLES],
    /// Rule bits a needle satisfies when found in a file's name (`FilterMasks::path`) and in the
    /// path argument as passed (`FilterMasks::raw_needles`).
    pub path_rules: [u64; MAX_NEEDLES],
    pub raw_rules: [u64; MAX_NEEDLES],
    /// Every rule bit of `path_rules`: 0 spares a path the search.
    pub path_any: u64,
    /// The needles with rule bits in a file's name (bit `j` for needle `j`), and those with rule
    /// bits in the path as passed: a search starts only at the positions where one of its own
    /// needles starts (the entry's raw search of every open then skips the `/` of path needles).
    pub path_needles: u32,
    pub raw_needles: u32,
}

impl Needles {
    pub const NONE: Needles = Needles {
        first: [0; 256],
        bytes: [[0; MAX_NEEDLE]; MAX_NEEDLES],
        masks: [[0; MAX_NEEDLE]; MAX_NEEDLES],
        lens: [0; MAX_NEEDLES],
        path_rules: [0; MAX_NEEDLES],
        raw_rules: [0; MAX_NEEDLES],
        path_any: 0,
        path_needles: 0,
        raw_needles: 0,
    };
}

/// Value of the `COMMS` and `UIDS` maps: rules that list this value (`any`) and rules that
/// exclude it (`none`, from `not proc.name in (...)` or `user.uid != N`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleMasks {
    pub any: u64,
    pub none: u64,
}

/// Key of the `INODES` map: a watched file by identity, so a hard link to it (another name for
/// the same inode) is recognised when opened.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InodeKey {
    /// The kernel's `dev_t` of the file system (`MKDEV(major, minor)`, 20-bit minor).
    pub dev: u64,
    pub ino: u64,
}

/// `CGROUP_KIND` values, written by user space as it resolves cgroups. Absent: not known yet,
/// so a container-only predicate is undecided (the event goes to user space).
pub const CGROUP_HOST: u8 = 1;
pub const CGROUP_CONTAINER: u8 = 2;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RuleHitKey {
    pub cgroup_id: u64,
    pub rule_id: u32,
    pub _pad: u32,
}

/// Per CPU: hits of a kernel-decided rule in one cgroup, and when its last sampled alert event
/// went to user space.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RuleHitValue {
    pub hits: u64,
    pub last_sent_ns: u64,
}

/// A cgroup's token bucket for its share of the `EVENTS` ring (see `throttle.rs`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventBucket {
    pub tokens: u64,
    /// `bpf_ktime_get_ns` of the last refill.
    pub refilled_ns: u64,
}

/// Cgroups whose event buckets and throttled counts the kernel keeps.
pub const MAX_THROTTLED_CGROUPS: u32 = 16384;

/// Bytes of the `EVENTS` ring buffer.
pub const EVENTS_RING_BYTES: u32 = 4 * 1024 * 1024;

/// One alert event per (cgroup, rule, CPU) and this interval goes up for a kernel-counted rule.
pub const SAMPLE_INTERVAL_NS: u64 = 1_000_000_000;

/// What happened to events of interesting syscalls at exit, index into `FILTER_STATS`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterOutcome {
    /// No rule can match: dropped in the kernel.
    Dropped = 0,
    /// Every possible match was decided and counted in the kernel (no event, or a sampled one).
    Counted = 1,
    /// Sent to user space for evaluation.
    Sent = 2,
}
pub const FILTER_OUTCOMES: u32 = 3;

/// Byte offsets in kernel structures (from the kernel's BTF) for naming an opened file.
/// `valid == 0`: unknown, no path walk.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_files: u32,
    pub task_fs: u32,
    pub files_fdt: u32,
    pub fdt_max_fds: u32,
    pub fdt_fd: u32,
    pub file_path: u32,
    pub path_mnt: u32,
    pub path_dentry: u32,
    pub fs_root: u32,
    pub fs_pwd: u32,
    pub dentry_parent: u32,
    pub dentry_name: u32,
    pub qstr_len: u32,
    pub qstr_name: u32,
    pub mount_mnt: u32,
    pub mount_parent: u32,
    pub mount_mountpoint: u32,
    pub vfsmount_root: u32,
    pub file_inode: u32,
    pub inode_ino: u32,
    pub inode_sb: u32,
    pub inode_nlink: u32,
    pub inode_mode: u32,
    pub sb_dev: u32,
    pub task_mm: u32,
    pub mm_exe_file: u32,
    pub task_cred: u32,
    pub cred_euid: u32,
    pub cred_egid: u32,
    pub cred_cap_effective: u32,
    pub cred_cap_permitted: u32,
    pub task_start_boottime: u32,
    pub task_thread_pid: u32,
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub upid_nr: u32,
    /// `sizeof(struct upid)`: the stride of `pid->numbers[]`.
    pub upid_size: u32,
    pub valid: u32,
}

/// Byte offsets in kernel structures (from the kernel's BTF) for describing the socket behind a
/// descriptor; apart from [`KernelOffsets`] (which finds the descriptor's file) so that a kernel
/// lacking one of these (no IPv6) keeps its path walk. `valid == 0`: unknown, no description.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketOffsets {
    pub file_private_data: u32,
    pub socket_sk: u32,
    pub skc_family: u32,
    pub skc_state: u32,
    pub skc_daddr: u32,
    pub skc_rcv_saddr: u32,
    pub skc_dport: u32,
    pub skc_num: u32,
    pub skc_v6_daddr: u32,
    pub skc_v6_rcv_saddr: u32,
    pub sk_type: u32,
    pub sk_protocol: u32,
    pub valid: u32,
}

/// What the exit program read of the socket behind the descriptor `ArgSpec::sock_fd` names
/// (with `EVENT_SOCKET`): `family` 0 when that descriptor is no socket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketInfo {
    /// `AF_*`, `SOCK_*` (`sk_type`), `IPPROTO_*` (`sk_protocol`), `TCP_*` state (`skc_state`).
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub state: u16,
    /// Local and remote port, host byte order.
    pub ports: [u16; 2],
    pub _pad: u32,
    /// Local and remote address, network byte order: the first 4 bytes for AF_INET, all 16 for
    /// AF_INET6.
    pub addrs: [[u8; 16]; 2],
}

/// `SyscallEvent::flags`: `paths[1]` holds the kernel's name of the opened file (absolute,
/// relative to the process's root), not a second argument.
pub const EVENT_RESOLVED_PATH: u32 = 1;
/// `SyscallEvent::flags`: the opened file has other names (hard links), so its path alone does not
/// say whether it is a watched file; `dev` and `ino` do.
pub const EVENT_MULTI_LINK: u32 = 2;
/// `SyscallEvent::flags`: the entry already narrowed `rules` and `undecided` by what the caller
/// passed (see `generation`), so the exit starts from them.
pub const EVENT_NARROWED: u32 = 4;
/// `SyscallEvent::flags`: the exit program described the descriptor `ArgSpec::sock_fd` names in
/// `sock`.
pub const EVENT_SOCKET: u32 = 8;

/// One syscall some rule may care about, as the kernel sends it on `EVENTS`: captured at entry
/// (arguments are read before the call changes them), sent at exit with the result.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SyscallEvent {
    /// `bpf_ktime_get_ns` at entry (CLOCK_MONOTONIC).
    pub ktime_ns: u64,
    pub cgroup_id: u64,
    /// The syscall's return value: >= 0 success, -errno failure.
    pub res: i64,
    /// Thread group id (the process id user space sees) and thread id.
    pub tgid: u32,
    pub tid: u32,
    /// Effective user and group ids (Falco's `user.uid`); the real ones when the kernel's
    /// structure offsets are unknown.
    pub uid: u32,
    pub gid: u32,
    pub nr: u32,
    /// Bytes of `sockaddr` copied (0 for none).
    pub sockaddr_len: u32,
    pub args: [u64; 6],
    pub comm: [u8; 16],
    /// Bytes read into `paths[i]` including the NUL; 0 for none, negative errno on failure.
    pub path_lens: [i32; 2],
    pub sockaddr: [u8; MAX_SOCKADDR],
    /// `EVENT_*` bits.
    pub flags: u32,
    /// Rule bits the kernel prefilter left possible (`OTHER_RULES` included), and those among
    /// them it decided and already counted (the event is then a sampled alert).
    pub rules: u64,
    pub decided: u64,
    /// Rule bits whose tests the prefilter could not make (at entry, then at exit).
    pub undecided: u64,
    /// `FilterMasks::generation` of the tables that judged the event.
    pub generation: u32,
    /// Device (kernel `dev_t`) and inode of the opened file, with `EVENT_RESOLVED_PATH`.
    pub dev: u32,
    pub ino: u64,
    pub sock: SocketInfo,
    pub paths: [[u8; MAX_PATH]; 2],
}

/// Bytes a long-path record holds (PATH_MAX, the kernel's own limit, NUL included).
pub const MAX_LONG_PATH: usize = 4096;

/// The whole of a path argument that filled its `SyscallEvent::paths` slot, sent on
/// `LONG_PATHS` at the syscall's entry (before its event) so that a path padded past the slot
/// (`/./././…/etc/shadow`) is still judged by what it names. Keyed by the event's thread,
/// entry time and slot.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LongPath {
    pub ktime_ns: u64,
    pub tid: u32,
    pub slot: u32,
    /// Bytes read including the NUL.
    pub len: u32,
    pub _pad: u32,
    pub path: [u8; MAX_LONG_PATH],
}

/// execve and execveat, whose arguments the lifecycle records carry.
#[cfg(any(target_arch = "x86_64", all(target_arch = "bpf", bpf_target_arch = "x86_64")))]
pub const EXEC_SYSCALLS: [usize; 2] = [59, 322];
#[cfg(any(target_arch = "aarch64", all(target_arch = "bpf", bpf_target_arch = "aarch64")))]
pub const EXEC_SYSCALLS: [usize; 2] = [221, 281];

/// The six syscall arguments lie within 64 bytes of `struct pt_regs` from this offset: one read.
#[cfg(any(target_arch = "x86_64", all(target_arch = "bpf", bpf_target_arch = "x86_64")))]
pub const SYSCALL_ARGS_START: usize = 56;
#[cfg(any(target_arch = "aarch64", all(target_arch = "bpf", bpf_target_arch = "aarch64")))]
pub const SYSCALL_ARGS_START: usize = 0;

/// Byte offsets of the six syscall arguments in `struct pt_regs`, the tracepoint's first argument.
#[cfg(any(target_arch = "x86_64", all(target_arch = "bpf", bpf_target_arch = "x86_64")))]
pub const SYSCALL_ARG_OFFSETS: [usize; 6] = [112, 104, 96, 56, 72, 64]; // di, si, dx, r10, r8, r9
#[cfg(any(target_arch = "aarch64", all(target_arch = "bpf", bpf_target_arch = "aarch64")))]
pub const SYSCALL_ARG_OFFSETS: [usize; 6] = [0, 8, 16, 24, 32, 40]; // regs[0..5]

/// Names of the maps and programs, as user space looks them up in the object.
pub mod names {
    pub const SYSCALL_COUNTS: &str = "SYSCALL_COUNTS";
    pub const CGROUP_SLOTS: &str = "CGROUP_SLOTS";
    pub const FREE_SLOTS: &str = "FREE_SLOTS";
    pub const NEW_CGROUPS: &str = "NEW_CGROUPS";
    pub const INTERESTING: &str = "INTERESTING";
    pub const ARG_SPECS: &str = "ARG_SPECS";
    pub const EVENTS: &str = "EVENTS";
    pub const LONG_PATHS: &str = "LONG_PATHS";
    pub const PENDING: &str = "PENDING";
    pub const FILTER: &str = "FILTER";
    pub const SYSCALL_RULES: &str = "SYSCALL_RULES";
    pub const PATHS: &str = "PATHS";
    pub const NEEDLES: &str = "NEEDLES";
    pub const PORTS: &str = "PORTS";
    pub const COMMS: &str = "COMMS";
    pub const UIDS: &str = "UIDS";
    pub const CGROUP_KIND: &str = "CGROUP_KIND";
    pub const RULE_HITS: &str = "RULE_HITS";
    pub const RULE_KILLS: &str = "RULE_KILLS";
    pub const FILTER_STATS: &str = "FILTER_STATS";
    pub const OFFSETS: &str = "OFFSETS";
    pub const SOCKET_OFFSETS: &str = "SOCKET_OFFSETS";
    pub const INODES: &str = "INODES";
    pub const EVENT_BUDGET: &str = "EVENT_BUDGET";
    pub const EVENTS_THROTTLED: &str = "EVENTS_THROTTLED";
    /// The exit program, attached to `syscalls/sys_exit_<name>` of each interesting syscall.
    pub const PROG_SYS_EXIT: &str = "sys_exit_tracked";
    pub const SLOT_CACHE: &str = "SLOT_CACHE";
    pub const DROPS: &str = "DROPS";
    /// Counting programs: on the BTF tracepoint and on the raw tracepoint.
    pub const PROG_SYS_ENTER: &str = "sys_enter";
    pub const PROG_SYS_ENTER_RAW: &str = "sys_enter_raw";
    /// Empty programs on the same hooks, loaded only by the benchmark to measure the floor.
    pub const PROG_SYS_ENTER_EMPTY: &str = "sys_enter_empty";
    pub const PROG_SYS_ENTER_RAW_EMPTY: &str = "sys_enter_raw_empty";
}

/// Names of the lifecycle map and programs (`lifecycle.rs`).
pub mod lifecycle_names {
    pub const LIFECYCLE: &str = "LIFECYCLE";
    /// On `task/task_newtask`, which carries the clone flags (threads are not sent).
    pub const PROG_FORK: &str = "lifecycle_fork";
    /// On `sched/sched_process_exec`.
    pub const PROG_EXEC: &str = "lifecycle_exec";
    /// On `sched/sched_process_exit`.
    pub const PROG_EXIT: &str = "lifecycle_exit";
    /// 1 while the lifecycle programs run: the `sys_enter` program then keeps each exec's
    /// arguments for its exec record.
    pub const ARGV_ON: &str = "ARGV_ON";
}

/// Bytes kept of an exec's filename, including the terminating NUL.
pub const MAX_EXEC_FILENAME: usize = 256;

/// Arguments of an exec kept in its record (`argv[0]` first); later ones are dropped.
pub const MAX_EXEC_ARGS: usize = 8;

/// Bytes kept of each exec argument, including the terminating NUL.
pub const MAX_EXEC_ARG: usize = 64;

/// An exec's arguments, copied from the caller's memory by the `sys_enter` program at execve or
/// execveat (while the old image is still there) and kept per thread until its
/// `sched_process_exec`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecArgs {
    /// Slots filled (0 when unknown). A slot that could not be read is an empty string.
    pub argc: u32,
    pub _pad: u32,
    pub args: [[u8; MAX_EXEC_ARG]; MAX_EXEC_ARGS],
}

/// What a [`LifecycleEvent`] reports (`kind`).
pub mod lifecycle_kind {
    /// A new process (not a thread): `tgid` is the parent, `child` the new process.
    pub const FORK: u32 = 1;
    /// `tgid` replaced its image with `filename`; `comm`, `uid`, `gid` are the new ones.
    pub const EXEC: u32 = 2;
    /// The last thread of `tgid` exited.
    pub const EXIT: u32 = 3;
}

/// One process-lifecycle record, sent on `LIFECYCLE` (a ring of its own, so a flood of syscall
/// events cannot push out the records that keep the process table right).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LifecycleEvent {
    /// `bpf_ktime_get_ns` when it happened (CLOCK_MONOTONIC, as `SyscallEvent::ktime_ns`), to
    /// merge with syscall events in order.
    pub ktime_ns: u64,
    pub cgroup_id: u64,
    /// One of [`lifecycle_kind`].
    pub kind: u32,
    /// The process the record is about (fork: the parent, which is current).
    pub tgid: u32,
    /// The thread that did it (fork: the forking thread; exec: equal to `tgid`, the exec made
    /// the calling thread the leader; exit: the last thread of the group).
    pub tid: u32,
    /// Fork: the child's pid. 0 otherwise.
    pub child: u32,
    pub uid: u32,
    pub gid: u32,
    /// Exec: the process's start (`task->start_boottime`, ns after boot, what
    /// `/proc/<pid>/stat` shows in clock ticks) and the capabilities the exec gave it
    /// (`cred->cap_effective`, `cap_permitted`). All 0 when the kernel's offsets are unknown,
    /// and for other kinds.
    pub start_boottime_ns: u64,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    /// Exec: the pid in the process's own pid namespace (`thread_pid->numbers[level].nr`); 0
    /// when unknown, as above.
    pub vpid: u32,
    /// Exec: bytes of `filename` including the NUL; 0 for none, negative errno on failure.
    pub filename_len: i32,
    /// Fork: the low 32 bits of the clone flags (`CLONE_PARENT` makes the child a sibling).
    pub clone_flags: u32,
    /// Current's comm (exec: the new one; fork: the parent's, which the child inherits).
    pub comm: [u8; 16],
    pub filename: [u8; MAX_EXEC_FILENAME],
    /// Exec: its arguments as passed (`argc` 0 for other kinds, or when they were not seen).
    pub argv: ExecArgs,
}
