//! Helpers shared by the tests that need the real kernel (root, BPF, cgroups, runc).
#![allow(dead_code)] // each test binary uses its own subset

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Command,
};

/// True when kernel tests can run. Under CI=true a missing prerequisite is a failure with the
/// reason, never a skip; elsewhere the test is skipped with the reason printed.
pub fn kernel_available(test: &str) -> bool {
    let reason = if unsafe { libc::geteuid() } != 0 {
        Some("not running as root")
    } else if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        Some("/sys/kernel/btf/vmlinux missing")
    } else if cgroup2_root().is_none() {
        Some("no cgroup v2 hierarchy mounted")
    } else {
        None
    };
    match reason {
        None => true,
        Some(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: kernel test cannot run under CI=true: {reason}")
        }
        Some(reason) => {
            eprintln!("SKIP {test}: {reason}");
            false
        }
    }
}

/// The cgroup v2 mount: /sys/fs/cgroup/unified on hybrid hosts, /sys/fs/cgroup on pure v2.
pub fn cgroup2_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.controllers").exists())
}

/// A cgroup v2 directory made for one test and removed when dropped.
pub struct TestCgroup {
    pub path: PathBuf,
}

impl TestCgroup {
    pub fn new(name: &str) -> TestCgroup {
        let root = cgroup2_root().expect("cgroup v2 root");
        let path = root.join("tracewarden-test").join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TestCgroup { path }
    }

    /// The id `bpf_get_current_cgroup_id()` returns for tasks in it: the directory's inode.
    pub fn id(&self) -> u64 {
        std::fs::metadata(&self.path).expect("stat cgroup").ino()
    }

    /// Runs `program args...` inside this cgroup and waits for it.
    pub fn run(&self, program: &str, args: &[&str]) {
        let status = Command::new("sh")
            .arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec "$@""#)
            .arg(&self.path)
            .arg(program)
            .args(args)
            .status()
            .expect("spawn in cgroup");
        assert!(status.success(), "{program} {args:?} failed in {}", self.path.display());
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Makes `n` getppid calls exactly (python's os.getppid is one syscall per call).
pub fn getppid_loop_args(n: u64) -> Vec<String> {
    vec!["-c".into(), format!("import os\nfor _ in range({n}): os.getppid()")]
}
