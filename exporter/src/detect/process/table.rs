//! [`ProcessTable`]: every process the node runs, kept from fork/exec/exit/chdir events and
//! seeded from /proc, so events can be enriched without touching /proc.

use super::paths::{follow_symlinks, join, resolve};
use super::procfs::{comm_of, Loader, Origin, ProcError, ProcessInfo};
use crate::rules::{Ancestor, Process, User};
use exporter_ebpf::MAX_EXEC_ARGS;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub const DEFAULT_CAPACITY: usize = 32768;
/// How long an exited process stays so events queued before its exit can still be enriched.
pub const DEFAULT_EXIT_GRACE: Duration = Duration::from_secs(5);
/// Ancestors filled per event (parent first).
pub const DEFAULT_ANCESTOR_DEPTH: usize = 16;

/// Converts a kernel start time in nanoseconds after boot (`task->start_boottime`, what an eBPF
/// program can read) to the clock ticks of `/proc/<pid>/stat` field 22, as the kernel's
/// `nsec_to_clock_t` does.
pub fn start_time_from_boot_ns(ns: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    ns / (1_000_000_000 / hz)
}

/// Start times in clock ticks after boot to ns since the Unix epoch.
#[derive(Clone, Copy, Debug)]
struct StartClock {
    ns_per_tick: u64,
    /// `CLOCK_REALTIME - CLOCK_BOOTTIME` (stat's start time counts on the boot-time clock).
    boot_epoch_ns: i64,
}

impl StartClock {
    fn now() -> StartClock {
        fn read(clock: libc::clockid_t) -> i64 {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: `ts` is a valid timespec; both clocks exist on Linux.
            unsafe { libc::clock_gettime(clock, &mut ts) };
            ts.tv_sec * 1_000_000_000 + ts.tv_nsec
        }
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = if hz > 0 { hz as u64 } else { 100 };
        let boot = read(libc::CLOCK_BOOTTIME);
        StartClock { ns_per_tick: 1_000_000_000 / hz, boot_epoch_ns: read(libc::CLOCK_REALTIME) - boot }
    }

    /// 0 (unknown) when the start time is.
    fn epoch_ns(&self, ticks: Option<u64>) -> u64 {
        let Some(ticks) = ticks else { return 0 };
        let since_boot = i64::try_from(ticks.saturating_mul(self.ns_per_tick)).unwrap_or(i64::MAX);
        u64::try_from(since_boot.saturating_add(self.boot_epoch_ns)).unwrap_or(0)
    }
}

/// A process is its pid *and* its start time: a reused pid has a later start time.
type Key = (i32, Option<u64>);

struct Entry {
    info: ProcessInfo,
    /// Logical time of the last look-up or update, for LRU eviction. Atomic so look-ups through
    /// `&self` (the enrichment path, possibly several threads under a read lock) count as uses.
    last_used: AtomicU64,
    exited_at: Option<Instant>,
}

/// What an exec event may carry besides the pid. Only `filename` is needed; the rest is used
/// when `/proc/<pid>` is already gone (or, for `start_time`, to detect pid reuse).
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecEvent<'a> {
    /// The path as passed to execve (`bprm->filename`), possibly relative to the cwd.
    pub filename: &'a str,
    /// The executed file's full path as the kernel resolved it (`d_path(bprm->file)`):
    /// preferred over `filename` (it names memfds and follows symlinks).
    pub exepath: Option<&'a str>,
    /// argv, `argv[0]` first.
    pub argv: Option<&'a [String]>,
    /// The new `comm`.
    pub comm: Option<&'a str>,
    /// Start time in clock ticks after boot (`task->start_boottime` / (NSEC_PER_SEC / USER_HZ)).
    pub start_time: Option<u64>,
    pub ppid: Option<i32>,
    /// Effective uid/gid after the exec (setuid binaries change them).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Effective and permitted capabilities after the exec (the kernel recomputes them).
    pub caps: Option<(u64, u64)>,
    /// The pid in the process's own pid namespace.
    pub vpid: Option<i32>,
    /// A later exec of the process is known already: /proc shows that image, not this one.
    pub superseded: bool,
}

/// Counters for the exporter's own metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub entries: usize,
    pub exited: usize,
    /// Live processes dropped because the table was full (it is too small, or exits were lost).
    pub evicted_live: u64,
    /// Exited processes dropped before their grace ended because the table was full.
    pub evicted_exited: u64,
    /// /proc loads that failed for another reason than the process being gone.
    pub load_failures: u64,
}

/// The process table; see the module docs for the eviction policy and the cost model.
pub struct ProcessTable {
    loader: Loader,
    capacity: usize,
    exit_grace: Duration,
    ancestor_depth: usize,
    entries: HashMap<Key, Entry>,
    /// pid -> start time of its newest incarnation.
    current: HashMap<i32, Option<u64>>,
    /// Exited processes in exit order (may hold keys already evicted; skipped when met).
    exited: VecDeque<Key>,
    clock: AtomicU64,
    start_clock: StartClock,
    stats: TableStats,
}

impl ProcessTable {
    /// A table over `proc_root` (`/proc`, or a synthetic tree in tests) holding at most
    /// `capacity` processes (at least 1). No cgroup ids until [`ProcessTable::with_cgroup_root`].
    pub fn new(proc_root: PathBuf, capacity: usize) -> ProcessTable {
        ProcessTable {
            loader: Loader::new(proc_root, None),
            capacity: capacity.max(1),
            exit_grace: DEFAULT_EXIT_GRACE,
            ancestor_depth: DEFAULT_ANCESTOR_DEPTH,
            entries: HashMap::new(),
            current: HashMap::new(),
            exited: VecDeque::new(),
            clock: AtomicU64::new(0),
            start_clock: StartClock::now(),
            stats: TableStats::default(),
        }
    }

    /// `/proc`, [`DEFAULT_CAPACITY`], and the detected cgroup v2 mount.
    pub fn system() -> ProcessTable {
        ProcessTable::new(PathBuf::from("/proc"), DEFAULT_CAPACITY)
            .with_cgroup_root(crate::container::detect_cgroup2_root())
    }

    /// Where cgroup v2 is mounted, to fill [`ProcessInfo::cgroup_id`]; `None` leaves it 0.
    pub fn with_cgroup_root(mut self, cgroup_root: Option<PathBuf>) -> ProcessTable {
        self.loader = Loader::new(self.loader.proc_root.clone(), cgroup_root);
        self
    }

    pub fn with_exit_grace(mut self, grace: Duration) -> ProcessTable {
        self.exit_grace = grace;
        self
    }

    pub fn with_ancestor_depth(mut self, depth: usize) -> ProcessTable {
        self.ancestor_depth = depth;
        self
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn stats(&self) -> TableStats {
        let exited = self.entries.values().filter(|e| e.exited_at.is_some()).count();
        TableStats { entries: self.entries.len(), exited, ..self.stats }
    }

    /// Loads every process of /proc, so processes older than the exporter are known. Returns how
    /// many were loaded; processes that vanish during the walk are skipped.
    pub fn seed_from_proc(&mut self) -> Result<usize, ProcError> {
        let root = self.loader.proc_root.clone();
        let dir = std::fs::read_dir(&root).map_err(|source| ProcError::Io { path: root.clone(), source })?;
        let mut pids: Vec<i32> =
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter(|p: &i32| *p > 0).collect();
        pids.sort_unstable();
        let mut n = 0;
        for pid in pids {
            if self.load(pid).is_some() {
                n += 1;
            }
        }
        tracing::debug!(loaded = n, "process table seeded from {}", root.display());
        Ok(n)
    }

    /// The newest process with this pid (possibly exited, within its grace). A hash look-up.
    pub fn get(&self, pid: i32) -> Option<&ProcessInfo> {
        let start = self.current.get(&pid)?;
        self.entry(&(pid, *start))
    }

    /// The process with this pid *and* start time (clock ticks after boot): exact even when the
    /// pid was reused since the event was queued.
    pub fn get_exact(&self, pid: i32, start_time: u64) -> Option<&ProcessInfo> {
        self.entry(&(pid, Some(start_time)))
    }

    fn entry(&self, key: &Key) -> Option<&ProcessInfo> {
        let e = self.entries.get(key)?;
        e.last_used.store(self.tick(), Relaxed);
        Some(&e.info)
    }

    /// [`ProcessTable::get`], loading the process from /proc on a miss.
    pub fn get_or_load(&mut self, pid: i32) -> Option<&ProcessInfo> {
        if !self.current.contains_key(&pid) {
            self.expire(Instant::now());
            self.load(pid)?;
        }
        self.get(pid)
    }

    fn load(&mut self, pid: i32) -> Option<Key> {
        match self.loader.load(pid) {
            Ok(info) => Some(self.insert(info)),
            Err(e) => {
                if !matches!(e, ProcError::Gone { .. }) {
                    self.stats.load_failures += 1;
                    tracing::debug!(pid, error = %e, "cannot load process");
                }
                None
            }
        }
    }

    /// A new process: `child` starts as a copy of `parent` (its data until it execs). The
    /// child's start time comes from the event, else from /proc; `None` if it is already gone.
    /// An unknown parent is loaded from /proc; without it the child is loaded from /proc, else
    /// kept with just its pids.
    pub fn on_fork(&mut self, parent: i32, child: i32, child_start_time: Option<u64>) {
        self.on_clone(parent, parent, child, child_start_time);
    }

    /// [`ProcessTable::on_fork`] where the creator and the parent differ: `clone(CLONE_PARENT)`
    /// (runc's nsexec uses it) makes the child a sibling of its creator, whose data it still
    /// inherits.
    pub fn on_clone(&mut self, creator: i32, parent: i32, child: i32, child_start_time: Option<u64>) {
        self.expire(Instant::now());
        let start = child_start_time.or_else(|| self.loader.start_time(child));
        if start.is_some() && self.entries.contains_key(&(child, start)) {
            // Already loaded from /proc (seeding raced the fork): that data is newer.
            return;
        }
        let parent_info = match self.current.contains_key(&creator) {
            true => self.get(creator).cloned(),
            false => self.load(creator).and_then(|k| self.entries.get(&k)).map(|e| e.info.clone()),
        };
        let info = match parent_info {
            // The child's own pid in its namespace is not the parent's: unknown until /proc says.
            Some(p) => ProcessInfo {
                pid: child,
                tgid: child,
                ppid: parent,
                start_time: start,
                vpid: None,
                origin: Origin::Fork,
                exited: false,
                ..p
            },
            None => match self.loader.load(child) {
                Ok(i) if start.is_none() || i.start_time == start => i,
                _ => ProcessInfo {
                    pid: child,
                    tgid: child,
                    ppid: parent,
                    start_time: start,
                    origin: Origin::Fork,
                    ..ProcessInfo::default()
                },
            },
        };
        self.insert(info);
    }

    /// The kernel reported `comm` for `pid` at a syscall and the table holds another name: the
    /// process renamed itself (`prctl(PR_SET_NAME)`; runc's init does), or the event came from a
    /// thread named otherwise (the kernel's comm is per thread, and is what the rule sees), or a
    /// lifecycle record was lost. With `check_proc`, /proc is read and taken whole if it shows
    /// the same comm (the lost-record case); in any case the entry then carries `comm`. A process
    /// already gone keeps its entry: lifecycle records make
    /// its identity trustworthy, only its name was stale. An unknown pid is loaded from /proc.
    pub fn observe_comm(&mut self, pid: i32, comm: &str, check_proc: bool) {
        if check_proc {
            match self.loader.load(pid) {
                Ok(info) if info.comm == comm => {
                    self.insert(info);
                    return;
                }
                Ok(_) | Err(ProcError::Gone { .. }) => {}
                Err(e) => {
                    self.stats.load_failures += 1;
                    tracing::debug!(pid, error = %e, "cannot reload process");
                }
            }
        }
        let Some(start) = self.current.get(&pid).copied() else {
            self.get_or_load(pid);
            return;
        };
        let tick = self.tick();
        if let Some(e) = self.entries.get_mut(&(pid, start)) {
            if e.info.comm != comm {
                e.info.comm = comm_of(comm);
                e.info.rebuild_cmdline();
            }
            e.last_used.store(tick, Relaxed);
        }
    }

    /// [`ProcessTable::on_exec_event`] with only the filename.
    pub fn on_exec(&mut self, pid: i32, filename: &str) {
        self.on_exec_event(pid, &ExecEvent { filename, ..ExecEvent::default() });
    }

    /// The process replaced its image: reloaded from /proc, whose start time must match the
    /// event's when it has one (else the pid was reused and /proc describes another process).
    /// If `/proc/<pid>` is gone already (or the process is exiting), the entry from the fork is
    /// updated with what the event says: exepath (the event's, else `filename` resolved against
    /// the cwd), argv, comm (else the file's base name), uid/gid; caps, cwd, tty and the rest
    /// stay the parent's.
    pub fn on_exec_event(&mut self, pid: i32, ev: &ExecEvent) {
        self.expire(Instant::now());
        let known = self.current.get(&pid).copied();
        // Without a start time in the event, /proc is trusted: a known entry with another start
        // time most likely lost its exit event, while a pid reused between the exec and now
        // would take a wrap of the pid space within the event latency.
        let expected = ev.start_time;
        if let Some(info) = self.image_from_proc(pid, ev) {
            self.insert(info);
            return;
        }
        // An entry of unknown start (a fork seen after the child was gone) is this process.
        let forked = known
            .filter(|s| expected.is_none() || s.is_none() || *s == expected)
            .and_then(|s| self.entries.get(&(pid, s)));
        let mut info = match forked {
            Some(e) => ProcessInfo { start_time: expected.or(e.info.start_time), ..e.info.clone() },
            None => ProcessInfo { pid, tgid: pid, start_time: expected, ..ProcessInfo::default() },
        };
        let cwd = if info.cwd.is_empty() { "/" } else { info.cwd.as_str() };
        info.exepath = match ev.exepath {
            Some(p) => p.to_owned(),
            // A program executing itself again (runc's init, busybox applets): the new image is
            // the caller's executable, not a path to resolve.
            None if matches!(ev.filename, "/proc/self/exe" | "/proc/thread-self/exe") && !info.exepath.is_empty() => {
                info.exepath.clone()
            }
            None => resolve(cwd, ev.filename),
        };
        info.exec_path = exec_path(cwd, ev.filename).unwrap_or_else(|| info.exepath.clone());
        let argv = ev.argv.unwrap_or(&[]);
        info.exe = argv.first().cloned().unwrap_or_else(|| ev.filename.to_owned());
        info.args = argv.iter().skip(1).cloned().collect();
        info.comm = match ev.comm {
            Some(c) => comm_of(c),
            None => comm_of(ev.filename.rsplit('/').next().unwrap_or(ev.filename)),
        };
        if let Some(p) = ev.ppid {
            info.ppid = p;
        }
        info.vpid = ev.vpid.or(info.vpid);
        if let Some(u) = ev.uid.filter(|u| *u != info.uid) {
            // The name would need the process's root, which is gone with it.
            info.uid = u;
            info.user_name.clear();
        }
        if let Some(g) = ev.gid.filter(|g| *g != info.gid) {
            info.gid = g;
            info.group_name.clear();
        }
        // The creator's capabilities are not the new image's (the exec recomputed them). Without
        // the kernel's, the set is left empty: a rule testing for a capability then stays
        // silent rather than firing on the creator's.
        (info.cap_effective, info.cap_permitted) = ev.caps.unwrap_or((0, 0));
        // The new image's environment and executable were never seen.
        info.env = std::sync::Arc::from([]);
        (info.exe_ctime, info.exe_mtime) = (0, 0);
        info.is_exe_from_memfd = info.exepath.starts_with("/memfd:");
        info.is_exe_upper_layer = false;
        info.origin = Origin::Exec;
        info.exited = false;
        info.rebuild_cmdline();
        self.insert(info);
    }

    /// The new image as /proc shows it, with the exec's own arguments and capabilities when the
    /// record kept them whole; `None` when /proc cannot tell it and the record is used instead.
    fn image_from_proc(&mut self, pid: i32, ev: &ExecEvent) -> Option<ProcessInfo> {
        // A later exec already known: /proc shows that image, so the record is used.
        if ev.superseded {
            return None;
        }
        let expected = ev.start_time;
        match self.loader.load(pid) {
            // Already exec'd again (`nc -e /bin/sh`, `sh -c 'exec dd ...'`): /proc shows the
            // later image, so the record's is used.
            Ok(info) if shows_a_later_image(&info, ev) => None,
            Ok(mut info) if expected.is_none() || info.start_time == expected => {
                info.exec_path = exec_path(&info.cwd, ev.filename).unwrap_or_else(|| info.exepath.clone());
                // The arguments the exec was given, as Falco's execve exit reports them: a
                // program may rewrite its argument area once it runs (busybox's dd cuts each
                // `if=/dev/zero` at its `=`; nginx writes its title there).
                if let Some([exe, args @ ..]) = ev.argv.filter(|argv| is_whole(argv)) {
                    info.exe.clone_from(exe);
                    info.args = args.to_vec();
                    info.rebuild_cmdline();
                }
                // The kernel's are the ones the exec gave; /proc shows them as of now.
                if let Some((effective, permitted)) = ev.caps {
                    (info.cap_effective, info.cap_permitted) = (effective, permitted);
                }
                Some(info)
            }
            Ok(info) => {
                tracing::debug!(pid, ?expected, found = ?info.start_time, "pid reused before its exec was seen");
                None
            }
            // Exited or exiting (a zombie keeps /proc/<pid> without an executable or a command
            // line): what the exec record says is used instead.
            Err(ProcError::Gone { .. }) => None,
            Err(e) => {
                self.stats.load_failures += 1;
                tracing::debug!(pid, error = %e, "cannot reload process at exec");
                None
            }
        }
    }

    /// The process exited: it stays (marked exited) for the exit grace so events queued before
    /// the exit can still be enriched, then goes.
    pub fn on_exit(&mut self, pid: i32) {
        let now = Instant::now();
        self.expire(now);
        let Some(start) = self.current.get(&pid).copied() else { return };
        self.retire((pid, start), now);
    }

    /// The process changed directory (a successful `chdir`; the kernel side resolves `fchdir`'s
    /// descriptor to a path). Relative paths resolve against the old cwd, and symlinks are
    /// followed inside the process's root while it exists (the kernel's cwd is the real
    /// directory). An unknown process is loaded from /proc, which already has the new cwd.
    pub fn on_chdir(&mut self, pid: i32, new_cwd: &str) {
        let Some(start) = self.current.get(&pid).copied() else {
            self.get_or_load(pid);
            return;
        };
        let root = self.loader.pid_dir(pid).join("root");
        let tick = self.tick();
        let Some(e) = self.entries.get_mut(&(pid, start)) else { return };
        let old = if e.info.cwd.is_empty() { "/" } else { e.info.cwd.as_str() };
        e.info.cwd = follow_symlinks(&root, &join(old, new_cwd));
        e.last_used.store(tick, Relaxed);
    }

    /// Fills the rule engine's `proc.*` and `user.*` fields of the newest process with this pid,
    /// ancestors included (parent first, at most the ancestor depth). Reads only the table, never
    /// /proc. Returns false (and leaves both untouched) for an unknown pid.
    pub fn fill_event_process(&self, pid: i32, proc: &mut Process, user: &mut User) -> bool {
        match self.get(pid) {
            Some(p) => {
                self.fill_from(p, proc, user);
                true
            }
            None => false,
        }
    }

    /// [`ProcessTable::fill_event_process`] for an event that carries the process's start time:
    /// the exact process even if the pid was reused since the event was queued. Falls back to
    /// the newest process with the pid only when its start time is unknown; false otherwise.
    pub fn fill_event_process_at(&self, pid: i32, start_time: u64, proc: &mut Process, user: &mut User) -> bool {
        let p = match self.get_exact(pid, start_time) {
            Some(p) => p,
            None => match self.get(pid) {
                Some(p) if p.start_time.is_none() => p,
                _ => return false,
            },
        };
        self.fill_from(p, proc, user);
        true
    }

    fn fill_from(&self, p: &ProcessInfo, proc: &mut Process, user: &mut User) {
        proc.pid = p.pid as i64;
        proc.ppid = p.ppid as i64;
        proc.name.clone_from(&p.comm);
        proc.exe.clone_from(&p.exe);
        proc.exepath.clone_from(&p.exepath);
        proc.exec_path.clone_from(&p.exec_path);
        proc.args.clone_from(&p.args);
        proc.cmdline.clone_from(&p.cmdline);
        proc.cwd.clone_from(&p.cwd);
        proc.tty = p.tty;
        proc.sid = p.sid as i64;
        proc.vpgid = p.vpgid as i64;
        proc.is_exe_upper_layer = p.is_exe_upper_layer;
        proc.is_exe_from_memfd = p.is_exe_from_memfd;
        proc.vpid = p.vpid.map(i64::from);
        proc.start_time = self.start_clock.epoch_ns(p.start_time);
        proc.env = p.env.clone();
        proc.exe_ctime = p.exe_ctime;
        proc.exe_mtime = p.exe_mtime;
        proc.sname.clear();
        if let Some(leader) = self.session_leader(p) {
            proc.sname.push_str(&leader.comm);
        }
        proc.cap_effective = p.cap_effective;
        proc.cap_permitted = p.cap_permitted;
        // Reuses the event's ancestor buffers: a feeder that keeps one `Process` allocates
        // nothing here once the strings have grown.
        let mut n = 0;
        let mut child = p;
        while n < self.ancestor_depth {
            let Some(parent) = self.parent_of(child) else { break };
            if n == proc.ancestors.len() {
                proc.ancestors.push(Ancestor::default());
            }
            let a = &mut proc.ancestors[n];
            a.pid = parent.pid as i64;
            a.name.clone_from(&parent.comm);
            a.exe.clone_from(&parent.exe);
            a.exepath.clone_from(&parent.exepath);
            a.exec_path.clone_from(&parent.exec_path);
            a.cmdline.clone_from(&parent.cmdline);
            n += 1;
            child = parent;
        }
        proc.ancestors.truncate(n);
        user.uid = p.uid as i64;
        user.gid = p.gid as i64;
        user.name.clone_from(&p.user_name);
        user.loginuid = p.loginuid;
        user.loginname.clone_from(&p.login_name);
        user.group_name.clone_from(&p.group_name);
    }

    /// The leader of the process's session (itself, or an elder: see [`Self::elder`]).
    fn session_leader<'a>(&'a self, p: &'a ProcessInfo) -> Option<&'a ProcessInfo> {
        match p.sid {
            sid if sid == p.pid => Some(p),
            sid if sid > 0 => self.elder(sid, p),
            _ => None,
        }
    }

    /// The parent, unless its pid now belongs to a process younger than the child (the parent
    /// exited, was evicted, and the pid was reused): then the chain ends.
    fn parent_of(&self, child: &ProcessInfo) -> Option<&ProcessInfo> {
        if child.ppid <= 0 || child.ppid == child.pid {
            return None;
        }
        self.elder(child.ppid, child)
    }

    /// The process with `pid` that `p` names (its parent, its session leader), unless that pid
    /// now belongs to a process younger than `p`: the one named exited and the pid was reused.
    fn elder(&self, pid: i32, p: &ProcessInfo) -> Option<&ProcessInfo> {
        let named = self.get(pid)?;
        match (named.start_time, p.start_time) {
            (Some(n), Some(c)) if n > c => None,
            _ => Some(named),
        }
    }

    /// Drops exited processes whose grace ended by `now`. Every event handler calls it; a caller
    /// without events may call it on a timer.
    pub fn expire(&mut self, now: Instant) {
        while let Some(key) = self.exited.front().copied() {
            match self.entries.get(&key).and_then(|e| e.exited_at) {
                Some(at) if now.saturating_duration_since(at) < self.exit_grace => break,
                Some(_) => {
                    self.remove(&key);
                }
                None => {}
            }
            self.exited.pop_front();
        }
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Relaxed) + 1
    }

    /// Marks a process exited (once) and queues it for expiry.
    fn retire(&mut self, key: Key, now: Instant) {
        if let Some(e) = self.entries.get_mut(&key) {
            if e.exited_at.is_none() {
                e.exited_at = Some(now);
                e.info.exited = true;
                self.exited.push_back(key);
            }
        }
    }

    fn remove(&mut self, key: &Key) {
        self.entries.remove(key);
        if self.current.get(&key.0) == Some(&key.1) {
            self.current.remove(&key.0);
        }
    }

    /// Inserts or replaces a process. Another incarnation of the pid still marked live must have
    /// exited unseen: it is retired.
    fn insert(&mut self, mut info: ProcessInfo) -> Key {
        let key = (info.pid, info.start_time);
        if let Some(old) = self.current.get(&info.pid).copied() {
            if old != info.start_time {
                self.retire((info.pid, old), Instant::now());
            }
        }
        if !self.entries.contains_key(&key) {
            self.make_room();
        }
        info.exited = false;
        let entry = Entry { info, last_used: AtomicU64::new(self.tick()), exited_at: None };
        self.entries.insert(key, entry);
        self.current.insert(key.0, key.1);
        key
    }

    /// Frees one slot when full: the oldest exited process first; with none, the least recently
    /// used 1/64 of the table at once, so a full table costs one O(n) scan per capacity/64
    /// inserts instead of one per insert.
    fn make_room(&mut self) {
        while self.entries.len() >= self.capacity {
            if let Some(key) = self.exited.pop_front() {
                if self.entries.get(&key).is_some_and(|e| e.exited_at.is_some()) {
                    self.remove(&key);
                    self.stats.evicted_exited += 1;
                }
                continue;
            }
            let n = (self.capacity / 64).max(1);
            let mut by_age: Vec<(u64, Key)> =
                self.entries.iter().map(|(k, e)| (e.last_used.load(Relaxed), *k)).collect();
            if by_age.len() > n {
                by_age.select_nth_unstable(n - 1);
                by_age.truncate(n);
            }
            tracing::warn!(
                evicted = by_age.len(),
                capacity = self.capacity,
                "process table full of live processes; evicting the least recently used"
            );
            for (_, key) in by_age {
                self.remove(&key);
                self.stats.evicted_live += 1;
            }
        }
    }
}

/// The path an exec named, made absolute against `cwd` (symlinks kept); `None` when it named none.
fn exec_path(cwd: &str, filename: &str) -> Option<String> {
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    (!filename.is_empty()).then(|| resolve(cwd, filename))
}

/// Whether `/proc` (read when the exec record is applied) describes a later exec than the
/// record's: both its name and its arguments differ from the record's. One alone is not enough:
/// a process may rename itself (`prctl(PR_SET_NAME)`, runc's init) or rewrite its arguments
/// (nginx, postgres) after its exec.
fn shows_a_later_image(proc: &ProcessInfo, ev: &ExecEvent) -> bool {
    let (Some(comm), Some(argv)) = (ev.comm, ev.argv) else {
        return false;
    };
    if comm_of(comm) == proc.comm {
        return false;
    }
    let proc_argv: Vec<&str> = std::iter::once(proc.exe.as_str()).chain(proc.args.iter().map(String::as_str)).collect();
    !could_be_cut_from(argv, &proc_argv)
}

/// Whether the record's `kept` arguments could be `full` as the kernel cut it: at most
/// [`MAX_EXEC_ARGS`] arguments, each cut to [`exporter_ebpf::MAX_EXEC_ARG`] - 1 bytes, so each
/// is compared as a prefix.
fn could_be_cut_from(kept: &[String], full: &[&str]) -> bool {
    let counts_agree = if kept.len() < MAX_EXEC_ARGS { kept.len() == full.len() } else { full.len() >= kept.len() };
    counts_agree && kept.iter().zip(full).all(|(kept, full)| full.starts_with(kept.as_str()))
}

/// Whether the record kept every argument whole: fewer than [`MAX_EXEC_ARGS`], none cut at
/// [`exporter_ebpf::MAX_EXEC_ARG`] - 1 bytes, none empty (a slot the kernel could not read is).
fn is_whole(argv: &[String]) -> bool {
    !argv.is_empty()
        && argv.len() < MAX_EXEC_ARGS
        && argv.iter().all(|a| !a.is_empty() && a.len() < exporter_ebpf::MAX_EXEC_ARG - 1)
}

#[cfg(test)]
mod tests;
