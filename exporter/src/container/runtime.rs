//! Container names, images and Kubernetes identity from the OCI runtime's state files, the
//! same files runc, containerd and Docker leave on every node:
//! `/run/runc/<id>/state.json`, `/run/containerd/runc/<namespace>/<id>/state.json`,
//! `/run/docker/runtime-runc/moby/<id>/state.json`, and Docker's
//! `/var/lib/docker/containers/<id>/config.v2.json`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

/// Identity beyond the id; empty strings where the runtime does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ContainerMeta {
    pub name: String,
    pub image: String,
    pub pod: String,
    pub namespace: String,
}

/// One container the runtime knows, keyed by id and by its cgroup v2 path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeRecord {
    pub id: String,
    /// Path relative to the cgroup v2 mount, starting with '/', when the state names one.
    pub cgroup_path: Option<String>,
    pub meta: ContainerMeta,
}

/// Where to look. The defaults are the paths runtimes use on a node.
#[derive(Debug, Clone)]
pub struct RuntimeSources {
    /// Directories holding `<id>/state.json`, or `<namespace>/<id>/state.json`.
    pub state_dirs: Vec<PathBuf>,
    /// Docker's container directory (`<id>/config.v2.json`).
    pub docker_containers: PathBuf,
}

impl Default for RuntimeSources {
    fn default() -> Self {
        RuntimeSources {
            state_dirs: ["/run/runc", "/run/containerd/runc", "/run/docker/runtime-runc/moby", "/run/crun"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            docker_containers: PathBuf::from("/var/lib/docker/containers"),
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
                match std::fs::read(&state_file)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| parse_state_json(&bytes, cgroup_root).map_err(|e| e.to_string()))
                {
                    Ok(record) => index.insert(record),
                    Err(cause) => tracing::debug!(file = %state_file.display(), %cause, "skipping runtime state"),
                }
            }
        }
        for record in index.by_id.values_mut() {
            let config = sources.docker_containers.join(&record.id).join("config.v2.json");
            if let Ok(bytes) = std::fs::read(&config) {
                match parse_docker_config(&bytes) {
                    Ok(docker) => record.meta.fill_from(&docker),
                    Err(cause) => tracing::debug!(file = %config.display(), %cause, "skipping docker config"),
                }
            }
        }
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

impl ContainerMeta {
    /// Fills what is still empty (state labels win over Docker's config).
    fn fill_from(&mut self, other: &ContainerMeta) {
        for (mine, theirs) in [
            (&mut self.name, &other.name),
            (&mut self.image, &other.image),
            (&mut self.pod, &other.pod),
            (&mut self.namespace, &other.namespace),
        ] {
            if mine.is_empty() {
                mine.clone_from(theirs);
            }
        }
    }

    /// Kubernetes identity from the CRI (containerd, CRI-O) or dockershim label names.
    fn from_labels<'a>(label: impl Fn(&str) -> Option<&'a str>) -> ContainerMeta {
        let first = |keys: &[&str]| keys.iter().find_map(|k| label(k)).unwrap_or_default().to_owned();
        ContainerMeta {
            name: first(&["io.kubernetes.cri.container-name", "io.kubernetes.container.name"]),
            image: first(&["io.kubernetes.cri.image-name", "io.kubernetes.container.image"]),
            pod: first(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]),
            namespace: first(&["io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"]),
        }
    }
}

fn state_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    for entry in entries.flatten() {
        let path = entry.path();
        let state = path.join("state.json");
        if state.is_file() {
            files.push(state);
        } else if let Ok(nested) = std::fs::read_dir(&path) {
            // containerd: <namespace>/<id>/state.json
            files.extend(nested.flatten().map(|e| e.path().join("state.json")).filter(|p| p.is_file()));
        }
    }
    files
}

#[derive(Deserialize)]
struct StateJson {
    id: String,
    #[serde(default)]
    config: StateConfig,
    #[serde(default)]
    cgroup_paths: HashMap<String, String>,
}

#[derive(Deserialize, Default)]
struct StateConfig {
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    cgroups: Option<StateCgroups>,
}

#[derive(Deserialize, Default)]
struct StateCgroups {
    #[serde(default)]
    path: String,
}

/// Parses a runc-format `state.json` (runc, containerd and Docker all write this format).
pub fn parse_state_json(bytes: &[u8], cgroup_root: &Path) -> Result<RuntimeRecord, serde_json::Error> {
    let state: StateJson = serde_json::from_slice(bytes)?;
    let labels: HashMap<&str, &str> = state.config.labels.iter().filter_map(|l| l.split_once('=')).collect();
    let meta = ContainerMeta::from_labels(|k| labels.get(k).copied());
    // The unified hierarchy's directory: "" on v2 and hybrid hosts. Else the configured path,
    // unless it is a systemd "slice:prefix:name" triple rather than a path.
    let cgroup_path = state
        .cgroup_paths
        .get("")
        .and_then(|abs| Path::new(abs).strip_prefix(cgroup_root).ok())
        .map(|rel| format!("/{}", rel.display()))
        .or_else(|| {
            let path = state.config.cgroups.map(|c| c.path).unwrap_or_default();
            (path.starts_with('/') && !path.contains(':')).then_some(path)
        });
    Ok(RuntimeRecord { id: state.id, cgroup_path, meta })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerConfig {
    #[serde(default)]
    name: String,
    #[serde(default)]
    config: DockerContainerConfig,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DockerContainerConfig {
    #[serde(default)]
    image: String,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
}

/// Parses Docker's `config.v2.json`: the container name, image and (dockershim) pod labels.
pub fn parse_docker_config(bytes: &[u8]) -> Result<ContainerMeta, serde_json::Error> {
    let docker: DockerConfig = serde_json::from_slice(bytes)?;
    let labels = docker.config.labels.unwrap_or_default();
    let mut meta = ContainerMeta::from_labels(|k| labels.get(k).map(String::as_str));
    if meta.name.is_empty() {
        meta.name = docker.name.trim_start_matches('/').to_owned();
    }
    if meta.image.is_empty() {
        meta.image = docker.config.image;
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/runtime").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn containerd_cri_state() {
        let record = parse_state_json(&sample("containerd-state.json"), Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(record.id, "8d2f0c1b7a6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c");
        assert_eq!(
            record.cgroup_path.as_deref(),
            Some("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice/cri-containerd-8d2f0c1b7a6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c.scope")
        );
        assert_eq!(
            record.meta,
            ContainerMeta {
                name: "nginx".into(),
                image: "docker.io/library/nginx:1.25".into(),
                pod: "web-7d9c8b6f5-x2x4z".into(),
                namespace: "shop".into(),
            }
        );
    }

    #[test]
    fn runc_state_on_a_hybrid_host() {
        let record = parse_state_json(&sample("runc-hybrid-state.json"), Path::new("/sys/fs/cgroup/unified")).unwrap();
        assert_eq!(record.id, "web1");
        assert_eq!(
            record.cgroup_path.as_deref(),
            Some("/docker/193adf534f2a8b637990ffa989cb2212a3f82422ed4529cc50121d15b103645e")
        );
        assert_eq!(record.meta.name, "web");
        assert_eq!(record.meta.pod, "");
    }

    #[test]
    fn docker_state_plus_config_v2() {
        let record = parse_state_json(&sample("docker-state.json"), Path::new("/sys/fs/cgroup")).unwrap();
        // Docker's systemd driver stores "system.slice:docker:<id>", not a path: no cgroup path.
        assert_eq!(record.cgroup_path, None);
        assert_eq!(record.meta, ContainerMeta::default());
        let docker = parse_docker_config(&sample("docker-config.v2.json")).unwrap();
        assert_eq!(
            docker,
            ContainerMeta {
                name: "redis-cache".into(),
                image: "redis:7-alpine".into(),
                pod: "".into(),
                namespace: "".into()
            }
        );
    }

    #[test]
    fn dockershim_labels_in_config_v2() {
        let docker = parse_docker_config(br#"{"Name":"/k8s_app_pod","Config":{"Image":"sha256:abc","Labels":{
            "io.kubernetes.container.name":"app","io.kubernetes.pod.name":"pod-1","io.kubernetes.pod.namespace":"prod"}}}"#).unwrap();
        assert_eq!(
            docker,
            ContainerMeta {
                name: "app".into(),
                image: "sha256:abc".into(),
                pod: "pod-1".into(),
                namespace: "prod".into()
            }
        );
    }

    #[test]
    fn malformed_state_is_an_error_not_a_panic() {
        assert!(parse_state_json(b"{", Path::new("/")).is_err());
        assert!(parse_state_json(b"{\"config\":{}}", Path::new("/")).is_err()); // no id
        assert!(parse_docker_config(br#"{"Name": 5}"#).is_err());
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
        };
        let index = RuntimeIndex::scan(&sources, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(index.by_id("web1").unwrap().meta.name, "web");
        let by_path =
            index.by_cgroup_path("/docker/193adf534f2a8b637990ffa989cb2212a3f82422ed4529cc50121d15b103645e").unwrap();
        assert_eq!(by_path.id, "web1");
        assert!(index.by_id("8d2f0c1b7a6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c").is_some());
        assert!(index.by_id("broken").is_none());
    }
}
