//! Container names, images and Kubernetes identity, and the details Falco's container fields
//! read (privileged, start time, mounts), from the OCI runtime's state files, the same files
//! runc, containerd and Docker leave on every node:
//! `/run/runc/<id>/state.json`, `/run/containerd/runc/<namespace>/<id>/state.json`,
//! `/run/docker/runtime-runc/moby/<id>/state.json`, and Docker's
//! `/var/lib/docker/containers/<id>/config.v2.json` and `hostconfig.json`.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::rules::event::{capability_bit, Mount, CAPABILITIES};

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

#[derive(Deserialize)]
struct StateJson {
    id: String,
    /// When runc created the container, RFC 3339 (Go's `time.Time`).
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: StateConfig,
    #[serde(default)]
    cgroup_paths: HashMap<String, String>,
}

/// libcontainer's config, as runc keeps it in the state.
#[derive(Deserialize, Default)]
struct StateConfig {
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    cgroups: Option<StateCgroups>,
    #[serde(default)]
    capabilities: Option<StateCapabilities>,
    #[serde(default)]
    mounts: Option<Vec<StateMount>>,
}

#[derive(Deserialize, Default)]
struct StateCgroups {
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct StateCapabilities {
    #[serde(rename = "Bounding", default)]
    bounding: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct StateMount {
    #[serde(default)]
    source: String,
    #[serde(default)]
    destination: String,
    /// The file system type, `bind` for bind mounts.
    #[serde(default)]
    device: String,
    /// mount(2) flags.
    #[serde(default)]
    flags: i64,
    /// mount(2) propagation flags, applied one after the other.
    #[serde(default)]
    propagation_flags: Option<Vec<i64>>,
}

/// Parses a runc-format `state.json` (runc, containerd and Docker all write this format).
/// `host_capabilities` is [`RuntimeSources::host_capabilities`].
pub fn parse_state_json(
    bytes: &[u8],
    cgroup_root: &Path,
    host_capabilities: u64,
) -> Result<RuntimeRecord, serde_json::Error> {
    let state: StateJson = serde_json::from_slice(bytes)?;
    let labels: HashMap<&str, &str> = state.config.labels.iter().filter_map(|l| l.split_once('=')).collect();
    let mut meta = ContainerMeta::from_labels(|k| labels.get(k).copied());
    meta.privileged = state
        .config
        .capabilities
        .and_then(|caps| caps.bounding)
        .map(|bounding| holds_every_capability(&bounding, host_capabilities));
    meta.start_ts = state.created.as_deref().and_then(parse_rfc3339_ns);
    meta.mounts = state.config.mounts.unwrap_or_default().into_iter().filter_map(StateMount::into_bind).collect();
    // The unified hierarchy's directory: "" on v2 and hybrid hosts. Else the configured path,
    // or where systemd puts a "slice:prefix:name" triple (Docker's and the kubelet's systemd
    // driver).
    let cgroup_path = state
        .cgroup_paths
        .get("")
        .and_then(|abs| Path::new(abs).strip_prefix(cgroup_root).ok())
        .map(|rel| format!("/{}", rel.display()))
        .or_else(|| {
            let path = state.config.cgroups.map(|c| c.path).unwrap_or_default();
            if path.starts_with('/') && !path.contains(':') {
                Some(path)
            } else {
                systemd_cgroup_path(&path)
            }
        });
    Ok(RuntimeRecord { id: state.id, cgroup_path, meta })
}

/// The cgroup directory systemd gives a runc "slice:prefix:name" triple, as runc's systemd
/// driver names it: `system.slice:docker:<id>` -> `/system.slice/docker-<id>.scope`; a slice
/// `a-b.slice` nests in `a.slice`; an empty slice is `system.slice`.
fn systemd_cgroup_path(triple: &str) -> Option<String> {
    let mut parts = triple.splitn(3, ':');
    let (slice, prefix, name) = (parts.next()?, parts.next()?, parts.next()?);
    if name.is_empty() || name.contains('/') || slice.contains('/') || prefix.contains('/') {
        return None;
    }
    let slice = if slice.is_empty() { "system.slice" } else { slice };
    let stem = slice.strip_suffix(".slice")?;
    let mut path = String::new();
    if stem != "-" {
        let mut so_far = String::new();
        for part in stem.split('-') {
            if part.is_empty() {
                return None;
            }
            if !so_far.is_empty() {
                so_far.push('-');
            }
            so_far.push_str(part);
            path.push('/');
            path.push_str(&so_far);
            path.push_str(".slice");
        }
    }
    let unit = if name.ends_with(".slice") { name.to_owned() } else { format!("{prefix}-{name}.scope") };
    Some(format!("{path}/{unit}"))
}

/// Whether a bounding set holds every capability of `host` (a bit mask): what `docker run
/// --privileged` and Kubernetes' `privileged: true` give, and no other container has. Only the
/// capabilities this build names can be compared.
fn holds_every_capability(bounding: &[String], host: u64) -> bool {
    let named = u64::MAX >> (64 - CAPABILITIES.len());
    let held = bounding.iter().filter_map(|name| capability_bit(name)).fold(0, |mask, bit| mask | bit);
    held & host & named == host & named
}

impl StateMount {
    /// The mount as Falco shows it, if it binds a host path. The runtime's own file systems
    /// (proc, sysfs, tmpfs /dev, devpts, mqueue, cgroup) are in every container and come from no
    /// host path; Docker's mount points and the CRI's mount list leave them out too.
    fn into_bind(self) -> Option<Mount> {
        if self.device != "bind" && self.flags & libc::MS_BIND as i64 == 0 {
            return None;
        }
        let mode = if self.flags & libc::MS_RDONLY as i64 != 0 { "ro" } else { "rw" };
        let propagation = propagation_name(&self.propagation_flags.unwrap_or_default());
        Some(Mount { source: self.source, dest: self.destination, mode: mode.into(), propagation })
    }
}

/// `rshared`, `slave`, ... (Docker's spelling) of mount(2) propagation flags; empty when they
/// set none. Each entry is applied in turn, so the last one that sets a type holds.
fn propagation_name(flags: &[i64]) -> String {
    const TYPES: [(libc::c_ulong, &str); 4] = [
        (libc::MS_SHARED, "shared"),
        (libc::MS_SLAVE, "slave"),
        (libc::MS_PRIVATE, "private"),
        (libc::MS_UNBINDABLE, "unbindable"),
    ];
    flags
        .iter()
        .rev()
        .find_map(|&f| {
            let (_, name) = TYPES.iter().find(|(bit, _)| f & *bit as i64 != 0)?;
            let recursive = if f & libc::MS_REC as i64 != 0 { "r" } else { "" };
            Some(format!("{recursive}{name}"))
        })
        .unwrap_or_default()
}

/// Nanoseconds since the Unix epoch of an RFC 3339 time as Go writes one
/// (`2026-12-06T09:05:10.52259972Z`: 0 to 9 fraction digits, `Z` or `+hh:mm`); `None` for
/// anything else and for times before the epoch (Docker's zero time means "never").
fn parse_rfc3339_ns(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        let digits = text.get(from..to)?;
        digits.bytes().all(|c| c.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = number(20, 20 + digits)? * 10_i64.pow(9 - digits as u32);
        rest = fraction.get(digits..)?;
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let at = text.len() - 5;
            let seconds = number(at, at + 2)? * 3600 + number(at + 3, at + 5)? * 60;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds).ok()?.checked_mul(1_000_000_000)?.checked_add(u64::try_from(nanos).ok()?)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerConfig {
    #[serde(default)]
    name: String,
    /// The image id: the digest of its configuration.
    #[serde(default)]
    image: String,
    #[serde(default)]
    config: DockerContainerConfig,
    #[serde(default)]
    state: DockerState,
    /// By destination.
    #[serde(default)]
    mount_points: Option<BTreeMap<String, DockerMountPoint>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DockerContainerConfig {
    #[serde(default)]
    image: String,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DockerState {
    #[serde(default)]
    started_at: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerMountPoint {
    /// Empty for a named volume: Docker keeps its path with the volume, not here.
    #[serde(default)]
    source: String,
    #[serde(default)]
    destination: String,
    #[serde(rename = "RW", default)]
    rw: Option<bool>,
    #[serde(default)]
    propagation: String,
}

/// Parses Docker's `config.v2.json`: the container name, image and (dockershim) pod labels, the
/// start time and the mount points. Whether it is privileged is in `hostconfig.json`.
pub fn parse_docker_config(bytes: &[u8]) -> Result<ContainerMeta, serde_json::Error> {
    let docker: DockerConfig = serde_json::from_slice(bytes)?;
    let labels = docker.config.labels.unwrap_or_default();
    let mut meta = ContainerMeta::from_labels(|k| labels.get(k).map(String::as_str));
    if meta.name.is_empty() {
        meta.name = label_text(docker.name.trim_start_matches('/'));
    }
    if meta.image.is_empty() {
        meta.image = label_text(&docker.config.image);
    }
    meta.image_digest = docker.image;
    meta.start_ts = parse_rfc3339_ns(&docker.state.started_at);
    meta.mounts = docker
        .mount_points
        .unwrap_or_default()
        .into_values()
        .map(|m| Mount {
            source: m.source,
            dest: m.destination,
            mode: m.rw.map(|rw| if rw { "rw" } else { "ro" }).unwrap_or_default().into(),
            propagation: m.propagation,
        })
        .collect();
    Ok(meta)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerHostConfig {
    #[serde(default)]
    privileged: Option<bool>,
}

/// Parses Docker's `hostconfig.json`: `--privileged`, if it says.
pub fn parse_docker_hostconfig(bytes: &[u8]) -> Result<Option<bool>, serde_json::Error> {
    Ok(serde_json::from_slice::<DockerHostConfig>(bytes)?.privileged)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's bounding set, where the sample states were written: every capability but
    /// CAP_SYS_RESOURCE (the VM's init dropped it, so no container here can have it).
    const HOST: u64 = 0x1ff_feff_ffff;

    fn mount(source: &str, dest: &str, mode: &str, propagation: &str) -> Mount {
        Mount { source: source.into(), dest: dest.into(), mode: mode.into(), propagation: propagation.into() }
    }

    fn sample(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/runtime").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn containerd_cri_state() {
        let record = parse_state_json(&sample("containerd-state.json"), Path::new("/sys/fs/cgroup"), HOST).unwrap();
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
                image_digest: String::new(),
                pod: "web-7d9c8b6f5-x2x4z".into(),
                namespace: "shop".into(),
                // No capabilities and no mounts in this record: unknown, not false.
                privileged: None,
                start_ts: Some(1_795_166_042_123_456_789),
                mounts: vec![],
            }
        );
    }

    #[test]
    fn runc_state_on_a_hybrid_host() {
        let record =
            parse_state_json(&sample("runc-hybrid-state.json"), Path::new("/sys/fs/cgroup/unified"), HOST).unwrap();
        assert_eq!(record.id, "web1");
        assert_eq!(
            record.cgroup_path.as_deref(),
            Some("/docker/193adf534f2a8b637990ffa989cb2212a3f82422ed4529cc50121d15b103645e")
        );
        assert_eq!(record.meta.name, "web");
        assert_eq!(record.meta.pod, "");
    }

    #[test]
    fn docker_state_plus_config_v2_and_hostconfig() {
        let record = parse_state_json(&sample("docker-state.json"), Path::new("/sys/fs/cgroup"), HOST).unwrap();
        // Docker's systemd driver stores "system.slice:docker:<id>": the scope systemd makes.
        assert_eq!(
            record.cgroup_path.as_deref(),
            Some("/system.slice/docker-b41f0e5c9d8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c.scope")
        );
        assert_eq!(record.meta.name, "");
        let docker = parse_docker_config(&sample("docker-config.v2.json")).unwrap();
        assert_eq!(
            docker,
            ContainerMeta {
                name: "redis-cache".into(),
                image: "redis:7-alpine".into(),
                image_digest: "sha256:8a2d6d4f0d5b6e".into(),
                pod: "".into(),
                namespace: "".into(),
                privileged: None,
                start_ts: Some(1_795_766_400_418_503_114),
                mounts: vec![
                    // A named volume: Docker keeps its path with the volume.
                    mount("", "/data", "rw", ""),
                    mount("/var/run/docker.sock", "/var/run/docker.sock", "ro", "rprivate"),
                ],
            }
        );
        assert_eq!(parse_docker_hostconfig(&sample("docker-hostconfig.json")).unwrap(), Some(true));
    }

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
    fn dockershim_labels_in_config_v2() {
        let docker = parse_docker_config(br#"{"Name":"/k8s_app_pod","Config":{"Image":"sha256:abc","Labels":{
            "io.kubernetes.container.name":"app","io.kubernetes.pod.name":"pod-1","io.kubernetes.pod.namespace":"prod"}}}"#).unwrap();
        assert_eq!(
            docker,
            ContainerMeta {
                name: "app".into(),
                image: "sha256:abc".into(),
                pod: "pod-1".into(),
                namespace: "prod".into(),
                ..ContainerMeta::default()
            }
        );
    }

    #[test]
    fn malformed_state_is_an_error_not_a_panic() {
        assert!(parse_state_json(b"{", Path::new("/"), HOST).is_err());
        assert!(parse_state_json(b"{\"config\":{}}", Path::new("/"), HOST).is_err()); // no id
        assert!(parse_docker_config(br#"{"Name": 5}"#).is_err());
        assert!(parse_docker_hostconfig(br#"{"Privileged": "yes"}"#).is_err());
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

    /// States runc 1.1.5 wrote for a container from `runc spec` with a read-only, rslave bind
    /// mount, and for one with every capability of this host, devices `a *:* rwm` and an rw,
    /// rshared bind mount.
    #[test]
    fn real_runc_states_privileged_start_and_mounts() {
        let cgroup_root = Path::new("/sys/fs/cgroup");
        let default = parse_state_json(&sample("runc-default-state.json"), cgroup_root, HOST).unwrap();
        assert_eq!(default.id, "tw-default");
        assert_eq!(default.meta.name, "default");
        assert_eq!(default.meta.privileged, Some(false));
        assert_eq!(default.meta.start_ts, Some(1_796_548_049_751_179_578));
        // proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup are not host paths.
        assert_eq!(default.meta.mounts, [mount("/tmp/tw-host/srv", "/data", "ro", "rslave")]);

        let privileged = parse_state_json(&sample("runc-privileged-state.json"), cgroup_root, HOST).unwrap();
        assert_eq!(privileged.meta.privileged, Some(true));
        assert_eq!(privileged.meta.mounts, [mount("/tmp/tw-host/docker-run", "/var/run/docker", "rw", "rshared")]);
        // On a host whose init holds every capability the kernel knows, the same container
        // lacks CAP_SYS_RESOURCE: not privileged there.
        let all_known = (1u64 << CAPABILITIES.len()) - 1;
        let elsewhere = parse_state_json(&sample("runc-privileged-state.json"), cgroup_root, all_known).unwrap();
        assert_eq!(elsewhere.meta.privileged, Some(false));
    }

    #[test]
    fn a_runtime_that_does_not_say_leaves_the_details_unset() {
        let state = br#"{"id":"x","created":"yesterday","config":{"labels":[],"capabilities":null,"mounts":null}}"#;
        let meta = parse_state_json(state, Path::new("/"), HOST).unwrap().meta;
        assert_eq!((meta.privileged, meta.start_ts, meta.mounts), (None, None, vec![]));
        let docker = parse_docker_config(
            br#"{"State":{"StartedAt":"0001-01-01T00:00:00Z"},"MountPoints":{"/m":{"Destination":"/m"}}}"#,
        )
        .unwrap();
        assert_eq!((docker.start_ts, docker.mounts), (None, vec![mount("", "/m", "", "")]));
        assert_eq!(parse_docker_hostconfig(b"{}").unwrap(), None);
    }

    #[test]
    fn systemd_triples_as_runc_names_their_cgroups() {
        let cases = [
            ("system.slice:docker:abc", Some("/system.slice/docker-abc.scope")),
            (
                "kubepods-besteffort-pod1_2.slice:cri-containerd:abc",
                Some("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-abc.scope"),
            ),
            (":crio:abc", Some("/system.slice/crio-abc.scope")),
            ("-.slice:x:abc", Some("/x-abc.scope")),
            ("machine.slice:libpod:inner.slice", Some("/machine.slice/inner.slice")),
            ("system.slice:docker:", None),
            ("notaslice:docker:abc", None),
            ("a--b.slice:docker:abc", None),
            ("system.slice:docker:../../x", None),
            ("system.slice", None),
        ];
        for (triple, want) in cases {
            assert_eq!(systemd_cgroup_path(triple).as_deref(), want, "{triple}");
        }
    }

    #[test]
    fn identity_text_has_no_control_characters_or_line_separators() {
        let meta = ContainerMeta::from_labels(|k| {
            (k == "io.kubernetes.cri.container-name").then_some("a\0b\u{2028}c\x1b[1m\u{85}é")
        });
        assert_eq!(meta.name, "a\u{fffd}b\u{fffd}c\u{fffd}[1m\u{fffd}é");
    }

    #[test]
    fn propagation_names() {
        let (rec, shared, slave, private) = (0x4000, 0x10_0000, 0x8_0000, 0x4_0000);
        assert_eq!(propagation_name(&[]), "");
        assert_eq!(propagation_name(&[shared | rec]), "rshared");
        assert_eq!(propagation_name(&[slave]), "slave");
        assert_eq!(propagation_name(&[private | rec, shared]), "shared", "the last one holds");
        assert_eq!(propagation_name(&[0x2_0000]), "unbindable");
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ns("2026-12-06T09:05:10.52259972Z"), Some(1_796_547_910_522_599_720));
        assert_eq!(parse_rfc3339_ns("2024-02-29T23:59:59.000000001Z"), Some(1_709_251_199_000_000_001));
        assert_eq!(parse_rfc3339_ns("2026-12-06T11:05:10+02:00"), parse_rfc3339_ns("2026-12-06T09:05:10Z"));
        assert_eq!(parse_rfc3339_ns("2026-12-06T08:35:10.5-00:30"), parse_rfc3339_ns("2026-12-06T09:05:10.5Z"));
        for bad in [
            "0001-01-01T00:00:00Z",
            "",
            "2026-12-06",
            "2026-12-06 09:05:10Z",
            "2026-13-06T09:05:10Z",
            "2026-12-06T09:05:10.Z",
            "2026-12-06T09:05:10.1234567890Z",
            "2026-12-06T09:05:10",
            "2026-12-06T09:05:10+0200",
            "2026-12-06T09:05:1éZ",
            "2026-12-06T09:05:10Zjunk",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad}");
        }
    }
}
