//! Container names, images and Kubernetes identity, and the details Falco's container fields
//! read (privileged, start time, mounts), from the OCI runtime's state files, the same files
//! runc, containerd and Docker leave on every node:
//! `/run/runc/<id>/state.json`, `/run/containerd/runc/<namespace>/<id>/state.json`,
//! `/run/docker/runtime-runc/moby/<id>/state.json`, and Docker's
//! `/var/lib/docker/containers/<id>/config.v2.json` and `hostconfig.json`. One module per
//! format: `runc` (the state file runc, containerd and Docker write), `docker` (Docker's own
//! records), `rfc3339` (the times both carry).

mod docker;
mod rfc3339;
mod runc;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

pub use docker::{parse_docker_config, parse_docker_hostconfig};
pub use runc::parse_state_json;

use crate::rules::event::Mount;

/// What the runtime records of a container beyond its id; empty strings, `None` and no mounts
/// where the runtime does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerMeta {
    pub name: String,
    pub image: String,
    /// The image's content digest (`sha256:...`) when the runtime records it (Docker's image
    /// id); empty otherwise.
    pub image_digest: String,
    pub pod: String,
    pub namespace: String,
    /// Docker's `--privileged`; for a runc state, whether the container holds every capability
    /// the host can give (see [`RuntimeSources::host_capabilities`]).
    pub privileged: Option<bool>,
    /// When the container started (Docker) or was created (runc), ns since the Unix epoch.
    pub start_ts: Option<u64>,
    /// The host paths bound into the container, in the runtime's order.
    pub mounts: Vec<Mount>,
}

/// One container the runtime knows, keyed by id and by its cgroup v2 path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeRecord {
    pub id: String,
    /// Path relative to the cgroup v2 mount, starting with '/', when the state names one.
    pub cgroup_path: Option<String>,
    pub meta: ContainerMeta,
}

/// Where to look, and what the host can give. The defaults are the paths runtimes use on a node.
#[derive(Debug, Clone)]
pub struct RuntimeSources {
    /// Directories holding `<id>/state.json`, or `<namespace>/<id>/state.json`.
    pub state_dirs: Vec<PathBuf>,
    /// Docker's container directory (`<id>/config.v2.json`, `<id>/hostconfig.json`).
    pub docker_containers: PathBuf,
    /// The capabilities a process on this host can hold, as a bit mask: what a privileged
    /// container gets (`docker run --privileged`, Kubernetes' `privileged: true`).
    pub host_capabilities: u64,
}

impl Default for RuntimeSources {
    fn default() -> Self {
        RuntimeSources {
            state_dirs: ["/run/runc", "/run/containerd/runc", "/run/docker/runtime-runc/moby", "/run/crun"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            docker_containers: PathBuf::from("/var/lib/docker/containers"),
            host_capabilities: crate::privileges::host_bounding_set(),
        }
    }
}

/// Everything found in the sources at one moment.
#[derive(Debug, Default)]
pub struct RuntimeIndex {
    by_id: HashMap<String, RuntimeRecord>,
    by_cgroup: HashMap<String, String>,
}

impl RuntimeIndex {
    /// Reads every state file it can; an unreadable or malformed one is skipped with a debug
    /// log (runtimes rewrite them while containers start and stop).
    pub fn scan(sources: &RuntimeSources, cgroup_root: &Path) -> RuntimeIndex {
        let mut index = RuntimeIndex::default();
        for dir in &sources.state_dirs {
            for state_file in state_files(dir) {
                if let Some(record) = read_state(&state_file, sources, cgroup_root) {
                    index.insert(record);
                }
            }
        }
        index
    }

    /// Adds records of containers the scan did not find (whose state files are gone), unless
    /// a found record already claims their cgroup.
    pub fn add_missing(&mut self, records: impl IntoIterator<Item = RuntimeRecord>) {
        for record in records {
            let claimed = record.cgroup_path.as_ref().is_some_and(|p| self.by_cgroup.contains_key(p));
            if !claimed && !self.by_id.contains_key(&record.id) {
                self.insert(record);
            }
        }
    }

    /// An index of these records (what `scan` would find).
    pub fn from_records(records: impl IntoIterator<Item = RuntimeRecord>) -> RuntimeIndex {
        let mut index = RuntimeIndex::default();
        records.into_iter().for_each(|r| index.insert(r));
        index
    }

    fn insert(&mut self, record: RuntimeRecord) {
        if let Some(path) = &record.cgroup_path {
            self.by_cgroup.insert(path.clone(), record.id.clone());
        }
        self.by_id.insert(record.id.clone(), record);
    }

    pub fn by_id(&self, id: &str) -> Option<&RuntimeRecord> {
        self.by_id.get(id)
    }

    pub fn by_cgroup_path(&self, path: &str) -> Option<&RuntimeRecord> {
        self.by_cgroup.get(path).and_then(|id| self.by_id.get(id))
    }
}

/// The file holding a container's state in its directory of a state root.
pub const STATE_FILE: &str = "state.json";

/// The record of one container's state file, with what Docker's own record of it adds; `None`
/// when the file is absent, unreadable or malformed.
pub fn read_state(state_file: &Path, sources: &RuntimeSources, cgroup_root: &Path) -> Option<RuntimeRecord> {
    let parse = |bytes: &[u8]| parse_state_json(bytes, cgroup_root, sources.host_capabilities);
    let mut record = read_record(state_file, parse)?;
    let dir = sources.docker_containers.join(&record.id);
    if let Some(mut docker) = read_record(&dir.join("config.v2.json"), parse_docker_config) {
        docker.privileged = read_record(&dir.join("hostconfig.json"), parse_docker_hostconfig).flatten();
        record.meta.merge_docker(docker);
    }
    Some(record)
}

/// Reads and parses one runtime file; `None` when it is absent, unreadable or malformed (logged
/// at debug: runtimes rewrite these files while containers start and stop).
fn read_record<T>(file: &Path, parse: impl FnOnce(&[u8]) -> Result<T, serde_json::Error>) -> Option<T> {
    let parsed = match std::fs::read(file) {
        Ok(bytes) => parse(&bytes).map_err(|e| e.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => Err(e.to_string()),
    };
    parsed.map_err(|cause| tracing::debug!(file = %file.display(), %cause, "skipping runtime record")).ok()
}

impl ContainerMeta {
    /// Adds Docker's own record to the runc state Docker wrote. The state's labels win (they
    /// carry the Kubernetes identity). Docker's details win: its start time is the start, not
    /// the creation, `--privileged` is its own word, and its mount points are the user's, without
    /// the resolv.conf, hostname and hosts files Docker binds into every container.
    fn merge_docker(&mut self, docker: ContainerMeta) {
        for (mine, theirs) in [
            (&mut self.name, docker.name),
            (&mut self.image, docker.image),
            (&mut self.image_digest, docker.image_digest),
            (&mut self.pod, docker.pod),
            (&mut self.namespace, docker.namespace),
        ] {
            if mine.is_empty() {
                *mine = theirs;
            }
        }
        self.privileged = docker.privileged.or(self.privileged);
        self.start_ts = docker.start_ts.or(self.start_ts);
        self.mounts = docker.mounts;
    }

    /// Kubernetes identity from the CRI (containerd, CRI-O) or dockershim label names.
    fn from_labels<'a>(label: impl Fn(&str) -> Option<&'a str>) -> ContainerMeta {
        let first = |keys: &[&str]| label_text(keys.iter().find_map(|k| label(k)).unwrap_or_default());
        ContainerMeta {
            name: first(&["io.kubernetes.cri.container-name", "io.kubernetes.container.name"]),
            image: first(&["io.kubernetes.cri.image-name", "io.kubernetes.container.image"]),
            pod: first(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]),
            namespace: first(&["io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"]),
            ..ContainerMeta::default()
        }
    }
}

/// An identity string as every output shows it: control characters (NUL, escapes, C1) and the
/// Unicode line and paragraph separators become U+FFFD. /metrics, Alertmanager labels, syslog
/// and the alert JSON then carry the same text, and none of them a raw NUL or a line break that
/// some readers split on (JSON leaves U+2028 raw, JavaScript viewers break lines there).
pub fn label_text(raw: &str) -> String {
    raw.chars().map(|c| if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') { '\u{fffd}' } else { c }).collect()
}

fn state_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    for entry in entries.flatten() {
        let path = entry.path();
        let state = path.join(STATE_FILE);
        if state.is_file() {
            files.push(state);
        } else if let Ok(nested) = std::fs::read_dir(&path) {
            // containerd: <namespace>/<id>/state.json
            files.extend(nested.flatten().map(|e| e.path().join(STATE_FILE)).filter(|p| p.is_file()));
        }
    }
    files
}

/// What the formats' tests read: records real runtimes wrote (tests/data/runtime).
#[cfg(test)]
mod samples {
    use std::path::Path;

    use crate::rules::event::Mount;

    /// This machine's bounding set, where the sample states were written: every capability but
    /// CAP_SYS_RESOURCE (the VM's init dropped it, so no container here can have it).
    pub const HOST: u64 = 0x1ff_feff_ffff;

    pub fn mount(source: &str, dest: &str, mode: &str, propagation: &str) -> Mount {
        Mount { source: source.into(), dest: dest.into(), mode: mode.into(), propagation: propagation.into() }
    }

    pub fn sample(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/runtime").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::runtime::samples::{sample, HOST};

    #[test]
    fn dockers_record_wins_over_the_runc_state_it_wrote() {
        let tmp = tempfile::tempdir().unwrap();
        let id = "b41f0e5c9d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c";
        let (state, docker) = (tmp.path().join("moby").join(id), tmp.path().join("containers").join(id));
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(&docker).unwrap();
        std::fs::write(state.join("state.json"), sample("docker-state.json")).unwrap();
        std::fs::write(docker.join("config.v2.json"), sample("docker-config.v2.json")).unwrap();
        let sources = RuntimeSources {
            state_dirs: vec![tmp.path().join("moby")],
            docker_containers: tmp.path().join("containers"),
            host_capabilities: HOST,
        };
        let scan = || RuntimeIndex::scan(&sources, Path::new("/sys/fs/cgroup")).by_id(id).unwrap().meta.clone();
        // Without hostconfig.json the state decides: every capability, as `--cap-add ALL` gives.
        let meta = scan();
        assert_eq!((meta.name.as_str(), meta.privileged), ("redis-cache", Some(true)));
        // Docker's start, not runc's creation; Docker's mount points, not its own resolv.conf,
        // hostname and hosts binds.
        assert_eq!(meta.start_ts, Some(1_795_766_400_418_503_114));
        let dests: Vec<&str> = meta.mounts.iter().map(|m| m.dest.as_str()).collect();
        assert_eq!(dests, ["/data", "/var/run/docker.sock"]);
        // `--cap-add ALL` without `--privileged`: Docker's word.
        std::fs::write(docker.join("hostconfig.json"), br#"{"Privileged":false,"CapAdd":["ALL"]}"#).unwrap();
        assert_eq!(scan().privileged, Some(false));
        std::fs::write(docker.join("hostconfig.json"), sample("docker-hostconfig.json")).unwrap();
        assert_eq!(scan().privileged, Some(true));
    }

    #[test]
    fn scan_indexes_runc_and_nested_containerd_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let runc = tmp.path().join("runc/web1");
        let containerd =
            tmp.path().join("containerd/k8s.io/8d2f0c1b7a6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c");
        std::fs::create_dir_all(&runc).unwrap();
        std::fs::create_dir_all(&containerd).unwrap();
        std::fs::write(runc.join("state.json"), sample("runc-hybrid-state.json")).unwrap();
        std::fs::write(containerd.join("state.json"), sample("containerd-state.json")).unwrap();
        std::fs::create_dir_all(tmp.path().join("runc/broken")).unwrap();
        std::fs::write(tmp.path().join("runc/broken/state.json"), b"not json").unwrap();
        let sources = RuntimeSources {
            state_dirs: vec![tmp.path().join("runc"), tmp.path().join("containerd")],
            docker_containers: tmp.path().join("docker"),
            host_capabilities: HOST,
        };
        let index = RuntimeIndex::scan(&sources, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(index.by_id("web1").unwrap().meta.name, "web");
        let by_path =
            index.by_cgroup_path("/docker/193adf534f2a8b637990ffa989cb2212a3f82422ed4529cc50121d15b103645e").unwrap();
        assert_eq!(by_path.id, "web1");
        assert!(index.by_id("8d2f0c1b7a6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c").is_some());
        assert!(index.by_id("broken").is_none());
    }

    #[test]
    fn identity_text_has_no_control_characters_or_line_separators() {
        let meta = ContainerMeta::from_labels(|k| {
            (k == "io.kubernetes.cri.container-name").then_some("a\0b\u{2028}c\x1b[1m\u{85}é")
        });
        assert_eq!(meta.name, "a\u{fffd}b\u{fffd}c\u{fffd}[1m\u{fffd}é");
    }
}
