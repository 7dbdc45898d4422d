//! runc's `state.json`, which runc, containerd and Docker all write: the container's id, cgroup,
//! Kubernetes labels, capabilities, creation time and mounts.

use std::{collections::HashMap, path::Path};

use serde::Deserialize;

use super::{rfc3339::parse_rfc3339_ns, ContainerMeta, RuntimeRecord};
use crate::rules::event::{capability_bit, Mount, CAPABILITIES};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::runtime::samples::{mount, sample, HOST};

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
    }

    #[test]
    fn malformed_state_is_an_error_not_a_panic() {
        assert!(parse_state_json(b"{", Path::new("/"), HOST).is_err());
        assert!(parse_state_json(b"{\"config\":{}}", Path::new("/"), HOST).is_err());
        // no id
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
    fn propagation_names() {
        let (rec, shared, slave, private) = (0x4000, 0x10_0000, 0x8_0000, 0x4_0000);
        assert_eq!(propagation_name(&[]), "");
        assert_eq!(propagation_name(&[shared | rec]), "rshared");
        assert_eq!(propagation_name(&[slave]), "slave");
        assert_eq!(propagation_name(&[private | rec, shared]), "shared", "the last one holds");
        assert_eq!(propagation_name(&[0x2_0000]), "unbindable");
    }
}
