//! cgroup id -> container identity, resolved lazily and cached.
//!
//! The kernel only knows cgroup v2 ids (the inode of the cgroup's directory). The resolver
//! finds the directory by walking the cgroup v2 mount (only when an unknown id shows up), takes
//! the container id from the path (`cgroup_path`) or from the runtime state whose cgroup is that
//! path (plain runc containers named anything), and the name, image, pod and namespace from the
//! runtime state (`runtime`). Entries whose cgroup is gone expire after the TTL; the caller then
//! frees their kernel slot.

pub mod cgroup_path;
pub mod runtime;

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use runtime::{ContainerMeta, RuntimeIndex, RuntimeSources};

/// The labels every per-container series carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Container {
    /// 12-hex short id, a runc container's own name, `host`, or `unknown` for a cgroup that
    /// vanished before it could be resolved.
    pub id: String,
    pub meta: ContainerMeta,
}

impl Container {
    pub const HOST_ID: &'static str = "host";
    pub const UNKNOWN_ID: &'static str = "unknown";

    fn labelled(id: &str) -> Container {
        Container { id: id.to_owned(), meta: ContainerMeta::default() }
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
}

pub struct ContainerResolver {
    cgroup_root: PathBuf,
    sources: RuntimeSources,
    ttl: Duration,
    entries: HashMap<u64, Entry>,
}

impl ContainerResolver {
    pub fn new(cgroup_root: PathBuf, sources: RuntimeSources, ttl: Duration) -> ContainerResolver {
        ContainerResolver { cgroup_root, sources, ttl, entries: HashMap::new() }
    }

    /// Resolves every id not seen before, with one cgroupfs walk and one runtime-state scan
    /// for the whole batch. Known ids cost a hash look-up.
    pub fn resolve_all(&mut self, cgroup_ids: impl IntoIterator<Item = u64>, now: Instant) {
        let unknown: Vec<u64> = cgroup_ids.into_iter().filter(|id| !self.entries.contains_key(id)).collect();
        if unknown.is_empty() {
            return;
        }
        let paths = walk_cgroups(&self.cgroup_root);
        let index = RuntimeIndex::scan(&self.sources, &self.cgroup_root);
        for id in unknown {
            let entry = match paths.get(&id) {
                Some(path) => {
                    Entry { container: Arc::new(identify(path, &index)), path: Some(path.clone()), gone_since: None }
                }
                // Vanished before we looked (or not a cgroup of this mount): a negative entry,
                // already expiring, so a short-lived cgroup is not walked for again and again.
                None => Entry {
                    container: Arc::new(Container::labelled(Container::UNKNOWN_ID)),
                    path: None,
                    gone_since: Some(now),
                },
            };
            tracing::debug!(cgroup_id = id, path = ?entry.path, container = %entry.container.id, "resolved cgroup");
            self.entries.insert(id, entry);
        }
    }

    /// The container of a resolved id (`unknown` if `resolve_all` never saw it).
    pub fn get(&self, cgroup_id: u64) -> Arc<Container> {
        self.entries
            .get(&cgroup_id)
            .map(|e| e.container.clone())
            .unwrap_or_else(|| Arc::new(Container::labelled(Container::UNKNOWN_ID)))
    }

    /// Marks entries whose cgroup directory is gone and removes those gone longer than the
    /// TTL, returning them so the caller can free their kernel slots.
    pub fn expire(&mut self, now: Instant) -> Vec<(u64, Arc<Container>)> {
        for entry in self.entries.values_mut() {
            if let Some(path) = &entry.path {
                let exists = self.cgroup_root.join(path.trim_start_matches('/')).exists();
                entry.gone_since = if exists { None } else { entry.gone_since.or(Some(now)) };
            }
        }
        let ttl = self.ttl;
        let expired: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.gone_since.is_some_and(|since| now.duration_since(since) >= ttl))
            .map(|(&id, _)| id)
            .collect();
        expired.into_iter().filter_map(|id| self.entries.remove(&id).map(|e| (id, e.container))).collect()
    }
}

fn identify(path: &str, index: &RuntimeIndex) -> Container {
    let record = index
        .by_cgroup_path(path)
        .or_else(|| cgroup_path::container_id_from_cgroup_path(path).and_then(|id| index.by_id(id)));
    match (record, cgroup_path::container_id_from_cgroup_path(path)) {
        (Some(record), _) => Container { id: cgroup_path::short_id(&record.id).to_owned(), meta: record.meta.clone() },
        (None, Some(id)) => Container::labelled(cgroup_path::short_id(id)),
        (None, None) => Container::labelled(Container::HOST_ID),
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

    /// A fake cgroup root and runtime dir; directory inodes play the cgroup ids.
    fn fixture() -> (tempfile::TempDir, ContainerResolver) {
        let tmp = tempfile::tempdir().unwrap();
        let cg = tmp.path().join("cgroup");
        for dir in [format!("docker/{ID}"), "system.slice/sshd.service".into(), "mybox".into()] {
            std::fs::create_dir_all(cg.join(dir)).unwrap();
        }
        let state = tmp.path().join("run/mybox");
        std::fs::create_dir_all(&state).unwrap();
        let json = format!(
            r#"{{"id":"mybox","config":{{"labels":["io.kubernetes.cri.container-name=box","io.kubernetes.cri.image-name=busybox:1.36"]}},"cgroup_paths":{{"":"{}/mybox"}}}}"#,
            cg.display()
        );
        std::fs::write(state.join("state.json"), json).unwrap();
        let sources =
            RuntimeSources { state_dirs: vec![tmp.path().join("run")], docker_containers: tmp.path().join("none") };
        let resolver = ContainerResolver::new(cg, sources, Duration::from_secs(60));
        (tmp, resolver)
    }

    fn ino(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
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
        let now = Instant::now();
        resolver.resolve_all([docker, sshd, mybox, root, 999_999_999], now);
        assert_eq!(resolver.get(docker).id, "3f2c9a61e0b7");
        assert_eq!(resolver.get(sshd).id, "host");
        assert_eq!(resolver.get(root).id, "host");
        let mybox = resolver.get(mybox);
        assert_eq!(
            (mybox.id.as_str(), mybox.meta.name.as_str(), mybox.meta.image.as_str()),
            ("mybox", "box", "busybox:1.36")
        );
        assert_eq!(resolver.get(999_999_999).id, "unknown");
    }

    #[test]
    fn gone_cgroups_expire_after_the_ttl_and_live_ones_stay() {
        let (tmp, mut resolver) = fixture();
        let cg = tmp.path().join("cgroup");
        let docker_dir = cg.join("docker").join(ID);
        let (docker, sshd) = (ino(&docker_dir), ino(&cg.join("system.slice/sshd.service")));
        let t0 = Instant::now();
        resolver.resolve_all([docker, sshd, 424_242], t0);
        std::fs::remove_dir(&docker_dir).unwrap();
        assert!(resolver.expire(t0 + Duration::from_secs(1)).is_empty(), "nothing is past the TTL yet");
        let mut expired: Vec<(u64, String)> =
            resolver.expire(t0 + Duration::from_secs(62)).into_iter().map(|(id, c)| (id, c.id.clone())).collect();
        expired.sort();
        let mut want = vec![(docker, "3f2c9a61e0b7".to_owned()), (424_242, "unknown".to_owned())];
        want.sort();
        assert_eq!(expired, want);
        assert_eq!(resolver.get(sshd).id, "host");
        assert_eq!(resolver.get(docker).id, "unknown", "forgotten after expiry");
    }
}
