//! One decode in progress: the record's arguments read as their C types, path arguments
//! resolved as the kernel resolved them, and the event's argument list and fd written in place.

use super::{flags::render_flags, Decoder};
use crate::detect::process::paths::{self, AT_FDCWD};
use crate::rules::{ArgValue, Fd, Role};
use exporter_ebpf::{SyscallEvent, EVENT_RESOLVED_PATH, MAX_PATH};
use std::borrow::Cow;
use std::fmt::Write as _;

/// Path slot `i` of the record as a string: `None` when the kernel had nothing to copy or the
/// copy failed. A truncated path (length `MAX_PATH`) is decoded as far as it goes.
pub fn raw_path(raw: &SyscallEvent, i: usize) -> Option<Cow<'_, str>> {
    let len = *raw.path_lens.get(i)?;
    if len <= 0 {
        return None;
    }
    let buf = &raw.paths[i][..(len as usize).min(MAX_PATH)];
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]))
}

/// The event's argument list, written in place: slot `n` is overwritten, reusing its strings.
pub(super) struct ArgW<'a> {
    pub(super) v: &'a mut Vec<(String, ArgValue)>,
    pub(super) n: usize,
}

impl ArgW<'_> {
    fn slot(&mut self, name: &str) -> &mut ArgValue {
        if self.n == self.v.len() {
            self.v.push((String::new(), ArgValue::Int(0)));
        }
        let (k, v) = &mut self.v[self.n];
        self.n += 1;
        k.clear();
        k.push_str(name);
        v
    }

    pub(super) fn int(&mut self, name: &str, x: i64) {
        *self.slot(name) = ArgValue::Int(x);
    }

    pub(super) fn text(&mut self, name: &str) -> &mut String {
        let v = self.slot(name);
        if !matches!(v, ArgValue::Str(_)) {
            *v = ArgValue::Str(String::new());
        }
        match v {
            ArgValue::Str(s) => {
                s.clear();
                s
            }
            ArgValue::Int(_) => unreachable!(),
        }
    }

    pub(super) fn str(&mut self, name: &str, s: &str) {
        self.text(name).push_str(s);
    }
}

/// How a path argument's last component is treated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Last {
    Follow,
    NoFollow,
}

/// One decode in progress.
pub(super) struct Cx<'a> {
    pub(super) d: &'a Decoder,
    pub(super) raw: &'a SyscallEvent,
    pub(super) pid: i32,
    pub(super) cwd: &'a str,
    pub(super) args: ArgW<'a>,
    pub(super) fd: &'a mut Option<Fd>,
    pub(super) has_fd: bool,
    /// The whole of path slots the record carries cut (see `LongPath`).
    pub(super) long: [Option<&'a str>; 2],
}

impl<'a> Cx<'a> {
    /// Path slot `i` (see [`raw_path`]), whole when the kernel sent it apart.
    pub(super) fn raw_path(&self, i: usize) -> Option<Cow<'a, str>> {
        match self.long.get(i).copied().flatten() {
            Some(whole) => Some(Cow::Borrowed(whole)),
            None => raw_path(self.raw, i),
        }
    }

    pub(super) fn arg(&self, i: usize) -> u64 {
        self.raw.args[i]
    }
    /// An `int` argument (descriptors, dirfds, pids): the low 32 bits, sign-extended.
    pub(super) fn int32(&self, i: usize) -> i64 {
        self.raw.args[i] as u32 as i32 as i64
    }
    /// A `uid_t`/`gid_t`/`mode_t`/`unsigned int` argument.
    pub(super) fn u32(&self, i: usize) -> i64 {
        self.raw.args[i] as u32 as i64
    }

    /// The event's fd, reset (buffers kept).
    pub(super) fn fd(&mut self) -> &mut Fd {
        self.has_fd = true;
        let f = self.fd.get_or_insert_with(Fd::default);
        f.num = -1;
        f.kind.clear();
        f.name.clear();
        if let Some(s) = &mut f.nameraw {
            s.clear();
        }
        f.l4proto = None;
        f.lip = None;
        f.lport = None;
        f.rip = None;
        f.rport = None;
        f.role = Role::Client;
        f.connected = None;
        f.name_changed = None;
        f
    }

    /// The cwd for relative paths: the table's, else `/proc/<pid>/cwd`, else `/`.
    pub(super) fn cwd(&self) -> Cow<'_, str> {
        if !self.cwd.is_empty() {
            return Cow::Borrowed(self.cwd);
        }
        let link = self.d.proc_root.join(self.pid.to_string()).join("cwd");
        match std::fs::read_link(link) {
            Ok(p) => Cow::Owned(p.to_string_lossy().into_owned()),
            Err(_) => Cow::Borrowed("/"),
        }
    }

    /// `path` (relative to `dirfd`) as the kernel found it; lexical when the process is gone,
    /// and relative to `/` when its dirfd is (the directory is then unknown).
    pub(super) fn resolve(&self, dirfd: i64, path: &str, last: Last) -> String {
        let cwd = if path.starts_with('/') || dirfd != AT_FDCWD { Cow::Borrowed("/") } else { self.cwd() };
        match paths::resolve_in_process(&self.d.proc_root, self.pid, dirfd, path, &cwd, last == Last::Follow) {
            Ok(p) => p,
            Err(_) => paths::normalize(path),
        }
    }

    /// The path of descriptor `fd` of the process (`readlink /proc/<pid>/fd/<fd>`).
    pub(super) fn fd_path(&self, fd: i64) -> Option<String> {
        let link = self.d.proc_root.join(self.pid.to_string()).join("fd").join(fd.to_string());
        std::fs::read_link(link).ok().map(|p| p.to_string_lossy().into_owned())
    }

    /// Writes path argument `name` from path slot `slot` (resolved, `dirfd`-relative), and,
    /// with `object`, makes it `fd.name` (`nameraw` the raw string). Returns the resolved path.
    pub(super) fn path_arg(
        &mut self,
        name: &str,
        slot: usize,
        dirfd: i64,
        last: Last,
        object: Option<&str>,
    ) -> Option<String> {
        let raw = self.raw;
        let Some(p) = self.raw_path(slot) else {
            self.args.str(name, "");
            return None;
        };
        // The kernel named the file it opened (symlinks, `..` and the cwd already resolved):
        // that beats resolving the argument again after the fact.
        let named = (slot == 0 && raw.flags & EVENT_RESOLVED_PATH != 0).then(|| raw_path(raw, 1)).flatten();
        let resolved = match named {
            Some(path) => path.into_owned(),
            None => self.resolve(dirfd, &p, last),
        };
        self.args.str(name, &resolved);
        if let Some(kind) = object {
            self.set_object(kind, &resolved, Some(&p));
        }
        Some(resolved)
    }

    pub(super) fn set_object(&mut self, kind: &str, path: &str, nameraw: Option<&str>) {
        let f = self.fd();
        f.kind.push_str(kind);
        f.name.push_str(path);
        match (nameraw, &mut f.nameraw) {
            (Some(r), Some(s)) => s.push_str(r),
            (Some(r), n @ None) => *n = Some(r.to_owned()),
            (None, n) => *n = None,
        }
    }

    /// `fd.name` from a descriptor argument (fchmod, fchown, finit_module): the name the kernel
    /// gave it at the call's exit when it did (the descriptor may be closed by now), else the
    /// descriptor's as user space finds it.
    pub(super) fn fd_object(&mut self, fdnum: i64) {
        let named = (self.raw.flags & EVENT_RESOLVED_PATH != 0).then(|| raw_path(self.raw, 1)).flatten();
        let path = named.map(Cow::into_owned).or_else(|| self.fd_path(fdnum));
        let f = self.fd();
        f.num = fdnum;
        f.nameraw = None;
        match path {
            Some(p) if p.starts_with('/') => {
                f.kind.push_str("file");
                f.name.push_str(&p);
            }
            _ => f.kind.push_str("file"),
        }
    }

    pub(super) fn flags(&mut self, name: &str, v: u64, table: &[(u64, &str)]) {
        render_flags(v, table, self.args.text(name));
    }

    /// An enumerated argument: its name in `names` (indexed by value), else the number.
    pub(super) fn enum_arg(&mut self, name: &str, v: u64, names: &[&str]) {
        let text = self.args.text(name);
        match usize::try_from(v).ok().and_then(|i| names.get(i)) {
            Some(n) => text.push_str(n),
            None => {
                let _ = write!(text, "{v}");
            }
        }
    }
}

#[cfg(test)]
#[path = "cx_tests.rs"]
mod tests;
