//! Reading one process from `/proc/<pid>`: the parsers (pure functions over file contents, so
//! they are tested on synthetic text) and [`Loader`], which reads the files and keeps the
//! caches that make a load cheap (user names per root, overlay mounts per mount namespace).
//!
//! Only `stat` is required: it names the process and gives its start time, which is what tells
//! a reused pid from the old process. Every other file may be missing or unreadable (kernel
//! threads have no `exe`, another user's `cwd` needs CAP_SYS_PTRACE): its fields stay empty.

use super::overlay::OverlayMounts;
use super::users::UserNames;
use std::fs;
use std::io::ErrorKind;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of `/proc/<pid>/environ` kept per process, as Falco's capture keeps (4 KiB): a variable
/// cut by the bound is dropped whole.
pub const ENV_MAX_BYTES: u64 = 4096;

/// Everything the table keeps about one process (a thread group: `pid` is the tgid).
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    pub tgid: i32,
    /// `/proc/<pid>/stat` field 22: clock ticks after boot. With `pid` it identifies the
    /// process; `None` when neither /proc nor the event said (a fork seen after the child died).
    pub start_time: Option<u64>,
    /// `comm` (at most 15 bytes): Falco's `proc.name`.
    pub comm: String,
    /// `argv[0]` as the process was started (Falco's `proc.exe`); `comm` when argv is empty.
    pub exe: String,
    /// Full path of the executable, `readlink /proc/<pid>/exe` (Falco's `proc.exepath`); keeps a
    /// ` (deleted)` suffix; `/memfd:<name> (deleted)` for a memfd.
    pub exepath: String,
    /// The path the process's last exec named, made absolute against its cwd, symlinks not
    /// resolved (`/bin/cat` where `exepath` says `/bin/busybox`); `exepath` when no exec was seen.
    pub exec_path: String,
    /// argv[1..].
    pub args: Vec<String>,
    /// Falco's `proc.cmdline`: `comm` and `args` joined by spaces.
    pub cmdline: String,
    /// The working directory as the process sees it (container-relative).
    pub cwd: String,
    /// `readlink /proc/<pid>/root`: `/` unless chrooted.
    pub root: String,
    /// Controlling terminal device number (stat field 7), 0 for none.
    pub tty: i64,
    pub sid: i32,
    /// Process group in the host's pid namespace (stat field 5).
    pub pgid: i32,
    /// Process group in the process's own pid namespace (last `NSpgid`), else `pgid`.
    pub vpgid: i32,
    /// The pid in the process's own pid namespace (last `NSpid`); `None` when /proc did not say
    /// (a process known only from its fork or exec record).
    pub vpid: Option<i32>,
    /// Effective uid and gid (second column of `Uid:`/`Gid:`), as Falco's `user.uid`.
    pub uid: u32,
    pub gid: u32,
    /// -1 when unset (the kernel's 4294967295).
    pub loginuid: i64,
    /// From the process root's `/etc/passwd`; empty when it has no entry.
    pub user_name: String,
    pub login_name: String,
    /// From the process root's `/etc/group`; empty when it has no entry.
    pub group_name: String,
    /// `/proc/<pid>/environ` at load, at most [`ENV_MAX_BYTES`]; shared by the forks that
    /// inherit it.
    pub env: Arc<[String]>,
    /// Change and modification times of the executable's inode, ns since the Unix epoch; 0 when
    /// unknown.
    pub exe_ctime: u64,
    pub exe_mtime: u64,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub is_exe_from_memfd: bool,
    /// The executable is on an overlay's upper layer (written in the container). See
    /// [`super::overlay`] for how it is decided and when it stays false.
    pub is_exe_upper_layer: bool,
    /// Inode of the process's cgroup v2 directory (what `bpf_get_current_cgroup_id` returns),
    /// 0 when unknown.
    pub cgroup_id: u64,
    /// Where the data came from; the kernel feeder may want to know how fresh it is.
    pub origin: Origin,
    pub exited: bool,
}

impl Default for ProcessInfo {
    fn default() -> Self {
        ProcessInfo {
            pid: 0,
            ppid: 0,
            tgid: 0,
            start_time: None,
            comm: String::new(),
            exe: String::new(),
            exepath: String::new(),
            exec_path: String::new(),
            args: Vec::new(),
            cmdline: String::new(),
            cwd: String::new(),
            root: String::new(),
            tty: 0,
            sid: 0,
            pgid: 0,
            vpgid: 0,
            vpid: None,
            uid: 0,
            gid: 0,
            loginuid: -1,
            user_name: String::new(),
            login_name: String::new(),
            group_name: String::new(),
            env: Arc::from([]),
            exe_ctime: 0,
            exe_mtime: 0,
            cap_effective: 0,
            cap_permitted: 0,
            is_exe_from_memfd: false,
            is_exe_upper_layer: false,
            cgroup_id: 0,
            origin: Origin::Proc,
            exited: false,
        }
    }
}

/// Source of a [`ProcessInfo`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// Read from /proc (seeded, loaded on a miss, or refreshed at exec).
    #[default]
    Proc,
    /// Copied from the parent at fork; no exec seen yet.
    Fork,
    /// Built from an exec event because `/proc/<pid>` was already gone (short-lived process):
    /// what the fork and the event gave.
    Exec,
}

impl ProcessInfo {
    /// Rebuilds `cmdline` from `comm` and `args` (Falco's form).
    pub fn rebuild_cmdline(&mut self) {
        let mut c = self.comm.clone();
        for a in &self.args {
            c.push(' ');
            c.push_str(a);
        }
        self.cmdline = c;
    }
}

/// Why a process could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// Exited, or exiting: an exiting process loses its memory (command line, executable) and
    /// then its root (user names) one after the other, so its /proc no longer tells one story.
    #[error("process {pid} is gone or exiting")]
    Gone { pid: i32 },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// The fields of `/proc/<pid>/stat` the table uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i64,
    pub start_time: u64,
    /// A zombie, or a task inside `do_exit` (`PF_EXITING` in the flags).
    pub exiting: bool,
}

/// `task->flags` bit set when the task starts exiting, before it releases anything.
const PF_EXITING: u64 = 0x4;

/// Parses a `stat` line. `comm` may contain spaces and parentheses (`1 (my (weird) proc) S ...`),
/// so it is everything between the first `(` and the *last* `)`.
pub fn parse_stat(line: &str) -> Result<Stat, String> {
    let open = line.find('(').ok_or("no '(' before comm")?;
    let close = line.rfind(')').ok_or("no ')' after comm")?;
    if close < open {
        return Err("')' before '('".into());
    }
    let comm = line[open + 1..close].to_owned();
    // Field 3 (state) is index 0 of the rest.
    let rest: Vec<&str> = line[close + 1..].split_whitespace().collect();
    let field = |n: usize| -> Result<&str, String> {
        rest.get(n - 3).copied().ok_or_else(|| format!("only {} fields, need field {n}", rest.len() + 2))
    };
    let num = |n: usize| -> Result<i64, String> {
        let f = field(n)?;
        f.parse::<i64>().map_err(|e| format!("field {n} {f:?}: {e}"))
    };
    let start = field(22)?;
    let flags = field(9)?;
    let flags: u64 = flags.parse().map_err(|e| format!("field 9 {flags:?}: {e}"))?;
    Ok(Stat {
        comm,
        ppid: num(4)? as i32,
        pgrp: num(5)? as i32,
        session: num(6)? as i32,
        tty_nr: num(7)?,
        start_time: start.parse().map_err(|e| format!("field 22 {start:?}: {e}"))?,
        exiting: matches!(field(3)?, "Z" | "X" | "x") || flags & PF_EXITING != 0,
    })
}

/// The fields of `/proc/<pid>/status` the table uses; missing lines stay at their defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub tgid: Option<i32>,
    pub ppid: Option<i32>,
    /// Effective uid and gid.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    /// Innermost `NSpgid`.
    pub vpgid: Option<i32>,
    /// Innermost `NSpid`.
    pub vpid: Option<i32>,
}

pub fn parse_status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        let mut cols = value.split_whitespace();
        match key {
            "Tgid" => s.tgid = value.parse().ok(),
            "PPid" => s.ppid = value.parse().ok(),
            // Real, effective, saved, fs: Falco's user.uid is the effective one.
            "Uid" => s.uid = cols.nth(1).and_then(|v| v.parse().ok()),
            "Gid" => s.gid = cols.nth(1).and_then(|v| v.parse().ok()),
            "CapEff" => s.cap_effective = u64::from_str_radix(value, 16).unwrap_or(0),
            "CapPrm" => s.cap_permitted = u64::from_str_radix(value, 16).unwrap_or(0),
            "NSpgid" => s.vpgid = cols.next_back().and_then(|v| v.parse().ok()),
            "NSpid" => s.vpid = cols.next_back().and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    s
}

/// `/proc/<pid>/cmdline`: NUL-separated argv (a trailing NUL or none). A process that rewrote
/// its argv area into one space-separated string (`setproctitle`) comes back as one element.
pub fn parse_cmdline(raw: &[u8]) -> Vec<String> {
    let raw = raw.strip_suffix(b"\0").unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

/// `/proc/<pid>/environ` as read (NUL-separated `NAME=value`), `complete` when the read was
/// not cut by [`ENV_MAX_BYTES`]: a cut read drops its last, partial variable.
pub fn parse_environ(raw: &[u8], complete: bool) -> Vec<String> {
    let mut vars: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    // The text after the last NUL: empty when the block ended with one, else a cut variable.
    if let Some(last) = vars.pop() {
        if complete && !last.is_empty() {
            vars.push(last);
        }
    }
    vars.into_iter().filter(|v| !v.is_empty()).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

/// `/proc/<pid>/loginuid`: -1 for unset (4294967295) or unreadable.
pub fn parse_loginuid(text: &str) -> i64 {
    match text.trim().parse::<u32>() {
        Ok(u32::MAX) | Err(_) => -1,
        Ok(v) => v as i64,
    }
}

/// The cgroup v2 path of `/proc/<pid>/cgroup` (its `0::` line).
pub fn parse_cgroup_v2_path(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("0::"))
}

/// Truncates like the kernel's `comm` (TASK_COMM_LEN - 1 = 15 bytes), on a char boundary.
pub fn comm_of(name: &str) -> String {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// Reads `/proc/<pid>` into [`ProcessInfo`]s, with the caches that keep a load cheap.
pub struct Loader {
    pub(crate) proc_root: PathBuf,
    cgroup_root: Option<PathBuf>,
    users: UserNames,
    overlays: OverlayMounts,
}

impl Loader {
    pub fn new(proc_root: PathBuf, cgroup_root: Option<PathBuf>) -> Loader {
        Loader { proc_root, cgroup_root, users: UserNames::default(), overlays: OverlayMounts::default() }
    }

    pub fn pid_dir(&self, pid: i32) -> PathBuf {
        self.proc_root.join(pid.to_string())
    }

    /// Only the start time (one small read): used at fork to key the child.
    pub fn start_time(&self, pid: i32) -> Option<u64> {
        let text = fs::read_to_string(self.pid_dir(pid).join("stat")).ok()?;
        parse_stat(&text).ok().map(|s| s.start_time)
    }

    /// Loads one process: about ten small reads plus, for a new root or mount namespace, its
    /// `/etc/passwd` and `mountinfo` (cached afterwards).
    pub fn load(&mut self, pid: i32) -> Result<ProcessInfo, ProcError> {
        let dir = self.pid_dir(pid);
        let stat = self.stat(pid)?;
        let status = read_opt(&dir.join("status")).map(|t| parse_status(&t)).unwrap_or_default();
        let argv = fs::read(dir.join("cmdline")).map(|b| parse_cmdline(&b)).unwrap_or_default();
        let exepath = link(&dir.join("exe"));
        let mut p = ProcessInfo {
            pid,
            ppid: status.ppid.unwrap_or(stat.ppid),
            tgid: status.tgid.unwrap_or(pid),
            start_time: Some(stat.start_time),
            exe: argv.first().cloned().unwrap_or_else(|| stat.comm.clone()),
            comm: stat.comm,
            args: argv.into_iter().skip(1).collect(),
            cwd: link(&dir.join("cwd")),
            root: link(&dir.join("root")),
            tty: stat.tty_nr,
            sid: stat.session,
            pgid: stat.pgrp,
            vpgid: status.vpgid.unwrap_or(stat.pgrp),
            vpid: status.vpid,
            uid: status.uid.unwrap_or(0),
            gid: status.gid.unwrap_or(0),
            loginuid: read_opt(&dir.join("loginuid")).map(|t| parse_loginuid(&t)).unwrap_or(-1),
            cap_effective: status.cap_effective,
            cap_permitted: status.cap_permitted,
            is_exe_from_memfd: exepath.starts_with("/memfd:"),
            exec_path: exepath.clone(),
            exepath,
            ..ProcessInfo::default()
        };
        p.env = read_environ(&dir.join("environ")).into();
        if let Ok(meta) = fs::metadata(dir.join("exe")) {
            p.exe_ctime = epoch_ns(meta.ctime(), meta.ctime_nsec());
            p.exe_mtime = epoch_ns(meta.mtime(), meta.mtime_nsec());
        }
        p.rebuild_cmdline();
        p.cgroup_id = self.cgroup_id(&dir);
        self.refresh_derived(&mut p);
        // A process that began exiting during the reads may have answered the first ones and
        // not the later (a command line but no root, so no user name): the caller then trusts
        // its own records instead of a half-read /proc.
        if self.stat(pid)?.start_time != stat.start_time {
            return Err(ProcError::Gone { pid });
        }
        Ok(p)
    }

    /// `/proc/<pid>/stat`; [`ProcError::Gone`] for a process that has exited or is exiting.
    fn stat(&self, pid: i32) -> Result<Stat, ProcError> {
        let path = self.pid_dir(pid).join("stat");
        let text = fs::read_to_string(&path).map_err(|source| match source.kind() {
            ErrorKind::NotFound | ErrorKind::InvalidInput => ProcError::Gone { pid },
            // ESRCH: the process died while the file was open.
            _ if source.raw_os_error() == Some(libc::ESRCH) => ProcError::Gone { pid },
            _ => ProcError::Io { path: path.clone(), source },
        })?;
        match parse_stat(&text) {
            Ok(stat) if stat.exiting => Err(ProcError::Gone { pid }),
            Ok(stat) => Ok(stat),
            Err(reason) => Err(ProcError::Parse { path, reason }),
        }
    }

    /// User names and the overlay flag: both need the process's root or mount namespace, so
    /// they are computed while `/proc/<pid>` exists.
    pub fn refresh_derived(&mut self, p: &mut ProcessInfo) {
        let dir = self.pid_dir(p.pid);
        let root = dir.join("root");
        p.user_name = self.users.name(&root, p.uid).unwrap_or_default();
        p.group_name = self.users.group(&root, p.gid).unwrap_or_default();
        p.login_name = match u32::try_from(p.loginuid) {
            Ok(l) => self.users.name(&root, l).unwrap_or_default(),
            Err(_) => String::new(),
        };
        p.is_exe_upper_layer = self.overlays.is_upper(&dir, &p.exepath);
    }

    fn cgroup_id(&self, dir: &Path) -> u64 {
        let Some(root) = &self.cgroup_root else { return 0 };
        let Some(text) = read_opt(&dir.join("cgroup")) else { return 0 };
        let Some(path) = parse_cgroup_v2_path(&text) else { return 0 };
        let path = path.trim_start_matches('/');
        fs::metadata(root.join(path)).map(|m| m.ino()).unwrap_or(0)
    }
}

/// At most [`ENV_MAX_BYTES`] of an environ file; empty when unreadable (another user's process
/// without CAP_SYS_PTRACE, a kernel thread).
fn read_environ(path: &Path) -> Vec<String> {
    let mut raw = Vec::new();
    // One byte more than the bound tells a cut block from one that fits exactly.
    let Ok(n) = fs::File::open(path).and_then(|f| f.take(ENV_MAX_BYTES + 1).read_to_end(&mut raw)) else {
        return Vec::new();
    };
    let complete = n as u64 <= ENV_MAX_BYTES;
    raw.truncate(ENV_MAX_BYTES as usize);
    parse_environ(&raw, complete)
}

/// A file time as ns since the epoch; 0 (unknown) before it.
fn epoch_ns(secs: i64, nsecs: i64) -> u64 {
    u64::try_from(secs)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000)?.checked_add(u64::try_from(nsecs).ok()?))
        .unwrap_or(0)
}

fn read_opt(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn link(path: &Path) -> String {
    fs::read_link(path).map(|t| t.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const STAT_WEIRD: &str = "1234 (my (weird) proc) S 1 1234 1200 34816 1234 4194304 100 0 0 0 \
        5 3 0 0 20 0 1 0 987654 10000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let s = parse_stat(STAT_WEIRD).unwrap();
        assert_eq!(s.comm, "my (weird) proc");
        assert_eq!((s.ppid, s.pgrp, s.session, s.tty_nr, s.start_time), (1, 1234, 1200, 34816, 987654));
        let s = parse_stat("7 ()) R 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0").unwrap();
        assert_eq!((s.comm.as_str(), s.start_time, s.exiting), (")", 42, false));
    }

    #[test]
    fn stat_tells_an_exiting_process() {
        let stat =
            |state: &str, flags: u64| format!("7 (x) {state} 2 0 0 0 -1 {flags} 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0");
        assert!(!parse_stat(&stat("S", 0x400100)).unwrap().exiting);
        // Inside do_exit, still running: PF_EXITING.
        assert!(parse_stat(&stat("R", 0x400104)).unwrap().exiting);
        assert!(parse_stat(&stat("Z", 0x40040c)).unwrap().exiting);
        assert!(parse_stat(&stat("S", u64::MAX)).unwrap().exiting);
    }

    #[test]
    fn stat_errors() {
        assert!(parse_stat("").is_err());
        assert!(parse_stat("1 (x S 1").is_err());
        assert!(parse_stat("1 (x) S 1 2 3").unwrap_err().contains("field"));
        assert!(parse_stat("1 (x) S one 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42").is_err());
    }

    #[test]
    fn status_fields() {
        let text = "Name:\tbash\nTgid:\t77\nPid:\t77\nPPid:\t70\nUid:\t1000\t0\t0\t0\nGid:\t100\t5\t5\t5\n\
            NSpid:\t77\t5\nNSpgid:\t77\t1\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000200000\n";
        let s = parse_status(text);
        assert_eq!(s.tgid, Some(77));
        assert_eq!(s.ppid, Some(70));
        assert_eq!((s.uid, s.gid), (Some(0), Some(5)));
        assert_eq!(s.vpgid, Some(1));
        assert_eq!(s.vpid, Some(5));
        assert_eq!(s.cap_effective, 1 << 21);
        assert_eq!(s.cap_permitted, (1 << 41) - 1);
        assert_eq!(parse_status("garbage\nUid: x\n"), Status::default());
    }

    #[test]
    fn cmdline_loginuid_cgroup() {
        assert_eq!(parse_cmdline(b"cat\0/etc/shadow\0"), vec!["cat", "/etc/shadow"]);
        assert_eq!(parse_cmdline(b"nginx: master process\0"), vec!["nginx: master process"]);
        assert_eq!(parse_cmdline(b"a\0\0b"), vec!["a", "", "b"]);
        assert!(parse_cmdline(b"").is_empty());
        assert_eq!(parse_environ(b"A=1\0B=2\0", true), vec!["A=1", "B=2"]);
        assert_eq!(parse_environ(b"A=1\0B=2", true), vec!["A=1", "B=2"], "no final NUL");
        assert_eq!(parse_environ(b"A=1\0B=", false), vec!["A=1"], "a cut variable is dropped");
        assert!(parse_environ(b"", true).is_empty());
        assert_eq!(parse_loginuid("4294967295"), -1);
        assert_eq!(parse_loginuid("1000\n"), 1000);
        assert_eq!(parse_loginuid("x"), -1);
        assert_eq!(parse_cgroup_v2_path("12:pids:/a\n0::/system.slice/x.scope\n"), Some("/system.slice/x.scope"));
        assert_eq!(parse_cgroup_v2_path("1:name=systemd:/\n"), None);
        assert_eq!(comm_of("a-very-long-program-name"), "a-very-long-pro");
        assert_eq!(comm_of("ééééééééé"), "ééééééé");
    }
}
