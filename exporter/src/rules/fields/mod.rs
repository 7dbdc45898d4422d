//! The fields a condition or an output can name, their types and how they are read off an `Event`.

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
    /// Raw bytes (`evt.buffer`): `bcontains`, `bstartswith`, `exists`.
    Bytes,
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
            FieldType::Bytes => "bytes",
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
    EvtArgs,
    EvtBuffer,
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtIsOpenExec,
    EvtIsOpenCreate,
    ProcName,
    ProcExe,
    ProcExepath,
    ProcExecPath,
    ProcCmdline,
    ProcArgs,
    ProcPid,
    ProcPpid,
    ProcPname,
    ProcPexe,
    ProcPexepath,
    ProcPexecPath,
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
    ProcVpid,
    ProcDuration,
    ProcEnv,
    /// `proc.env[NAME]`: one variable's value.
    ProcEnvVar(Box<str>),
    ProcSname,
    ProcIsVpgidLeader,
    ProcExeInoCtime,
    ProcExeInoMtime,
    ProcExeInoCtimeDurationProcStart,
    UserUid,
    UserName,
    UserLoginuid,
    UserLoginname,
    GroupGid,
    GroupName,
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
    /// Either end's address, network or port (`=`/`in`: either matches; `!=`: neither does).
    FdIp,
    FdNet,
    FdPort,
    FdSockfamily,
    FdConnected,
    FdNameChanged,
    /// The watched domain names an end's address resolves from.
    FdSipName,
    FdCipName,
    FdRipName,
    FdLipName,
    ThreadCapEffective,
    ThreadCapPermitted,
    ContainerId,
    ContainerName,
    ContainerImage,
    ContainerImageRepository,
    ContainerImageTag,
    ContainerPrivileged,
    ContainerStartTs,
    ContainerMounts,
    /// `container.mount.dest[GLOB]`: the destination of the first mount matching GLOB.
    ContainerMountDest(Box<str>),
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
    ("evt.args", FieldType::String, "all arguments, NAME=VALUE separated by spaces"),
    ("evt.buffer", FieldType::Bytes, "the I/O buffer of read/write family syscalls"),
    ("evt.is_open_read", FieldType::Bool, "open* for reading"),
    ("evt.is_open_write", FieldType::Bool, "open* for writing"),
    ("evt.is_open_exec", FieldType::Bool, "open* with O_EXEC/FMODE_EXEC"),
    ("evt.is_open_create", FieldType::Bool, "open* with O_CREAT"),
    ("proc.name", FieldType::String, "executable base name"),
    ("proc.exe", FieldType::String, "argv[0]"),
    ("proc.exepath", FieldType::String, "executable path"),
    ("proc.exec_path", FieldType::String, "path the exec named, absolute, symlinks not resolved (Sigma's Image)"),
    ("proc.cmdline", FieldType::String, "name and arguments"),
    ("proc.args", FieldType::String, "arguments"),
    ("proc.pid", FieldType::Number, "process id"),
    ("proc.ppid", FieldType::Number, "parent process id"),
    ("proc.pname", FieldType::String, "parent name"),
    ("proc.pexe", FieldType::String, "parent argv[0]"),
    ("proc.pexepath", FieldType::String, "parent executable path"),
    ("proc.pexec_path", FieldType::String, "path the parent's exec named (Sigma's ParentImage)"),
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
    ("proc.vpid", FieldType::Number, "process id in its pid namespace"),
    ("proc.duration", FieldType::Number, "nanoseconds since the process started"),
    ("proc.env", FieldType::String, "environment (NAME=value, space separated); [NAME]: one variable"),
    ("proc.sname", FieldType::String, "session leader name"),
    ("proc.is_vpgid_leader", FieldType::Bool, "the process leads its process group"),
    ("proc.exe_ino.ctime", FieldType::Number, "executable inode change time, ns since the epoch"),
    ("proc.exe_ino.mtime", FieldType::Number, "executable inode modification time, ns since the epoch"),
    (
        "proc.exe_ino.ctime_duration_proc_start",
        FieldType::Number,
        "ns from the executable's ctime to the process start",
    ),
    ("user.uid", FieldType::Number, "user id"),
    ("user.name", FieldType::String, "user name"),
    ("user.loginuid", FieldType::Number, "audit login uid, -1 when unset"),
    ("user.loginname", FieldType::String, "audit login name"),
    ("group.gid", FieldType::Number, "group id"),
    ("group.name", FieldType::String, "group name"),
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
    ("fd.ip", FieldType::Ip, "either end's address"),
    ("fd.net", FieldType::IpNet, "either end's network"),
    ("fd.port", FieldType::Port, "either end's port"),
    ("fd.sockfamily", FieldType::String, "ip or unix"),
    ("fd.connected", FieldType::Bool, "the socket is connected"),
    ("fd.name_changed", FieldType::Bool, "the event changed the socket's tuple"),
    ("fd.sip.name", FieldType::String, "watched domain names of the server address"),
    ("fd.cip.name", FieldType::String, "watched domain names of the client address"),
    ("fd.rip.name", FieldType::String, "watched domain names of the remote address"),
    ("fd.lip.name", FieldType::String, "watched domain names of the local address"),
    ("thread.cap_effective", FieldType::Flags, "effective capabilities"),
    ("thread.cap_permitted", FieldType::Flags, "permitted capabilities"),
    ("container.id", FieldType::String, "container id, host outside containers"),
    ("container.name", FieldType::String, "container name, host outside containers"),
    ("container.image", FieldType::String, "image reference"),
    ("container.image.repository", FieldType::String, "image repository"),
    ("container.image.tag", FieldType::String, "image tag"),
    ("container.privileged", FieldType::Bool, "privileged container"),
    ("container.start_ts", FieldType::Number, "container start, ns since the epoch"),
    ("container.mounts", FieldType::String, "mounts, source:dest:mode:rdwr:propagation, comma separated"),
    ("container.mount.dest", FieldType::String, "[GLOB]: destination of the first mount matching GLOB"),
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
        "proc.env" => match arg {
            Some(var) => ProcEnvVar(var.into()),
            None => ProcEnv,
        },
        "container.mount.dest" => match arg {
            Some(glob) => ContainerMountDest(glob.into()),
            None => return Err("field 'container.mount.dest' needs an argument: container.mount.dest[GLOB]".into()),
        },
        _ if arg.is_some() => return Err(format!("field '{name}' takes no argument")),
        "evt.num" => EvtNum,
        "evt.type" => EvtType,
        "evt.dir" => EvtDir,
        "evt.res" => EvtRes,
        "evt.rawres" => EvtRawres,
        "evt.time" => EvtTime,
        "evt.args" => EvtArgs,
        "evt.buffer" => EvtBuffer,
        "evt.is_open_read" => EvtIsOpenRead,
        "evt.is_open_write" => EvtIsOpenWrite,
        "evt.is_open_exec" => EvtIsOpenExec,
        "evt.is_open_create" => EvtIsOpenCreate,
        "proc.name" => ProcName,
        "proc.exe" => ProcExe,
        "proc.exepath" => ProcExepath,
        "proc.exec_path" => ProcExecPath,
        "proc.cmdline" => ProcCmdline,
        "proc.args" => ProcArgs,
        "proc.pid" => ProcPid,
        "proc.ppid" => ProcPpid,
        "proc.pname" => ProcPname,
        "proc.pexe" => ProcPexe,
        "proc.pexepath" => ProcPexepath,
        "proc.pexec_path" => ProcPexecPath,
        "proc.pcmdline" => ProcPcmdline,
        "proc.cwd" => ProcCwd,
        "proc.tty" => ProcTty,
        "proc.sid" => ProcSid,
        "proc.vpgid" => ProcVpgid,
        "proc.is_exe_upper_layer" => ProcIsExeUpperLayer,
        "proc.is_exe_from_memfd" => ProcIsExeFromMemfd,
        "proc.vpid" => ProcVpid,
        "proc.duration" => ProcDuration,
        "proc.sname" => ProcSname,
        "proc.is_vpgid_leader" => ProcIsVpgidLeader,
        "proc.exe_ino.ctime" => ProcExeInoCtime,
        "proc.exe_ino.mtime" => ProcExeInoMtime,
        "proc.exe_ino.ctime_duration_proc_start" => ProcExeInoCtimeDurationProcStart,
        "user.uid" => UserUid,
        "user.name" => UserName,
        "user.loginuid" => UserLoginuid,
        "user.loginname" => UserLoginname,
        "group.gid" => GroupGid,
        "group.name" => GroupName,
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
        "fd.ip" => FdIp,
        "fd.net" => FdNet,
        "fd.port" => FdPort,
        "fd.sockfamily" => FdSockfamily,
        "fd.connected" => FdConnected,
        "fd.name_changed" => FdNameChanged,
        "fd.sip.name" => FdSipName,
        "fd.cip.name" => FdCipName,
        "fd.rip.name" => FdRipName,
        "fd.lip.name" => FdLipName,
        "thread.cap_effective" => ThreadCapEffective,
        "thread.cap_permitted" => ThreadCapPermitted,
        "container.id" => ContainerId,
        "container.name" => ContainerName,
        "container.image" => ContainerImage,
        "container.image.repository" => ContainerImageRepository,
        "container.image.tag" => ContainerImageTag,
        "container.privileged" => ContainerPrivileged,
        "container.start_ts" => ContainerStartTs,
        "container.mounts" => ContainerMounts,
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

impl Field {
    /// Whether the field's values are domain names of an address (`fd.sip.name`, ...): the
    /// names a condition compares them with must be resolved.
    pub fn names_addresses(&self) -> bool {
        matches!(self.id, FieldId::FdSipName | FieldId::FdCipName | FieldId::FdRipName | FieldId::FdLipName)
    }
}

mod extract;
#[cfg(test)]
mod tests;

pub use extract::{errno_name, glob_matches, open_flags, Val};
