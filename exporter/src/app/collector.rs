//! Joins the probe and the container resolver: resolves new cgroups, expires vanished ones
//! (freeing their kernel slots) and produces the per-container rows /metrics shows.
//!
//! Counters never go backwards: when a cgroup of a long-lived identity (`host`, `unknown`) is
//! freed, its last counts are folded into a retired row of that identity. A container's own
//! series disappear with it once its last cgroup expires.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use exporter_ebpf::{SyscallRow, MAX_SYSCALLS};

use crate::{
    container::{Container, ContainerResolver},
    kernel::{
        interest_of,
        prefilter::{self, KernelRuleSet, RuleId, RuleIds},
        watched::{self, WatchedInodes},
        Interest, KernelSnapshot, Probe, ProbeError, Programs,
    },
    metrics::{
        ContainerRows, DetectorProgress, Exposition, MatchKey, RuleMatches, RulesStatus, ScrapeData, TenantCounters,
    },
    response::{cgroup::CgroupDir, Lookup, Target},
    rules::{Engine, KernelFilter},
    syscalls::SyscallNames,
};

/// A container and the numbers of the syscalls it has made.
pub type ContainerSyscalls = (Arc<Container>, Vec<usize>);

/// Label value for syscalls of cgroups that found no free kernel slot.
pub const OVERFLOW_ID: &str = "overflow";

pub struct Collector {
    probe: Probe,
    resolver: ContainerResolver,
    exposition: Exposition,
    /// Counts of freed cgroups whose identity lives on.
    retired: ContainerRows,
    /// Throttled events of freed cgroups whose identity lives on.
    retired_throttled: HashMap<Arc<Container>, u64>,
    /// Stable ids of the rules the kernel counts hits of.
    rule_ids: RuleIds,
    /// Cgroups whose host/container kind the kernel prefilter has been told.
    kinds_told: HashSet<u64>,
    /// Rule matches: the kernel-counted hits of freed cgroups are moved there.
    matches: Arc<RuleMatches>,
    /// The exact paths the running rules watch, with their rule bits (for `watched`).
    watched_paths: Vec<(String, u64)>,
    watched: Arc<WatchedInodes>,
    /// Prefilter entries beyond the rules' (the behaviour baseline's), applied with every rule set.
    extra_filters: Vec<KernelFilter>,
}

impl Collector {
    /// `watched` is shared with the detector, which names hard-linked watched files with it;
    /// `matches` too, where it counts the matches it decides.
    pub fn new(
        probe: Probe,
        resolver: ContainerResolver,
        exposition: Exposition,
        watched: Arc<WatchedInodes>,
        matches: Arc<RuleMatches>,
    ) -> Collector {
        Collector {
            probe,
            resolver,
            exposition,
            retired: HashMap::new(),
            retired_throttled: HashMap::new(),
            rule_ids: RuleIds::default(),
            kinds_told: HashSet::new(),
            matches,
            watched_paths: Vec::new(),
            watched,
            extra_filters: Vec::new(),
        }
    }

    /// Sends the events of `filters` to user space too, from the next [`Collector::apply_rules`]
    /// on (see `prefilter::compile`).
    pub fn set_extra_filters(&mut self, filters: Vec<KernelFilter>) {
        self.extra_filters = filters;
    }

    /// The syscalls whose events `engine`'s rules and the extra filters need.
    pub fn interest<'a>(
        &self,
        engine: &Engine,
        names: &'a SyscallNames,
    ) -> Vec<(usize, &'a str, exporter_ebpf::ArgSpec)> {
        interest_of(engine, names, &self.extra_filters)
    }

    /// The kernel programs, whose exits a reload attaches before `apply_rules` (see `Programs`).
    pub fn programs(&self) -> Arc<Mutex<Programs>> {
        self.probe.programs()
    }

    /// Makes the kernel run `engine`: its syscalls' events (`interest`, from
    /// `Programs::attach_exits` with [`Collector::interest`]) and the prefilter compiled from its
    /// rules. Syscalls this kernel cannot trace are logged: rules on them cannot match.
    pub fn apply_rules(
        &mut self,
        engine: &Engine,
        names: &SyscallNames,
        interest: &Interest,
    ) -> Result<KernelRuleSet, ProbeError> {
        let tables = prefilter::compile(engine, names, &mut self.rule_ids, &self.extra_filters);
        if let Some(rule) = tables.unkillable.first() {
            return Err(ProbeError::Unkillable(rule.to_string()));
        }
        let bits = tables.bits.iter().map(|b| b.as_ref().map(|r| r.name.clone())).collect();
        self.watched_paths = tables.exact_paths();
        let generation = self.probe.apply_rules(interest, tables)?;
        self.refresh_watched()?;
        if !interest.untraceable.is_empty() {
            tracing::warn!(syscalls = ?interest.untraceable, "no exit tracepoint on this kernel: rules on these syscalls cannot match");
        }
        let rule_set = KernelRuleSet { generation, bits };
        tracing::debug!(kernel_filtered_rules = rule_set.bits.iter().flatten().count(), "kernel prefilter written");
        Ok(rule_set)
    }

    /// Finds the watched files again in the host's root and each container's (a file replaced
    /// by rename gets a new inode; a new container brings its own copies).
    fn refresh_watched(&mut self) -> Result<(), ProbeError> {
        if self.watched_paths.is_empty() {
            return Ok(());
        }
        // pid 1's root is the host's even when the exporter runs in a container (hostPID); where
        // it cannot be entered (pid 1 in another user namespace), the exporter's own root is.
        let host_root = PathBuf::from("/proc/1/root");
        let mut roots = vec![if std::fs::read_dir(&host_root).is_ok() { host_root } else { PathBuf::from("/") }];
        let mut seen = HashSet::new();
        let mut cgroup_pids = HashMap::new();
        for id in self.kinds_told.iter().copied() {
            let Some(container) = self.resolver.current(id) else { continue };
            if container.id == Container::HOST_ID {
                continue;
            }
            // The last pid found for the cgroup while it lives; cgroup.procs only when it is gone.
            let known = self.watched.cgroup_pid(id).filter(|pid| Path::new(&format!("/proc/{pid}")).exists());
            let Some(pid) = known.or_else(|| self.resolver.cgroup_dir(id).and_then(|dir| first_pid(&dir))) else {
                continue;
            };
            cgroup_pids.insert(id, pid);
            if seen.insert(container.id.clone()) {
                roots.push(PathBuf::from(format!("/proc/{pid}/root")));
            }
        }
        let files = watched::scan(&self.watched_paths, &roots);
        self.probe.set_watched_inodes(&files)?;
        self.watched.replace(&self.watched_paths, &files, cgroup_pids);
        Ok(())
    }

    /// Tells the kernel prefilter which of these cgroups are the host's and which containers'
    /// (once each), as soon as the resolver knows.
    fn tell_kinds(&mut self, cgroup_ids: &[u64]) {
        for &id in cgroup_ids {
            if self.kinds_told.contains(&id) {
                continue;
            }
            let Some(container) = self.resolver.current(id) else { continue };
            if container.id == Container::UNKNOWN_ID {
                continue;
            }
            match self.probe.set_cgroup_kind(id, container.id == Container::HOST_ID) {
                Ok(()) => {
                    self.kinds_told.insert(id);
                }
                Err(e) => tracing::debug!(cgroup_id = id, error = %e, "cgroup kind not written"),
            }
        }
    }

    /// Resolves cgroups that appeared since the last call and frees the ones gone past the TTL.
    /// Run on a short timer so short-lived containers are named while their cgroup exists.
    /// Reads only the cgroup ids, not their counters: it runs every second.
    pub fn refresh(&mut self, now: Instant) -> Result<(), ProbeError> {
        let ids = self.probe.cgroup_ids()?;
        self.resolver.resolve_all(ids.iter().copied(), now);
        self.tell_kinds(&ids);
        for (cgroup_id, container) in self.resolver.expire(now) {
            self.retire(cgroup_id, container)?;
        }
        self.refresh_watched()
    }

    /// The containers a batch of events' cgroups belong to. New cgroups are resolved, and
    /// provisional ones looked at again, once for the batch; an event cannot wait for a
    /// runtime's record, so an identity still provisional after that is used as it stands.
    pub fn containers_of(&mut self, cgroup_ids: &[u64], now: Instant) -> Vec<Arc<Container>> {
        self.resolver.resolve_all(cgroup_ids.iter().copied(), now);
        self.tell_kinds(cgroup_ids);
        cgroup_ids
            .iter()
            .map(|&id| {
                self.resolver.current(id).unwrap_or_else(|| Arc::new(Container::labelled(Container::UNKNOWN_ID)))
            })
            .collect()
    }

    /// Names cgroups the kernel just reported, and retries provisional ones.
    pub fn resolve_new(&mut self, cgroup_ids: Vec<u64>, now: Instant) {
        self.resolver.resolve_all(cgroup_ids.iter().copied(), now);
        self.tell_kinds(&cgroup_ids);
        // A new container brings its own watched files: find them before its first commands run
        // (this also runs on each retry while the container is provisional, after its pivot).
        let containers = cgroup_ids
            .iter()
            .filter_map(|&id| self.resolver.current(id))
            .any(|c| c.id != Container::HOST_ID && c.id != Container::UNKNOWN_ID);
        if containers || self.resolver.has_provisional() {
            if let Err(e) = self.refresh_watched() {
                tracing::debug!(error = %e, "watched files not refreshed");
            }
        }
    }

    /// The container whose id label is `container_id`, as the response API may act on it.
    pub fn find_container(&self, container_id: &str) -> Lookup {
        match self.resolver.cgroup_of(container_id) {
            None => Lookup::Unknown,
            Some((_, container)) if container.id == Container::HOST_ID => Lookup::Host,
            Some((relative, container)) => Lookup::Found(Target {
                cgroup: CgroupDir { v2: self.resolver.cgroup_root().join(relative.trim_start_matches('/')), relative },
                namespace: container.meta.namespace.clone(),
                image: container.meta.image.clone(),
            }),
        }
    }

    /// Whether a cgroup still waits for its runtime record (worth a quick retry).
    pub fn has_provisional(&self) -> bool {
        self.resolver.has_provisional()
    }

    /// The /metrics text. `progress` is None without rules, else how far user space has
    /// evaluated.
    pub fn scrape(&mut self, rules: RulesStatus, progress: Option<DetectorProgress>) -> Result<String, ProbeError> {
        let started = Instant::now();
        let snapshot = self.probe.snapshot()?;
        let rows = self.absorb(&snapshot, started);
        let by_family = |event_loss: bool| -> Vec<(&'static str, u64)> {
            snapshot
                .drops
                .iter()
                .filter(|(r, _)| r.is_event_loss() == event_loss)
                .map(|(r, n)| (r.label(), *n))
                .collect()
        };
        let (drops, events_lost) = (by_family(false), by_family(true));
        let matches = match progress {
            Some(progress) => Some((self.matches.with_live(self.kernel_hits(None)?), progress)),
            None => None,
        };
        let [dropped, counted, _sent] = snapshot.filter_outcomes;
        let tenants = TenantCounters {
            events_throttled: self.events_throttled()?,
            identities_refused: self.resolver.identities_refused(),
        };
        let data = ScrapeData {
            rows: &rows,
            rules,
            detection: matches.as_ref().map(|(m, progress)| (m.as_slice(), *progress, dropped + counted)),
            drops: &drops,
            events_lost: &events_lost,
            slots_used: snapshot.slots_used,
            slot_capacity: snapshot.slot_capacity,
            collect_duration: started.elapsed(),
            tenants: &tenants,
        };
        Ok(self.exposition.render(&data))
    }

    /// Processes the kernel killed, per rule.
    pub fn kernel_kills(&self) -> Result<Vec<(RuleId, u64)>, ProbeError> {
        let kills = self.probe.rule_kills()?.into_iter();
        Ok(kills.filter_map(|(id, n)| self.rule_ids.rule(id).map(|rule| (rule.clone(), n))).collect())
    }

    /// Each named container's syscalls so far, as syscall numbers with a count (the host and the
    /// `unknown` and `overflow` rows left out).
    pub fn container_syscalls(&mut self) -> Result<Vec<ContainerSyscalls>, ProbeError> {
        let snapshot = self.probe.snapshot()?;
        let rows = self.absorb(&snapshot, Instant::now());
        Ok(rows
            .into_iter()
            .filter(|(c, _)| !outlives_its_cgroups(c) && c.id != OVERFLOW_ID)
            .map(|(c, row)| (c, row.iter().enumerate().filter(|(_, &n)| n > 0).map(|(nr, _)| nr).collect()))
            .collect())
    }

    /// Resolves the snapshot's cgroups and sums their rows per container (plus retired rows
    /// and the overflow row).
    fn absorb(&mut self, snapshot: &KernelSnapshot, now: Instant) -> ContainerRows {
        self.resolver.resolve_all(snapshot.cgroups.iter().map(|c| c.cgroup_id), now);
        let mut rows: ContainerRows = self.retired.clone();
        for cgroup in &snapshot.cgroups {
            // A provisional cgroup is held back: its counts appear, complete, once it is named.
            if let Some(container) = self.resolver.get(cgroup.cgroup_id) {
                add_row(rows.entry(container).or_insert_with(zero_row), &cgroup.syscalls);
            }
        }
        if snapshot.overflow.iter().any(|&n| n > 0) {
            let overflow = Arc::new(Container::labelled(OVERFLOW_ID));
            add_row(rows.entry(overflow).or_insert_with(zero_row), &snapshot.overflow);
        }
        rows
    }

    /// Events held back by the kernel's per-cgroup share of the ring, per container.
    fn events_throttled(&self) -> Result<Vec<(Arc<Container>, u64)>, ProbeError> {
        let mut per_container = self.retired_throttled.clone();
        for (cgroup_id, n) in self.probe.events_throttled()? {
            *per_container.entry(self.container_or_unknown(cgroup_id)).or_insert(0) += n;
        }
        Ok(per_container.into_iter().collect())
    }

    fn container_or_unknown(&self, cgroup_id: u64) -> Arc<Container> {
        self.resolver.current(cgroup_id).unwrap_or_else(|| Arc::new(Container::labelled(Container::UNKNOWN_ID)))
    }

    /// Kernel-counted hits by rule and container, of one cgroup or of all.
    fn kernel_hits(&self, only: Option<u64>) -> Result<Vec<(MatchKey, u64)>, ProbeError> {
        let mut out = Vec::new();
        for hit in self.probe.rule_hits()?.into_iter().filter(|h| only.is_none_or(|id| h.cgroup_id == id)) {
            let Some(rule) = self.rule_ids.rule(hit.rule_id) else { continue };
            let container = self.container_or_unknown(hit.cgroup_id);
            out.push((MatchKey { rule: rule.name.clone(), priority: rule.priority, container }, hit.hits));
        }
        Ok(out)
    }

    /// Frees a cgroup's kernel slot, first keeping its final counts when its identity lives on
    /// (and its kernel-counted rule hits always, like the evaluator's). The kernel's hits are
    /// read before the slot is released, so a scrape never sees them twice or not at all
    /// (scrapes hold this collector too).
    fn retire(&mut self, cgroup_id: u64, container: Arc<Container>) -> Result<(), ProbeError> {
        if outlives_its_cgroups(&container) {
            if let Some(row) = self.probe.cgroup_row(cgroup_id)? {
                add_row(self.retired.entry(container.clone()).or_insert_with(zero_row), &row);
            }
            let throttled = self.probe.events_throttled_of(cgroup_id)?;
            if throttled > 0 {
                *self.retired_throttled.entry(container).or_insert(0) += throttled;
            }
        }
        for (key, n) in self.kernel_hits(Some(cgroup_id))? {
            self.matches.add(key, n);
        }
        self.kinds_told.remove(&cgroup_id);
        self.probe.release_cgroup(cgroup_id)
    }
}

/// A process in the cgroup directory `dir`, if any.
fn first_pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs")).ok()?.lines().next()?.trim().parse().ok()
}

/// `host` and `unknown` gather many cgroups over time and must keep counting; a container's
/// series end with the container.
fn outlives_its_cgroups(container: &Container) -> bool {
    container.id == Container::HOST_ID || container.id == Container::UNKNOWN_ID
}

fn zero_row() -> Box<SyscallRow> {
    Box::new([0u64; MAX_SYSCALLS])
}

fn add_row(total: &mut SyscallRow, row: &SyscallRow) {
    for (t, n) in total.iter_mut().zip(row.iter()) {
        *t += n;
    }
}

/// How often `refresh` runs by default.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
