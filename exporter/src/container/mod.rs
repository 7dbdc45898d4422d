//! cgroup id -> container identity, resolved lazily and cached.
//!
//! The kernel only knows cgroup v2 ids (the inode of the cgroup's directory). The resolver
//! finds the directory by walking the cgroup v2 mount (only when an unknown id shows up), takes
//! the container from the runtime state whose cgroup is that path or one above it, or the id
//! from the path (`cgroup_path`) when no record knows it, and the name, image, pod and namespace
//! from the runtime state (`runtime`). A path naming a container whose record places it
//! elsewhere is not that container (`identity`). Entries whose cgroup is gone expire after the
//! TTL; the caller then frees their kernel slot.
//!
//! A runtime puts a container's first process in its cgroup before it writes the state file, so
//! a new cgroup without a runtime record is *provisional*: `get` holds it back and every
//! `resolve_all` looks again, until a record appears or `SETTLE_GRACE` passes. A record that was
//! read as it was written (`state_watch`) counts after the runtime deleted it (`remembered`):
//! a container that exits at once is gone before most looks. Series therefore
//! never change labels, and host counters never lose a cgroup that turns out to be a container.

pub mod cgroup_path;
pub mod identity;
pub mod remembered;
pub mod runtime;
pub mod state_watch;

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

/// How long a new cgroup waits for its runtime record before it is taken for what its path says.
pub const SETTLE_GRACE: Duration = Duration::from_secs(10);

use identity::Identity;
use remembered::RememberedRecords;
use runtime::{ContainerMeta, RuntimeIndex, RuntimeSources};

/// A container as the series and the rules see it.
#[derive(Debug, Clone)]
pub struct Container {
    /// 12-hex short id, a runc container's own name, `host`, or `unknown` for a cgroup that
    /// vanished before it could be resolved.
    pub id: String,
    pub meta: ContainerMeta,
}

impl Container {
    pub const HOST_ID: &'static str = "host";
    pub const UNKNOWN_ID: &'static str = "unknown";

    /// A container known only by its id label (`host`, `unknown`, `overflow`).
    pub fn labelled(id: &str) -> Container {
        Container { id: id.to_owned(), meta: ContainerMeta::default() }
    }

    /// The values of the labels every per-container series carries: id, name, image, pod and
    /// namespace.
    pub fn labels(&self) -> [&str; 5] {
        [&self.id, &self.meta.name, &self.meta.image, &self.meta.pod, &self.meta.namespace]
    }
}

// Series are keyed by containers, so two containers are one key when their labels are equal: a
// key that differed by what no label shows would make two series with one label set.
impl PartialEq for Container {
    fn eq(&self, other: &Container) -> bool {
        self.labels() == other.labels()
    }
}

impl Eq for Container {}

impl std::hash::Hash for Container {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.labels().hash(state);
    }
}

/// The cgroup v2 mount: `/sys/fs/cgroup/unified` on hybrid hosts, `/sys/fs/cgroup` on v2 hosts.
pub fn detect_cgroup2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.controllers").exists())
}

struct Entry {
    container: Arc<Container>,
    /// Path relative to the cgroup root; None for ids the walk did not find.
    path: Option<String>,
    gone_since: Option<Instant>,
    /// Set while waiting for a runtime record: when the cgroup was first seen.
    provisional_since: Option<Instant>,
}

pub struct ContainerResolver {
    cgroup_root: PathBuf,
    sources: RuntimeSources,
    /// Records read as the runtimes wrote them (by `state_watch`), kept after they are deleted.
    remembered: Arc<RememberedRecords>,
    ttl: Duration,
    entries: HashMap<u64, Entry>,
    /// Cgroups refused the identity their path claimed, by the container they count as.
    refused: HashMap<Arc<Container>, u64>,
}

impl ContainerResolver {
    pub fn new(cgroup_root: PathBuf, sources: RuntimeSources, ttl: Duration) -> ContainerResolver {
        let remembered = Arc::new(RememberedRecords::default());
        ContainerResolver { cgroup_root, sources, remembered, ttl, entries: HashMap::new(), refused: HashMap::new() }
    }

    /// Where a runtime record read as it was written is kept for this resolver (see
    /// `state_watch::spawn`).
    pub fn remembered(&self) -> Arc<RememberedRecords> {
        self.remembered.clone()
    }

    /// The runtime records on disk now, and those remembered of containers already gone.
    fn scan_records(&self, now: Instant) -> RuntimeIndex {
        let mut index = RuntimeIndex::scan(&self.sources, &self.cgroup_root);
        index.add_missing(self.remembered.placed(&self.cgroup_root, now));
        index
    }

    /// Resolves every id not seen before, and looks again at provisional ones, with one
    /// cgroupfs walk and one runtime-state scan for the whole batch. Known ids cost a look-up.
    pub fn resolve_all(&mut self, cgroup_ids: impl IntoIterator<Item = u64>, now: Instant) {
        let unknown: Vec<u64> = cgroup_ids.into_iter().filter(|id| !self.entries.contains_key(id)).collect();
        let provisional: Vec<u64> =
            self.entries.iter().filter(|(_, e)| e.provisional_since.is_some()).map(|(&id, _)| id).collect();
        if unknown.is_empty() && provisional.is_empty() {
            return;
        }
        let paths = if unknown.is_empty() { HashMap::new() } else { walk_cgroups(&self.cgroup_root) };
        let index = self.scan_records(now);
        for id in unknown {
            let entry = match paths.get(&id) {
                Some(path) => self.identify(path.clone(), &index, None, now),
                // Vanished before we looked (or not a cgroup of this mount): a negative entry,
                // already expiring, so a short-lived cgroup is not walked for again and again.
                None => Entry {
                    container: Arc::new(Container::labelled(Container::UNKNOWN_ID)),
                    path: None,
                    gone_since: Some(now),
                    provisional_since: None,
                },
            };
            tracing::debug!(cgroup_id = id, path = ?entry.path, container = %entry.container.id, provisional = entry.provisional_since.is_some(), "resolved cgroup");
            self.entries.insert(id, entry);
        }
        for id in provisional {
            let Some(old) = self.entries.remove(&id) else { continue };
            let path = old.path.clone().unwrap_or_default();
            let mut entry = self.identify(path, &index, old.provisional_since, now);
            entry.gone_since = old.gone_since;
            if entry.gone_since.is_some() {
                // Gone: no record will come now (see `expire`).
                entry.provisional_since = None;
            }
            self.entries.insert(id, entry);
        }
    }

    /// The container of an id, or None while it is provisional (or was never resolved).
    pub fn get(&self, cgroup_id: u64) -> Option<Arc<Container>> {
        self.entries.get(&cgroup_id).filter(|e| e.provisional_since.is_none()).map(|e| e.container.clone())
    }

    /// The best identity known now, provisional or not (for events, which cannot wait).
    pub fn current(&self, cgroup_id: u64) -> Option<Arc<Container>> {
        self.entries.get(&cgroup_id).map(|e| e.container.clone())
    }

    /// The cgroup v2 mount this resolver walks.
    pub fn cgroup_root(&self) -> &Path {
        &self.cgroup_root
    }

    /// The cgroup's directory, if it was found in cgroupfs.
    pub fn cgroup_dir(&self, cgroup_id: u64) -> Option<PathBuf> {
        let path = self.entries.get(&cgroup_id)?.path.as_deref()?;
        Some(self.cgroup_root.join(path.trim_start_matches('/')))
    }

    /// The top cgroup (path relative to the root) of the live, settled container whose id label
    /// is `container_id`; its other cgroups, if any, are below it.
    pub fn cgroup_of(&self, container_id: &str) -> Option<(String, Arc<Container>)> {
        self.entries
            .values()
            .filter(|e| e.container.id == container_id && e.gone_since.is_none() && e.provisional_since.is_none())
            .filter_map(|e| Some((e.path.clone()?, e.container.clone())))
            .min_by_key(|(path, _)| path.len())
    }

    /// Whether some cgroup is still waiting for its runtime record.
    pub fn has_provisional(&self) -> bool {
        self.entries.values().any(|e| e.provisional_since.is_some())
    }

    fn identify(&mut self, path: String, index: &RuntimeIndex, first_seen: Option<Instant>, now: Instant) -> Entry {
        let identity = identity::identify(&path, index);
        let of_record = |record: &runtime::RuntimeRecord| Container {
            id: cgroup_path::short_id(&record.id).to_owned(),
            meta: record.meta.clone(),
        };
        let container = match &identity {
            Identity::Confirmed(record) => of_record(record),
            Identity::Unrecorded(id) => Container::labelled(cgroup_path::short_id(id)),
            Identity::Refused { enclosing, .. } => {
                enclosing.map_or_else(|| Container::labelled(Container::UNKNOWN_ID), of_record)
            }
            Identity::Host => Container::labelled(Container::HOST_ID),
        };
        let container = Arc::new(container);
        if let Identity::Refused { claimed, .. } = identity {
            let claimed_at = index.by_id(claimed).and_then(|r| r.cgroup_path.as_deref()).unwrap_or("nowhere");
            tracing::warn!(cgroup = %path, %claimed, %claimed_at, counted_as = %container.id, "a cgroup named like a container the runtime does not place there: not that container");
            *self.refused.entry(container.clone()).or_insert(0) += 1;
        }
        let first_seen = first_seen.unwrap_or(now);
        let may_still_get_a_record = match identity {
            Identity::Unrecorded(_) => true,
            Identity::Host => self.created_within(&path, SETTLE_GRACE),
            Identity::Confirmed(_) | Identity::Refused { .. } => false,
        } && now.duration_since(first_seen) < SETTLE_GRACE;
        Entry {
            container,
            path: Some(path),
            gone_since: None,
            provisional_since: may_still_get_a_record.then_some(first_seen),
        }
    }

    /// Cgroups refused the container identity their path claimed, by the container they were
    /// counted as instead (since start).
    pub fn identities_refused(&self) -> Vec<(Arc<Container>, u64)> {
        self.refused.iter().map(|(c, &n)| (c.clone(), n)).collect()
    }

    /// Whether the cgroup directory was made within `age` (a cgroup directory's mtime is its
    /// creation time unless child cgroups were made in it since).
    fn created_within(&self, path: &str, age: Duration) -> bool {
        let modified =
            std::fs::metadata(self.cgroup_root.join(path.trim_start_matches('/'))).and_then(|m| m.modified());
        modified.is_ok_and(|t| SystemTime::now().duration_since(t).is_ok_and(|d| d < age))
    }

    /// Marks entries whose cgroup directory is gone and removes those gone longer than the
    /// TTL, returning them so the caller can free their kernel slots. A provisional cgroup that
    /// is gone is settled at once (its runtime record looked for one last time): held back any
    /// longer, a TTL shorter than `SETTLE_GRACE` would free its counts before any scrape saw
    /// them.
    pub fn expire(&mut self, now: Instant) -> Vec<(u64, Arc<Container>)> {
        let mut gone_provisional = Vec::new();
        for (&id, entry) in self.entries.iter_mut() {
            if let Some(path) = &entry.path {
                let exists = self.cgroup_root.join(path.trim_start_matches('/')).exists();
                entry.gone_since = if exists { None } else { entry.gone_since.or(Some(now)) };
                if !exists && entry.provisional_since.is_some() {
                    gone_provisional.push(id);
                }
            }
        }
        if !gone_provisional.is_empty() {
            let index = self.scan_records(now);
            for id in gone_provisional {
                let Some(old) = self.entries.remove(&id) else { continue };
                let mut entry = self.identify(old.path.clone().unwrap_or_default(), &index, old.provisional_since, now);
                (entry.gone_since, entry.provisional_since) = (old.gone_since, None);
                self.entries.insert(id, entry);
            }
        }
        let ttl = self.ttl;
        let expired: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.gone_since.is_some_and(|since| now.duration_since(since) >= ttl))
            .map(|(&id, _)| id)
            .collect();
        let expired: Vec<(u64, Arc<Container>)> =
            expired.into_iter().filter_map(|id| self.entries.remove(&id).map(|e| (id, e.container))).collect();
        // A refusal count lives as long as the container it is counted under.
        let entries = &self.entries;
        self.refused.retain(|c, _| c.id == Container::UNKNOWN_ID || entries.values().any(|e| e.container == *c));
        expired
    }
}

/// inode -> path (relative to `root`, starting with '/') of every cgroup directory.
fn walk_cgroups(root: &Path) -> HashMap<u64, String> {
    let mut paths = HashMap::new();
    let mut stack = vec![(root.to_path_buf(), String::from("/"))];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&dir) else { continue };
        paths.insert(meta.ino(), rel.clone());
        let Ok(children) = std::fs::read_dir(&dir) else { continue };
        for child in children.flatten() {
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                let name = child.file_name().to_string_lossy().into_owned();
                let child_rel = if rel == "/" { format!("/{name}") } else { format!("{rel}/{name}") };
                stack.push((child.path(), child_rel));
            }
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2c9a61e0b74d5c8a1f6e2d9b0c7a4e5f1d2c3b4a5968778695a4b3c2d1e0f9";

    fn fixture() -> (tempfile::TempDir, ContainerResolver) {
        fixture_with_ttl(Duration::from_secs(60))
    }

    /// A fake cgroup root and runtime dir; directory inodes play the cgroup ids.
    fn fixture_with_ttl(ttl: Duration) -> (tempfile::TempDir, ContainerResolver) {
        let tmp = tempfile::tempdir().unwrap();
        let cg = tmp.path().join("cgroup");
        for dir in [format!("docker/{ID}"), "system.slice/sshd.service".into(), "mybox".into()] {
            std::fs::create_dir_all(cg.join(dir)).unwrap();
        }
        let state = tmp.path().join("run/mybox");
        std::fs::create_dir_all(&state).unwrap();
        let json = state_json(
            "mybox",
            &["io.kubernetes.cri.container-name=box", "io.kubernetes.cri.image-name=busybox:1.36"],
            &cg.join("mybox"),
        );
        std::fs::write(state.join("state.json"), json).unwrap();
        let sources = RuntimeSources {
            state_dirs: vec![tmp.path().join("run")],
            docker_containers: tmp.path().join("none"),
            host_capabilities: u64::MAX,
        };
        let resolver = ContainerResolver::new(cg, sources, ttl);
        (tmp, resolver)
    }

    /// A runc state naming container `id`, with `labels`, in the cgroup directory `cgroup`.
    fn state_json(id: &str, labels: &[&str], cgroup: &Path) -> String {
        let labels = serde_json::to_string(labels).unwrap();
        format!(r#"{{"id":"{id}","config":{{"labels":{labels}}},"cgroup_paths":{{"":"{}"}}}}"#, cgroup.display())
    }

    fn ino(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    fn id_of(resolver: &ContainerResolver, cgroup_id: u64) -> Option<String> {
        resolver.get(cgroup_id).map(|c| c.id.clone())
    }

    #[test]
    fn resolves_docker_host_plain_runc_and_unknown() {
        let (tmp, mut resolver) = fixture();
        let cg = tmp.path().join("cgroup");
        let (docker, sshd, mybox, root) = (
            ino(&cg.join("docker").join(ID)),
            ino(&cg.join("system.slice/sshd.service")),
            ino(&cg.join("mybox")),
            ino(&cg),
        );
        let t0 = Instant::now();
        resolver.resolve_all([docker, sshd, mybox, root, 999_999_999], t0);
        // With its runtime record, a container is settled at once.
        let mybox = resolver.get(mybox).expect("settled");
        assert_eq!(
            (mybox.id.as_str(), mybox.meta.name.as_str(), mybox.meta.image.as_str()),
            ("mybox", "box", "busybox:1.36")
        );
        assert_eq!(id_of(&resolver, 999_999_999).as_deref(), Some("unknown"));
        // New cgroups without a record wait for one, held back from /metrics...
        assert!(resolver.has_provisional());
        assert_eq!(id_of(&resolver, docker), None);
        assert_eq!(id_of(&resolver, sshd), None);
        // ...until the grace period passes: then the path decides.
        resolver.resolve_all([], t0 + SETTLE_GRACE);
        assert!(!resolver.has_provisional());
        assert_eq!(id_of(&resolver, docker).as_deref(), Some("3f2c9a61e0b7"));
        assert_eq!(id_of(&resolver, sshd).as_deref(), Some("host"));
        assert_eq!(id_of(&resolver, root).as_deref(), Some("host"));
        let (path, container) = resolver.cgroup_of("mybox").expect("mybox has a cgroup");
        assert_eq!((path.as_str(), container.meta.image.as_str()), ("/mybox", "busybox:1.36"));
        assert_eq!(resolver.cgroup_of("3f2c9a61e0b7").map(|(p, _)| p), Some(format!("/docker/{ID}")));
        assert!(resolver.cgroup_of("nosuchbox").is_none());
    }

    /// The fixture with the docker cgroup seen, its record not yet written: (fixture, cgroup
    /// id, when it was seen).
    fn waiting_for_its_record() -> (tempfile::TempDir, ContainerResolver, u64, Instant) {
        let (tmp, mut resolver) = fixture();
        let docker = ino(&tmp.path().join("cgroup/docker").join(ID));
        let t0 = Instant::now();
        resolver.resolve_all([docker], t0);
        assert_eq!(id_of(&resolver, docker), None, "no state file yet");
        (tmp, resolver, docker, t0)
    }

    #[test]
    fn a_record_written_after_the_first_syscall_still_names_the_container() {
        let (tmp, mut resolver, docker, t0) = waiting_for_its_record();
        let cg = tmp.path().join("cgroup");
        let state = tmp.path().join("run").join(ID);
        std::fs::create_dir_all(&state).unwrap();
        let json = state_json(
            ID,
            &["io.kubernetes.cri.container-name=api", "io.kubernetes.cri.sandbox-namespace=prod"],
            &cg.join(format!("docker/{ID}")),
        );
        std::fs::write(state.join("state.json"), json).unwrap();
        resolver.resolve_all([docker], t0 + Duration::from_millis(50));
        let container = resolver.get(docker).expect("settled once the record exists");
        assert_eq!(
            (container.id.as_str(), container.meta.name.as_str(), container.meta.namespace.as_str()),
            ("3f2c9a61e0b7", "api", "prod")
        );
    }

    #[test]
    fn a_record_remembered_names_the_container_after_the_runtime_deleted_it() {
        let (tmp, mut resolver, docker, t0) = waiting_for_its_record();
        let cg = tmp.path().join("cgroup");
        // Written and deleted between two looks: only the watch on the state roots saw it.
        let json = state_json(ID, &["io.kubernetes.cri.container-name=job"], &cg.join(format!("docker/{ID}")));
        let record = runtime::parse_state_json(json.as_bytes(), &cg, u64::MAX).unwrap();
        resolver.remembered().remember(record, &cg, t0);
        resolver.resolve_all([docker], t0 + Duration::from_millis(50));
        let container = resolver.get(docker).expect("settled by the remembered record");
        assert_eq!((container.id.as_str(), container.meta.name.as_str()), ("3f2c9a61e0b7", "job"));
    }

    #[test]
    fn gone_cgroups_expire_after_the_ttl_and_live_ones_stay() {
        let (tmp, mut resolver) = fixture();
        let cg = tmp.path().join("cgroup");
        let docker_dir = cg.join("docker").join(ID);
        let (docker, sshd) = (ino(&docker_dir), ino(&cg.join("system.slice/sshd.service")));
        let t0 = Instant::now();
        resolver.resolve_all([docker, sshd, 424_242], t0);
        resolver.resolve_all([], t0 + SETTLE_GRACE);
        std::fs::remove_dir(&docker_dir).unwrap();
        let t1 = t0 + SETTLE_GRACE;
        assert!(resolver.expire(t1 + Duration::from_secs(1)).is_empty(), "nothing is past the TTL yet");
        let mut expired: Vec<(u64, String)> =
            resolver.expire(t1 + Duration::from_secs(62)).into_iter().map(|(id, c)| (id, c.id.clone())).collect();
        expired.sort();
        let mut want = vec![(docker, "3f2c9a61e0b7".to_owned()), (424_242, "unknown".to_owned())];
        want.sort();
        assert_eq!(expired, want);
        assert_eq!(id_of(&resolver, sshd).as_deref(), Some("host"));
        assert_eq!(id_of(&resolver, docker), None, "forgotten after expiry");
    }

    #[test]
    fn a_cgroup_named_like_a_recorded_container_is_counted_as_the_one_it_lies_in() {
        let (tmp, mut resolver) = fixture();
        let cg = tmp.path().join("cgroup");
        // The victim's record places it at /docker/<ID>; mybox makes a cgroup bearing its id.
        let state = tmp.path().join("run").join(ID);
        std::fs::create_dir_all(&state).unwrap();
        let json = state_json(ID, &["io.kubernetes.cri.container-name=victim"], &cg.join(format!("docker/{ID}")));
        std::fs::write(state.join("state.json"), json).unwrap();
        let spoofed_dir = cg.join("mybox/docker").join(ID);
        std::fs::create_dir_all(&spoofed_dir).unwrap();
        let (spoofed, victim) = (ino(&spoofed_dir), ino(&cg.join("docker").join(ID)));
        let t0 = Instant::now();
        resolver.resolve_all([spoofed, victim], t0);
        let counted_as = resolver.get(spoofed).expect("settled at once: the records decide");
        assert_eq!((counted_as.id.as_str(), counted_as.meta.name.as_str()), ("mybox", "box"));
        assert_eq!(resolver.get(victim).map(|c| c.meta.name.clone()).as_deref(), Some("victim"));
        let refused: Vec<(String, u64)> =
            resolver.identities_refused().into_iter().map(|(c, n)| (c.id.clone(), n)).collect();
        assert_eq!(refused, [("mybox".to_owned(), 1)]);
        // The count goes with the last cgroup of the container it is counted under.
        std::fs::remove_dir_all(cg.join("mybox")).unwrap();
        resolver.expire(t0);
        resolver.expire(t0 + Duration::from_secs(61));
        assert!(resolver.identities_refused().is_empty());
    }

    #[test]
    fn a_provisional_cgroup_that_is_gone_is_shown_at_once_even_with_a_short_ttl() {
        let (tmp, mut resolver) = fixture_with_ttl(Duration::from_secs(3));
        let docker_dir = tmp.path().join("cgroup").join("docker").join(ID);
        let docker = ino(&docker_dir);
        let t0 = Instant::now();
        resolver.resolve_all([docker], t0);
        assert_eq!(id_of(&resolver, docker), None, "held back while its record may come");
        std::fs::remove_dir(&docker_dir).unwrap();
        assert!(resolver.expire(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(id_of(&resolver, docker).as_deref(), Some("3f2c9a61e0b7"), "gone: settled for the scrapes");
        resolver.resolve_all([], t0 + Duration::from_secs(2));
        assert_eq!(id_of(&resolver, docker).as_deref(), Some("3f2c9a61e0b7"), "stays settled");
        let expired = resolver.expire(t0 + Duration::from_secs(4));
        assert_eq!(expired.len(), 1, "then expires after its TTL, well within SETTLE_GRACE");
    }

    #[test]
    fn a_container_is_one_series_key_by_its_labels() {
        use std::collections::HashMap;
        let labelled =
            Container { id: "3f2c9a61e0b7".into(), meta: ContainerMeta { name: "web".into(), ..Default::default() } };
        let mut detailed = labelled.clone();
        detailed.meta.privileged = Some(true);
        detailed.meta.start_ts = Some(1);
        let mut rows = HashMap::new();
        rows.insert(labelled.clone(), 1);
        *rows.entry(detailed).or_insert(0) += 1;
        assert_eq!(rows.len(), 1, "same labels, one key");
        let mut renamed = labelled.clone();
        renamed.meta.name = "api".into();
        assert_ne!(labelled, renamed);
    }
}
