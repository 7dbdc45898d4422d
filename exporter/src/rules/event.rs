//! The `Event` the rules evaluate: one syscall, as the kernel side (or a recorded JSON line) delivers it.
//!
//! Every path in an `Event` is already absolute and normalised (no `.`/`..`/`//`), so path rules
//! never have to care how the process spelled it. The JSON form is the serde form of these
//! structs; every member is optional and defaults to empty/zero (unknown members are ignored).
//!
//! ```json
//! {"num": 1, "time": 1764361200000000000, "type": "openat", "dir": "<", "res": 3,
//!  "args": {"dirfd": -100, "name": "/etc/shadow", "flags": "O_RDONLY|O_CLOEXEC", "mode": 0},
//!  "proc": {"pid": 4242, "ppid": 4200, "name": "cat", "exe": "cat", "exepath": "/usr/bin/cat",
//!           "args": ["/etc/shadow"], "cmdline": "cat /etc/shadow", "cwd": "/root", "tty": 34816,
//!           "sid": 4200, "vpgid": 4242, "is_exe_upper_layer": false, "is_exe_from_memfd": false,
//!           "cap_effective": 2199023255551, "cap_permitted": ["CAP_CHOWN", "CAP_SYS_ADMIN"],
//!           "ancestors": [{"pid": 4200, "name": "bash", "exe": "-bash", "exepath": "/usr/bin/bash",
//!                          "cmdline": "bash"}]},
//!  "user": {"uid": 0, "gid": 0, "name": "root", "loginuid": -1, "loginname": ""},
//!  "fd": {"num": 3, "type": "file", "name": "/etc/shadow", "nameraw": "../etc//shadow"},
//!  "container": {"id": "3ad7b2c1e0f4", "name": "web", "image": "docker.io/library/nginx:1.25",
//!                "privileged": false, "pod": "web-7d9f", "namespace": "shop"}}
//! ```
//!
//! Sockets: `"fd": {"num": 5, "type": "ipv4", "l4proto": "tcp", "lip": "10.0.0.2", "lport": 40000,
//! "rip": "203.0.113.9", "rport": 4444, "role": "client"}` (`role` `server` for accepted
//! connections; `fd.sip`/`fd.cip`/`fd.sport`/`fd.cport` follow from it; `name` is derived).
//! For path syscalls (`openat`, `chmod`/`fchmodat`, `chown`, `symlinkat`, `linkat`, `mount`,
//! `unlinkat`, `renameat`, `execve`) `fd.name` holds the normalised object path, and path
//! arguments (`name`, `filename`, `target`, `linkpath`, `oldpath`, `newpath`, ...) are normalised
//! too. Raw numeric arguments stay numbers (`"request": 16`, `"uid": 0`).

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// One syscall event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    /// Event number (`evt.num`), counting from 1; 0 means unnumbered (`rules test` numbers
    /// unnumbered lines by their position).
    pub num: u64,
    /// Nanoseconds since the Unix epoch.
    pub time: u64,
    /// Syscall name as Falco spells it (`openat`, `execve`, `connect`, ...): `evt.type`.
    #[serde(rename = "type")]
    pub evt_type: String,
    /// `<` exit (the default: the kernel side reports completed syscalls) or `>` enter.
    pub dir: Direction,
    /// Return value: `evt.rawres`; `evt.res` renders it (`SUCCESS` or the errno name).
    pub res: i64,
    /// Syscall arguments by Falco name (`evt.arg.NAME`, `evt.arg[N]` by position): numbers or
    /// strings; path arguments are normalised absolute paths, flag arguments are rendered as
    /// `O_WRONLY|O_CREAT`.
    pub args: Args,
    /// The I/O buffer of a read or write family syscall, as far as the kernel copied it
    /// (`evt.buffer`; empty when the event has none).
    pub buffer: Vec<u8>,
    /// The calling thread's process.
    pub proc: Process,
    /// The calling thread's credentials.
    pub user: User,
    /// The file descriptor (or, for path syscalls, the object path) the event is about.
    pub fd: Option<Fd>,
    /// The container the process runs in; absent on the host (`container.id` is then `host`).
    pub container: Option<Container>,
}

/// `>` or `<`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    Enter,
    #[default]
    Exit,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Enter => ">",
            Direction::Exit => "<",
        }
    }
}

impl Serialize for Direction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Direction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            ">" | "enter" => Ok(Direction::Enter),
            "<" | "exit" => Ok(Direction::Exit),
            other => Err(de::Error::custom(format!("bad dir {other:?}: expected \">\" or \"<\""))),
        }
    }
}

/// One argument value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ArgValue {
    Int(i64),
    Str(String),
}

/// Syscall arguments in kernel order, serialised as a JSON object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args(pub Vec<(String, ArgValue)>);

impl Args {
    pub fn get(&self, name: &str) -> Option<&ArgValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
    pub fn nth(&self, i: usize) -> Option<&ArgValue> {
        self.0.get(i).map(|(_, v)| v)
    }
}

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of argument name -> number or string")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Args, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = a.next_entry::<String, ArgValue>()? {
                    v.push((k, val));
                }
                Ok(Args(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// A process snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Process {
    pub pid: i64,
    pub ppid: i64,
    /// `proc.name`: the executable's base name (comm).
    pub name: String,
    /// `proc.exe`: argv[0] as the process was started.
    pub exe: String,
    /// `proc.exepath`: full path of the executable.
    pub exepath: String,
    /// `proc.exec_path`: the path the exec named, absolute, symlinks not resolved.
    pub exec_path: String,
    /// argv[1..].
    pub args: Vec<String>,
    /// `proc.cmdline`: `name` and `args` joined by spaces; filled by [`Event::normalize`] when empty.
    pub cmdline: String,
    pub cwd: String,
    /// Controlling terminal device number, 0 for none.
    pub tty: i64,
    pub sid: i64,
    pub vpgid: i64,
    pub is_exe_upper_layer: bool,
    pub is_exe_from_memfd: bool,
    /// `proc.vpid`: the pid in the process's own pid namespace, when known.
    pub vpid: Option<i64>,
    /// Start time, ns since the Unix epoch (0: unknown): `proc.duration` counts from it.
    pub start_time: u64,
    /// `proc.env`: the environment, `NAME=value` each, as at exec (shared with the process
    /// table: filling an event copies no string).
    pub env: std::sync::Arc<[String]>,
    /// `proc.sname`: the name of the session leader.
    pub sname: String,
    /// Change and modification times of the executable's inode, ns since the Unix epoch
    /// (0: unknown).
    pub exe_ctime: u64,
    pub exe_mtime: u64,
    /// Effective capabilities: a bit mask in JSON (or a list of `CAP_*` names).
    #[serde(deserialize_with = "de_caps")]
    pub cap_effective: u64,
    #[serde(deserialize_with = "de_caps")]
    pub cap_permitted: u64,
    /// Parent first, then its parent, up to init (or as many as the kernel side keeps).
    pub ancestors: Vec<Ancestor>,
}

/// One ancestor of the process.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ancestor {
    pub pid: i64,
    pub name: String,
    pub exe: String,
    pub exepath: String,
    pub exec_path: String,
    pub cmdline: String,
}

/// Credentials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub uid: i64,
    pub gid: i64,
    pub name: String,
    /// -1 when unset (the kernel's 4294967295).
    pub loginuid: i64,
    pub loginname: String,
    /// `group.name`: the name of `gid`.
    pub group_name: String,
}

impl Default for User {
    fn default() -> Self {
        User { uid: 0, gid: 0, name: String::new(), loginuid: -1, loginname: String::new(), group_name: String::new() }
    }
}

/// A file descriptor, or the object of a path syscall.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fd {
    pub num: i64,
    /// `file`, `directory`, `ipv4`, `ipv6`, `unix`, `pipe`, `event`, `signalfd`, `eventpoll`,
    /// `inotify`, `timerfd`, `netlink`, `memfd`, `bpf`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Normalised absolute path, or `cip:cport->sip:sport` for sockets (filled when empty).
    pub name: String,
    /// The path as the process passed it (defaults to `name`).
    pub nameraw: Option<String>,
    /// `tcp`, `udp`, `raw`, `icmp`.
    pub l4proto: Option<String>,
    pub lip: Option<IpAddr>,
    pub lport: Option<u16>,
    pub rip: Option<IpAddr>,
    pub rport: Option<u16>,
    /// `client` (we connected out: local is the client) or `server` (we accepted).
    pub role: Role,
    /// `fd.connected`: the socket has a connected peer (a connect succeeded or is in progress).
    pub connected: Option<bool>,
    /// `fd.name_changed`: this event changed the socket's tuple (a datagram sent to an address
    /// other than a connected peer's).
    pub name_changed: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Client,
    Server,
}

/// A container snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// Full image reference, `repository[:tag]`.
    pub image: String,
    pub privileged: bool,
    pub pod: Option<String>,
    pub namespace: Option<String>,
    /// `container.start_ts`: ns since the Unix epoch, when the runtime recorded it.
    pub start_ts: Option<u64>,
    /// The container's mounts, as its runtime configured them.
    pub mounts: Vec<Mount>,
}

/// One mount of a container (`container.mounts`, `container.mount.dest[...]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Mount {
    pub source: String,
    pub dest: String,
    /// `rw` or `ro`.
    pub mode: String,
    pub propagation: String,
}

impl Container {
    /// (repository, tag) of `image`.
    pub fn image_parts(&self) -> (&str, &str) {
        split_image(&self.image)
    }
}

pub(crate) fn split_image(image: &str) -> (&str, &str) {
    let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    let base = image.find('@').unwrap_or(image.len());
    match image[slash..base].rfind(':') {
        Some(c) => (&image[..slash + c], &image[slash + c + 1..base]),
        None => (&image[..base], ""),
    }
}

impl Event {
    /// Fills derived members that a recorded event may leave out: `proc.cmdline` from name and
    /// args, `proc.args` from cmdline, `fd.name` of sockets from their addresses. Call once per
    /// event before evaluating it; the kernel feeder should fill them itself.
    pub fn normalize(&mut self) {
        let p = &mut self.proc;
        if p.cmdline.is_empty() && !p.name.is_empty() {
            let mut c = p.name.clone();
            for a in &p.args {
                c.push(' ');
                c.push_str(a);
            }
            p.cmdline = c;
        } else if p.args.is_empty() && !p.cmdline.is_empty() {
            p.args = p.cmdline.split_whitespace().skip(1).map(str::to_owned).collect();
        }
        if p.name.is_empty() {
            let src = if p.exepath.is_empty() { &p.exe } else { &p.exepath };
            p.name = src.rsplit('/').next().unwrap_or("").to_owned();
        }
        // An event that names only the executable (a hand-written or older record) named it at
        // its exec too.
        if p.exec_path.is_empty() {
            p.exec_path.clone_from(&p.exepath);
        }
        for a in p.ancestors.iter_mut().filter(|a| a.exec_path.is_empty()) {
            a.exec_path.clone_from(&a.exepath);
        }
        if let Some(fd) = &mut self.fd {
            if fd.name.is_empty() {
                if let (Some(lip), Some(rip)) = (fd.lip, fd.rip) {
                    let (l, r) = ((lip, fd.lport.unwrap_or(0)), (rip, fd.rport.unwrap_or(0)));
                    let (c, s) = if fd.role == Role::Client { (l, r) } else { (r, l) };
                    fd.name = format!("{}:{}->{}:{}", c.0, c.1, s.0, s.1);
                }
            }
        }
    }

    /// Parses one JSON line and normalises it.
    pub fn from_json(line: &str) -> Result<Event, serde_json::Error> {
        let mut e: Event = serde_json::from_str(line)?;
        e.normalize();
        Ok(e)
    }

    /// `proc.args`: the command line after the name.
    pub(crate) fn proc_args(&self) -> &str {
        let c = &self.proc.cmdline;
        match c.find(' ') {
            Some(i) => &c[i + 1..],
            None => "",
        }
    }
}

/// Linux capability names, bit number = index.
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Bit mask of one capability name (`CAP_SYS_ADMIN` or `sys_admin`, any case).
pub fn capability_bit(name: &str) -> Option<u64> {
    let n = name.trim();
    CAPABILITIES.iter().position(|c| c.eq_ignore_ascii_case(n) || c[4..].eq_ignore_ascii_case(n)).map(|i| 1u64 << i)
}

/// Renders a capability mask as Falco does: names separated by spaces.
pub fn render_caps(mask: u64, out: &mut String) {
    let mut first = true;
    for (i, c) in CAPABILITIES.iter().enumerate() {
        if mask & (1u64 << i) != 0 {
            if !first {
                out.push(' ');
            }
            out.push_str(c);
            first = false;
        }
    }
}

fn de_caps<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a capability bit mask or a list of CAP_* names")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            Ok(v as u64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            let mut m = 0;
            for n in v.split([' ', '|', ',']).filter(|s| !s.is_empty()) {
                m |= capability_bit(n).ok_or_else(|| E::custom(format!("unknown capability {n}")))?;
            }
            Ok(m)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<u64, A::Error> {
            let mut m = 0;
            while let Some(n) = a.next_element::<String>()? {
                m |= capability_bit(&n).ok_or_else(|| de::Error::custom(format!("unknown capability {n}")))?;
            }
            Ok(m)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_split() {
        assert_eq!(split_image("docker.io/library/nginx:1.25"), ("docker.io/library/nginx", "1.25"));
        assert_eq!(split_image("localhost:5000/app"), ("localhost:5000/app", ""));
        assert_eq!(split_image("alpine"), ("alpine", ""));
        assert_eq!(split_image("alpine@sha256:abc"), ("alpine", ""));
    }

    #[test]
    fn json_round_trip_and_normalize() {
        let line = r#"{"time":1,"type":"openat","args":{"name":"/etc/shadow","flags":"O_RDONLY"},
            "proc":{"name":"cat","args":["/etc/shadow"],"cap_effective":["CAP_SYS_ADMIN"]},
            "fd":{"type":"file","name":"/etc/shadow"}}"#;
        let e = Event::from_json(line).unwrap();
        assert_eq!(e.proc.cmdline, "cat /etc/shadow");
        assert_eq!(e.proc_args(), "/etc/shadow");
        assert_eq!(e.dir, Direction::Exit);
        assert_eq!(e.proc.cap_effective, 1 << 21);
        assert_eq!(e.args.nth(1), Some(&ArgValue::Str("O_RDONLY".into())));
        let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn socket_name_is_derived() {
        let mut e = Event {
            fd: Some(Fd {
                kind: "ipv4".into(),
                lip: Some("10.0.0.2".parse().unwrap()),
                lport: Some(40000),
                rip: Some("1.2.3.4".parse().unwrap()),
                rport: Some(4444),
                ..Fd::default()
            }),
            ..Event::default()
        };
        e.normalize();
        assert_eq!(e.fd.unwrap().name, "10.0.0.2:40000->1.2.3.4:4444");
    }
}
