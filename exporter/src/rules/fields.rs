//! The fields a condition or an output can name, their types and how they are read off an `Event`.

use super::event::{render_caps, ArgValue, Event, Role};
use std::fmt::Write as _;
use std::net::IpAddr;

/// The type of a field: decides which operators and operands it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    String,
    /// Signed integer.
    Number,
    /// 0..=65535.
    Port,
    /// An address; operands may be addresses or CIDR networks (membership).
    Ip,
    /// A network the address belongs to (`fd.snet`): operands are CIDR networks.
    IpNet,
    /// A set of flags (capabilities); operands are flag names.
    Flags,
    Bool,
    /// `evt.arg.*`: number or string depending on the syscall; compared as a number when both
    /// sides are numbers, as text otherwise.
    Arg,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Port => "port",
            FieldType::Ip => "ip",
            FieldType::IpNet => "ipnet",
            FieldType::Flags => "flags",
            FieldType::Bool => "bool",
            FieldType::Arg => "argument",
        }
    }
}

/// Which field (and argument).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldId {
    EvtNum,
    EvtType,
    EvtDir,
    EvtRes,
    EvtRawres,
    EvtTime,
    EvtArgName(Box<str>),
    EvtArgIdx(usize),
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtIsOpenExec,
    EvtIsOpenCreate,
    ProcName,
    ProcExe,
    ProcExepath,
    ProcCmdline,
    ProcArgs,
    ProcPid,
    ProcPpid,
    ProcPname,
    ProcPexe,
    ProcPexepath,
    ProcPcmdline,
    /// `None`: any ancestor (parent upwards); `Some(0)` is the process itself.
    ProcAname(Option<usize>),
    ProcAexe(Option<usize>),
    ProcAexepath(Option<usize>),
    ProcApid(Option<usize>),
    ProcAcmdline(Option<usize>),
    ProcCwd,
    ProcTty,
    ProcSid,
    ProcVpgid,
    ProcIsExeUpperLayer,
    ProcIsExeFromMemfd,
    UserUid,
    UserName,
    UserLoginuid,
    UserLoginname,
    GroupGid,
    FdName,
    FdNameraw,
    FdDirectory,
    FdFilename,
    FdTypechar,
    FdType,
    FdNum,
    FdL4proto,
    FdSip,
    FdCip,
    FdRip,
    FdLip,
    FdSport,
    FdCport,
    FdRport,
    FdLport,
    FdSnet,
    FdCnet,
    FdRnet,
    FdLnet,
    ThreadCapEffective,
    ThreadCapPermitted,
    ContainerId,
    ContainerName,
    ContainerImage,
    ContainerImageRepository,
    ContainerImageTag,
    ContainerPrivileged,
    K8sPodName,
    K8sNsName,
}

/// A resolved field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub id: FieldId,
    pub ty: FieldType,
    /// Canonical text (`proc.aname[2]`, `evt.arg.flags`), used in outputs.
    pub text: String,
}

/// Every field name this engine knows, with its type and whether it takes `[arg]`.
/// (`evt.arg.NAME` is also accepted for `evt.arg[NAME]`.)
pub const FIELDS: &[(&str, FieldType, &str)] = &[
    ("evt.num", FieldType::Number, "event number"),
    ("evt.type", FieldType::String, "syscall name"),
    ("evt.dir", FieldType::String, "> enter, < exit"),
    ("evt.res", FieldType::String, "SUCCESS or the errno name"),
    ("evt.rawres", FieldType::Number, "return value"),
    ("evt.time", FieldType::String, "event time, RFC 3339"),
    ("evt.arg", FieldType::Arg, "argument by name or position: evt.arg.NAME, evt.arg[N]"),
    ("evt.is_open_read", FieldType::Bool, "open* for reading"),
    ("evt.is_open_write", FieldType::Bool, "open* for writing"),
    ("evt.is_open_exec", FieldType::Bool, "open* with O_EXEC/FMODE_EXEC"),
    ("evt.is_open_create", FieldType::Bool, "open* with O_CREAT"),
    ("proc.name", FieldType::String, "executable base name"),
    ("proc.exe", FieldType::String, "argv[0]"),
    ("proc.exepath", FieldType::String, "executable path"),
    ("proc.cmdline", FieldType::String, "name and arguments"),
    ("proc.args", FieldType::String, "arguments"),
    ("proc.pid", FieldType::Number, "process id"),
    ("proc.ppid", FieldType::Number, "parent process id"),
    ("proc.pname", FieldType::String, "parent name"),
    ("proc.pexe", FieldType::String, "parent argv[0]"),
    ("proc.pexepath", FieldType::String, "parent executable path"),
    ("proc.pcmdline", FieldType::String, "parent command line"),
    ("proc.aname", FieldType::String, "[N]: Nth ancestor name (0 = self); no arg: any ancestor"),
    ("proc.aexe", FieldType::String, "[N]: Nth ancestor argv[0]"),
    ("proc.aexepath", FieldType::String, "[N]: Nth ancestor executable path"),
    ("proc.acmdline", FieldType::String, "[N]: Nth ancestor command line"),
    ("proc.apid", FieldType::Number, "[N]: Nth ancestor pid"),
    ("proc.cwd", FieldType::String, "working directory"),
    ("proc.tty", FieldType::Number, "controlling terminal, 0 for none"),
    ("proc.sid", FieldType::Number, "session id"),
    ("proc.vpgid", FieldType::Number, "process group id in its pid namespace"),
    ("proc.is_exe_upper_layer", FieldType::Bool, "executable on an overlayfs upper layer"),
    ("proc.is_exe_from_memfd", FieldType::Bool, "executable is a memfd"),
    ("user.uid", FieldType::Number, "user id"),
    ("user.name", FieldType::String, "user name"),
    ("user.loginuid", FieldType::Number, "audit login uid, -1 when unset"),
    ("user.loginname", FieldType::String, "audit login name"),
    ("group.gid", FieldType::Number, "group id"),
    ("fd.name", FieldType::String, "path, or cip:cport->sip:sport"),
    ("fd.nameraw", FieldType::String, "path as passed"),
    ("fd.directory", FieldType::String, "directory of fd.name"),
    ("fd.filename", FieldType::String, "base name of fd.name"),
    ("fd.typechar", FieldType::String, "f 4 6 u p e s l i t n b d"),
    ("fd.type", FieldType::String, "file ipv4 ipv6 unix pipe ..."),
    ("fd.num", FieldType::Number, "descriptor number"),
    ("fd.l4proto", FieldType::String, "tcp udp raw icmp"),
    ("fd.sip", FieldType::Ip, "server address"),
    ("fd.cip", FieldType::Ip, "client address"),
    ("fd.rip", FieldType::Ip, "remote address"),
    ("fd.lip", FieldType::Ip, "local address"),
    ("fd.sport", FieldType::Port, "server port"),
    ("fd.cport", FieldType::Port, "client port"),
    ("fd.rport", FieldType::Port, "remote port"),
    ("fd.lport", FieldType::Port, "local port"),
    ("fd.snet", FieldType::IpNet, "server network"),
    ("fd.cnet", FieldType::IpNet, "client network"),
    ("fd.rnet", FieldType::IpNet, "remote network"),
    ("fd.lnet", FieldType::IpNet, "local network"),
    ("thread.cap_effective", FieldType::Flags, "effective capabilities"),
    ("thread.cap_permitted", FieldType::Flags, "permitted capabilities"),
    ("container.id", FieldType::String, "container id, host outside containers"),
    ("container.name", FieldType::String, "container name, host outside containers"),
    ("container.image", FieldType::String, "image reference"),
    ("container.image.repository", FieldType::String, "image repository"),
    ("container.image.tag", FieldType::String, "image tag"),
    ("container.privileged", FieldType::Bool, "privileged container"),
    ("k8s.pod.name", FieldType::String, "pod name"),
    ("k8s.ns.name", FieldType::String, "namespace name"),
];

/// Resolves `name` (`proc.aname`, `evt.arg.flags`) with its optional `[arg]`.
/// `Err` is the cause, e.g. `unknown field 'proc.nme'`.
pub fn resolve(name: &str, arg: Option<&str>) -> Result<Field, String> {
    use FieldId::*;
    if let Some(a) = name.strip_prefix("evt.arg.") {
        if arg.is_some() || a.is_empty() {
            return Err(format!("bad field argument for '{name}'"));
        }
        return Ok(Field { id: EvtArgName(a.into()), ty: FieldType::Arg, text: name.to_owned() });
    }
    let ty = FIELDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, t, _)| *t)
        .ok_or_else(|| format!("unknown field '{name}'"))?;
    let index = |arg: Option<&str>| -> Result<Option<usize>, String> {
        match arg {
            None => Ok(None),
            Some(a) => {
                a.parse::<usize>().map(Some).map_err(|_| format!("field '{name}' needs a number argument, got '{a}'"))
            }
        }
    };
    let id = match name {
        "evt.arg" => match arg {
            None => return Err("field 'evt.arg' needs an argument: evt.arg.NAME or evt.arg[N]".into()),
            Some(a) => match a.parse::<usize>() {
                Ok(i) => EvtArgIdx(i),
                Err(_) => EvtArgName(a.into()),
            },
        },
        "proc.aname" => ProcAname(index(arg)?),
        "proc.aexe" => ProcAexe(index(arg)?),
        "proc.aexepath" => ProcAexepath(index(arg)?),
        "proc.acmdline" => ProcAcmdline(index(arg)?),
        "proc.apid" => ProcApid(index(arg)?),
        _ if arg.is_some() => return Err(format!("field '{name}' takes no argument")),
        "evt.num" => EvtNum,
        "evt.type" => EvtType,
        "evt.dir" => EvtDir,
        "evt.res" => EvtRes,
        "evt.rawres" => EvtRawres,
        "evt.time" => EvtTime,
        "evt.is_open_read" => EvtIsOpenRead,
        "evt.is_open_write" => EvtIsOpenWrite,
        "evt.is_open_exec" => EvtIsOpenExec,
        "evt.is_open_create" => EvtIsOpenCreate,
        "proc.name" => ProcName,
        "proc.exe" => ProcExe,
        "proc.exepath" => ProcExepath,
        "proc.cmdline" => ProcCmdline,
        "proc.args" => ProcArgs,
        "proc.pid" => ProcPid,
        "proc.ppid" => ProcPpid,
        "proc.pname" => ProcPname,
        "proc.pexe" => ProcPexe,
        "proc.pexepath" => ProcPexepath,
        "proc.pcmdline" => ProcPcmdline,
        "proc.cwd" => ProcCwd,
        "proc.tty" => ProcTty,
        "proc.sid" => ProcSid,
        "proc.vpgid" => ProcVpgid,
        "proc.is_exe_upper_layer" => ProcIsExeUpperLayer,
        "proc.is_exe_from_memfd" => ProcIsExeFromMemfd,
        "user.uid" => UserUid,
        "user.name" => UserName,
        "user.loginuid" => UserLoginuid,
        "user.loginname" => UserLoginname,
        "group.gid" => GroupGid,
        "fd.name" => FdName,
        "fd.nameraw" => FdNameraw,
        "fd.directory" => FdDirectory,
        "fd.filename" => FdFilename,
        "fd.typechar" => FdTypechar,
        "fd.type" => FdType,
        "fd.num" => FdNum,
        "fd.l4proto" => FdL4proto,
        "fd.sip" => FdSip,
        "fd.cip" => FdCip,
        "fd.rip" => FdRip,
        "fd.lip" => FdLip,
        "fd.sport" => FdSport,
        "fd.cport" => FdCport,
        "fd.rport" => FdRport,
        "fd.lport" => FdLport,
        "fd.snet" => FdSnet,
        "fd.cnet" => FdCnet,
        "fd.rnet" => FdRnet,
        "fd.lnet" => FdLnet,
        "thread.cap_effective" => ThreadCapEffective,
        "thread.cap_permitted" => ThreadCapPermitted,
        "container.id" => ContainerId,
        "container.name" => ContainerName,
        "container.image" => ContainerImage,
        "container.image.repository" => ContainerImageRepository,
        "container.image.tag" => ContainerImageTag,
        "container.privileged" => ContainerPrivileged,
        "k8s.pod.name" => K8sPodName,
        "k8s.ns.name" => K8sNsName,
        _ => return Err(format!("unknown field '{name}'")),
    };
    let text = match arg {
        Some(a) => format!("{name}[{a}]"),
        None => name.to_owned(),
    };
    Ok(Field { id, ty, text })
}

/// One extracted value; borrows from the event, never allocates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val<'a> {
    Str(&'a str),
    Num(i64),
    Ip(IpAddr),
    Bool(bool),
    Flags(u64),
}

impl Val<'_> {
    pub fn render(&self, out: &mut String) {
        match self {
            Val::Str(s) => out.push_str(s),
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

fn open_flags(ev: &Event) -> Option<(bool, bool, bool, bool)> {
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
            let has = |n: &str| s.split(['|', ' ', ',']).any(|p| p == n);
            let rdwr = has("O_RDWR");
            let wr = has("O_WRONLY") || rdwr;
            Some((has("O_RDONLY") || rdwr || !wr, wr, has("O_CREAT"), has("O_EXEC") || has("FMODE_EXEC")))
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
    pub fn any<'a>(&self, ev: &'a Event, mut f: impl FnMut(Val<'a>) -> bool) -> bool {
        let anc = &ev.proc.ancestors;
        match self.id {
            FieldId::ProcAname(None) => anc.iter().any(|a| f(Val::Str(&a.name))),
            FieldId::ProcAexe(None) => anc.iter().any(|a| f(Val::Str(&a.exe))),
            FieldId::ProcAexepath(None) => anc.iter().any(|a| f(Val::Str(&a.exepath))),
            FieldId::ProcAcmdline(None) => anc.iter().any(|a| f(Val::Str(&a.cmdline))),
            FieldId::ProcApid(None) => anc.iter().any(|a| f(Val::Num(a.pid))),
            _ => match self.get(ev) {
                Some(v) => f(v),
                None => false,
            },
        }
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
            EvtIsOpenRead => Val::Bool(open_flags(ev).is_some_and(|f| f.0)),
            EvtIsOpenWrite => Val::Bool(open_flags(ev).is_some_and(|f| f.1)),
            EvtIsOpenCreate => Val::Bool(open_flags(ev).is_some_and(|f| f.2)),
            EvtIsOpenExec => Val::Bool(open_flags(ev).is_some_and(|f| f.3)),
            ProcName => return ne(&p.name),
            ProcExe => return ne(&p.exe),
            ProcExepath => return ne(&p.exepath),
            ProcCmdline => return ne(&p.cmdline),
            ProcArgs => Val::Str(ev.proc_args()),
            ProcPid => Val::Num(p.pid),
            ProcPpid => Val::Num(p.ppid),
            ProcPname => return ne(&p.ancestors.first()?.name),
            ProcPexe => return ne(&p.ancestors.first()?.exe),
            ProcPexepath => return ne(&p.ancestors.first()?.exepath),
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
            UserUid => Val::Num(ev.user.uid),
            UserName => return ne(&ev.user.name),
            UserLoginuid => Val::Num(ev.user.loginuid),
            UserLoginname => return ne(&ev.user.loginname),
            GroupGid => Val::Num(ev.user.gid),
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
            ThreadCapEffective => Val::Flags(p.cap_effective),
            ThreadCapPermitted => Val::Flags(p.cap_permitted),
            ContainerId => return s(c.map(|c| c.id.as_str()).unwrap_or(HOST)),
            ContainerName => return s(c.map(|c| c.name.as_str()).unwrap_or(HOST)),
            ContainerImage => return ne(&c?.image),
            ContainerImageRepository => return ne(c?.image_parts().0),
            ContainerImageTag => return ne(c?.image_parts().1),
            ContainerPrivileged => Val::Bool(c.is_some_and(|c| c.privileged)),
            K8sPodName => return ne(c?.pod.as_deref()?),
            K8sNsName => return ne(c?.namespace.as_deref()?),
        })
    }

    /// Appends the field's value as text (for outputs); `<NA>` when missing.
    pub fn render(&self, ev: &Event, out: &mut String) {
        if self.id == FieldId::EvtTime {
            super::output::render_time(ev.time, out);
            return;
        }
        match self.get(ev) {
            Some(v) => v.render(out),
            None => out.push_str("<NA>"),
        }
    }

    /// The value as JSON for `output_fields` (null when missing).
    pub fn json(&self, ev: &Event) -> serde_json::Value {
        if self.id == FieldId::EvtTime {
            let mut s = String::new();
            super::output::render_time(ev.time, &mut s);
            return s.into();
        }
        self.get(ev).map(|v| v.to_json()).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::event::{Ancestor, Container, Fd};

    fn ev() -> Event {
        let mut e = Event::from_json(
            r#"{"type":"connect","res":-115,"args":{"fd":3,"addr":"1.2.3.4"},
            "proc":{"pid":10,"name":"nc","args":["1.2.3.4","4444"],"cap_effective":3,
              "ancestors":[{"pid":9,"name":"bash"},{"pid":1,"name":"init"}]},
            "user":{"uid":1000,"name":"bob"}}"#,
        )
        .unwrap();
        e.fd = Some(Fd {
            kind: "ipv4".into(),
            lip: Some("10.0.0.2".parse().unwrap()),
            lport: Some(40000),
            rip: Some("1.2.3.4".parse().unwrap()),
            rport: Some(4444),
            l4proto: Some("tcp".into()),
            ..Fd::default()
        });
        e.normalize();
        e
    }

    fn get(name: &str, arg: Option<&str>, e: &Event) -> Option<String> {
        let f = resolve(name, arg).unwrap();
        f.get(e).map(|v| {
            let mut s = String::new();
            v.render(&mut s);
            s
        })
    }

    #[test]
    fn every_listed_field_resolves() {
        for (name, ty, _) in FIELDS {
            let arg = if *name == "evt.arg" { Some("0") } else { None };
            let f = resolve(name, arg).unwrap();
            assert_eq!(f.ty, *ty);
        }
        assert_eq!(resolve("proc.nme", None).unwrap_err(), "unknown field 'proc.nme'");
        assert!(resolve("proc.name", Some("1")).unwrap_err().contains("takes no argument"));
        assert!(resolve("proc.aname", Some("x")).unwrap_err().contains("number argument"));
    }

    #[test]
    fn values() {
        let e = ev();
        assert_eq!(get("evt.res", None, &e).unwrap(), "EINPROGRESS");
        assert_eq!(get("evt.rawres", None, &e).unwrap(), "-115");
        assert_eq!(get("evt.arg.fd", None, &e).unwrap(), "3");
        assert_eq!(get("evt.arg", Some("1"), &e).unwrap(), "1.2.3.4");
        assert_eq!(get("proc.cmdline", None, &e).unwrap(), "nc 1.2.3.4 4444");
        assert_eq!(get("proc.args", None, &e).unwrap(), "1.2.3.4 4444");
        assert_eq!(get("proc.pname", None, &e).unwrap(), "bash");
        assert_eq!(get("proc.aname", Some("0"), &e).unwrap(), "nc");
        assert_eq!(get("proc.aname", Some("2"), &e).unwrap(), "init");
        assert_eq!(get("proc.aname", Some("3"), &e), None);
        assert_eq!(get("fd.sip", None, &e).unwrap(), "1.2.3.4");
        assert_eq!(get("fd.cip", None, &e).unwrap(), "10.0.0.2");
        assert_eq!(get("fd.sport", None, &e).unwrap(), "4444");
        assert_eq!(get("fd.cport", None, &e).unwrap(), "40000");
        assert_eq!(get("fd.typechar", None, &e).unwrap(), "4");
        assert_eq!(get("fd.name", None, &e).unwrap(), "10.0.0.2:40000->1.2.3.4:4444");
        assert_eq!(get("thread.cap_effective", None, &e).unwrap(), "CAP_CHOWN CAP_DAC_OVERRIDE");
        assert_eq!(get("container.id", None, &e).unwrap(), "host");
        assert_eq!(get("container.privileged", None, &e).unwrap(), "false");
        assert_eq!(get("k8s.pod.name", None, &e), None);
        let f = resolve("proc.aname", None).unwrap();
        assert!(f.any(&e, |v| v == Val::Str("init")));
        assert!(!f.any(&e, |v| v == Val::Str("nc")));
    }

    #[test]
    fn file_and_container_values() {
        let mut e = Event { evt_type: "openat".into(), ..Event::default() };
        e.args.0.push(("flags".into(), ArgValue::Str("O_WRONLY|O_CREAT".into())));
        e.fd = Some(Fd { kind: "file".into(), name: "/etc/passwd".into(), ..Fd::default() });
        e.container = Some(Container {
            id: "abc".into(),
            image: "docker.io/library/nginx:1.25".into(),
            pod: Some("web-0".into()),
            ..Container::default()
        });
        e.proc.ancestors.push(Ancestor { name: "sh".into(), ..Ancestor::default() });
        assert_eq!(get("fd.directory", None, &e).unwrap(), "/etc");
        assert_eq!(get("fd.filename", None, &e).unwrap(), "passwd");
        assert_eq!(get("fd.nameraw", None, &e).unwrap(), "/etc/passwd");
        assert_eq!(get("evt.is_open_write", None, &e).unwrap(), "true");
        assert_eq!(get("evt.is_open_read", None, &e).unwrap(), "false");
        assert_eq!(get("evt.is_open_create", None, &e).unwrap(), "true");
        assert_eq!(get("container.image.repository", None, &e).unwrap(), "docker.io/library/nginx");
        assert_eq!(get("container.image.tag", None, &e).unwrap(), "1.25");
        assert_eq!(get("k8s.pod.name", None, &e).unwrap(), "web-0");
        assert_eq!(get("proc.pname", None, &e).unwrap(), "sh");
        e.args.0[0].1 = ArgValue::Int(0);
        assert_eq!(get("evt.is_open_read", None, &e).unwrap(), "true");
        assert_eq!(errno_name(-2), "ENOENT");
        assert_eq!(errno_name(0), "SUCCESS");
    }
}
