//! Docker's own records of a container: `config.v2.json` (name, image, labels, start, mount
//! points) and `hostconfig.json` (`--privileged`).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{label_text, rfc3339::parse_rfc3339_ns, ContainerMeta};
use crate::rules::event::Mount;

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
    use crate::container::runtime::parse_state_json;
    use crate::container::runtime::samples::{mount, sample, HOST};
    use std::path::Path;

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
    fn a_record_that_does_not_say_leaves_the_details_unset() {
        let docker = parse_docker_config(
            br#"{"State":{"StartedAt":"0001-01-01T00:00:00Z"},"MountPoints":{"/m":{"Destination":"/m"}}}"#,
        )
        .unwrap();
        assert_eq!((docker.start_ts, docker.mounts), (None, vec![mount("", "/m", "", "")]));
        assert_eq!(parse_docker_hostconfig(b"{}").unwrap(), None);
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        assert!(parse_docker_config(br#"{"Name": 5}"#).is_err());
        assert!(parse_docker_hostconfig(br#"{"Privileged": "yes"}"#).is_err());
    }
}
