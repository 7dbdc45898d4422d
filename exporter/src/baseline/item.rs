//! What a profile learns: the kind of each behaviour and its item, taken from a decoded event
//! and normalised so that the same behaviour of another process or container reads the same.
//!
//! Normalisation of paths (applied when learning and when checking alike):
//! - `/proc/<pid>` becomes `/proc/self`, and a `task/<tid>` component `task/*`: pids differ in
//!   every run.
//! - A temporary file's name made by `mktemp` (`tmp.` and at least 6 letters and digits) or
//!   Python's `tempfile` (`tmp` and at least 6 letters, digits or `_`) becomes `tmp.*` or `tmp*`.
//! - Elsewhere, a random part of a file name becomes `*`. A name is split at `.`, `-` and `_`; a
//!   part is random when it is letters and digits and holds a digit, an upper-case and a
//!   lower-case letter (at least 4 long: `X3k9`), or a digit and an upper-case letter (at least
//!   6: `1P7OV3`), or is at least 8 hexadecimal digits with a digit and a letter among them (ids,
//!   hashes), or at least 6 digits (timestamps, pids). `python3.11`, `sha256sum`, `libc.so.6`
//!   and `README` stay as they are.
//!
//! An exec is `parent > child`: the parent's executable, `<entrypoint>` for a container's first
//! process (its parent is the runtime, outside the container), `<unknown>` when the process
//! table does not know it.
//!
//! What runc's own processes do in a new container before they exec its entrypoint (their name
//! is `runc:[N:...]`) is the runtime's set-up and is not learned (a process that calls itself so
//! escapes the profile, as it would escape a rule on `proc.name`).
//!
//! Outbound addresses are grouped by prefix: an IPv4 address by its /24, an IPv6 one by its /64
//! (`10.1.2.0/24:443`), so the replicas and rolling addresses of one service are one item.

use std::{fmt, net::IpAddr, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::rules::{fields::open_flags, Event};

/// Kinds of behaviour a profile holds, in the order files list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `parent > child`: the executable the exec named (as passed), after its parent's executable.
    Exec,
    /// A file opened for writing.
    Write,
    /// A file opened for reading, under one of `--baseline.read-prefixes`.
    Read,
    /// An outbound connection: `10.1.2.0/24:443` (IPv6 `/64`), or `unix /path`.
    Connect,
    /// A port bound for serving: `tcp:8080`, `udp:53`.
    Listen,
    /// A syscall name, from the container's syscall counts.
    Syscall,
}

impl Kind {
    pub const ALL: [Kind; 6] = [Kind::Exec, Kind::Write, Kind::Read, Kind::Connect, Kind::Listen, Kind::Syscall];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Write => "write",
            Kind::Read => "read",
            Kind::Connect => "connect",
            Kind::Listen => "listen",
            Kind::Syscall => "syscall",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown baseline kind '{s}'"))
    }
}

/// Separates the parent's executable from the child's in an exec item.
pub const EXEC_SEPARATOR: &str = " > ";
/// The parent of a container's first process (pid 1 in its namespace): the runtime.
pub const ENTRYPOINT: &str = "<entrypoint>";
/// How runc names its own processes in a new container (`runc:[2:INIT]`) until they exec the
/// entrypoint: what they open and connect is the runtime's set-up, not the image's behaviour.
const RUNC_INIT: &str = "runc:[";
/// A parent the process table does not know.
pub const UNKNOWN_PARENT: &str = "<unknown>";

/// The behaviour `ev` shows, if it is one a profile learns. Only completed syscalls count;
/// reads only under `read_prefixes`.
pub fn item_of(ev: &Event, read_prefixes: &[String]) -> Option<(Kind, String)> {
    let fd = ev.fd.as_ref();
    if ev.proc.name.starts_with(RUNC_INIT) && !matches!(ev.evt_type.as_str(), "execve" | "execveat") {
        return None;
    }
    match ev.evt_type.as_str() {
        "execve" | "execveat" if ev.res == 0 => {
            // The path the exec named, as passed when absolute: the resolved one follows
            // symlinks only while the process can still be looked at (busybox applets are links
            // to one binary, so a short-lived applet would read as either).
            let raw = fd.and_then(|f| f.nameraw.as_deref()).filter(|n| n.starts_with('/'));
            let resolved = fd.map(|f| f.name.as_str()).filter(|n| !n.is_empty());
            let named = raw.or(resolved).unwrap_or(&ev.proc.exepath);
            // A container's first process was started by the runtime, outside the container:
            // which runtime process is its parent, and how far the process table knows it at
            // that moment, varies from start to start.
            let parent = match (ev.proc.vpid, ev.proc.ancestors.first()) {
                (Some(1), _) => ENTRYPOINT,
                (_, Some(a)) if !a.exepath.is_empty() => a.exepath.as_str(),
                _ => UNKNOWN_PARENT,
            };
            Some((Kind::Exec, format!("{}{EXEC_SEPARATOR}{}", normalise_path(parent), normalise_path(named))))
        }
        "open" | "openat" | "openat2" | "creat" if ev.res >= 0 => {
            let name = fd.map(|f| f.name.as_str()).filter(|n| n.starts_with('/'))?;
            let (read, write, _, _) = open_flags(ev)?;
            let path = normalise_path(name);
            if write {
                Some((Kind::Write, path))
            } else if read && read_prefixes.iter().any(|p| path.starts_with(p.as_str())) {
                Some((Kind::Read, path))
            } else {
                None
            }
        }
        "connect" => {
            let fd = fd?;
            match (fd.rip, fd.rport) {
                (Some(ip), Some(port)) => Some((Kind::Connect, format!("{}:{port}", network_of(ip)))),
                _ if fd.kind == "unix" && fd.name.starts_with('/') => {
                    Some((Kind::Connect, format!("unix {}", normalise_path(&fd.name))))
                }
                _ => None,
            }
        }
        "bind" if ev.res >= 0 => {
            let fd = fd?;
            // Port 0 asks the kernel for any port: a client's, not a service.
            let port = fd.lport.filter(|&p| p != 0)?;
            Some((Kind::Listen, format!("{}:{port}", fd.l4proto.as_deref().unwrap_or("ip"))))
        }
        _ => None,
    }
}

/// The network an address is grouped in: its /24 (IPv4) or /64 (IPv6), as `a.b.c.0/24`.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("[{net}]/64")
        }
    }
}

/// A path with pids and random name parts replaced (see the module documentation).
pub fn normalise_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut previous = "";
    for (i, component) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let numeric = !component.is_empty() && component.bytes().all(|b| b.is_ascii_digit());
        if numeric && i == 2 && path.starts_with("/proc/") {
            out.push_str("self");
        } else if numeric && previous == "task" {
            out.push('*');
        } else {
            normalise_name(component, &mut out);
        }
        previous = component;
    }
    out
}

/// Appends `name` with its random parts as `*`.
fn normalise_name(name: &str, out: &mut String) {
    if let Some(rest) = name.strip_prefix("tmp") {
        let (dot, random) = rest.strip_prefix('.').map_or(("", rest), |r| (".", r));
        let temporary = |b: u8| b.is_ascii_alphanumeric() || (dot.is_empty() && b == b'_');
        if random.len() >= 6 && random.bytes().all(temporary) {
            out.push_str("tmp");
            out.push_str(dot);
            out.push('*');
            return;
        }
    }
    let mut rest = name;
    while !rest.is_empty() {
        let end = rest.find(['.', '-', '_']).unwrap_or(rest.len());
        let part = &rest[..end];
        out.push_str(if is_random(part) { "*" } else { part });
        if end < rest.len() {
            out.push_str(&rest[end..end + 1]);
            rest = &rest[end + 1..];
        } else {
            rest = "";
        }
    }
}

fn is_random(part: &str) -> bool {
    let b = part.as_bytes();
    if b.len() < 4 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let upper = b.iter().any(u8::is_ascii_uppercase);
    let lower = b.iter().any(u8::is_ascii_lowercase);
    let mixed_case = digits > 0 && upper && lower;
    let upper_id = b.len() >= 6 && digits > 0 && upper;
    let hex_id = b.len() >= 8 && digits > 0 && digits < b.len() && b.iter().all(u8::is_ascii_hexdigit);
    let number = b.len() >= 6 && digits == b.len();
    mixed_case || upper_id || hex_id || number
}

#[cfg(test)]
#[path = "item_tests.rs"]
mod tests;
