//! Per (rule, container_id) token buckets: a flood of one rule in one container is capped
//! without hiding other rules or other containers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A monotonic clock; injectable so tests control time.
pub trait Clock: Send + Sync {
    /// Time since an arbitrary fixed origin; never goes backwards.
    fn now(&self) -> Duration;
}

/// [`Instant`]-based clock (the default).
#[derive(Debug)]
pub struct MonotonicClock(Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock(Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

/// What the limiter decided for one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it; `suppressed` alerts of the same (rule, container) were held back since the last
    /// one that passed.
    Pass { suppressed: u64 },
    /// Rate exceeded: drop it (counted).
    Suppress,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Duration,
    suppressed: u64,
}

#[derive(Debug, Default)]
struct RuleState {
    suppressed_total: u64,
    by_container: HashMap<String, Bucket>,
}

#[derive(Debug, Default)]
struct State {
    rules: HashMap<String, RuleState>,
    last_sweep: Duration,
}

/// Buckets idle this long (and full again) are forgotten, so containers that come and go do
/// not grow the map without bound. A forgotten bucket is indistinguishable from a new one
/// except for a pending `suppressed` carry, which is already counted per rule.
const IDLE_FORGET: Duration = Duration::from_secs(600);
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The token buckets and the per-rule suppression counters.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("rate", &self.rate).field("burst", &self.burst).finish()
    }
}

impl RateLimiter {
    /// `rate` tokens per second, buckets of `burst`; `rate == 0` lets everything pass.
    pub fn new(rate: f64, burst: u32, clock: Arc<dyn Clock>) -> Self {
        RateLimiter { rate, burst: f64::from(burst), clock, state: Mutex::new(State::default()) }
    }

    /// Takes a token from the (rule, container_id) bucket. Allocates only for a key seen for
    /// the first time.
    pub fn check(&self, rule: &str, container_id: &str) -> Verdict {
        if self.rate <= 0.0 {
            return Verdict::Pass { suppressed: 0 };
        }
        let now = self.clock.now();
        // A poisoned lock only means another thread panicked mid-update of plain counters:
        // the numbers are still usable, so keep going rather than stop alerting.
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_sub(st.last_sweep) >= SWEEP_EVERY {
            st.last_sweep = now;
            self.sweep(&mut st, now);
        }
        if !st.rules.contains_key(rule) {
            st.rules.insert(rule.to_owned(), RuleState::default());
        }
        let Some(rs) = st.rules.get_mut(rule) else { return Verdict::Pass { suppressed: 0 } };
        let bucket = match rs.by_container.get_mut(container_id) {
            Some(b) => b,
            None => rs.by_container.entry(container_id.to_owned()).or_insert(Bucket {
                tokens: self.burst,
                last: now,
                suppressed: 0,
            }),
        };
        let elapsed = now.saturating_sub(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Pass { suppressed: std::mem::take(&mut bucket.suppressed) }
        } else {
            bucket.suppressed += 1;
            rs.suppressed_total += 1;
            Verdict::Suppress
        }
    }

    fn sweep(&self, st: &mut State, now: Duration) {
        let refill = Duration::from_secs_f64(self.burst / self.rate);
        let forget_after = IDLE_FORGET.max(refill);
        for rs in st.rules.values_mut() {
            rs.by_container.retain(|_, b| now.saturating_sub(b.last) < forget_after);
        }
        // Rules with no buckets left are kept only if they carry a suppression count (the
        // counter must not go backwards on /metrics).
        st.rules.retain(|_, rs| !rs.by_container.is_empty() || rs.suppressed_total > 0);
    }

    /// Rule -> alerts suppressed since start (only rules that suppressed any).
    pub fn suppressed(&self) -> std::collections::BTreeMap<String, u64> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.rules.iter().filter(|(_, r)| r.suppressed_total > 0).map(|(k, r)| (k.clone(), r.suppressed_total)).collect()
    }

    /// Buckets currently held (tests and debugging).
    pub fn buckets(&self) -> usize {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.rules.values().map(|r| r.by_container.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: f64, burst: u32) -> (RateLimiter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        (RateLimiter::new(rate, burst, clock.clone()), clock)
    }

    #[test]
    fn burst_then_suppress_then_refill_carries_count() {
        let (l, clock) = limiter(1.0, 3);
        for _ in 0..3 {
            assert_eq!(l.check("r", "c1"), Verdict::Pass { suppressed: 0 });
        }
        assert_eq!(l.check("r", "c1"), Verdict::Suppress);
        assert_eq!(l.check("r", "c1"), Verdict::Suppress);
        clock.advance(Duration::from_millis(999));
        assert_eq!(l.check("r", "c1"), Verdict::Suppress, "0.999 tokens is not a token");
        clock.advance(Duration::from_millis(1));
        // 0.999 + 0.001 refilled: exactly one token.
        assert_eq!(l.check("r", "c1"), Verdict::Pass { suppressed: 3 });
        assert_eq!(l.check("r", "c1"), Verdict::Suppress);
        clock.advance(Duration::from_secs(1));
        assert_eq!(l.check("r", "c1"), Verdict::Pass { suppressed: 1 }, "the carry restarts after each pass");
        assert_eq!(l.suppressed().get("r"), Some(&4));
    }

    #[test]
    fn keys_are_independent() {
        let (l, _) = limiter(1.0, 1);
        assert_eq!(l.check("r", "c1"), Verdict::Pass { suppressed: 0 });
        assert_eq!(l.check("r", "c1"), Verdict::Suppress);
        assert_eq!(l.check("r", "c2"), Verdict::Pass { suppressed: 0 }, "other container");
        assert_eq!(l.check("q", "c1"), Verdict::Pass { suppressed: 0 }, "other rule");
        assert_eq!(l.check("q", "c1"), Verdict::Suppress);
        assert_eq!(l.check("q", "c2"), Verdict::Pass { suppressed: 0 });
        let s = l.suppressed();
        assert_eq!((s.get("r"), s.get("q")), (Some(&1), Some(&1)));
        assert_eq!(l.buckets(), 4);
    }

    #[test]
    fn refill_is_capped_at_burst() {
        let (l, clock) = limiter(10.0, 2);
        clock.advance(Duration::from_secs(3600));
        assert!(matches!(l.check("r", "c"), Verdict::Pass { .. }));
        assert!(matches!(l.check("r", "c"), Verdict::Pass { .. }));
        assert_eq!(l.check("r", "c"), Verdict::Suppress, "an hour idle still allows only `burst`");
        clock.advance(Duration::from_millis(100));
        assert!(matches!(l.check("r", "c"), Verdict::Pass { .. }), "10/s refills one token in 100 ms");
    }

    #[test]
    fn fractional_rate() {
        let (l, clock) = limiter(0.5, 1);
        assert!(matches!(l.check("r", "c"), Verdict::Pass { .. }));
        clock.advance(Duration::from_secs(1));
        assert_eq!(l.check("r", "c"), Verdict::Suppress);
        clock.advance(Duration::from_secs(1));
        assert_eq!(l.check("r", "c"), Verdict::Pass { suppressed: 1 });
    }

    #[test]
    fn rate_zero_disables() {
        let (l, _) = limiter(0.0, 0);
        for _ in 0..1000 {
            assert_eq!(l.check("r", "c"), Verdict::Pass { suppressed: 0 });
        }
        assert!(l.suppressed().is_empty());
        assert_eq!(l.buckets(), 0, "no state kept when off");
    }

    #[test]
    fn idle_buckets_are_forgotten_but_counts_stay() {
        let (l, clock) = limiter(1.0, 1);
        assert!(matches!(l.check("r", "old"), Verdict::Pass { .. }));
        assert_eq!(l.check("r", "old"), Verdict::Suppress);
        assert!(matches!(l.check("q", "gone"), Verdict::Pass { .. }));
        clock.advance(IDLE_FORGET + SWEEP_EVERY);
        assert!(matches!(l.check("r", "new"), Verdict::Pass { .. }));
        assert_eq!(l.buckets(), 1, "only the bucket used after the sweep is left");
        assert_eq!(l.suppressed().get("r"), Some(&1), "suppressed_total never goes backwards");
    }
}
