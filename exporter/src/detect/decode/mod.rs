//! Kernel `SyscallEvent` -> rule engine [`Event`]: names the syscall, its arguments as Falco
//! names them (the recorded events under `tests/data/rules/events` have the same shape),
//! resolves path arguments as the kernel did (cwd, `*at` dirfds, symlinks inside the process's
//! root), decodes socket addresses, and fills the process, user and container snapshots.
//!
//! # Arguments (in this order; `fd.name` is the object path of path syscalls)
//! | syscall | args | `fd` |
//! |---|---|---|
//! | open, openat, openat2, creat | (`dirfd`), `name`, `flags` (not creat), `mode` | the file (`num` = result) |
//! | execve / execveat | `filename` / `dirfd`, `pathname`, `flags` | the executable (or the dirfd's path) |
//! | chmod, fchmod, fchmodat(2) | `filename` or `fd`, (`dirfd`), `mode`, (`flags`) | the file (fchmod: the fd's path) |
//! | chown, lchown, fchown, fchownat | `path` / `fd` / `dirfd`, `pathname`; `uid`, `gid`, (`flags`) | the file |
//! | symlink / symlinkat | `target` (resolved from the link's directory), (`linkdirfd`), `linkpath` | the link |
//! | link / linkat | (`olddir`), `oldpath` (the file linked), (`newdir`), `newpath`, (`flags`) | the new name |
//! | rename, renameat, renameat2 | (`olddirfd`), `oldpath`, (`newdirfd`), `newpath`, (`flags`) | the new name |
//! | unlink / unlinkat | `path` / `dirfd`, `name`, `flags` | the name removed |
//! | mkdir(at), rmdir, chdir, chroot | (`dirfd`), `path`, (`mode`) | the directory |
//! | mount / umount2 | `dev` (resolved only if it has a `/`), `dir`, `flags` / `name`, `flags` | the mount point |
//! | connect, bind / sendto | `fd`, `addr` / `fd`, `size`, `addr` | the socket (see below) |
//! | ptrace | `request`, `pid`, `addr`, `data` (numbers) | |
//! | setuid, setreuid, setresuid (gid alike) | `uid` / `ruid`, `euid` / `ruid`, `euid`, `suid` | |
//! | setns / unshare | `fd`, `nstype` / `flags` (CLONE_* text) | |
//! | init_module / finit_module | `len` / `fd`, `flags` | finit_module: the module file |
//! | memfd_create | `name` (raw), `flags` (MFD_* text) | `memfd` `/memfd:NAME`, `num` = result |
//! | bpf | `cmd` (BPF_* text), `size` | |
//! | anything else | `arg0`..`arg5` (raw numbers, so `evt.arg[N]` works) | |
//!
//! Flags render as names joined by `|`, bits without a name in hex, `0` for none; modes, uids and
//! gids are numbers (uid -1 is 4294967295). `fd.type` is `directory` for O_DIRECTORY opens,
//! AT_REMOVEDIR, mkdir/rmdir/chdir/chroot and mount points.
//!
//! # What the record cannot tell (documented limits)
//! - `openat2`: the flags and mode live in the `struct open_how` argument 2 points to. The
//!   kernel copies it only if `arg_spec("openat2")` asks for it through the sockaddr buffer
//!   (`sockaddr: 2, sockaddr_len: 3`; `open_how` is 24 bytes, the buffer 28); then `flags`,
//!   `mode` and `resolve` are decoded from it. Without it the event has `dirfd` and `name`
//!   only, and the engine treats it as a read (no `flags`).
//! - `mount`: the file system type (argument 2) is a string the kernel does not copy (two path
//!   slots hold source and target): no `type` argument. `init_module`: no `uargs`.
//! - Sockets: the record has the address passed, not the socket: `l4proto` is `tcp` for
//!   `connect`/`bind` (a `connect` on a datagram socket cannot be told apart) and `udp` for
//!   `sendto` with an address; the local end of a `connect` is unknown (`lip`/`lport` absent),
//!   so `fd.name` is the remote address (`203.0.113.9:4444`, `[2001:db8::7]:9050`, a unix path
//!   or `@abstract`). Unix paths are cut at 26 bytes (the 28-byte buffer).
//! - `user.uid`/`user.gid` come from the record: the thread's *effective* ids at the syscall
//!   (`current->cred`, as Falco's), the real ones only if the kernel's offsets were unknown;
//!   `user.name` is cleared when the record's uid is not the one the process table knows.
//!
//! # Cost
//! Strings are written into the `Event`'s existing buffers (`clear()` then push). /proc is read
//! only to resolve paths: a relative path or symlink walk ([`paths::resolve_in_process`]: a
//! `readlink` of a non-`AT_FDCWD` dirfd, `lstat`s inside the process's root), the cwd of a
//! process the table does not know, and the path of the descriptor of `fchmod`/`fchown`/
//! `finit_module`/`execveat(AT_EMPTY_PATH)`. Those resolutions allocate their result.

use crate::detect::process::paths::{self, AT_FDCWD};
use crate::detect::process::{kernel_str, ProcessTable};
use crate::rules::{Container, Event, Role};
use crate::syscalls::{Arch, SyscallNames};
use exporter_ebpf::{SyscallEvent, MAX_SYSCALLS};
use std::fmt::Write as _;
use std::path::PathBuf;

mod clock;
mod cx;
mod flags;
mod sockaddr;

pub use clock::boot_to_epoch_ns;
pub use cx::raw_path;
pub use flags::{render_flags, AT_EMPTY_PATH, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW};
pub use sockaddr::{parse_sockaddr, SockAddr, AF_INET, AF_INET6, AF_UNIX};

use cx::{ArgW, Cx, Last};
use flags::{
    AT_FLAGS, BPF_CMDS, CLONE_FLAGS, MFD_FLAGS, MODULE_INIT_FLAGS, MOUNT_FLAGS, MS_MGC_MSK, MS_MGC_VAL, RENAME_FLAGS,
    UMOUNT_FLAGS,
};
use sockaddr::write_addr;

/// The syscalls the decoder names arguments of; everything else gets `arg0`..`arg5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sys {
    Open,
    Openat,
    Openat2,
    Creat,
    Execve,
    Execveat,
    Chmod,
    Fchmod,
    Fchmodat,
    Fchmodat2,
    Chown,
    Lchown,
    Fchown,
    Fchownat,
    Symlink,
    Symlinkat,
    Link,
    Linkat,
    Rename,
    Renameat,
    Renameat2,
    Unlink,
    Unlinkat,
    Mkdir,
    Mkdirat,
    Rmdir,
    Chdir,
    Chroot,
    Mount,
    Umount2,
    Connect,
    Bind,
    Sendto,
    Ptrace,
    Setuid,
    Setreuid,
    Setresuid,
    Setgid,
    Setregid,
    Setresgid,
    Setns,
    Unshare,
    InitModule,
    FinitModule,
    MemfdCreate,
    Bpf,
    Other,
}

impl Sys {
    fn of(name: &str) -> Sys {
        use Sys::*;
        match name {
            "open" => Open,
            "openat" => Openat,
            "openat2" => Openat2,
            "creat" => Creat,
            "execve" => Execve,
            "execveat" => Execveat,
            "chmod" => Chmod,
            "fchmod" => Fchmod,
            "fchmodat" => Fchmodat,
            "fchmodat2" => Fchmodat2,
            "chown" => Chown,
            "lchown" => Lchown,
            "fchown" => Fchown,
            "fchownat" => Fchownat,
            "symlink" => Symlink,
            "symlinkat" => Symlinkat,
            "link" => Link,
            "linkat" => Linkat,
            "rename" => Rename,
            "renameat" => Renameat,
            "renameat2" => Renameat2,
            "unlink" => Unlink,
            "unlinkat" => Unlinkat,
            "mkdir" => Mkdir,
            "mkdirat" => Mkdirat,
            "rmdir" => Rmdir,
            "chdir" => Chdir,
            "chroot" => Chroot,
            "mount" => Mount,
            "umount2" => Umount2,
            "connect" => Connect,
            "bind" => Bind,
            "sendto" => Sendto,
            "ptrace" => Ptrace,
            "setuid" => Setuid,
            "setreuid" => Setreuid,
            "setresuid" => Setresuid,
            "setgid" => Setgid,
            "setregid" => Setregid,
            "setresgid" => Setresgid,
            "setns" => Setns,
            "unshare" => Unshare,
            "init_module" => InitModule,
            "finit_module" => FinitModule,
            "memfd_create" => MemfdCreate,
            "bpf" => Bpf,
            _ => Other,
        }
    }
}

/// Turns kernel records into rule engine events; see the module docs.
pub struct Decoder {
    names: SyscallNames,
    kinds: Vec<Sys>,
    open_flags: &'static [(u64, &'static str)],
    o_nofollow: u64,
    o_directory: u64,
    proc_root: PathBuf,
}

impl Decoder {
    /// A decoder for `arch` reading `/proc`.
    pub fn new(arch: Arch) -> Decoder {
        Decoder::with_proc_root(arch, PathBuf::from("/proc"))
    }

    /// A decoder resolving paths through another proc root (tests use a fake one).
    pub fn with_proc_root(arch: Arch, proc_root: PathBuf) -> Decoder {
        let names = SyscallNames::new(arch);
        let kinds = (0..MAX_SYSCALLS).map(|nr| Sys::of(names.name(nr))).collect();
        let (open_flags, o_nofollow, o_directory) = flags::open_flags(arch);
        Decoder { names, kinds, open_flags, o_nofollow, o_directory, proc_root }
    }

    /// Fills `ev` (every member; its buffers are reused) from one kernel record. `num` is the
    /// event number, `boot_to_epoch_ns` from [`boot_to_epoch_ns`], `container` the resolved
    /// container of `raw.cgroup_id` (`None`: the host).
    #[allow(clippy::too_many_arguments)]
    pub fn decode(
        &self,
        raw: &SyscallEvent,
        num: u64,
        boot_to_epoch_ns: i64,
        table: &ProcessTable,
        container: Option<Container>,
        ev: &mut Event,
    ) {
        let nr = raw.nr as usize;
        let (name, kind) = match self.kinds.get(nr) {
            Some(k) => (self.names.name(nr), *k),
            None => ("", Sys::Other),
        };
        ev.num = num;
        ev.time = (raw.ktime_ns as i64).saturating_add(boot_to_epoch_ns).max(0) as u64;
        ev.evt_type.clear();
        if name.is_empty() {
            let _ = write!(ev.evt_type, "syscall_{nr}");
        } else {
            ev.evt_type.push_str(name);
        }
        ev.dir = crate::rules::Direction::Exit;
        ev.res = raw.res;
        ev.container = container;
        // A successful exec's record carries the comm from before the exec (it is taken at entry),
        // while the table was reloaded with the new image: there the table is right.
        let exec_done = matches!(kind, Sys::Execve | Sys::Execveat) && raw.res == 0;
        self.fill_process(raw, table, !exec_done, ev);

        let Event { args, proc, fd, .. } = ev;
        let mut cx = Cx {
            d: self,
            raw,
            pid: raw.tgid as i32,
            cwd: &proc.cwd,
            args: ArgW { v: &mut args.0, n: 0 },
            fd,
            has_fd: false,
        };
        cx.decode(kind);
        let n = cx.args.n;
        let has_fd = cx.has_fd;
        args.0.truncate(n);
        if !has_fd {
            *fd = None;
        }
    }

    /// `comm_is_truth`: the record's comm names the process as it was at the syscall, so it
    /// wins over a table entry with another name.
    fn fill_process(&self, raw: &SyscallEvent, table: &ProcessTable, comm_is_truth: bool, ev: &mut Event) {
        let (p, u) = (&mut ev.proc, &mut ev.user);
        let known = table.fill_event_process(raw.tgid as i32, p, u);
        let comm = kernel_str(&raw.comm);
        if known && comm_is_truth && !comm.is_empty() && p.name != comm {
            // The table was loaded from /proc after the syscall and describes the pid's later
            // image: runc's init ("runc:[2:INIT]") mounts and setns in the container's cgroup,
            // then execs the container's program, and a detection thread running behind loads
            // that program. With the table's name, runc's own setup would fire "Mount in
            // container" as the program. The kernel's comm is what the process was called at
            // the syscall (a thread's own name, as in Falco); the rest stays the table's.
            p.name.clear();
            p.name.push_str(&comm);
        }
        if !known {
            p.pid = raw.tgid as i64;
            p.ppid = 0;
            p.name.clear();
            p.name.push_str(&comm);
            p.exe.clear();
            p.exepath.clear();
            p.args.clear();
            p.cmdline.clone_from(&p.name);
            p.cwd.clear();
            p.tty = 0;
            p.sid = 0;
            p.vpgid = 0;
            p.is_exe_upper_layer = false;
            p.is_exe_from_memfd = false;
            p.cap_effective = 0;
            p.cap_permitted = 0;
            p.ancestors.clear();
            u.name.clear();
            u.loginuid = -1;
            u.loginname.clear();
        } else if u.uid != raw.uid as i64 {
            // The table's name is for its uid (the effective one at exec).
            u.name.clear();
        }
        u.uid = raw.uid as i64;
        u.gid = raw.gid as i64;
    }
}

impl Cx<'_> {
    fn decode(&mut self, kind: Sys) {
        use Sys::*;
        let d = self.d;
        match kind {
            Open | Openat | Creat | Openat2 => {
                // `p`: the argument index of the path (flags and mode follow it).
                let (dirfd, p) = match kind {
                    Openat | Openat2 => {
                        let dirfd = self.int32(0);
                        self.args.int("dirfd", dirfd);
                        (dirfd, 1)
                    }
                    _ => (AT_FDCWD, 0),
                };
                let (flags, mode) = match kind {
                    Openat2 => match self.open_how() {
                        Some((f, m, _)) => (Some(f), Some(m)),
                        None => (None, None),
                    },
                    Creat => (None, Some(self.arg(1))),
                    _ => (Some(self.arg(p + 1)), Some(self.arg(p + 2))),
                };
                let f = flags.unwrap_or(0);
                let last = if f & d.o_nofollow != 0 { Last::NoFollow } else { Last::Follow };
                let obj = if f & d.o_directory != 0 && f & 0o20000000 == 0 { "directory" } else { "file" };
                self.path_arg("name", 0, dirfd, last, Some(obj));
                if let Some(f) = flags {
                    d.render_open_flags(f, self.args.text("flags"));
                }
                if let Some(m) = mode {
                    self.args.int("mode", m as u32 as i64);
                }
                if kind == Openat2 {
                    if let Some((_, _, r)) = self.open_how() {
                        self.args.int("resolve", r as i64);
                    }
                }
                let res = self.raw.res;
                if let Some(f) = self.fd.as_mut() {
                    f.num = if res >= 0 { res } else { -1 };
                }
            }
            Execve => {
                self.path_arg("filename", 0, AT_FDCWD, Last::Follow, Some("file"));
            }
            Execveat => {
                let dirfd = self.int32(0);
                let flags = self.arg(4);
                self.args.int("dirfd", dirfd);
                let raw_p = raw_path(self.raw, 0);
                let empty = raw_p.as_deref().is_none_or(str::is_empty);
                if empty && flags & AT_EMPTY_PATH != 0 {
                    // The descriptor itself is executed (a memfd in fileless attacks).
                    self.args.str("pathname", "");
                    let p = self.fd_path(dirfd);
                    let f = self.fd();
                    f.num = dirfd;
                    f.kind.push_str("file");
                    if let Some(p) = p {
                        f.name.push_str(&p);
                    }
                    f.nameraw = None;
                } else {
                    let last = if flags & AT_SYMLINK_NOFOLLOW != 0 { Last::NoFollow } else { Last::Follow };
                    self.path_arg("pathname", 0, dirfd, last, Some("file"));
                }
                self.flags("flags", flags, AT_FLAGS);
            }
            Chmod => {
                self.path_arg("filename", 0, AT_FDCWD, Last::Follow, Some("file"));
                self.args.int("mode", self.u32(1));
            }
            Fchmod => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.args.int("mode", self.u32(1));
                self.fd_object(fd);
            }
            Fchmodat | Fchmodat2 => {
                let dirfd = self.int32(0);
                let flags = if kind == Fchmodat2 { self.arg(3) } else { 0 };
                self.args.int("dirfd", dirfd);
                let last = if flags & AT_SYMLINK_NOFOLLOW != 0 { Last::NoFollow } else { Last::Follow };
                self.path_arg("filename", 0, dirfd, last, Some("file"));
                self.args.int("mode", self.u32(2));
                if kind == Fchmodat2 {
                    self.flags("flags", flags, AT_FLAGS);
                }
            }
            Chown | Lchown => {
                let last = if kind == Lchown { Last::NoFollow } else { Last::Follow };
                self.path_arg("path", 0, AT_FDCWD, last, Some("file"));
                self.args.int("uid", self.u32(1));
                self.args.int("gid", self.u32(2));
            }
            Fchown => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.args.int("uid", self.u32(1));
                self.args.int("gid", self.u32(2));
                self.fd_object(fd);
            }
            Fchownat => {
                let dirfd = self.int32(0);
                let flags = self.arg(4);
                self.args.int("dirfd", dirfd);
                let last = if flags & AT_SYMLINK_NOFOLLOW != 0 { Last::NoFollow } else { Last::Follow };
                self.path_arg("pathname", 0, dirfd, last, Some("file"));
                self.args.int("uid", self.u32(2));
                self.args.int("gid", self.u32(3));
                self.flags("flags", flags, AT_FLAGS);
            }
            Symlink | Symlinkat => {
                let raw = self.raw;
                let dirfd = if kind == Symlinkat { self.int32(1) } else { AT_FDCWD };
                let linkraw = raw_path(raw, 1);
                let link = linkraw.as_deref().map(|l| self.resolve(dirfd, l, Last::NoFollow));
                let target = raw_path(raw, 0).map(|t| match &link {
                    Some(l) => {
                        let root = self.d.proc_root.join(self.pid.to_string()).join("root");
                        paths::symlink_target_in_root(&root, l, &t)
                    }
                    None => paths::normalize(&t),
                });
                self.args.str("target", target.as_deref().unwrap_or(""));
                if kind == Symlinkat {
                    self.args.int("linkdirfd", dirfd);
                }
                self.args.str("linkpath", link.as_deref().unwrap_or(""));
                if let (Some(l), Some(r)) = (&link, &linkraw) {
                    self.set_object("file", l, Some(r));
                }
            }
            Link | Linkat => {
                let raw = self.raw;
                let at = kind == Linkat;
                let (olddir, newdir, flags) =
                    if at { (self.int32(0), self.int32(2), self.arg(4)) } else { (AT_FDCWD, AT_FDCWD, 0) };
                let old = raw_path(raw, 0).map(|p| {
                    let cwd = if olddir == AT_FDCWD { self.cwd().into_owned() } else { "/".to_owned() };
                    paths::hardlink_source(&self.d.proc_root, self.pid, olddir, &p, &cwd, flags as i64)
                        .unwrap_or_else(|_| paths::normalize(&p))
                });
                if at {
                    self.args.int("olddir", olddir);
                }
                self.args.str("oldpath", old.as_deref().unwrap_or(""));
                if at {
                    self.args.int("newdir", newdir);
                }
                self.path_arg("newpath", 1, newdir, Last::NoFollow, Some("file"));
                if at {
                    self.flags("flags", flags, AT_FLAGS);
                }
            }
            Rename | Renameat | Renameat2 => {
                let at = kind != Rename;
                let (olddir, newdir) = if at { (self.int32(0), self.int32(2)) } else { (AT_FDCWD, AT_FDCWD) };
                if at {
                    self.args.int("olddirfd", olddir);
                }
                self.path_arg("oldpath", 0, olddir, Last::NoFollow, None);
                if at {
                    self.args.int("newdirfd", newdir);
                }
                self.path_arg("newpath", 1, newdir, Last::NoFollow, Some("file"));
                if kind == Renameat2 {
                    self.flags("flags", self.arg(4), RENAME_FLAGS);
                }
            }
            Unlink => {
                self.path_arg("path", 0, AT_FDCWD, Last::NoFollow, Some("file"));
            }
            Unlinkat => {
                let dirfd = self.int32(0);
                let flags = self.arg(2);
                self.args.int("dirfd", dirfd);
                let obj = if flags & AT_REMOVEDIR != 0 { "directory" } else { "file" };
                self.path_arg("name", 0, dirfd, Last::NoFollow, Some(obj));
                self.flags("flags", flags, AT_FLAGS);
            }
            Mkdir | Mkdirat => {
                let dirfd = if kind == Mkdirat { self.int32(0) } else { AT_FDCWD };
                if kind == Mkdirat {
                    self.args.int("dirfd", dirfd);
                }
                let m = if kind == Mkdirat { self.u32(2) } else { self.u32(1) };
                self.path_arg("path", 0, dirfd, Last::NoFollow, Some("directory"));
                self.args.int("mode", m);
            }
            Rmdir => {
                self.path_arg("path", 0, AT_FDCWD, Last::NoFollow, Some("directory"));
            }
            Chdir | Chroot => {
                self.path_arg("path", 0, AT_FDCWD, Last::Follow, Some("directory"));
            }
            Mount => {
                // The source is a path only for block devices and bind mounts (`proc`, `overlay`,
                // `tmpfs` are names).
                let raw = self.raw;
                match raw_path(raw, 0) {
                    Some(dev) if dev.contains('/') => {
                        let r = self.resolve(AT_FDCWD, &dev, Last::Follow);
                        self.args.str("dev", &r);
                    }
                    Some(dev) => self.args.str("dev", &dev),
                    None => self.args.str("dev", ""),
                }
                self.path_arg("dir", 1, AT_FDCWD, Last::Follow, Some("directory"));
                let mut flags = self.arg(3);
                if flags & MS_MGC_MSK == MS_MGC_VAL {
                    flags &= !MS_MGC_MSK;
                }
                self.flags("flags", flags, MOUNT_FLAGS);
            }
            Umount2 => {
                let flags = self.arg(1);
                let last = if flags & 8 != 0 { Last::NoFollow } else { Last::Follow };
                self.path_arg("name", 0, AT_FDCWD, last, Some("directory"));
                self.flags("flags", flags, UMOUNT_FLAGS);
            }
            Connect | Bind => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.socket(fd, kind == Bind, "tcp");
            }
            Sendto => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.args.int("size", self.arg(2) as i64);
                if self.raw.sockaddr_len > 0 {
                    self.socket(fd, false, "udp");
                }
            }
            Ptrace => {
                self.args.int("request", self.arg(0) as i64);
                self.args.int("pid", self.int32(1));
                self.args.int("addr", self.arg(2) as i64);
                self.args.int("data", self.arg(3) as i64);
            }
            Setuid => self.args.int("uid", self.u32(0)),
            Setgid => self.args.int("gid", self.u32(0)),
            Setreuid => {
                self.args.int("ruid", self.u32(0));
                self.args.int("euid", self.u32(1));
            }
            Setregid => {
                self.args.int("rgid", self.u32(0));
                self.args.int("egid", self.u32(1));
            }
            Setresuid => {
                self.args.int("ruid", self.u32(0));
                self.args.int("euid", self.u32(1));
                self.args.int("suid", self.u32(2));
            }
            Setresgid => {
                self.args.int("rgid", self.u32(0));
                self.args.int("egid", self.u32(1));
                self.args.int("sgid", self.u32(2));
            }
            Setns => {
                self.args.int("fd", self.int32(0));
                self.flags("nstype", self.arg(1) & 0xffff_ffff, CLONE_FLAGS);
            }
            Unshare => self.flags("flags", self.arg(0) & 0xffff_ffff, CLONE_FLAGS),
            InitModule => self.args.int("len", self.arg(1) as i64),
            FinitModule => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.flags("flags", self.arg(2) & 0xffff_ffff, MODULE_INIT_FLAGS);
                self.fd_object(fd);
            }
            MemfdCreate => {
                let raw = self.raw;
                let name = raw_path(raw, 0);
                self.args.str("name", name.as_deref().unwrap_or(""));
                self.flags("flags", self.arg(1) & 0xffff_ffff, MFD_FLAGS);
                let res = raw.res;
                let f = self.fd();
                f.num = res;
                f.kind.push_str("memfd");
                f.name.push_str("/memfd:");
                f.name.push_str(name.as_deref().unwrap_or(""));
                f.nameraw = None;
            }
            Bpf => {
                let cmd = self.arg(0) as u32 as usize;
                match BPF_CMDS.get(cmd) {
                    Some(n) => self.args.str("cmd", n),
                    None => {
                        let _ = write!(self.args.text("cmd"), "{cmd}");
                    }
                }
                self.args.int("size", self.u32(2));
            }
            Other => {
                for (i, name) in ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"].iter().enumerate() {
                    self.args.int(name, self.arg(i) as i64);
                }
            }
        }
    }

    /// `struct open_how { u64 flags, mode, resolve }` when the kernel copied it into the
    /// sockaddr buffer (see the module docs).
    fn open_how(&self) -> Option<(u64, u64, u64)> {
        let n = self.raw.sockaddr_len as usize;
        if n < 24 {
            return None;
        }
        let b = &self.raw.sockaddr;
        let w = |i: usize| u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        Some((w(0), w(1), w(2)))
    }

    /// `addr` and the fd of connect/bind/sendto from the copied sockaddr.
    fn socket(&mut self, fdnum: i64, local: bool, proto: &str) {
        let raw = self.raw;
        let len = (raw.sockaddr_len as usize).min(raw.sockaddr.len());
        let sa = parse_sockaddr(&raw.sockaddr[..len]);
        let text = self.args.text("addr");
        match &sa {
            Some(SockAddr::Inet(ip, port)) => write_addr(text, *ip, *port),
            Some(SockAddr::Unix(p)) => text.push_str(p),
            Some(SockAddr::Other(f)) => {
                let _ = write!(text, "family {f}");
            }
            None => {}
        }
        let f = self.fd();
        f.num = fdnum;
        f.nameraw = None;
        match sa {
            Some(SockAddr::Inet(ip, port)) => {
                f.kind.push_str(if ip.is_ipv4() { "ipv4" } else { "ipv6" });
                f.l4proto = Some(proto.to_owned());
                if local {
                    f.lip = Some(ip);
                    f.lport = Some(port);
                    f.role = Role::Server;
                } else {
                    f.rip = Some(ip);
                    f.rport = Some(port);
                }
                write_addr(&mut f.name, ip, port);
            }
            Some(SockAddr::Unix(p)) => {
                f.kind.push_str("unix");
                f.name.push_str(&p);
            }
            Some(SockAddr::Other(_)) | None => {}
        }
    }
}

#[cfg(test)]
mod tests;
