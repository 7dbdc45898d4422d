//! Rule evaluation over the kernel's syscall events: decode each record into a rule `Event`,
//! evaluate it, count matches per (rule, container) and hand each match to the alert outputs.
//!
//! Counters are keyed by rule *name*, so a reload that keeps a rule keeps its counter.

use std::sync::Arc;

use exporter_ebpf::{SyscallEvent, EVENT_MULTI_LINK, EVENT_RESOLVED_PATH};

use crate::{
    alerts::{Dispatcher, Recorder, RecorderStats},
    baseline::Baseline,
    container::Container,
    kernel::{prefilter::KernelRuleSet, watched::WatchedInodes, LifecycleEvents, LongPathRecords, SyscallEvents},
    metrics::{unix_now, DetectorProgress, MatchKey, RuleMatches, RulesStatus},
    rules::{self, Engine, Event},
    syscalls::SyscallNames,
};
use decode::Decoder;
use long_paths::LongPaths;
use process::{lifecycle::LifecycleQueue, ProcessTable};

pub mod decode;
pub mod long_paths;
pub mod process;

pub struct Detector {
    engine: Engine,
    decoder: Decoder,
    names: SyscallNames,
    processes: ProcessTable,
    /// `--record`: every evaluated event, replayable with `rules test --events`.
    recorder: Option<Recorder>,
    boot_to_epoch_ns: i64,
    event: Event,
    matches: Vec<u32>,
    evaluated: u64,
    /// Every event queued before this instant was evaluated ([`DetectorProgress::caught_up_ns`]).
    caught_up_ns: u64,
    /// Where the matches user space decides are counted (the kernel counts its own).
    matches_counted: Arc<RuleMatches>,
    /// Rule names as shared strings, by rule index (built once per rule set).
    rule_names: Vec<Arc<str>>,
    status: RulesStatus,
    /// The kernel prefilter's rule bits: of the running rule set, and of the one before (its
    /// events may still be queued after a reload).
    kernel_rules: KernelRuleSet,
    previous_kernel_rules: KernelRuleSet,
    /// Watched files by identity: an opened hard link to one is named by its watched path.
    watched: Arc<WatchedInodes>,
    /// The kernel's fork/exec/exit records, until the detection thread takes them.
    lifecycle: Option<LifecycleEvents>,
    /// (pid, comm) pairs whose comm mismatch already consulted /proc (see `track_process`).
    reloaded: std::collections::HashSet<(i32, [u8; 16])>,
    /// `--baseline.dir`: learns from (or checks) every decoded event of a container.
    baseline: Option<Arc<std::sync::Mutex<Baseline>>>,
}

/// Bound of `Detector::reloaded`: cleared when full, which at worst costs one more /proc load
/// per (pid, comm) pair.
const RELOADED_CAPACITY: usize = 4096;

impl Detector {
    pub fn new(
        engine: Engine,
        kernel_rules: KernelRuleSet,
        decoder: Decoder,
        names: SyscallNames,
        processes: ProcessTable,
        watched: Arc<WatchedInodes>,
        matches_counted: Arc<RuleMatches>,
    ) -> Detector {
        let rule_names = engine.rules().iter().map(|r| Arc::from(r.name.as_str())).collect();
        let status = RulesStatus {
            loaded: enabled_rules(&engine),
            unsupported: engine.unsupported_by_reason(),
            last_success_unix: Some(unix_now()),
            ..Default::default()
        };
        Detector {
            engine,
            decoder,
            names,
            processes,
            recorder: None,
            boot_to_epoch_ns: decode::boot_to_epoch_ns(),
            event: Event::default(),
            matches: Vec::new(),
            evaluated: 0,
            caught_up_ns: 0,
            matches_counted,
            rule_names,
            status,
            kernel_rules,
            previous_kernel_rules: KernelRuleSet::default(),
            watched,
            lifecycle: None,
            reloaded: std::collections::HashSet::new(),
            baseline: None,
        }
    }

    /// Swaps in a new rule set. Counters are keyed by rule name, so rules that stay keep
    /// theirs. The caller has already made the kernel send the new set's syscalls.
    pub fn replace_engine(&mut self, engine: Engine, kernel_rules: KernelRuleSet) {
        self.previous_kernel_rules = std::mem::replace(&mut self.kernel_rules, kernel_rules);
        self.rule_names = engine.rules().iter().map(|r| Arc::from(r.name.as_str())).collect();
        self.status.loaded = enabled_rules(&engine);
        self.status.unsupported = engine.unsupported_by_reason();
        self.status.reloads_succeeded += 1;
        self.status.last_success_unix = Some(unix_now());
        self.engine = engine;
    }

    /// Counts a reload that was refused (the running rules stay).
    pub fn reload_failed(&mut self) {
        self.status.reloads_failed += 1;
    }

    pub fn rules_status(&self) -> RulesStatus {
        self.status.clone()
    }

    /// Records the running rules' files and digests (`rules_file_info`).
    pub fn set_rule_files(&mut self, files: Vec<(String, String)>) {
        self.status.files = files.into();
    }

    /// Decodes, evaluates and counts one kernel record (`long`: the whole of its cut path
    /// slots); each match goes to `alerts`.
    fn handle(
        &mut self,
        raw: &SyscallEvent,
        long: [Option<String>; 2],
        container: Arc<Container>,
        alerts: &Dispatcher,
    ) {
        self.evaluated += 1;
        self.track_process(raw);
        let rule_container = rule_container(&container);
        self.decoder.decode_with_long_paths(
            raw,
            [long[0].as_deref(), long[1].as_deref()],
            self.evaluated,
            self.boot_to_epoch_ns,
            &self.processes,
            rule_container,
            &mut self.event,
        );
        if raw.flags & EVENT_RESOLVED_PATH != 0 {
            let multi_link = raw.flags & EVENT_MULTI_LINK != 0;
            let parent = u32::try_from(self.event.proc.ppid).unwrap_or(0);
            let watched = self.watched.path_of(raw.dev as u64, raw.ino, (raw.tgid, parent), raw.cgroup_id, multi_link);
            if let (Some(watched), Some(fd)) = (watched, self.event.fd.as_mut()) {
                if *fd.name != *watched {
                    fd.name.clear();
                    fd.name.push_str(&watched);
                }
            }
        }
        if let Some(recorder) = &self.recorder {
            recorder.record(&self.event);
        }
        if let (Some(baseline), false) = (&self.baseline, container.id == Container::HOST_ID) {
            let now = self.event.time / 1_000_000_000;
            let alert = baseline.lock().ok().and_then(|mut b| b.observe_event(&self.event, &container, now));
            if let Some(alert) = alert {
                alerts.submit(&alert);
            }
        }
        self.matches.clear();
        self.engine.evaluate(&self.event, &mut self.matches);
        // Rules the kernel decided for this event are already in its hit counters, and its
        // verdict stands (it is exact by construction, and knows what user space may have lost,
        // such as a process gone before it was read): alert on them, count the rest.
        let decided = self.kernel_decided(raw);
        for &i in decided.iter().chain(self.matches.iter().filter(|i| !decided.contains(i))) {
            let i = i as usize;
            if !decided.contains(&(i as u32)) {
                let key = MatchKey {
                    rule: self.rule_names[i].clone(),
                    priority: self.engine.rules()[i].priority.as_str(),
                    container: container.clone(),
                };
                self.matches_counted.add(key, 1);
            }
            alerts.submit(&self.engine.alert(i, &self.event));
        }
    }

    /// Indices of the rules the kernel decided (and counted) for this event: the bits of
    /// `decided`, read with the rule set of the event's generation, by rule name.
    fn kernel_decided(&self, raw: &SyscallEvent) -> Vec<u32> {
        if raw.decided == 0 {
            return Vec::new();
        }
        let Some(set) =
            [&self.kernel_rules, &self.previous_kernel_rules].into_iter().find(|s| s.generation == raw.generation)
        else {
            return Vec::new();
        };
        set.bits
            .iter()
            .enumerate()
            .filter(|&(bit, _)| raw.decided >> bit & 1 == 1)
            .filter_map(|(_, name)| {
                let name = name.as_deref()?;
                self.rule_names.iter().position(|n| **n == *name).map(|i| i as u32)
            })
            .collect()
    }

    /// Fallback for what lifecycle records cannot tell: a record whose comm differs from the
    /// table's. Lifecycle records keep the table right through fork, exec, exit and pid reuse,
    /// but not a process renaming itself (runc's init does, `prctl(PR_SET_NAME)`, and its Go
    /// threads then make the container's mounts), a thread named otherwise than its process,
    /// nor a record lost to a full lifecycle ring. The kernel's comm at the syscall is the truth
    /// for `proc.name`, so the entry takes it at once, without /proc: a /proc read here would
    /// race the process (by the time the detection thread gets to the event, it may have
    /// exec'd or exited). /proc is consulted once per (pid, comm), for a lost exec record.
    fn track_process(&mut self, raw: &SyscallEvent) {
        let pid = raw.tgid as i32;
        let comm = process::kernel_str(&raw.comm);
        match self.processes.get(pid) {
            Some(known) if known.comm != comm => {
                if self.reloaded.len() >= RELOADED_CAPACITY {
                    self.reloaded.clear();
                }
                let check_proc = self.reloaded.insert((pid, raw.comm));
                self.processes.observe_comm(pid, &comm, check_proc);
            }
            Some(_) => {}
            None => {
                self.processes.get_or_load(pid);
            }
        }
    }

    /// Applies the lifecycle records that happened before `raw` (for a successful exec, up to
    /// its own exec record, so it sees the new image), then handles it with its long paths.
    pub fn handle_after(
        &mut self,
        queue: &mut LifecycleQueue,
        long_paths: &mut LongPaths,
        raw: &SyscallEvent,
        container: Arc<Container>,
        alerts: &Dispatcher,
    ) {
        let nr = raw.nr as usize;
        let is_exec = nr < exporter_ebpf::MAX_SYSCALLS && matches!(self.names.name(nr), "execve" | "execveat");
        if is_exec && raw.res == 0 {
            queue.apply_through_exec(&mut self.processes, raw.tgid, raw.ktime_ns);
        }
        queue.apply_until(&mut self.processes, raw.ktime_ns);
        self.handle(raw, long_paths.take(raw), container, alerts);
    }

    /// Applies a batch's lifecycle records up to `watermark` (see [`run`]).
    pub fn apply_lifecycle(&mut self, queue: &mut LifecycleQueue, watermark: u64) {
        queue.apply_until(&mut self.processes, watermark);
    }

    /// Hands the kernel's lifecycle records to the detection thread ([`run`]).
    pub fn set_lifecycle(&mut self, lifecycle: LifecycleEvents) {
        self.lifecycle = Some(lifecycle);
    }

    /// Hands every decoded event to `baseline` from now on (`--baseline.dir`).
    pub fn set_baseline(&mut self, baseline: Arc<std::sync::Mutex<Baseline>>) {
        self.baseline = Some(baseline);
    }

    /// Writes every evaluated event to `recorder` from now on (`--record`).
    pub fn record_to(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
    }

    /// What `--record` wrote and dropped, if it is on.
    pub fn record_stats(&self) -> Option<RecorderStats> {
        self.recorder.as_ref().map(Recorder::stats)
    }

    /// The number of events evaluated so far, and up to when every queued event was.
    pub fn progress(&self) -> DetectorProgress {
        DetectorProgress { evaluated: self.evaluated, caught_up_ns: self.caught_up_ns }
    }
}

fn enabled_rules(engine: &Engine) -> usize {
    engine.rules().iter().filter(|r| r.enabled).count()
}

/// The engine's view of a container; `None` is the host.
fn rule_container(container: &Container) -> Option<rules::Container> {
    (container.id != Container::HOST_ID).then(|| rules::Container {
        id: container.id.clone(),
        name: container.meta.name.clone(),
        image: container.meta.image.clone(),
        // The field is a plain boolean, as in Falco: a runtime that does not say reads false.
        privileged: container.meta.privileged.unwrap_or(false),
        pod: Some(container.meta.pod.clone()).filter(|p| !p.is_empty()),
        namespace: Some(container.meta.namespace.clone()).filter(|n| !n.is_empty()),
        start_ts: container.meta.start_ts,
        mounts: container.meta.mounts.clone(),
    })
}

/// How long the detection thread sleeps without a wake-up: the kernel sends lifecycle records
/// without one (unless their ring fills up), so this bounds how late the process table learns
/// of a fork, exec or exit no syscall event follows.
const POLL_INTERVAL_MS: libc::c_int = 20;

/// Records evaluated per hold of the detector's lock.
const LOCK_CHUNK: usize = 256;

/// The detection thread: waits on the kernel's event ring and lifecycle ring, then applies the
/// lifecycle records to the process table in order with the syscall events (see
/// [`crate::detect::process::lifecycle`]) and decodes and evaluates every event. `containers_of` names a
/// batch of events' cgroups. Runs until the process exits. It has a thread of its own because
/// resolving paths reads /proc, which must not block the server.
pub fn run(
    mut events: SyscallEvents,
    mut long_path_records: LongPathRecords,
    detector: Arc<std::sync::Mutex<Detector>>,
    alerts: Arc<Dispatcher>,
    containers_of: impl Fn(&[u64]) -> Vec<Arc<Container>>,
) {
    use std::os::fd::AsRawFd;
    let Some(mut lifecycle) = detector.lock().ok().and_then(|mut d| d.lifecycle.take()) else {
        tracing::error!("no lifecycle records attached; detection stops");
        return;
    };
    let mut batch: Vec<SyscallEvent> = Vec::new();
    let mut queue = LifecycleQueue::default();
    let mut long_paths = LongPaths::default();
    loop {
        let mut polls =
            [events.as_raw_fd(), lifecycle.as_raw_fd()].map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        // SAFETY: two valid pollfds for the duration of the call.
        let ready = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, POLL_INTERVAL_MS) };
        if ready < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            tracing::error!(error = %std::io::Error::last_os_error(), "polling kernel events failed; detection stops");
            return;
        }
        batch.clear();
        // Syscall events first: every lifecycle record they depend on was committed before them.
        // A lifecycle record newer than the start of this drain may belong to a process whose
        // last syscall events were committed just after it (a short-lived process can exec,
        // run and exit between the two drains): applied now, its exit would retire the process
        // before those events are evaluated, and they would see no process. Such records wait
        // for the next batch; every syscall event of a process precedes its exit record.
        let watermark = decode::monotonic_ns();
        events.drain(|raw| batch.push(*raw));
        // When the ring reads empty after the drain, nothing was reserved in it between the
        // drain and `drained_at`: every event queued before that instant is in this batch, and
        // is evaluated once the batch is. Otherwise the next round tries again.
        let drained_at = decode::monotonic_ns();
        let caught_up = (!events.wait_readable(0)).then_some(drained_at);
        // A long path is committed at its syscall's entry, so before its event: drained after
        // the events, it is there for each of them.
        long_path_records.drain(|record| long_paths.add(record));
        queue.refill(|records| lifecycle.drain(|record| records.push(*record)));
        if batch.is_empty() && queue.is_empty() {
            if let (Some(at), Ok(mut detector)) = (caught_up, detector.lock()) {
                detector.caught_up_ns = at;
            }
            continue;
        }
        let cgroups: Vec<u64> = batch.iter().map(|raw| raw.cgroup_id).collect();
        // Most wake-ups on a busy host are lifecycle records alone: no container to name.
        let containers = if cgroups.is_empty() { Vec::new() } else { containers_of(&cgroups) };
        // The lock is taken per chunk, not per batch: a busy host fills the ring with thousands
        // of records, and /metrics must not wait for all of them.
        for (raws, containers) in batch.chunks(LOCK_CHUNK).zip(containers.chunks(LOCK_CHUNK)) {
            let Ok(mut detector) = detector.lock() else {
                return;
            };
            for (raw, container) in raws.iter().zip(containers) {
                detector.handle_after(&mut queue, &mut long_paths, raw, container.clone(), &alerts);
            }
        }
        let Ok(mut detector) = detector.lock() else {
            return;
        };
        if !queue.is_empty() {
            detector.apply_lifecycle(&mut queue, watermark);
        }
        if let Some(at) = caught_up {
            detector.caught_up_ns = at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{container::runtime::ContainerMeta, rules::event::Mount};

    #[test]
    fn the_rules_see_the_runtimes_details() {
        let mount = Mount {
            source: "/run/docker.sock".into(),
            dest: "/var/run/docker.sock".into(),
            mode: "rw".into(),
            propagation: "rprivate".into(),
        };
        let meta = ContainerMeta {
            name: "ci".into(),
            privileged: Some(true),
            start_ts: Some(42),
            mounts: vec![mount.clone()],
            ..Default::default()
        };
        let seen = rule_container(&Container { id: "abc".into(), meta }).expect("a container");
        assert_eq!((seen.privileged, seen.start_ts, seen.mounts), (true, Some(42), vec![mount]));
        let unknown =
            rule_container(&Container { id: "abc".into(), meta: ContainerMeta::default() }).expect("a container");
        assert_eq!((unknown.privileged, unknown.start_ts, unknown.mounts), (false, None, vec![]));
        assert_eq!(rule_container(&Container::labelled(Container::HOST_ID)), None);
    }
}
