//! Fair share of the event ring: a token bucket per cgroup, checked before an event is reserved
//! in `EVENTS`, so one flooding cgroup cannot fill the ring while another's event still needs
//! room. A bucket holds at most `budget` tokens and refills `budget` a second (`EVENT_BUDGET`,
//! written by user space; 0 turns the check off). An event finding its bucket empty is not sent
//! while the ring is crowded (a quarter of it unread: someone is flooding or user space lags),
//! and is counted per cgroup in `EVENTS_THROTTLED`; with the ring nearly empty it is sent, since
//! it takes room from nobody (a busy build with many rules may send more than the budget). Only
//! the ring event is throttled: rule hits the kernel decided were counted before it got here.

use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::map,
    maps::{Array, LruHashMap, PerCpuHashMap},
};
use exporter_ebpf::{DropReason, EventBucket, MAX_THROTTLED_CGROUPS};

use crate::counting::{count_drop, increment};

const NS_PER_SEC: u64 = 1_000_000_000;

/// Events a second (and the burst) each cgroup may send; 0: unlimited.
#[map]
static EVENT_BUDGET: Array<u64> = Array::with_max_entries(1, 0);
/// The buckets, shared by all CPUs. Least recently used ones make room: a cgroup evicted
/// starts again with a full bucket, which only a churn of this many flooding cgroups reaches.
#[map]
static EVENT_BUCKETS: LruHashMap<u64, EventBucket> = LruHashMap::with_max_entries(MAX_THROTTLED_CGROUPS, 0);
/// Events not sent for want of tokens, per cgroup, per CPU.
#[map]
static EVENTS_THROTTLED: PerCpuHashMap<u64, u64> = PerCpuHashMap::with_max_entries(MAX_THROTTLED_CGROUPS, 0);

/// Takes a token from the cgroup's bucket: true when the event may be sent, which an empty
/// bucket allows only while `crowded()` is false. Not atomic across CPUs: two CPUs racing for a
/// cgroup's last token may both send (each stores the value it read, minus one, so the count
/// never wraps); the share stays within one event per CPU.
#[inline(never)]
pub(crate) fn admit(cgroup_id: u64, crowded: impl Fn() -> bool) -> bool {
    let budget = match EVENT_BUDGET.get(0) {
        Some(&budget) if budget > 0 => budget,
        _ => return true,
    };
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(bucket) = EVENT_BUCKETS.get_ptr_mut(&cgroup_id) else {
        let full = EventBucket { tokens: budget - 1, refilled_ns: now };
        // A failed insert (a race with another CPU for the same cgroup) only forgoes one check.
        let _ = EVENT_BUCKETS.insert(&cgroup_id, &full, 0);
        return true;
    };
    let bucket = unsafe { &mut *bucket };
    // Clamped to a second, so `elapsed * budget` cannot overflow (user space caps the budget).
    let elapsed = now.saturating_sub(bucket.refilled_ns).min(NS_PER_SEC);
    let refill = elapsed * budget / NS_PER_SEC;
    let mut tokens = bucket.tokens;
    if refill > 0 {
        tokens = (tokens + refill).min(budget);
        bucket.refilled_ns = now;
    }
    if tokens == 0 {
        bucket.tokens = 0;
        if !crowded() {
            return true;
        }
        count_throttled(cgroup_id);
        return false;
    }
    bucket.tokens = tokens - 1;
    true
}

#[inline(always)]
fn count_throttled(cgroup_id: u64) {
    count_drop(DropReason::EventBudgetExceeded);
    // With the map full the event is still in the total above, only not in its cgroup's count.
    match EVENTS_THROTTLED.get_ptr_mut(&cgroup_id) {
        Some(cell) => increment(unsafe { &mut *cell }),
        None => {
            let _ = EVENTS_THROTTLED.insert(&cgroup_id, &1, 0);
        }
    }
}
