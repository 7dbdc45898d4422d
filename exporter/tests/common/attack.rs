//! Attack simulation: a busybox rootfs with the tools attacks use (plus a small static C helper
//! for what busybox cannot do), containers configured per attack (writable root, capabilities,
//! user, host network, terminal), and the checks: the counter under the container's exact labels
//! and the alert line, with the latency on the test's own clock, from the moment the container is
//! let go to run its action to the moment the test sees the line and the counter.

use std::{
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
    sync::{atomic::AtomicI32, atomic::Ordering, OnceLock},
    time::{Duration, Instant},
};

use super::{outputs::Outputs, Exporter, Rootfs, RuncContainer, SHIPPED_RULES};

mod checks;
#[allow(unused_imports)] // each test binary uses its own subset
pub use checks::*;

/// How long an attack may take to be counted and alerted, from the start of its action.
pub const DETECTION_DEADLINE: Duration = Duration::from_secs(2);

/// busybox applets the attack scripts use, linked in /bin of the rootfs (beside those
/// `Rootfs::build` links).
const APPLETS: &[&str] = &[
    "ln", "chmod", "chown", "mount", "umount", "unshare", "nc", "echo", "kill", "insmod", "dpkg", "rm", "mkdir",
    "usleep", "id", "touch", "tail", "find", "grep", "shred", "login", "cp", "xargs", "timeout", "base64", "mkfifo",
];

/// The attack helper (common/attack_helper.c), compiled static once per test binary.
pub fn helper_binary() -> &'static Path {
    static HELPER: OnceLock<PathBuf> = OnceLock::new();
    HELPER.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/attack_helper.c");
        // Built under a per-process name and renamed into place: two runs of the tests may build
        // it at the same time, and a rename never shows a half-written file.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let (building, out) = (dir.join(format!("tw-helper.{}", std::process::id())), dir.join("tw-helper"));
        let output = Command::new("gcc")
            .args(["-static", "-O1", "-Wall", "-o"])
            .arg(&building)
            .arg(&src)
            .output()
            .expect("gcc (scripts/bootstrap.sh installs gcc and libc6-dev)");
        assert!(output.status.success(), "gcc -static {}: {}", src.display(), String::from_utf8_lossy(&output.stderr));
        std::fs::rename(&building, &out).expect("rename the helper into place");
        out
    })
}

/// A rootfs for attacks: busybox with [`APPLETS`], `/bin/tw-helper`, `socat`, `ssh` and `httpd`
/// (the helper under those names: busybox has no socat, `ssh` is the helper's TCP client, and
/// busybox's httpd would serve), `apk` (busybox under that name: the exec is the event), users
/// and groups (root, the system user daemon, an ordinary user), and the directories the scripts
/// write to.
pub fn attack_rootfs() -> Rootfs {
    let rootfs = Rootfs::build();
    let root = rootfs.path();
    let bin = root.join("bin");
    for applet in APPLETS.iter().chain(&["apk"]) {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("symlink applet");
    }
    std::fs::copy(helper_binary(), bin.join("tw-helper")).expect("copy helper");
    for name in ["socat", "ssh", "httpd"] {
        std::os::unix::fs::symlink("tw-helper", bin.join(name)).expect("symlink a helper name");
    }
    for d in ["mnt", "var/tmp"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    let passwd = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/:/bin/false\nuser:x:1000:1000::/tmp:/bin/sh\n";
    std::fs::write(root.join("etc/passwd"), passwd).expect("passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\ndaemon:x:1:\nstaff:x:1000:\n").expect("group");
    rootfs
}

/// How a container deviates from `runc spec`'s defaults.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// Root file system writable (the default rootfs is read-only).
    pub writable: bool,
    /// Capabilities added to every set (ambient too), e.g. `CAP_SYS_ADMIN`.
    pub caps: Vec<&'static str>,
    /// Run as this uid and gid instead of root.
    pub user: Option<(u32, u32)>,
    /// Share the host's network namespace (so a connection can reach a host address).
    pub host_network: bool,
    /// Give the process a terminal (runc allocates a pty, as `docker exec -it` does).
    pub terminal: bool,
    /// Join this network namespace (a [`NetNs`]'s path) instead of a new one.
    pub netns: Option<PathBuf>,
    /// A command started in the background when the container starts, before its gate: a
    /// long-running server the action later talks to.
    pub background: Option<&'static str>,
    /// How long the container waits at its gate before the test lets the action go (the
    /// background command's age at the action).
    pub hold: Duration,
    /// The root file system is an overlay (the prepared rootfs its lower layer, writes going to
    /// an upper directory), as container runtimes mount images.
    pub overlay: bool,
}

/// One container of an attack case: a unique id, its name and namespace, and the labels the
/// exporter must put on its series.
#[derive(Clone, Debug)]
pub struct Target {
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub image: String,
}

impl Target {
    /// A container named `name` with a fresh 64-hex id (docker's cgroup layout).
    pub fn new(name: &str) -> Target {
        Target {
            id: unique_hex64(),
            name: name.to_owned(),
            namespace: "attacks".to_owned(),
            image: format!("registry.test/{name}:1"),
        }
    }

    /// The id as /metrics and the alerts show it (docker's 12-character short id).
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// The exact label set of `tracewarden_rule_matches_total` for `rule` in this container.
    pub fn match_labels<'a>(&'a self, rule: &'a str, priority: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("rule", rule),
            ("priority", priority),
            ("container_id", self.short_id()),
            ("container_name", &self.name),
            ("image", &self.image),
            ("pod", ""),
            ("namespace", &self.namespace),
        ]
    }

    /// A runc container running `sh -c script` with `opts`.
    pub fn container(&self, rootfs: &Rootfs, script: &str, opts: &Opts) -> RuncContainer {
        self.container_running(rootfs, &["sh", "-c", script], opts)
    }

    /// A runc container running `args` with `opts`.
    fn container_running(&self, rootfs: &Rootfs, args: &[&str], opts: &Opts) -> RuncContainer {
        let annotations = [
            ("io.kubernetes.cri.container-name", self.name.as_str()),
            ("io.kubernetes.cri.image-name", self.image.as_str()),
            ("io.kubernetes.cri.sandbox-namespace", self.namespace.as_str()),
        ];
        let container = RuncContainer::create(rootfs, &self.id, &format!("/docker/{}", self.id), &annotations, args);
        configure(container.bundle(), opts);
        container
    }
}

/// A 64-hex container id no other test (or concurrent test binary) uses.
fn unique_hex64() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let a = nanos ^ (u64::from(std::process::id()) << 32) ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let b = a.rotate_left(29).wrapping_mul(0xd6e8_feb8_6659_fd93) ^ seq;
    format!("a7{:014x}{b:016x}{:016x}{:016x}", a >> 8, a ^ b, a.wrapping_add(b))
}

/// Rewrites the bundle's config.json with `edit`.
fn edit_config(bundle: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read config.json")).expect("parse config.json");
    edit(&mut config);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("serialise")).expect("write config.json");
}

/// Adds a bind mount of the host's `gate_dir` at [`GATE_DIR`] to the bundle's config.json.
fn mount_gate(bundle: &Path, gate_dir: &Path) {
    let mount = serde_json::json!({
        "destination": GATE_DIR, "type": "bind", "source": gate_dir, "options": ["rbind", "rw"]
    });
    edit_config(bundle, |config| config["mounts"].as_array_mut().expect("runc spec has mounts").push(mount));
}

/// Applies `opts` to the bundle's config.json.
fn configure(bundle: &Path, opts: &Opts) {
    edit_config(bundle, |config| configure_json(config, opts));
}

fn configure_json(config: &mut serde_json::Value, opts: &Opts) {
    config["root"]["readonly"] = (!opts.writable).into();
    config["process"]["terminal"] = opts.terminal.into();
    if !opts.caps.is_empty() {
        let caps = &mut config["process"]["capabilities"];
        for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
            let mut list: Vec<serde_json::Value> = caps[set].as_array().cloned().unwrap_or_default();
            for cap in &opts.caps {
                if !list.iter().any(|c| c == cap) {
                    list.push((*cap).into());
                }
            }
            caps[set] = list.into();
        }
    }
    if let Some((uid, gid)) = opts.user {
        config["process"]["user"] = serde_json::json!({ "uid": uid, "gid": gid });
    }
    if opts.host_network {
        if let Some(namespaces) = config["linux"]["namespaces"].as_array_mut() {
            namespaces.retain(|ns| ns["type"] != "network");
        }
    }
    if let (Some(path), Some(namespaces)) = (&opts.netns, config["linux"]["namespaces"].as_array_mut()) {
        for ns in namespaces.iter_mut().filter(|ns| ns["type"] == "network") {
            ns["path"] = path.display().to_string().into();
        }
    }
}

/// A network namespace made for a test (`ip netns add`), with loopback up and `address` on it,
/// so containers that join it reach an address of their own choosing without any traffic leaving
/// the machine. Deleted when dropped.
pub struct NetNs {
    name: String,
}

impl NetNs {
    pub fn new(tag: &str, address: std::net::Ipv4Addr) -> NetNs {
        let name = format!("tw-{tag}-{}", std::process::id());
        let ns = NetNs { name };
        for args in [
            vec!["netns", "add", &ns.name],
            vec!["-n", &ns.name, "link", "set", "lo", "up"],
            vec!["-n", &ns.name, "addr", "add", &format!("{address}/32"), "dev", "lo"],
        ] {
            let out = Command::new("ip").args(&args).output().expect("ip (iproute2)");
            assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        ns
    }

    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// A TCP listener on `port` of every address of the namespace, accepting (and dropping)
    /// connections until the test ends: bound by a thread that entered the namespace (a socket
    /// belongs to the namespace it was made in).
    pub fn accept_on(&self, port: u16) -> std::net::TcpListener {
        let ns = std::fs::File::open(self.path()).expect("open netns");
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    // SAFETY: a plain syscall on an open namespace descriptor; it moves only this
                    // short-lived thread.
                    let entered = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNET) };
                    assert_eq!(entered, 0, "setns: {}", std::io::Error::last_os_error());
                    accept_on(port).expect("listen in the network namespace")
                })
                .join()
                .expect("listener thread")
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// What the script prints once the action is done: it succeeded, or it failed.
pub(crate) const ACTION_OK: &str = "TW-ACTION-OK";
const ACTION_FAILED: &str = "TW-ACTION-FAILED";

/// Where the container finds its gate: a FIFO the helper reads before it starts the shell that
/// runs the action, so the test knows when the action starts (container start-up is not the
/// product's latency, and nothing of the action, the shell included, happens before).
const GATE_DIR: &str = "/tw-gate";

/// A container that performs one action and then idles, so its processes and its runtime record
/// (the container's name, image and namespace) outlive the checks, as a real workload's do. The
/// action waits at a gate until the test lets it go ([`Action::release`]). Its output goes to a
/// file the test reads while it runs. Dropping it kills and deletes it.
pub struct Action {
    pub target: Target,
    container: RuncContainer,
    runc: std::process::Child,
    output: PathBuf,
    gate: PathBuf,
    hold: Duration,
    released: Option<Instant>,
    _rootfs: Rootfs,
    _dir: tempfile::TempDir,
}

impl Action {
    /// Starts `target`'s container (on its own [`attack_rootfs`]), which waits at its gate; once
    /// released it runs `action` under `sh`, then idles (`sleep 60; :`: the trailing builtin
    /// keeps busybox's shell from exec'ing the sleep, so the shell stays what it was). With a terminal, runc needs one
    /// itself: `script` gives it a pty (as a user's terminal would), and runc gives the container
    /// a pty of its own.
    pub fn start(target: &Target, action: &str, opts: &Opts) -> Action {
        Action::start_in(target, attack_rootfs(), action, opts)
    }

    /// [`Action::start`] on a rootfs the caller prepared.
    pub fn start_in(target: &Target, rootfs: Rootfs, action: &str, opts: &Opts) -> Action {
        let rootfs = if opts.overlay { rootfs.into_overlay() } else { rootfs };
        let script = format!("if {{ {action} ; }}; then echo {ACTION_OK}; else echo {ACTION_FAILED}; fi; sleep 60; :");
        let dir = tempfile::tempdir().expect("tempdir");
        let gate_dir = dir.path().join("gate");
        std::fs::create_dir(&gate_dir).expect("mkdir gate");
        let gate = gate_dir.join("go");
        let fifo = std::ffi::CString::new(gate.as_os_str().as_encoded_bytes()).expect("gate path");
        // SAFETY: a plain syscall on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo: {}", std::io::Error::last_os_error());
        // Readable by a container running as another user; the temporary directory is 0700.
        for (path, mode) in [(dir.path(), 0o755), (gate_dir.as_path(), 0o755), (gate.as_path(), 0o666)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod gate");
        }
        std::fs::create_dir_all(rootfs.path().join(&GATE_DIR[1..])).expect("mkdir gate mount point");
        let gate_in_container = format!("{GATE_DIR}/go");
        let gated = ["/bin/tw-helper", "gate", &gate_in_container, "/bin/sh", "-c", &script];
        // The background command is started by a shell that then becomes the gate; the gate and
        // the script are its arguments, so nothing needs quoting.
        let with_background = opts.background.map(|command| {
            let starter = format!("{command} & exec /bin/tw-helper gate \"$0\" /bin/sh -c \"$1\"");
            ["/bin/sh".to_owned(), "-c".to_owned(), starter, gate_in_container.clone(), script.clone()]
        });
        let args: Vec<&str> = match &with_background {
            Some(args) => args.iter().map(String::as_str).collect(),
            None => gated.to_vec(),
        };
        let container = target.container_running(&rootfs, &args, opts);
        mount_gate(container.bundle(), &gate_dir);
        let output = dir.path().join("output");
        let out = std::fs::File::create(&output).expect("output file");
        let err = out.try_clone().expect("output file");
        let bundle = container.bundle().display().to_string();
        let mut cmd = if opts.terminal {
            let mut c = Command::new("script");
            c.args(["-qec", &format!("runc run --bundle {bundle} {}", target.id), "/dev/null"]);
            c
        } else {
            let mut c = Command::new("runc");
            c.args(["run", "--bundle", &bundle, &target.id]);
            c
        };
        let runc = cmd.stdin(std::process::Stdio::null()).stdout(out).stderr(err).spawn().expect("runc run");
        Action {
            target: target.clone(),
            container,
            runc,
            output,
            gate,
            hold: opts.hold,
            released: None,
            _rootfs: rootfs,
            _dir: dir,
        }
    }

    /// The pid of the container's first process (runc's state), as the host sees it.
    fn init_pid(&self) -> i64 {
        let out = Command::new("runc").args(["state", &self.target.id]).output().expect("runc state");
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        state["pid"].as_i64().unwrap_or_else(|| panic!("{}: runc state has no pid: {state}", self.target.name))
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.output).unwrap_or_default()).into_owned()
    }

    /// Lets the action run once the container has waited at its gate for [`Opts::hold`];
    /// returns the instant just before the action starts (a second call returns the same
    /// instant).
    pub fn release(&mut self) -> Instant {
        if let Some(at) = self.released {
            return at;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        // A non-blocking open for writing succeeds only once the helper has the FIFO open for
        // reading, i.e. is about to read it: the action starts when the line is written.
        let mut gate = loop {
            match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&self.gate) {
                Ok(gate) => break gate,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
                Err(e) => panic!("{}: open gate {}: {e}", self.target.name, self.gate.display()),
            }
            let exited = self.runc.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "{}: the container never reached its gate (runc: {exited:?}):\n{}",
                    self.target.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        std::thread::sleep(self.hold);
        let at = Instant::now();
        std::io::Write::write_all(&mut gate, b"go\n").expect("write gate");
        self.released = Some(at);
        at
    }

    /// Releases the action if not yet done and waits until it has run; panics (with the
    /// container's output) if it failed, so a missed detection is never an attack that did not
    /// happen.
    pub fn wait_done(&mut self) -> &mut Action {
        self.release();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.output();
            if out.contains(ACTION_OK) {
                return self;
            }
            let exited = self.runc.try_wait().ok().flatten();
            if out.contains(ACTION_FAILED) || exited.is_some() || Instant::now() > deadline {
                panic!("{}: the action failed or never finished (runc: {exited:?}):\n{out}", self.target.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Action {
    fn drop(&mut self) {
        self.container.delete();
        let _ = self.runc.kill();
        let _ = self.runc.wait();
    }
}

/// One exporter with the shipped rules for the whole test binary: see [`suite_exporter_with`].
pub fn suite_exporter() -> &'static Exporter {
    suite_exporter_with(&["--rules-dir", SHIPPED_RULES])
}

/// One exporter started with `args` for the whole test binary (the first call's `args` win: a
/// test binary uses one configuration): each start loads the eBPF programs, and every exporter
/// evaluates every interesting syscall of the machine, so one is both faster and lighter than
/// one per test. Tests use their own containers and never share a (rule, container) series. It
/// writes its alerts file ([`Outputs`]) to a directory removed at exit; with `ATTACKS_RECORD_DIR`
/// set, it writes there and also records every evaluated event, to debug a missed detection
/// (the twin checks then read the record too). It is killed when the test binary exits (an
/// `atexit` handler: statics are never dropped).
pub fn suite_exporter_with(args: &[&str]) -> &'static Exporter {
    static EXPORTER: OnceLock<Exporter> = OnceLock::new();
    static PID: AtomicI32 = AtomicI32::new(0);
    static REMOVED_AT_EXIT: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn kill_suite_exporter() {
        let pid = PID.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: plain syscalls on the child this process started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some(dir) = REMOVED_AT_EXIT.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    EXPORTER.get_or_init(|| {
        let kept = std::env::var_os("ATTACKS_RECORD_DIR").map(PathBuf::from);
        let parent = kept.clone().unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
        let dir = parent.join(format!("suite-outputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        if kept.is_none() {
            REMOVED_AT_EXIT.get_or_init(|| dir.clone());
        }
        let exporter = Exporter::start_with_outputs(args, Outputs::in_dir(&dir, kept.is_some()));
        PID.store(exporter.pid() as i32, Ordering::SeqCst);
        // SAFETY: registers a plain extern "C" function.
        unsafe { libc::atexit(kill_suite_exporter) };
        exporter
    })
}

impl Opts {
    /// A writable root file system, the rest as `runc spec` makes it.
    pub fn writable() -> Opts {
        Opts { writable: true, ..Opts::default() }
    }
}

/// A non-loopback IPv4 address of this host (the `outbound` macro ignores 127.0.0.0/8): the
/// source address the kernel would use towards a public address (no packet is sent).
pub fn host_address() -> std::net::Ipv4Addr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp bind");
    if socket.connect("192.0.2.1:9").is_ok() {
        if let Ok(std::net::SocketAddr::V4(a)) = socket.local_addr() {
            if !a.ip().is_loopback() && !a.ip().is_unspecified() {
                return *a.ip();
            }
        }
    }
    let out = Command::new("hostname").arg("-I").output().expect("hostname -I");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find_map(|a| a.parse::<std::net::Ipv4Addr>().ok().filter(|a| !a.is_loopback()))
        .expect("this host has no non-loopback IPv4 address")
}

/// A TCP listener on `port` of every address that accepts (and drops) connections until the test
/// ends. If the port is taken, whoever holds it accepts instead (a connect only needs to succeed).
pub fn accept_on(port: u16) -> Option<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(("0.0.0.0", port)).ok()?;
    let accepting = listener.try_clone().ok()?;
    std::thread::spawn(move || {
        for stream in accepting.incoming() {
            drop(stream);
        }
    });
    Some(listener)
}
