//! The actions on a container's cgroup. cgroup v2's `cgroup.freeze` and `cgroup.kill` are core
//! files of every non-root cgroup; a host without them (cgroup v1 only, or a kernel before 5.2)
//! freezes through the v1 freezer's `freezer.state` of the same path.
//!
//! The exporter writes them after dropping CAP_DAC_OVERRIDE: it is still uid 0, the files'
//! owner (root, mode 0644 or 0200), so the owner's write bit is what lets it in.

use std::{
    io,
    path::{Path, PathBuf},
};

/// Where the v1 freezer hierarchy is mounted on hosts that have one.
pub const V1_FREEZER_ROOT: &str = "/sys/fs/cgroup/freezer";

/// A container's cgroup: its v2 directory and its path relative to the hierarchy's root (the
/// same path a v1 hierarchy uses for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupDir {
    pub v2: PathBuf,
    pub relative: String,
}

impl CgroupDir {
    fn v1_freezer(&self) -> PathBuf {
        Path::new(V1_FREEZER_ROOT).join(self.relative.trim_start_matches('/')).join("freezer.state")
    }

    /// Freezes (`true`) or thaws every process in the cgroup and below.
    pub fn set_frozen(&self, frozen: bool) -> io::Result<()> {
        let v2 = self.v2.join("cgroup.freeze");
        if v2.exists() {
            return write(&v2, if frozen { "1" } else { "0" });
        }
        write(&self.v1_freezer(), if frozen { "FROZEN" } else { "THAWED" })
    }

    /// SIGKILLs every process in the cgroup and below (cgroup v2 only: v1 has no such file).
    pub fn kill(&self) -> io::Result<()> {
        write(&self.v2.join("cgroup.kill"), "1")
    }

    /// Whether process `pid` is in this cgroup or one below it. cgroup.procs lists processes by
    /// their pid in the reader's pid namespace, so the exporter finds itself by its own pid,
    /// whatever its cgroup namespace makes /proc/self/cgroup say.
    pub fn holds(&self, pid: u32) -> bool {
        let v1 = Path::new(V1_FREEZER_ROOT).join(self.relative.trim_start_matches('/'));
        let mut dirs = vec![self.v2.clone(), v1];
        while let Some(dir) = dirs.pop() {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            if procs.lines().any(|line| line.trim().parse() == Ok(pid)) {
                return true;
            }
            let children = std::fs::read_dir(&dir).into_iter().flatten().flatten();
            dirs.extend(children.filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
        }
        false
    }

    /// Whether the kernel reports the cgroup frozen (v2 `cgroup.events`, else v1 `freezer.state`).
    pub fn is_frozen(&self) -> io::Result<bool> {
        match std::fs::read_to_string(self.v2.join("cgroup.events")) {
            Ok(events) => Ok(events.lines().any(|l| l.trim() == "frozen 1")),
            Err(_) => Ok(std::fs::read_to_string(self.v1_freezer())?.trim() == "FROZEN"),
        }
    }
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_v2_files_when_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["cgroup.freeze", "cgroup.kill"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::fs::write(dir.path().join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        let cg = CgroupDir { v2: dir.path().to_path_buf(), relative: "/x".into() };
        cg.set_frozen(true).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("cgroup.freeze")).unwrap(), "1");
        cg.kill().unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("cgroup.kill")).unwrap(), "1");
        assert!(cg.is_frozen().unwrap());
        cg.set_frozen(false).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("cgroup.freeze")).unwrap(), "0");
    }

    #[test]
    fn finds_a_pid_in_the_cgroup_or_below() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pod/exporter")).unwrap();
        std::fs::write(dir.path().join("pod/cgroup.procs"), "7\n").unwrap();
        std::fs::write(dir.path().join("pod/exporter/cgroup.procs"), "41\n42\n").unwrap();
        let pod = CgroupDir { v2: dir.path().join("pod"), relative: "/tracewarden-no-such/pod".into() };
        assert!(pod.holds(7) && pod.holds(42));
        assert!(!pod.holds(4));
    }

    #[test]
    fn a_missing_cgroup_is_an_error_naming_the_file() {
        let cg = CgroupDir { v2: PathBuf::from("/nonexistent/cg"), relative: "/tracewarden-no-such".into() };
        let err = cg.kill().unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/cg/cgroup.kill: "), "{err}");
        let err = cg.set_frozen(true).unwrap_err().to_string();
        assert!(err.contains("tracewarden-no-such/freezer.state"), "{err}");
    }
}
