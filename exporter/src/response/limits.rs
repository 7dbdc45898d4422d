//! The policy's safety limits: a per-container cool-down and a cap on containers acted on per
//! minute, so an alert storm (or a wrong rule) can touch only a few containers before a person
//! looks.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use super::audit::Outcome;

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Limiter {
    cooldown: Duration,
    max_per_minute: usize,
    /// Container id -> when it was last acted on (entries older than the cool-down are dropped).
    last_acted: HashMap<String, Instant>,
    /// When each action of the last minute was taken.
    window: VecDeque<Instant>,
}

impl Limiter {
    pub fn new(cooldown: Duration, max_per_minute: u32) -> Limiter {
        Limiter {
            cooldown,
            max_per_minute: max_per_minute as usize,
            last_acted: HashMap::new(),
            window: VecDeque::new(),
        }
    }

    /// Takes a place for acting on `container` now, or says why not. Each action (dry-run ones
    /// too, so a dry run shows what the limits would have let through) takes one.
    pub fn admit(&mut self, container: &str, now: Instant) -> Result<(), Outcome> {
        self.forget_before(now);
        if self.last_acted.contains_key(container) {
            return Err(Outcome::RefusedCooldown);
        }
        if self.window.len() >= self.max_per_minute {
            return Err(Outcome::RefusedRateLimit);
        }
        self.window.push_back(now);
        self.last_acted.insert(container.to_owned(), now);
        Ok(())
    }

    /// Starts the cool-down again without counting an action (a release: the alert that froze
    /// the container may still fire, and the person who released it wants time to look).
    pub fn hold(&mut self, container: &str, now: Instant) {
        self.last_acted.insert(container.to_owned(), now);
    }

    fn forget_before(&mut self, now: Instant) {
        while self.window.front().is_some_and(|&t| now.duration_since(t) >= MINUTE) {
            self.window.pop_front();
        }
        let cooldown = self.cooldown;
        self.last_acted.retain(|_, &mut t| now.duration_since(t) < cooldown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_per_container_and_cap_per_minute() {
        let mut l = Limiter::new(Duration::from_secs(120), 2);
        let t0 = Instant::now();
        assert_eq!(l.admit("a", t0), Ok(()));
        assert_eq!(l.admit("a", t0), Err(Outcome::RefusedCooldown));
        assert_eq!(l.admit("b", t0), Ok(()));
        assert_eq!(l.admit("c", t0 + Duration::from_secs(59)), Err(Outcome::RefusedRateLimit));
        // A minute on the cap has room again; a's cool-down still holds.
        assert_eq!(l.admit("c", t0 + MINUTE), Ok(()));
        assert_eq!(l.admit("a", t0 + MINUTE), Err(Outcome::RefusedCooldown));
        assert_eq!(l.admit("a", t0 + Duration::from_secs(121)), Ok(()));
        l.hold("d", t0 + Duration::from_secs(200));
        assert_eq!(l.admit("d", t0 + Duration::from_secs(201)), Err(Outcome::RefusedCooldown));
    }

    #[test]
    fn zero_cooldown_never_holds() {
        let mut l = Limiter::new(Duration::ZERO, 10);
        let t0 = Instant::now();
        assert_eq!(l.admit("a", t0), Ok(()));
        assert_eq!(l.admit("a", t0), Ok(()));
    }
}
