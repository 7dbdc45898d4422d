//! One image's profile: what it learned, what it deviated with, and where it is in its life:
//! `learning` until `--baseline.learn` has passed since it started, or `--baseline.stable`
//! since it last saw something new (whichever comes first), then `enforcing`.
//!
//! Times are seconds since the Unix epoch, so a profile's age survives a restart.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::item::Kind;

/// Most items of one kind a profile learns, and most deviations of one kind it records (and
/// alerts on): a workload that writes a new name every time, or an attacker flooding new items,
/// cannot grow a profile, its file or the alerts without bound. Past it deviations are counted
/// only.
pub const MAX_ITEMS: usize = 10_000;

/// The version of the file format; a file of another version is refused (and relearned).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Learning,
    Enforcing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Learning => "learning",
            State::Enforcing => "enforcing",
        }
    }
}

/// How long a profile learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// At most this long.
    pub learn_secs: u64,
    /// Or until nothing new was seen for this long.
    pub stable_secs: u64,
}

/// What a check of one item found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Known, or learned now.
    Normal,
    /// Not in the profile, and the first time: alert.
    NewDeviation,
    /// Not in the profile, and alerted before: count only.
    RepeatedDeviation,
}

/// The file's contents. Sets are sorted, so a file changes by the lines that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub schema: u32,
    /// The profile's key: the image digest when the runtime records one, else the reference.
    pub image: String,
    /// The image reference its containers ran (what Falco's `container.image` reads).
    pub reference: String,
    pub state: State,
    pub learning_started: u64,
    pub last_new_item: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcing_since: Option<u64>,
    pub learned: BTreeMap<Kind, BTreeSet<String>>,
    /// Items seen while enforcing (each alerted once). Move one to `learned`, or reset, to
    /// accept it.
    #[serde(default)]
    pub deviations: BTreeMap<Kind, BTreeSet<String>>,
}

impl Profile {
    pub fn new(image: &str, reference: &str, now: u64) -> Profile {
        Profile {
            schema: SCHEMA_VERSION,
            image: image.to_owned(),
            reference: reference.to_owned(),
            state: State::Learning,
            learning_started: now,
            last_new_item: now,
            enforcing_since: None,
            learned: BTreeMap::new(),
            deviations: BTreeMap::new(),
        }
    }

    /// Learns `item` while learning; while enforcing, tells whether it deviates. Returns what
    /// was found and whether the profile changed.
    pub fn observe(&mut self, kind: Kind, item: &str, now: u64) -> (Seen, bool) {
        if self.learned.get(&kind).is_some_and(|set| set.contains(item)) {
            return (Seen::Normal, false);
        }
        match self.state {
            State::Learning => {
                let learned = self.learned.entry(kind).or_default();
                if learned.len() >= MAX_ITEMS {
                    // Not learned: it will be a deviation, which is the honest outcome for an
                    // image whose behaviour does not fit a profile.
                    return (Seen::Normal, false);
                }
                learned.insert(item.to_owned());
                self.last_new_item = now;
                (Seen::Normal, true)
            }
            State::Enforcing => {
                let deviations = self.deviations.entry(kind).or_default();
                if deviations.len() < MAX_ITEMS && deviations.insert(item.to_owned()) {
                    (Seen::NewDeviation, true)
                } else {
                    (Seen::RepeatedDeviation, false)
                }
            }
        }
    }

    /// Moves a learning profile to enforcing once a window has passed; true if it did.
    pub fn advance(&mut self, now: u64, windows: Windows) -> bool {
        let learned_long_enough = now.saturating_sub(self.learning_started) >= windows.learn_secs;
        let stable = now.saturating_sub(self.last_new_item) >= windows.stable_secs;
        if self.state == State::Learning && (learned_long_enough || stable) {
            self.enforce(now);
            return true;
        }
        false
    }

    /// Enforces from now on (`baseline freeze`).
    pub fn enforce(&mut self, now: u64) {
        if self.state == State::Learning {
            self.state = State::Enforcing;
            self.enforcing_since = Some(now);
        }
    }

    /// Forgets everything and learns again (`baseline reset`).
    pub fn reset(&mut self, now: u64) {
        *self = Profile::new(&self.image, &self.reference, now);
    }

    /// Items learned, by kind (every kind, zeros included).
    pub fn counts(&self) -> impl Iterator<Item = (Kind, usize)> + '_ {
        Kind::ALL.into_iter().map(|k| (k, self.learned.get(&k).map_or(0, BTreeSet::len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOWS: Windows = Windows { learn_secs: 100, stable_secs: 10 };

    #[test]
    fn learns_then_enforces_after_the_stable_window() {
        let mut p = Profile::new("img", "img", 1000);
        assert_eq!(p.observe(Kind::Exec, "/bin/sh > /bin/cat", 1001), (Seen::Normal, true));
        assert_eq!(p.observe(Kind::Exec, "/bin/sh > /bin/cat", 1005), (Seen::Normal, false));
        assert!(!p.advance(1010, WINDOWS), "9 s since the last new item");
        assert!(p.advance(1011, WINDOWS));
        assert_eq!((p.state, p.enforcing_since), (State::Enforcing, Some(1011)));
        assert!(!p.advance(1012, WINDOWS), "already enforcing");
        assert_eq!(p.observe(Kind::Exec, "/bin/sh > /bin/cat", 1020), (Seen::Normal, false));
        assert_eq!(p.observe(Kind::Exec, "/bin/sh > /bin/nc", 1020), (Seen::NewDeviation, true));
        assert_eq!(p.observe(Kind::Exec, "/bin/sh > /bin/nc", 1021), (Seen::RepeatedDeviation, false));
        assert_eq!(p.observe(Kind::Write, "/bin/nc", 1021), (Seen::NewDeviation, true), "kinds are apart");
    }

    #[test]
    fn learning_ends_after_the_learn_window_even_when_busy() {
        let mut p = Profile::new("img", "img", 1000);
        for t in 1000..1100 {
            p.observe(Kind::Write, &format!("/data/{t}"), t);
            assert!(!p.advance(t, WINDOWS));
        }
        assert!(p.advance(1100, WINDOWS));
    }

    #[test]
    fn kinds_hold_at_most_max_items() {
        let mut p = Profile::new("img", "img", 1000);
        for i in 0..=MAX_ITEMS {
            p.observe(Kind::Write, &format!("/data/{i}"), 1000);
        }
        assert_eq!(p.counts().find(|(k, _)| *k == Kind::Write), Some((Kind::Write, MAX_ITEMS)));
        p.enforce(1001);
        for i in 0..MAX_ITEMS {
            assert_eq!(p.observe(Kind::Connect, &format!("10.0.{i}.0/24:1"), 1002).0, Seen::NewDeviation);
        }
        assert_eq!(p.observe(Kind::Connect, "10.9.9.0/24:1", 1003), (Seen::RepeatedDeviation, false), "counted only");
    }

    #[test]
    fn freeze_and_reset() {
        let mut p = Profile::new("img", "ref", 1000);
        p.observe(Kind::Syscall, "read", 1000);
        p.enforce(1001);
        assert_eq!(p.state, State::Enforcing);
        p.observe(Kind::Syscall, "ptrace", 1002);
        p.reset(1003);
        assert_eq!(p, Profile::new("img", "ref", 1003));
        assert_eq!(p.counts().map(|(_, n)| n).sum::<usize>(), 0);
    }
}
