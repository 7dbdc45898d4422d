//! Joins the probe and the container resolver: resolves new cgroups, expires vanished ones
//! (freeing their kernel slots) and produces the per-container rows /metrics shows.
//!
//! Counters never go backwards: when a cgroup of a long-lived identity (`host`, `unknown`) is
//! freed, its last counts are folded into a retired row of that identity. A container's own
//! series disappear with it once its last cgroup expires.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use exporter_ebpf::{SyscallRow, MAX_SYSCALLS};

use crate::{
    container::{Container, ContainerResolver},
    detect::MatchKey,
    metrics::{ContainerRows, Exposition, ScrapeData},
    probe::{KernelSnapshot, Probe, ProbeError},
    reload::RulesStatus,
};

/// Label value for syscalls of cgroups that found no free kernel slot.
pub const OVERFLOW_ID: &str = "overflow";

pub struct Collector {
    probe: Probe,
    resolver: ContainerResolver,
    exposition: Exposition,
    /// Counts of freed cgroups whose identity lives on.
    retired: ContainerRows,
}

impl Collector {
    pub fn new(probe: Probe, resolver: ContainerResolver, exposition: Exposition) -> Collector {
        Collector { probe, resolver, exposition, retired: HashMap::new() }
    }

    /// Resolves cgroups that appeared since the last call and frees the ones gone past the TTL.
    /// Run on a short timer so short-lived containers are named while their cgroup exists.
    /// Reads only the cgroup ids, not their counters: it runs every second.
    pub fn refresh(&mut self, now: Instant) -> Result<(), ProbeError> {
        self.resolver.resolve_all(self.probe.cgroup_ids()?, now);
        for (cgroup_id, container) in self.resolver.expire(now) {
            self.retire(cgroup_id, container)?;
        }
        Ok(())
    }

    /// Makes the kernel send events for exactly these syscalls (see `Probe::set_interest`).
    pub fn set_interest(
        &mut self,
        syscalls: &[(usize, &str, exporter_ebpf::ArgSpec)],
    ) -> Result<Vec<String>, ProbeError> {
        self.probe.set_interest(syscalls)
    }

    /// The containers a batch of events' cgroups belong to. New cgroups are resolved, and
    /// provisional ones looked at again, once for the batch; an event cannot wait for a
    /// runtime's record, so an identity still provisional after that is used as it stands.
    pub fn containers_of(&mut self, cgroup_ids: &[u64], now: Instant) -> Vec<Arc<Container>> {
        self.resolver.resolve_all(cgroup_ids.iter().copied(), now);
        cgroup_ids
            .iter()
            .map(|&id| {
                self.resolver.current(id).unwrap_or_else(|| Arc::new(Container::labelled(Container::UNKNOWN_ID)))
            })
            .collect()
    }

    /// Names cgroups the kernel just reported, and retries provisional ones.
    pub fn resolve_new(&mut self, cgroup_ids: Vec<u64>, now: Instant) {
        self.resolver.resolve_all(cgroup_ids, now);
    }

    /// Whether a cgroup still waits for its runtime record (worth a quick retry).
    pub fn has_provisional(&self) -> bool {
        self.resolver.has_provisional()
    }

    /// The /metrics text.
    pub fn scrape(
        &mut self,
        rules: RulesStatus,
        detection: Option<(&[(MatchKey, u64)], u64)>,
    ) -> Result<String, ProbeError> {
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
        let data = ScrapeData {
            rows: &rows,
            rules,
            detection,
            drops: &drops,
            events_lost: &events_lost,
            slots_used: snapshot.slots_used,
            slot_capacity: snapshot.slot_capacity,
            collect_duration: started.elapsed(),
        };
        Ok(self.exposition.render(&data))
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

    /// Frees a cgroup's kernel slot, first keeping its final counts when its identity lives on.
    fn retire(&mut self, cgroup_id: u64, container: Arc<Container>) -> Result<(), ProbeError> {
        if outlives_its_cgroups(&container) {
            if let Some(row) = self.probe.cgroup_row(cgroup_id)? {
                add_row(self.retired.entry(container).or_insert_with(zero_row), &row);
            }
        }
        self.probe.release_cgroup(cgroup_id)
    }
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
