//! Reading a field's value off an [`Event`].

use std::fmt::Write as _;
use std::net::IpAddr;

use super::{Field, FieldId};
use crate::rules::event::{render_caps, ArgValue, Event, Role};

/// One extracted value; borrows from the event, never allocates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
    Num(i64),
    Ip(IpAddr),
    Bool(bool),
    Flags(u64),
}

impl Val<'_> {
    pub fn render(&self, out: &mut String) {
        match self {
            Val::Str(s) => out.push_str(s),
            // As Falco prints buffers: printable ASCII as is, every other byte as a dot.
            Val::Bytes(b) => {
                out.extend(b.iter().map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '.' }))
            }
            Val::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Val::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Flags(f) => render_caps(*f, out),
        }
    }
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Val::Str(s) => serde_json::Value::from(*s),
            Val::Num(n) => serde_json::Value::from(*n),
            Val::Bool(b) => serde_json::Value::from(*b),
            other => {
                let mut s = String::new();
                other.render(&mut s);
                serde_json::Value::from(s)
            }
        }
    }
}

fn arg_val(v: &ArgValue) -> Val<'_> {
    match v {
        ArgValue::Int(i) => Val::Num(*i),
        ArgValue::Str(s) => Val::Str(s),
    }
}

const HOST: &str = "host";

/// Open flags as Linux numbers, for events that carry them raw.
const O_WRONLY: i64 = 0o1;
const O_RDWR: i64 = 0o2;
const O_CREAT: i64 = 0o100;
const O_PATH: i64 = 0o10000000;

/// For open-family events: (read, write, create, path-only) from the flags.
pub fn open_flags(ev: &Event) -> Option<(bool, bool, bool, bool)> {
    if !matches!(ev.evt_type.as_str(), "open" | "openat" | "openat2" | "creat" | "open_by_handle_at") {
        return None;
    }
    if ev.evt_type == "creat" {
        return Some((false, true, true, false));
    }
    match ev.args.get("flags") {
        Some(ArgValue::Int(f)) => {
            let acc = f & 3;
            Some((acc == 0 || acc == O_RDWR, acc == O_WRONLY || acc == O_RDWR, f & O_CREAT != 0, f & O_PATH != 0))
        }
        Some(ArgValue::Str(s)) => {
            // One pass over the names: every rule on opens asks, so this runs several times
            // per open event.
            let (mut rdonly, mut wronly, mut rdwr, mut creat, mut exec) = (false, false, false, false, false);
            for name in s.split(['|', ' ', ',']) {
                match name {
                    "O_RDONLY" => rdonly = true,
                    "O_WRONLY" => wronly = true,
                    "O_RDWR" => rdwr = true,
                    "O_CREAT" => creat = true,
                    "O_EXEC" | "FMODE_EXEC" => exec = true,
                    _ => {}
                }
            }
            let wr = wronly || rdwr;
            Some((rdonly || rdwr || !wr, wr, creat, exec))
        }
        _ => Some((true, false, false, false)),
    }
}

/// The textual error name of a negative return value.
pub fn errno_name(res: i64) -> &'static str {
    const NAMES: &[(i64, &str)] = &[
        (1, "EPERM"),
        (2, "ENOENT"),
        (3, "ESRCH"),
        (4, "EINTR"),
        (5, "EIO"),
        (6, "ENXIO"),
        (7, "E2BIG"),
        (8, "ENOEXEC"),
        (9, "EBADF"),
        (10, "ECHILD"),
        (11, "EAGAIN"),
        (12, "ENOMEM"),
        (13, "EACCES"),
        (14, "EFAULT"),
        (16, "EBUSY"),
        (17, "EEXIST"),
        (18, "EXDEV"),
        (19, "ENODEV"),
        (20, "ENOTDIR"),
        (21, "EISDIR"),
        (22, "EINVAL"),
        (23, "ENFILE"),
        (24, "EMFILE"),
        (25, "ENOTTY"),
        (26, "ETXTBSY"),
        (27, "EFBIG"),
        (28, "ENOSPC"),
        (29, "ESPIPE"),
        (30, "EROFS"),
        (31, "EMLINK"),
        (32, "EPIPE"),
        (36, "ENAMETOOLONG"),
        (38, "ENOSYS"),
        (39, "ENOTEMPTY"),
        (40, "ELOOP"),
        (95, "EOPNOTSUPP"),
        (97, "EAFNOSUPPORT"),
        (98, "EADDRINUSE"),
        (99, "EADDRNOTAVAIL"),
        (101, "ENETUNREACH"),
        (104, "ECONNRESET"),
        (110, "ETIMEDOUT"),
        (111, "ECONNREFUSED"),
        (113, "EHOSTUNREACH"),
        (114, "EALREADY"),
        (115, "EINPROGRESS"),
    ];
    if res >= 0 {
        return "SUCCESS";
    }
    NAMES.iter().find(|(n, _)| *n == -res).map(|(_, s)| *s).unwrap_or("EUNKNOWN")
}

impl Field {
    /// Whether this field can yield several values (any ancestor).
    pub fn is_multi(&self) -> bool {
        matches!(
            self.id,
            FieldId::ProcAname(None)
                | FieldId::ProcAexe(None)
                | FieldId::ProcAexepath(None)
                | FieldId::ProcAcmdline(None)
                | FieldId::ProcApid(None)
        )
    }

    /// Calls `f` on each value until it returns true; returns whether one did. Single-valued
    /// fields call it at most once; a missing value never calls it.
    #[inline]
    pub fn any(&self, ev: &Event, mut f: impl FnMut(Val<'_>) -> bool) -> bool {
        use FieldId::*;
        let anc = &ev.proc.ancestors;
        let fd = ev.fd.as_ref();
        let names = |ip: Option<IpAddr>| ip.map(crate::rules::names::names_of).unwrap_or_default();
        match self.id {
            ProcAname(None) => anc.iter().any(|a| f(Val::Str(&a.name))),
            ProcAexe(None) => anc.iter().any(|a| f(Val::Str(&a.exe))),
            ProcAexepath(None) => anc.iter().any(|a| f(Val::Str(&a.exepath))),
            ProcAcmdline(None) => anc.iter().any(|a| f(Val::Str(&a.cmdline))),
            ProcApid(None) => anc.iter().any(|a| f(Val::Num(a.pid))),
            FdIp | FdNet => {
                let (client, server) = client_server(fd);
                [client, server].into_iter().flatten().any(|ip| f(Val::Ip(ip)))
            }
            FdPort => [fd.and_then(|d| d.lport), fd.and_then(|d| d.rport)]
                .into_iter()
                .flatten()
                .any(|p| f(Val::Num(p as i64))),
            FdSipName => names(client_server(fd).1).iter().any(|n| f(Val::Str(n))),
            FdCipName => names(client_server(fd).0).iter().any(|n| f(Val::Str(n))),
            FdRipName => names(fd.and_then(|d| d.rip)).iter().any(|n| f(Val::Str(n))),
            FdLipName => names(fd.and_then(|d| d.lip)).iter().any(|n| f(Val::Str(n))),
            EvtArgs | ProcEnv | ContainerMounts => match self.text(ev) {
                Some(text) => f(Val::Str(&text)),
                None => false,
            },
            _ => match self.get(ev) {
                Some(v) => f(v),
                None => false,
            },
        }
    }

    /// The value of the fields whose text is built from several members of the event.
    fn text(&self, ev: &Event) -> Option<String> {
        use std::fmt::Write as _;
        let mut out = String::new();
        match self.id {
            FieldId::EvtArgs => {
                for (i, (name, value)) in ev.args.0.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    match value {
                        ArgValue::Int(n) => write!(out, "{sep}{name}={n}"),
                        ArgValue::Str(s) => write!(out, "{sep}{name}={s}"),
                    }
                    .ok()?;
                }
            }
            FieldId::ProcEnv => {
                if ev.proc.env.is_empty() {
                    return None;
                }
                out = ev.proc.env.join(" ");
            }
            FieldId::ContainerMounts => {
                for (i, m) in ev.container.as_ref()?.mounts.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    let rdwr = m.mode != "ro";
                    write!(out, "{sep}{}:{}:{}:{rdwr}:{}", m.source, m.dest, m.mode, m.propagation).ok()?;
                }
            }
            _ => return None,
        }
        Some(out)
    }

    /// The (first) value of the field, `None` when the event has none.
    pub fn get<'a>(&self, ev: &'a Event) -> Option<Val<'a>> {
        use FieldId::*;
        let p = &ev.proc;
        let s = |x: &'a str| Some(Val::Str(x));
        let ne = |x: &'a str| if x.is_empty() { None } else { Some(Val::Str(x)) };
        let fd = ev.fd.as_ref();
        let c = ev.container.as_ref();
        // Ancestor n (0 = the process itself).
        let anc = |n: usize| ev.proc.ancestors.get(n.wrapping_sub(1));
        Some(match &self.id {
            EvtNum => Val::Num(ev.num as i64),
            EvtType => return s(&ev.evt_type),
            EvtDir => Val::Str(ev.dir.as_str()),
            EvtRes => Val::Str(errno_name(ev.res)),
            EvtRawres => Val::Num(ev.res),
            EvtTime => return None,
            EvtArgName(n) => arg_val(ev.args.get(n)?),
            EvtArgIdx(i) => arg_val(ev.args.nth(*i)?),
            EvtBuffer if ev.buffer.is_empty() => return None,
            EvtBuffer => Val::Bytes(&ev.buffer),
            // Built by `text`, reached through `any`.
            EvtArgs | ProcEnv | ContainerMounts => return None,
            // Several values each, reached through `any`.
            FdIp | FdNet | FdPort | FdSipName | FdCipName | FdRipName | FdLipName => return None,
            EvtIsOpenRead => Val::Bool(open_flags(ev).is_some_and(|f| f.0)),
            EvtIsOpenWrite => Val::Bool(open_flags(ev).is_some_and(|f| f.1)),
            EvtIsOpenCreate => Val::Bool(open_flags(ev).is_some_and(|f| f.2)),
            EvtIsOpenExec => Val::Bool(open_flags(ev).is_some_and(|f| f.3)),
            ProcName => return ne(&p.name),
            ProcExe => return ne(&p.exe),
            ProcExepath => return ne(&p.exepath),
            ProcExecPath => return ne(&p.exec_path),
            ProcCmdline => return ne(&p.cmdline),
            ProcArgs => Val::Str(ev.proc_args()),
            ProcPid => Val::Num(p.pid),
            ProcPpid => Val::Num(p.ppid),
            ProcPname => return ne(&p.ancestors.first()?.name),
            ProcPexe => return ne(&p.ancestors.first()?.exe),
            ProcPexepath => return ne(&p.ancestors.first()?.exepath),
            ProcPexecPath => return ne(&p.ancestors.first()?.exec_path),
            ProcPcmdline => return ne(&p.ancestors.first()?.cmdline),
            ProcAname(Some(0)) => return ne(&p.name),
            ProcAexe(Some(0)) => return ne(&p.exe),
            ProcAexepath(Some(0)) => return ne(&p.exepath),
            ProcAcmdline(Some(0)) => return ne(&p.cmdline),
            ProcApid(Some(0)) => Val::Num(p.pid),
            ProcAname(Some(n)) => return ne(&anc(*n)?.name),
            ProcAexe(Some(n)) => return ne(&anc(*n)?.exe),
            ProcAexepath(Some(n)) => return ne(&anc(*n)?.exepath),
            ProcAcmdline(Some(n)) => return ne(&anc(*n)?.cmdline),
            ProcApid(Some(n)) => Val::Num(anc(*n)?.pid),
            ProcAname(None) => return ne(&p.ancestors.first()?.name),
            ProcAexe(None) => return ne(&p.ancestors.first()?.exe),
            ProcAexepath(None) => return ne(&p.ancestors.first()?.exepath),
            ProcAcmdline(None) => return ne(&p.ancestors.first()?.cmdline),
            ProcApid(None) => Val::Num(p.ancestors.first()?.pid),
            ProcCwd => return ne(&p.cwd),
            ProcTty => Val::Num(p.tty),
            ProcSid => Val::Num(p.sid),
            ProcVpgid => Val::Num(p.vpgid),
            ProcIsExeUpperLayer => Val::Bool(p.is_exe_upper_layer),
            ProcIsExeFromMemfd => Val::Bool(p.is_exe_from_memfd),
            ProcVpid => Val::Num(p.vpid?),
            ProcDuration => Val::Num(since(p.start_time, ev.time)?),
            ProcEnvVar(name) => {
                let value = p.env.iter().find_map(|kv| kv.strip_prefix(&**name)?.strip_prefix('='))?;
                Val::Str(value)
            }
            ProcSname => return ne(&p.sname),
            ProcIsVpgidLeader => Val::Bool(p.vpid? == p.vpgid),
            ProcExeInoCtime => Val::Num(known(p.exe_ctime)?),
            ProcExeInoMtime => Val::Num(known(p.exe_mtime)?),
            ProcExeInoCtimeDurationProcStart => Val::Num(since(p.exe_ctime, p.start_time)?),
            UserUid => Val::Num(ev.user.uid),
            UserName => return ne(&ev.user.name),
            UserLoginuid => Val::Num(ev.user.loginuid),
            UserLoginname => return ne(&ev.user.loginname),
            GroupGid => Val::Num(ev.user.gid),
            GroupName => return ne(&ev.user.group_name),
            FdName => return ne(&fd?.name),
            FdNameraw => return ne(fd?.nameraw.as_deref().unwrap_or(&fd?.name)),
            FdDirectory => {
                let n = &fd?.name;
                if !n.starts_with('/') {
                    return None;
                }
                let i = n.rfind('/')?;
                Val::Str(if i == 0 { "/" } else { &n[..i] })
            }
            FdFilename => {
                let n = &fd?.name;
                if !n.starts_with('/') {
                    return None;
                }
                Val::Str(&n[n.rfind('/')? + 1..])
            }
            FdTypechar => Val::Str(match fd?.kind.as_str() {
                "file" | "memfd" => "f",
                "directory" => "d",
                "ipv4" => "4",
                "ipv6" => "6",
                "unix" => "u",
                "pipe" => "p",
                "event" => "e",
                "signalfd" => "s",
                "eventpoll" => "l",
                "inotify" => "i",
                "timerfd" => "t",
                "netlink" => "n",
                "bpf" => "b",
                _ => "o",
            }),
            FdType => return ne(&fd?.kind),
            FdNum => Val::Num(fd?.num),
            FdL4proto => return ne(fd?.l4proto.as_deref()?),
            FdLip | FdLnet => Val::Ip(fd?.lip?),
            FdRip | FdRnet => Val::Ip(fd?.rip?),
            FdLport => Val::Num(fd?.lport? as i64),
            FdRport => Val::Num(fd?.rport? as i64),
            FdSip | FdSnet => {
                let f = fd?;
                Val::Ip(if f.role == Role::Client { f.rip? } else { f.lip? })
            }
            FdCip | FdCnet => {
                let f = fd?;
                Val::Ip(if f.role == Role::Client { f.lip? } else { f.rip? })
            }
            FdSport => {
                let f = fd?;
                Val::Num(if f.role == Role::Client { f.rport? } else { f.lport? } as i64)
            }
            FdCport => {
                let f = fd?;
                Val::Num(if f.role == Role::Client { f.lport? } else { f.rport? } as i64)
            }
            FdSockfamily => Val::Str(match fd?.kind.as_str() {
                "ipv4" | "ipv6" => "ip",
                "unix" => "unix",
                _ => return None,
            }),
            FdConnected => Val::Bool(fd?.connected?),
            FdNameChanged => Val::Bool(fd?.name_changed?),
            ThreadCapEffective => Val::Flags(p.cap_effective),
            ThreadCapPermitted => Val::Flags(p.cap_permitted),
            ContainerId => return s(c.map(|c| c.id.as_str()).unwrap_or(HOST)),
            ContainerName => return s(c.map(|c| c.name.as_str()).unwrap_or(HOST)),
            ContainerImage => return ne(&c?.image),
            ContainerImageRepository => return ne(c?.image_parts().0),
            ContainerImageTag => return ne(c?.image_parts().1),
            ContainerPrivileged => Val::Bool(c.is_some_and(|c| c.privileged)),
            ContainerStartTs => Val::Num(i64::try_from(c?.start_ts?).ok()?),
            // Falco's rules test this field against "<NA>" for "no such mount": a container
            // without one gets that text, not a missing value (which `not ... in` would match).
            ContainerMountDest(glob) => match c?.mounts.iter().find(|m| glob_matches(glob, &m.dest)) {
                Some(m) => Val::Str(&m.dest),
                None => Val::Str("<NA>"),
            },
            K8sPodName => return ne(c?.pod.as_deref()?),
            K8sNsName => return ne(c?.namespace.as_deref()?),
        })
    }

    /// Appends the field's (first) value as text (for outputs); `<NA>` when missing.
    pub fn render(&self, ev: &Event, out: &mut String) {
        if self.id == FieldId::EvtTime {
            crate::rules::output::render_time(ev.time, out);
            return;
        }
        if !self.any(ev, |v| {
            v.render(out);
            true
        }) {
            out.push_str("<NA>");
        }
    }

    /// The value as JSON for `output_fields` (null when missing).
    pub fn json(&self, ev: &Event) -> serde_json::Value {
        if self.id == FieldId::EvtTime {
            let mut s = String::new();
            crate::rules::output::render_time(ev.time, &mut s);
            return s.into();
        }
        let mut json = serde_json::Value::Null;
        self.any(ev, |v| {
            json = v.to_json();
            true
        });
        json
    }
}

/// A socket's (client, server) addresses.
fn client_server(fd: Option<&crate::rules::event::Fd>) -> (Option<IpAddr>, Option<IpAddr>) {
    match fd {
        Some(f) if f.role == Role::Client => (f.lip, f.rip),
        Some(f) => (f.rip, f.lip),
        None => (None, None),
    }
}

/// A time in ns since the epoch, `None` when unknown (0).
fn known(ns: u64) -> Option<i64> {
    (ns > 0).then(|| i64::try_from(ns).ok()).flatten()
}

/// Nanoseconds from `start` to `end`, both known and in order.
fn since(start: u64, end: u64) -> Option<i64> {
    (start > 0 && end >= start).then(|| i64::try_from(end - start).ok()).flatten()
}

/// Whether `text` matches `glob` whole, `*` matching any run and `?` any one character (the
/// mount fields' argument).
pub fn glob_matches(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    // Classic two-pointer wildcard match: remember the last `*` and retry from it.
    let (mut gi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ti;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}
