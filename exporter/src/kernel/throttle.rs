//! Each cgroup's share of the event ring (the kernel's `throttle.rs`): user space sets the
//! budget and reads how many events each cgroup had held back.
//!
//! Why the budget bounds what one tenant can do: past the quarter of the ring that any cgroup
//! may fill (the kernel holds an empty bucket's events back only from there), a cgroup sends at
//! most `budget` events at once and `budget` a second after that, so while user space drains the
//! ring faster than `budget` events a second, one cgroup never holds more than a quarter of the
//! ring plus `budget` (plus one per CPU, from racing CPUs) of its [`RING_EVENTS`] records. The
//! budget is capped at half the ring, so a single flooding cgroup always leaves a quarter of it
//! to the others; the default leaves 38 %, and it takes two cgroups flooding at once to fill
//! it. If user space falls behind (a stall, or senders whose budgets add up to
//! more than it drains), each sender's backlog grows by the difference every second, and the
//! ring fills after (free records) / (that growth) seconds.

use aya::{
    maps::{Array, MapData, PerCpuHashMap},
    Ebpf,
};
use exporter_ebpf::{names, SyscallEvent, EVENTS_RING_BYTES};

use crate::kernel::probe::{ignore_missing, map_error, take_map, ProbeError};

/// Records the `EVENTS` ring holds: each is a `SyscallEvent` behind an 8-byte header, rounded up
/// to 8 bytes.
pub const RING_EVENTS: u64 =
    EVENTS_RING_BYTES as u64 / ((std::mem::size_of::<SyscallEvent>() as u64 + 8).div_ceil(8) * 8);

/// The default budget, events a second (and at once) per cgroup: under two fifths of the ring.
/// A busy build sends a few hundred a second with the shipped rules and under 2,000 with
/// Falco's stable rules (`make bench`).
pub const DEFAULT_EVENT_BUDGET: u64 = 2048;

/// The largest budget accepted: half the ring (see the module's note).
pub const MAX_EVENT_BUDGET: u64 = RING_EVENTS / 2;

pub struct EventThrottle {
    /// Written once at load; held so the map outlives the programs' loading.
    _budget: Array<MapData, u64>,
    throttled: PerCpuHashMap<MapData, u64, u64>,
}

impl EventThrottle {
    /// Takes the maps from the object and sets the budget (0: unlimited).
    pub(super) fn take(ebpf: &mut Ebpf, budget: u64) -> Result<EventThrottle, ProbeError> {
        let mut budget_map: Array<MapData, u64> =
            Array::try_from(take_map(ebpf, names::EVENT_BUDGET)?).map_err(map_error(names::EVENT_BUDGET))?;
        budget_map.set(0, budget.min(MAX_EVENT_BUDGET), 0).map_err(map_error(names::EVENT_BUDGET))?;
        let throttled = PerCpuHashMap::try_from(take_map(ebpf, names::EVENTS_THROTTLED)?)
            .map_err(map_error(names::EVENTS_THROTTLED))?;
        Ok(EventThrottle { _budget: budget_map, throttled })
    }

    /// Events each cgroup had held back, summed over CPUs.
    pub fn throttled(&self) -> Result<Vec<(u64, u64)>, ProbeError> {
        let mut out = Vec::new();
        for entry in self.throttled.iter() {
            let (cgroup_id, per_cpu) = entry.map_err(map_error(names::EVENTS_THROTTLED))?;
            out.push((cgroup_id, per_cpu.iter().sum()));
        }
        Ok(out)
    }

    /// One cgroup's count, summed over CPUs (0 when it never had an event held back).
    pub fn throttled_of(&self, cgroup_id: u64) -> Result<u64, ProbeError> {
        match self.throttled.get(&cgroup_id, 0) {
            Ok(per_cpu) => Ok(per_cpu.iter().sum()),
            Err(aya::maps::MapError::KeyNotFound) => Ok(0),
            Err(e) => Err(map_error(names::EVENTS_THROTTLED)(e)),
        }
    }

    /// Forgets a vanished cgroup's count (read it first).
    pub(super) fn release(&mut self, cgroup_id: u64) -> Result<(), ProbeError> {
        ignore_missing(self.throttled.remove(&cgroup_id), names::EVENTS_THROTTLED)
    }
}

// The module's note, checked at build time: one flooding cgroup holds at most two fifths of the
// ring by default, and never more than half.
const _: () = assert!(DEFAULT_EVENT_BUDGET * 5 <= RING_EVENTS * 2 && MAX_EVENT_BUDGET * 2 <= RING_EVENTS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_holds_the_records_the_readme_counts() {
        // 4 MiB of 760-byte records (README "One tenant cannot hide another").
        assert_eq!(RING_EVENTS, 5518);
        assert_eq!(MAX_EVENT_BUDGET, 2759);
    }
}
