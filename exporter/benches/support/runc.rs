//! A workload script in a real runc container: a fresh bundle per run, the cgroup path a
//! docker-shaped one so the exporter names the container.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use super::fail;

/// A busybox root file system under `dir` with `applets` linked to it.
pub fn busybox_rootfs(dir: &Path, applets: &[&str]) -> PathBuf {
    let root = dir.join("rootfs");
    let made =
        ["bin", "proc", "dev", "sys", "tmp", "etc"].iter().all(|d| std::fs::create_dir_all(root.join(d)).is_ok());
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| Path::new(p).exists());
    let Some(busybox) = busybox.filter(|_| made) else {
        fail("busybox missing (scripts/bootstrap.sh installs busybox-static)")
    };
    if std::fs::copy(busybox, root.join("bin/busybox")).is_err() {
        fail("copying busybox");
    }
    for applet in applets {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    let _ = std::fs::write(root.join("etc/hostname"), "box\n");
    let _ = std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    root
}

/// A root file system under `dir` that is the host's programs: /usr and /etc bind-mounted
/// read-only (see [`host_mounts`]), with the merged-/usr links, so a host workload (gcc, gzip)
/// runs unchanged in the container.
pub fn host_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("host-rootfs");
    let made =
        ["usr", "etc", "proc", "dev", "sys", "tmp"].iter().all(|d| std::fs::create_dir_all(root.join(d)).is_ok());
    if !made {
        fail(&format!("creating {}", root.display()));
    }
    for link in ["bin", "lib", "lib64", "sbin"] {
        if let Ok(target) = std::fs::read_link(Path::new("/").join(link)) {
            let _ = std::os::unix::fs::symlink(target, root.join(link));
        }
    }
    root
}

/// The mounts [`host_rootfs`] needs.
pub fn host_mounts() -> serde_json::Value {
    let bind = |dir: &str| serde_json::json!({ "destination": dir, "type": "bind", "source": dir, "options": ["rbind", "ro"] });
    serde_json::json!([bind("/usr"), bind("/etc")])
}

/// `args` in a new container on `rootfs` named after `image`, with `mounts` added to runc's
/// defaults; seconds from `runc run` to its end.
pub fn run_container(rootfs: &Path, args: &[&str], image: &str, mounts: &serde_json::Value) -> f64 {
    let bundle = fresh_dir(rootfs.parent().unwrap_or(rootfs), "bundle");
    let ok = Command::new("runc").arg("spec").current_dir(&bundle).status().is_ok_and(|s| s.success());
    if !ok {
        fail("runc spec failed (scripts/bootstrap.sh installs runc)");
    }
    let id = format!(
        "b5{:062x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    );
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap_or_default())
        .unwrap_or_else(|e| fail(&format!("config.json: {e}")));
    config["root"]["path"] = rootfs.display().to_string().into();
    config["root"]["readonly"] = false.into();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(args);
    config["linux"]["cgroupsPath"] = format!("/docker/{id}").into();
    config["annotations"] =
        serde_json::json!({ "io.kubernetes.cri.image-name": image, "io.kubernetes.cri.container-name": "workload" });
    if let (Some(all), Some(extra)) = (config["mounts"].as_array_mut(), mounts.as_array()) {
        all.extend(extra.iter().cloned());
    }
    let _ = std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap_or_default());
    let started = Instant::now();
    let ok = Command::new("runc")
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let seconds = started.elapsed().as_secs_f64();
    let _ = Command::new("runc").args(["delete", "--force", &id]).output();
    let _ = std::fs::remove_dir_all(&bundle);
    if !ok {
        fail("the workload container failed");
    }
    seconds
}

/// A new directory under `parent`, unique by time.
pub fn fresh_dir(parent: &Path, prefix: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = parent.join(format!("{prefix}-{nanos}"));
    if std::fs::create_dir_all(&dir).is_err() {
        fail(&format!("creating {}", dir.display()));
    }
    dir
}
