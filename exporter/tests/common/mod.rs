//! Helpers shared by the tests that need the real kernel (root, BPF, cgroups, runc).
#![allow(dead_code)] // each test binary uses its own subset

pub mod alerts;
pub mod attack;
pub mod outputs;
pub mod prerequisite;
pub mod tls;

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Command,
};

/// The rules the project ships.
pub const SHIPPED_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules");

/// Returns from the test early when [`kernel_available`] says it cannot run (and may not).
#[allow(unused_macros)] // each test binary uses its own subset
macro_rules! kernel_test {
    ($name:ident) => {
        if !common::kernel_available(stringify!($name)) {
            return;
        }
    };
}

/// True when kernel tests can run. A missing prerequisite fails the test with the reason, unless
/// the developer opted out outside CI ([`prerequisite::needs`]): then it is skipped and counted.
pub fn kernel_available(test: &str) -> bool {
    let missing = if unsafe { libc::geteuid() } != 0 {
        Err("not running as root")
    } else if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        Err("/sys/kernel/btf/vmlinux missing")
    } else if cgroup2_root().is_none() {
        Err("no cgroup v2 hierarchy mounted")
    } else if Command::new("runc").arg("--version").output().is_err() {
        Err("runc not installed (scripts/bootstrap.sh installs it)")
    } else {
        Ok(())
    };
    prerequisite::needs(test, missing.map_err(str::to_owned)).is_some()
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

/// A free loopback port (bound then released; the exporter binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// GET a path from 127.0.0.1:port; returns (status code, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// The exporter binary running with the given flags, killed on drop. Its stdout (the alert
/// lines) and its log lines are collected (the log lines also go on to the test's stderr).
pub struct Exporter {
    pub port: u16,
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Its alerts file and record, when started with them ([`Exporter::start_with_outputs`]).
    pub outputs: Option<outputs::Outputs>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Whether the exporter on `port` answers /healthz.
pub fn healthy(port: u16) -> bool {
    matches!(http_get(port, "/healthz"), Ok((200, _)))
}

impl Exporter {
    pub fn start(extra_args: &[&str]) -> Exporter {
        Exporter::start_until(extra_args, healthy)
    }

    /// Starts it also writing its alerts to a file (and every evaluated event to a record, if
    /// `outputs` has one), which the detection tests read.
    pub fn start_with_outputs(extra_args: &[&str], outputs: outputs::Outputs) -> Exporter {
        let output_args = outputs.args();
        let args: Vec<&str> = extra_args.iter().copied().chain(output_args.iter().map(String::as_str)).collect();
        let mut exporter = Exporter::start(&args);
        exporter.outputs = Some(outputs);
        exporter
    }

    /// Starts it and waits until `ready(port)` (e.g. an https check when it serves TLS). Its
    /// kernel counters are not pinned unless `extra_args` name a `--bpf.pin-dir`: each test
    /// counts from zero, and tests running at once never share counters.
    pub fn start_until(extra_args: &[&str], ready: impl Fn(u16) -> bool) -> Exporter {
        let mut exporter = Exporter::spawn(extra_args);
        exporter.wait_until(ready);
        exporter
    }

    /// Starts it without waiting for anything (see [`Exporter::start_until`]).
    pub fn spawn(extra_args: &[&str]) -> Exporter {
        let port = free_port();
        let unpinned: &[&str] = if extra_args.contains(&"--bpf.pin-dir") { &[] } else { &["--bpf.pin-dir", ""] };
        let child = Command::new(env!("CARGO_BIN_EXE_exporter"))
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .args(unpinned)
            .args(extra_args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn exporter");
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut child = child;
        if let Some(pipe) = child.stdout.take() {
            let lines = stdout.clone();
            std::thread::spawn(move || {
                for line in std::io::BufRead::lines(std::io::BufReader::new(pipe)).map_while(Result::ok) {
                    lines.lock().expect("stdout lines").push(line);
                }
            });
        }
        if let Some(pipe) = child.stderr.take() {
            let lines = stderr.clone();
            std::thread::spawn(move || {
                for line in std::io::BufRead::lines(std::io::BufReader::new(pipe)).map_while(Result::ok) {
                    eprintln!("{line}");
                    lines.lock().expect("stderr lines").push(line);
                }
            });
        }
        Exporter { port, child, stdout, stderr, outputs: None }
    }

    /// Waits until `ready(port)`, at most 20 s; panics if the exporter exits first.
    pub fn wait_until(&mut self, ready: impl Fn(u16) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if ready(self.port) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("exporter exited during start-up: {status}");
            }
            assert!(std::time::Instant::now() < deadline, "exporter was not ready within 20 s");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The lines the exporter printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout lines").clone()
    }

    /// The log lines the exporter printed on stderr so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().expect("stderr lines").clone()
    }

    pub fn metrics(&self) -> String {
        let (status, body) = http_get(self.port, "/metrics").expect("scrape /metrics");
        assert_eq!(status, 200, "{body}");
        body
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample whose name and label set are exactly these (labels in exposition
/// order), if /metrics has it.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let label_text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    let prefix = if labels.is_empty() { format!("{name} ") } else { format!("{name}{{{}}} ", label_text.join(",")) };
    metrics.lines().find_map(|line| line.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
}

/// A busybox root filesystem for runc containers, built from the host's busybox-static.
pub struct Rootfs {
    /// Declared before `dir`: the overlay is unmounted before its directories are removed.
    overlay: Option<OverlayMount>,
    pub dir: tempfile::TempDir,
}

/// An overlay mount, lazily unmounted when dropped.
struct OverlayMount {
    point: PathBuf,
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if let Ok(point) = std::ffi::CString::new(self.point.as_os_str().as_encoded_bytes()) {
            // SAFETY: a plain syscall on a NUL-terminated path.
            unsafe { libc::umount2(point.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

impl Rootfs {
    pub fn build() -> Rootfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("rootfs/bin");
        std::fs::create_dir_all(&bin).expect("mkdir rootfs/bin");
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox missing: run scripts/bootstrap.sh (busybox-static)");
        std::fs::copy(busybox, bin.join("busybox")).expect("copy busybox");
        for applet in ["sh", "dd", "sleep", "cat", "ls", "true"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("symlink applet");
        }
        for d in ["proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(dir.path().join("rootfs").join(d)).expect("mkdir");
        }
        // Files the detection tests read: a credential file and an ordinary one.
        std::fs::write(dir.path().join("rootfs/etc/shadow"), "root:*:19000:0:99999:7:::\n").expect("shadow");
        std::fs::write(dir.path().join("rootfs/etc/hostname"), "box\n").expect("hostname");
        Rootfs { overlay: None, dir }
    }

    /// This root file system as the lower layer of an overlay mounted where it was, with an
    /// upper directory of its own beside it: what a container runtime makes of an image.
    pub fn into_overlay(mut self) -> Rootfs {
        let (root, lower) = (self.path(), self.dir.path().join("lower"));
        let (upper, work) = (self.dir.path().join("upper"), self.dir.path().join("work"));
        std::fs::rename(&root, &lower).expect("move the rootfs to the lower layer");
        for d in [&root, &upper, &work] {
            std::fs::create_dir(d).expect("mkdir overlay directory");
        }
        let options = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
        let cstr = |s: &[u8]| std::ffi::CString::new(s).expect("no NUL in a path");
        let (point, options) = (cstr(root.as_os_str().as_encoded_bytes()), cstr(options.as_bytes()));
        let overlay = cstr(b"overlay");
        // SAFETY: NUL-terminated strings that outlive the call.
        let rc = unsafe { libc::mount(overlay.as_ptr(), point.as_ptr(), overlay.as_ptr(), 0, options.as_ptr().cast()) };
        assert_eq!(rc, 0, "mount overlay on {}: {}", root.display(), std::io::Error::last_os_error());
        self.overlay = Some(OverlayMount { point: root });
        self
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
}

/// One runc container: a bundle directory with a config.json made by `runc spec`.
pub struct RuncContainer {
    pub id: String,
    bundle: tempfile::TempDir,
}

impl RuncContainer {
    /// `cgroups_path` is runc's cgroupsPath (e.g. `/docker/<id>`); annotations become the
    /// labels in runc's state.json, as containerd's and CRI-O's do.
    pub fn create(
        rootfs: &Rootfs,
        id: &str,
        cgroups_path: &str,
        annotations: &[(&str, &str)],
        args: &[&str],
    ) -> RuncContainer {
        let bundle = tempfile::tempdir().expect("bundle dir");
        let status = Command::new("runc")
            .arg("spec")
            .current_dir(bundle.path())
            .status()
            .expect("runc spec: is runc installed?");
        assert!(status.success(), "runc spec failed");
        let config_path = bundle.path().join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config_path).expect("read config.json")).expect("parse config.json");
        config["root"]["path"] = rootfs.path().display().to_string().into();
        config["root"]["readonly"] = true.into();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
        config["linux"]["cgroupsPath"] = cgroups_path.into();
        config["annotations"] = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).expect("serialise"))
            .expect("write config.json");
        RuncContainer { id: id.to_owned(), bundle }
    }

    /// The bundle directory (config.json), for tests that adjust the config before running.
    pub fn bundle(&self) -> &Path {
        self.bundle.path()
    }

    /// Starts it detached; it runs its args, then exits. runc's errors go to a file: the
    /// container inherits runc's stdio, and a pipe would stay open as long as it runs.
    pub fn start_detached(&self) {
        let errors = self.bundle.path().join("runc-run.err");
        let status = Command::new("runc")
            .args(["run", "--detach", "--bundle"])
            .arg(self.bundle.path())
            .arg(&self.id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&errors).expect("create runc's error file"))
            .status()
            .expect("runc run");
        let stderr = std::fs::read_to_string(&errors).unwrap_or_default();
        assert!(status.success(), "runc run {} failed: {stderr}", self.id);
    }

    /// `runc run` in the foreground: returns when the process has exited and runc has deleted
    /// the container (state and cgroup), as a short-lived job's container goes.
    pub fn run_to_completion(&self) {
        let output = Command::new("runc")
            .args(["run", "--bundle"])
            .arg(self.bundle.path())
            .arg(&self.id)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("runc run");
        assert!(output.status.success(), "runc run {} failed: {}", self.id, String::from_utf8_lossy(&output.stderr));
    }

    /// Waits until the container's process has exited (runc state says "stopped").
    pub fn wait_stopped(&self, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let out = Command::new("runc").args(["state", &self.id]).output().expect("runc state");
            let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if state["status"] == "stopped" || !out.status.success() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "container {} still running", self.id);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// `runc delete`: removes its state and cgroup, as a runtime does when a container ends.
    pub fn delete(&self) {
        let _ = Command::new("runc").args(["delete", "--force", &self.id]).output();
    }
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        self.delete();
    }
}

/// Polls until `check` holds or the timeout passes; returns whether it held.
pub fn eventually(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The capability names of this process's bounding set: every capability runc, started from
/// here, can give a container, which is what `--privileged` gives.
pub fn bounding_set_names() -> Vec<&'static str> {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).expect("CapBnd in /proc/self/status");
    let mask = u64::from_str_radix(hex.trim(), 16).expect("CapBnd is hex");
    let names = exporter::rules::event::CAPABILITIES.iter().enumerate();
    names.filter(|(bit, _)| mask >> bit & 1 == 1).map(|(_, name)| *name).collect()
}

/// A path under the shared test data beside the project (`../shared/data`: falcosecurity/rules'
/// files, SigmaHQ's Linux rules), used where it is and never copied into the project.
pub fn shared_data(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data").join(relative);
    assert!(path.exists(), "{}: the shared test data must sit beside the project", path.display());
    path
}
