//! Container id from a cgroup path, for every runtime and cgroup driver in common use.
//!
//! The deepest path component that names a container wins, so nested set-ups (Kubernetes in
//! Docker, systemd's `init.scope` inside a container) resolve to the innermost container.

/// Cgroup directory-name shapes that carry a 64-hex container id:
/// `<id>` (Docker and Kubernetes cgroupfs driver), `docker-<id>.scope`,
/// `cri-containerd-<id>.scope`, `crio-<id>.scope` / `crio-<id>`, `libpod-<id>.scope`,
/// `containerd-<id>.scope`. Runtime monitors (`crio-conmon-`, `libpod-conmon-`) are not
/// containers.
pub fn container_id_from_cgroup_path(path: &str) -> Option<&str> {
    path.rsplit('/').find_map(container_id_from_component)
}

fn container_id_from_component(component: &str) -> Option<&str> {
    let name = component.strip_suffix(".scope").unwrap_or(component);
    let id = match name.rsplit_once('-') {
        Some((prefix, id)) if !prefix.ends_with("conmon") => id,
        Some(_) => return None,
        None => name,
    };
    is_container_id(id).then_some(id)
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The 12-character form Docker, crictl and Falco's `container.id` show.
pub fn short_id(id: &str) -> &str {
    if is_container_id(id) {
        &id[..12]
    } else {
        id
    }
}

/// The cgroup v2 path of a `/proc/<pid>/cgroup` file: the `0::` line, or on a cgroup v1 only
/// host the first controller line's path (all controllers share it under every runtime).
pub fn path_from_proc_cgroup(contents: &str) -> Option<&str> {
    let mut first_v1 = None;
    for line in contents.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(hierarchy), Some(_controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if hierarchy == "0" {
            return Some(path);
        }
        first_v1.get_or_insert(path);
    }
    first_v1
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2c9a61e0b74d5c8a1f6e2d9b0c7a4e5f1d2c3b4a5968778695a4b3c2d1e0f9";

    #[test]
    fn real_cgroup_path_shapes() {
        let pod = "pod6f1d5e7a-2b3c-4d5e-8f90-a1b2c3d4e5f6";
        let pod_systemd = "pod6f1d5e7a_2b3c_4d5e_8f90_a1b2c3d4e5f6";
        let cases: Vec<(String, Option<&str>)> = vec![
            // Docker, cgroupfs and systemd drivers
            (format!("/docker/{ID}"), Some(ID)),
            (format!("/system.slice/docker-{ID}.scope"), Some(ID)),
            // Kubernetes, cgroupfs driver (containerd, CRI-O, dockershim)
            (format!("/kubepods/besteffort/{pod}/{ID}"), Some(ID)),
            (format!("/kubepods/burstable/{pod}/{ID}"), Some(ID)),
            (format!("/kubepods/{pod}/{ID}"), Some(ID)),
            (format!("/kubepods/burstable/{pod}/crio-{ID}"), Some(ID)),
            // Kubernetes, systemd driver
            (format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-{pod_systemd}.slice/cri-containerd-{ID}.scope"), Some(ID)),
            (format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{pod_systemd}.slice/crio-{ID}.scope"), Some(ID)),
            (format!("/kubepods.slice/kubepods-{pod_systemd}.slice/docker-{ID}.scope"), Some(ID)),
            // CRI-O's monitor is not the container
            (format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{pod_systemd}.slice/crio-conmon-{ID}.scope"), None),
            // podman, v2 with its nested "container" cgroup, and its monitor
            (format!("/machine.slice/libpod-{ID}.scope"), Some(ID)),
            (format!("/machine.slice/libpod-{ID}.scope/container"), Some(ID)),
            (format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"), Some(ID)),
            (format!("/machine.slice/libpod-conmon-{ID}.scope"), None),
            // containerd outside Kubernetes (nerdctl, systemd driver)
            (format!("/system.slice/containerd-{ID}.scope"), Some(ID)),
            // systemd inside a container, Kubernetes in Docker: innermost container wins
            (format!("/system.slice/docker-{ID}.scope/init.scope"), Some(ID)),
            (format!("/docker/{}/kubepods/besteffort/{pod}/{ID}", "a".repeat(64)), Some(ID)),
            // host cgroups and pod-level cgroups hold no container
            ("/".into(), None),
            ("/init.scope".into(), None),
            ("/system.slice/sshd.service".into(), None),
            ("/user.slice/user-0.slice/session-3.scope".into(), None),
            (format!("/kubepods/besteffort/{pod}"), None),
            ("/kubepods.slice/kubepods-besteffort.slice".into(), None),
            // ids must be exactly 64 lower-case hex digits
            (format!("/docker/{}", &ID[..63]), None),
            (format!("/docker/{}", ID.to_uppercase()), None),
        ];
        for (path, want) in cases {
            assert_eq!(container_id_from_cgroup_path(&path), want, "{path}");
        }
    }

    #[test]
    fn proc_cgroup_files_v2_hybrid_and_v1() {
        let v2 = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(path_from_proc_cgroup(&v2), Some(format!("/system.slice/docker-{ID}.scope").as_str()));
        let hybrid = format!("9:name=systemd:/docker/{ID}\n4:memory:/docker/{ID}\n0::/docker/{ID}\n");
        assert_eq!(path_from_proc_cgroup(&hybrid), Some(format!("/docker/{ID}").as_str()));
        let v1 = format!("12:pids:/kubepods/besteffort/pod1/{ID}\n11:cpu,cpuacct:/kubepods/besteffort/pod1/{ID}\n");
        let path = path_from_proc_cgroup(&v1).unwrap();
        assert_eq!(container_id_from_cgroup_path(path), Some(ID));
        assert_eq!(path_from_proc_cgroup(""), None);
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id(ID), "3f2c9a61e0b7");
        assert_eq!(short_id("my-runc-container"), "my-runc-container");
    }
}
