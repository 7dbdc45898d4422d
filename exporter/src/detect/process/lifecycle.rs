//! Applying the kernel's process-lifecycle records ([`LifecycleEvent`]: new process, exec,
//! process exit) to the [`ProcessTable`], in order with the syscall events.
//!
//! The records arrive on a ring of their own, so the detection thread merges: it drains the
//! syscall ring first, then the lifecycle ring (a record is committed before any syscall event
//! that follows it in time, so every record a drained event depends on is in hand), sorts the
//! records by time, and before each syscall event applies the records that happened before it.
//! An event is stamped at its syscall's entry; a successful exec's own event is the exception:
//! it must see the new image (as Falco's execve exit does), so the records up to that process's
//! exec record are applied first.

use exporter_ebpf::{lifecycle_kind, LifecycleEvent};

use super::{kernel_str, ProcessTable};

/// `CLONE_PARENT`: the child's parent is its creator's parent.
const CLONE_PARENT: u32 = 0x8000;

/// Applies one record: a new process starts as a copy of its creator (exe, cmdline, cwd, root,
/// user, tty, container); an exec reloads the process from /proc right away, or, when it is
/// already gone or `later_exec` says a later exec record of the same process is already in hand,
/// takes the exec's filename, comm and arguments (the first 8, 63 bytes each) from the record:
/// /proc then shows that later image (runc's init re-executes itself from a cloned binary a
/// moment after its first exec). An exit retires the process (kept for the table's exit grace so
/// syscall events queued before it are still enriched, then dropped; a later process with the
/// same pid is a new entry).
pub fn apply(table: &mut ProcessTable, ev: &LifecycleEvent, later_exec: bool) {
    let tgid = ev.tgid as i32;
    match ev.kind {
        lifecycle_kind::FORK => {
            let parent = match ev.clone_flags & CLONE_PARENT {
                0 => tgid,
                _ => table.get(tgid).map_or(tgid, |p| p.ppid),
            };
            table.on_clone(tgid, parent, ev.child as i32, None);
        }
        lifecycle_kind::EXEC => {
            // The kernel's length counts the NUL: at most `len - 1` bytes are the name.
            let filename_len = (ev.filename_len.max(1) as usize - 1).min(ev.filename.len());
            let filename = kernel_str(&ev.filename[..filename_len]).into_owned();
            let comm = kernel_str(&ev.comm).into_owned();
            let argc = (ev.argv.argc as usize).min(ev.argv.args.len());
            let argv: Vec<String> = ev.argv.args[..argc].iter().map(|a| kernel_str(a).into_owned()).collect();
            // The record's uid is the real one and the table keeps the effective one: it is not
            // passed, so a process gone before this runs keeps its creator's.
            // 0: the kernel's offsets were unknown, so neither was read.
            let known = ev.start_boottime_ns > 0;
            let exec = super::ExecEvent {
                filename: &filename,
                comm: Some(&comm),
                argv: (!argv.is_empty()).then_some(argv.as_slice()),
                start_time: known.then(|| super::start_time_from_boot_ns(ev.start_boottime_ns)),
                caps: known.then_some((ev.cap_effective, ev.cap_permitted)),
                vpid: (ev.vpid > 0).then_some(ev.vpid as i32),
                superseded: later_exec,
                ..Default::default()
            };
            table.on_exec_event(tgid, &exec);
        }
        lifecycle_kind::EXIT => table.on_exit(tgid),
        other => tracing::debug!(kind = other, "unknown lifecycle record kind"),
    }
}

/// One batch of lifecycle records, sorted by time, applied as the syscall events reach them.
#[derive(Default)]
pub struct LifecycleQueue {
    records: Vec<LifecycleEvent>,
    next: usize,
    /// The index of each process's last exec record in `records`.
    last_exec: std::collections::HashMap<u32, usize>,
}

impl LifecycleQueue {
    /// Starts a new batch: the records not applied yet (those after the last batch's
    /// watermark, see [`LifecycleQueue::apply_until`]) are kept, and sorted in with the new.
    pub fn refill(&mut self, drain: impl FnOnce(&mut Vec<LifecycleEvent>) -> usize) -> usize {
        self.records.drain(..self.next);
        self.next = 0;
        let n = drain(&mut self.records);
        // Ring order is reservation order, which two CPUs may interleave slightly out of time
        // order; per process the order is causal (a child cannot exec before its fork
        // returned), so a stable sort by time keeps it.
        self.records.sort_by_key(|r| r.ktime_ns);
        self.last_exec.clear();
        for (i, r) in self.records.iter().enumerate().filter(|(_, r)| r.kind == lifecycle_kind::EXEC) {
            self.last_exec.insert(r.tgid, i);
        }
        n
    }

    pub fn is_empty(&self) -> bool {
        self.next >= self.records.len()
    }

    /// Applies the records that happened at or before `ktime_ns`.
    pub fn apply_until(&mut self, table: &mut ProcessTable, ktime_ns: u64) {
        while self.records.get(self.next).is_some_and(|r| r.ktime_ns <= ktime_ns) {
            self.apply_next(table);
        }
    }

    /// Applies the records up to and including the exec record of `tgid`'s execve that entered
    /// at `entry_ktime_ns`, if this batch has it (else it was applied with an earlier batch: the
    /// exec record is committed before its syscall returns). The record is the process's first
    /// exec at or after that entry: an earlier exec record of the same process is an earlier
    /// image (`sh -c 'exec dd ...'` execs twice in one pid, and the shell's execve may not have
    /// been sent to user space at all).
    pub fn apply_through_exec(&mut self, table: &mut ProcessTable, tgid: u32, entry_ktime_ns: u64) {
        let pending = &self.records[self.next.min(self.records.len())..];
        let Some(i) = pending
            .iter()
            .position(|r| r.kind == lifecycle_kind::EXEC && r.tgid == tgid && r.ktime_ns >= entry_ktime_ns)
        else {
            return;
        };
        let end = self.next + i + 1;
        while self.next < end {
            self.apply_next(table);
        }
    }

    fn apply_next(&mut self, table: &mut ProcessTable) {
        let r = &self.records[self.next];
        let later_exec = self.last_exec.get(&r.tgid).is_some_and(|&last| last > self.next);
        apply(table, r, later_exec);
        self.next += 1;
    }
}
