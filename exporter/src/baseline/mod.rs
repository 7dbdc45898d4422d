//! A learned behaviour baseline per container image: while an image's profile learns, what its
//! containers do is added to it; once it enforces, anything outside it is a deviation, alerted
//! once per (image, kind, item) and counted every time.
//!
//! Fed from two places: the detector hands each decoded event to [`Baseline::observe_event`]
//! (execs, opens, connects and binds, which reach user space through [`kernel_filters`]), and
//! the app's baseline loop hands each container's syscall counts to
//! [`Baseline::observe_syscalls`] and advances the profiles' states. Profiles are kept in
//! `--baseline.dir` ([`store`]) and can be exported as Falco rules ([`export`]).

pub mod cli;
pub mod export;
mod interest;
pub mod item;
pub mod profile;
pub mod store;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

pub use interest::kernel_filters;
pub use item::Kind;
use profile::{Profile, Seen, State, Windows};
use serde::{Deserialize, Serialize};

use crate::{
    container::Container,
    rules::{output::render_time, Alert, Event, Priority},
};

/// `--baseline.*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    pub windows: Windows,
    /// Files opened for reading are learned only under these prefixes.
    pub read_prefixes: Vec<String>,
    pub priority: Priority,
}

/// One profile as `baseline list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub image: String,
    pub state: String,
    pub learned: BTreeMap<Kind, usize>,
    pub deviations: usize,
}

/// What /metrics shows of the baseline.
#[derive(Debug, Clone, Default)]
pub struct BaselineStats {
    /// Profiles by state (both states, zeros included).
    pub profiles: Vec<(&'static str, usize)>,
    /// Items learned per (profile key, kind).
    pub items: Vec<(String, Kind, usize)>,
    /// Deviations per (kind, container).
    pub deviations: Vec<(Kind, Arc<Container>, u64)>,
}

pub struct Baseline {
    config: Config,
    profiles: HashMap<String, Profile>,
    /// Profiles changed since they were last written.
    dirty: HashSet<String>,
    deviations: HashMap<(Kind, Arc<Container>), u64>,
    /// Each live container's syscalls at its first look (see [`Baseline::observe_syscalls`]).
    startup: HashMap<String, HashSet<String>>,
    hostname: String,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Baseline {
    /// Loads every profile in `config.dir` (see [`store::load_dir`]).
    pub fn open(config: Config) -> anyhow::Result<Baseline> {
        let profiles = store::load_dir(&config.dir)?;
        tracing::info!(dir = %config.dir.display(), profiles = profiles.len(), "baseline profiles loaded");
        Ok(Baseline {
            profiles: profiles.into_iter().map(|p| (p.image.clone(), p)).collect(),
            config,
            dirty: HashSet::new(),
            deviations: HashMap::new(),
            startup: HashMap::new(),
            hostname: crate::rules::engine::hostname(),
        })
    }

    /// Learns or checks what `ev` did in `container`; an alert for a new deviation.
    pub fn observe_event(&mut self, ev: &Event, container: &Arc<Container>, now: u64) -> Option<Alert> {
        let (kind, item) = item::item_of(ev, &self.config.read_prefixes)?;
        self.observe(kind, &item, container, Some(ev), now)
    }

    /// Learns or checks the syscalls each live container has made so far (by name). Deviation
    /// counters of containers no longer listed are dropped, as their other series are.
    ///
    /// The counts of a container's cgroup include its runtime's own start-up there (runc's init,
    /// a Go program whose syscalls vary from start to start), so what a container made before
    /// its first look (within the baseline loop's interval, a second, of its start) is
    /// learned while learning but never a deviation.
    pub fn observe_syscalls(&mut self, live: &[(Arc<Container>, Vec<&str>)], now: u64) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for (container, syscalls) in live {
            if !self.startup.contains_key(&container.id) {
                let startup = syscalls.iter().map(|s| (*s).to_owned()).collect();
                self.startup.insert(container.id.clone(), startup);
            }
            let enforcing = self.enforcing(container);
            for name in syscalls {
                let started_with = self.startup.get(&container.id).is_some_and(|s| s.contains(*name));
                if enforcing && started_with {
                    continue;
                }
                alerts.extend(self.observe(Kind::Syscall, name, container, None, now));
            }
        }
        let ids: HashSet<&str> = live.iter().map(|(c, _)| c.id.as_str()).collect();
        self.deviations.retain(|(_, c), _| ids.contains(c.id.as_str()));
        self.startup.retain(|id, _| ids.contains(id.as_str()));
        alerts
    }

    /// Whether `container`'s profile enforces.
    fn enforcing(&self, container: &Container) -> bool {
        profile_key(container).and_then(|(key, _)| self.profiles.get(key)).is_some_and(|p| p.state == State::Enforcing)
    }

    fn observe(
        &mut self,
        kind: Kind,
        item: &str,
        container: &Arc<Container>,
        ev: Option<&Event>,
        now: u64,
    ) -> Option<Alert> {
        let (key, reference) = profile_key(container)?;
        let profile = self.profiles.entry(key.to_owned()).or_insert_with(|| {
            tracing::info!(image = key, "baseline: new image, learning");
            Profile::new(key, reference, now)
        });
        let (seen, changed) = profile.observe(kind, item, now);
        if changed {
            self.dirty.insert(key.to_owned());
        }
        match seen {
            Seen::Normal => None,
            Seen::RepeatedDeviation => {
                *self.deviations.entry((kind, container.clone())).or_default() += 1;
                None
            }
            Seen::NewDeviation => {
                *self.deviations.entry((kind, container.clone())).or_default() += 1;
                Some(self.alert(kind, item, key, container, ev, now))
            }
        }
    }

    /// Moves profiles whose learning window has passed to enforcing, and writes every profile
    /// that changed. Write failures are logged and retried at the next call.
    pub fn advance(&mut self, now: u64) {
        for (key, profile) in &mut self.profiles {
            if profile.advance(now, self.config.windows) {
                tracing::info!(
                    image = key,
                    items = profile.counts().map(|(_, n)| n).sum::<usize>(),
                    "baseline: learned, enforcing"
                );
                self.dirty.insert(key.clone());
            }
        }
        self.save_dirty();
    }

    fn save_dirty(&mut self) {
        let dirty: Vec<String> = self.dirty.drain().collect();
        for key in dirty {
            let Some(profile) = self.profiles.get(&key) else { continue };
            if let Err(e) = store::save(&self.config.dir, profile) {
                tracing::error!("{e:#}");
                self.dirty.insert(key);
            }
        }
    }

    /// Every profile, sorted by image.
    pub fn list(&self) -> Vec<Summary> {
        let mut list: Vec<Summary> = self
            .profiles
            .values()
            .map(|p| Summary {
                image: p.image.clone(),
                state: p.state.as_str().to_owned(),
                learned: p.counts().collect(),
                deviations: p.deviations.values().map(|s| s.len()).sum(),
            })
            .collect();
        list.sort_by(|a, b| a.image.cmp(&b.image));
        list
    }

    pub fn show(&self, image: &str) -> Option<&Profile> {
        self.profiles.get(image)
    }

    /// Forgets what `image` learned and learns again; false if there is no such profile.
    pub fn reset(&mut self, image: &str, now: u64) -> bool {
        self.change(image, |p| p.reset(now))
    }

    /// Ends `image`'s learning now; false if there is no such profile.
    pub fn freeze(&mut self, image: &str, now: u64) -> bool {
        self.change(image, |p| p.enforce(now))
    }

    fn change(&mut self, image: &str, f: impl FnOnce(&mut Profile)) -> bool {
        let Some(profile) = self.profiles.get_mut(image) else { return false };
        f(profile);
        tracing::info!(image, state = profile.state.as_str(), "baseline profile changed through the API");
        self.dirty.insert(image.to_owned());
        self.save_dirty();
        true
    }

    pub fn stats(&self) -> BaselineStats {
        let count = |s: State| self.profiles.values().filter(|p| p.state == s).count();
        let mut items: Vec<(String, Kind, usize)> =
            self.profiles.values().flat_map(|p| p.counts().map(|(k, n)| (p.image.clone(), k, n))).collect();
        items.sort();
        BaselineStats {
            profiles: vec![("learning", count(State::Learning)), ("enforcing", count(State::Enforcing))],
            items,
            deviations: self.deviations.iter().map(|((k, c), n)| (*k, c.clone(), *n)).collect(),
        }
    }

    fn alert(&self, kind: Kind, item: &str, key: &str, container: &Container, ev: Option<&Event>, now: u64) -> Alert {
        let mut time = String::new();
        render_time(ev.map_or(now.saturating_mul(1_000_000_000), |e| e.time), &mut time);
        let meta = &container.meta;
        let proc = ev.map(|e| &e.proc);
        let output = format!(
            "Baseline deviation: {kind} {item} is not in the learned profile of image {key} (container={} id={} proc={} pid={})",
            meta.name,
            container.id,
            proc.map_or("<NA>", |p| p.exepath.as_str()),
            proc.map_or(-1, |p| p.pid),
        );
        let mut fields = BTreeMap::new();
        for (name, value) in [
            ("baseline.kind", kind.as_str()),
            ("baseline.item", item),
            ("baseline.image", key),
            ("container.id", &container.id),
            ("container.name", &meta.name),
            ("container.image", &meta.image),
        ] {
            fields.insert(name.to_owned(), serde_json::Value::from(value));
        }
        if let Some(p) = proc {
            fields.insert("proc.exepath".into(), p.exepath.clone().into());
            fields.insert("proc.cmdline".into(), p.cmdline.clone().into());
            fields.insert("proc.pid".into(), p.pid.into());
        }
        Alert {
            time,
            rule: format!("Baseline deviation: {kind}"),
            priority: self.config.priority.as_str().to_owned(),
            output,
            output_fields: fields,
            tags: vec!["baseline".into()],
            source: "syscall".into(),
            hostname: self.hostname.clone(),
            container_id: container.id.clone(),
            container_name: meta.name.clone(),
            image: meta.image.clone(),
            pod: meta.pod.clone(),
            namespace: meta.namespace.clone(),
            sigma: None,
        }
    }
}

/// The profile key of a container (its image digest when the runtime records one, else the
/// reference) and its image reference; `None` for host processes, the `unknown` and `overflow`
/// rows, and containers whose runtime names no image.
fn profile_key(container: &Container) -> Option<(&str, &str)> {
    let meta = &container.meta;
    if matches!(container.id.as_str(), Container::HOST_ID | Container::UNKNOWN_ID) || meta.image.is_empty() {
        return None;
    }
    let key = if meta.image_digest.is_empty() { &meta.image } else { &meta.image_digest };
    Some((key, &meta.image))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
