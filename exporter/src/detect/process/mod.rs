//! The user-space process table and path resolution: who made each syscall, and which file it named.
//!
//! - [`table`]: [`ProcessTable`], kept current from the kernel's fork/exec/exit records
//!   ([`lifecycle`]) and seeded from /proc; fills the rule engine's [`crate::rules::Process`] and
//!   [`crate::rules::User`] (ancestors included) for each event.
//! - [`procfs`]: reading and parsing `/proc/<pid>` into a [`ProcessInfo`].
//! - [`paths`]: normalising and resolving path arguments (cwd, `*at` dirfds, symlinks inside the
//!   process's root, hard links by inode), so every spelling of `/etc/shadow` is `/etc/shadow`.
//!   The evaluator's one call per path argument is [`paths::resolve_in_process`]; for
//!   `symlink` events [`paths::symlink_target_in_root`], for `linkat` [`paths::hardlink_source`].
//! - [`users`], [`overlay`]: uid -> name per root, and `proc.is_exe_upper_layer`.
//!
//! # Identity and pid reuse
//! A process is (pid, start time): `/proc/<pid>/stat` field 22, clock ticks after boot. A pid
//! seen again with another start time is a new process; the old one is marked exited and stays
//! reachable through [`ProcessTable::get_exact`] for the rest of its grace. Pids are thread-group
//! ids: the table knows processes, not threads.
//!
//! # Eviction
//! At most `capacity` entries (default 32768). An exited process stays for the exit grace
//! (default 5 s; events queued before its exit are still enriched), then [`ProcessTable::expire`]
//! drops it (every event handler calls it). When the table is full, the oldest exited process
//! goes first; with none, the least recently used 1/64 of the live ones (a look-up counts as a
//! use), which happens only if exits are lost or the node runs more processes than the capacity.
//! An ancestor chain ends at a parent that is no longer in the table (or whose pid now belongs
//! to a process younger than the child). Children of an exited parent keep their original
//! `ppid`; the kernel's re-parenting to a subreaper is not tracked.
//!
//! # Cost model
//! - [`ProcessTable::get`], [`ProcessTable::get_exact`]: one or two hash look-ups, no system call.
//! - [`ProcessTable::fill_event_process`]: `get` plus one `get` per ancestor (at most 16) and the
//!   string copies into the event (its buffers, ancestors included, are reused via
//!   `clone_from`); never reads /proc.
//! - [`ProcessTable::on_exit`]: a hash look-up. [`ProcessTable::on_fork`]: a clone of the
//!   parent's entry plus one read of the child's `stat` when the event has no start time.
//! - [`ProcessTable::on_exec`]: a full /proc load, about a dozen small reads (`stat`, `status`,
//!   `cmdline`, `environ` (at most 4 KiB), `loginuid`, `cgroup`, readlinks of `exe`/`cwd`/`root`,
//!   a `stat` of the executable), a `stat` of the root's `/etc/passwd` and `/etc/group` and of
//!   the mount namespace (their parses are cached) and one `lstat` for the overlay check: about
//!   0.1 ms once per exec (measured on the 2-core development VM: `get`
//!   25 ns, `fill_event_process` with 7 ancestors 0.7 µs, seeding 99 processes 21 ms).
//! - [`ProcessTable::on_chdir`]: one `lstat` per component of the new cwd.
//! - [`ProcessTable::seed_from_proc`]: one load per process, once at start.
//!
//! # What the kernel side sends, and what it does not yet
//! [`lifecycle`] applies the kernel's records (`exporter-ebpf/src/lifecycle.rs`):
//! - new process (`task/task_newtask` without `CLONE_THREAD`): creator tgid, child pid, clone
//!   flags. Not yet: the child's start time (`start_boottime` needs a struct offset from BTF; the
//!   table reads it from /proc, so a child gone by then is keyed `(pid, None)`).
//! - exec (`sched/sched_process_exec`): tgid, filename as passed, the new comm, argv (the first
//!   8, 63 bytes each, kept by the `sys_enter` program at execve/execveat), uid/gid (real, so
//!   unused: the table keeps the effective ones), the process's start (`start_boottime`), its
//!   pid in its own namespace and the capabilities the exec gave it (the last three through BTF
//!   offsets; 0 without them). Not
//!   yet: the resolved exe path (to tell a memfd exec from `/dev/fd/N` once the process is
//!   gone), the environment.
//! - exit (`sched/sched_process_exit` with `group_dead`): tgid.
//! - chdir/fchdir (on success only): tgid and the new directory as passed (fchdir: the path of
//!   the descriptor).
//! - every enriched event: tgid (and ideally its start time, for
//!   [`ProcessTable::fill_event_process_at`]);
//!   start times in clock ticks, [`table::start_time_from_boot_ns`] converts the kernel's ns.
//! - path events: the path as passed and the `dirfd` (the table gives the cwd); the object path
//!   is resolved from them while the process lives (a `*at` dirfd must still be open).

pub mod lifecycle;
pub mod overlay;
pub mod paths;
pub mod procfs;
pub mod table;
pub mod users;

pub use paths::{
    follow_parent_symlinks, follow_symlinks, follow_symlinks_checked, hardlink_source, normalize, resolve, resolve_at,
    resolve_in_process, same_file, symlink_target, symlink_target_in_root,
};
/// The text of a NUL-terminated kernel byte field (a comm, a copied path or argument).
pub fn kernel_str(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
}

pub use procfs::{Origin, ProcError, ProcessInfo};
pub use table::{
    start_time_from_boot_ns, ExecEvent, ProcessTable, TableStats, DEFAULT_ANCESTOR_DEPTH, DEFAULT_CAPACITY,
    DEFAULT_EXIT_GRACE,
};
