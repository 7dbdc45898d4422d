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
//! | socket | `domain` (`AF_INET`, `AF_PACKET`, ...; a number if unnamed), `type`, `proto` (numbers) | ipv4/ipv6 (`l4proto` from the type), unix, netlink: `num` = result |
//! | dup, dup2, dup3 | `oldfd`, (`newfd`), (`flags`: `O_CLOEXEC`) | the old descriptor: its socket as the kernel described it, else its file or pipe |
//! | connect, bind / sendto | `fd`, `addr` / `fd`, `size`, `addr` | the socket (see below) |
//! | ptrace | `request` (Falco's name: `PTRACE_ATTACH`, ..., `PTRACE_UNKNOWN`), `pid`, `addr`, `data` | |
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
//! - Sockets: `l4proto` is `tcp` for `connect`/`bind` (a `connect` on a datagram socket cannot
//!   be told apart by the address) and `udp` for `sendto` with an address; `fd.name` of connect
//!   and sendto is the remote address (`203.0.113.9:4444`, `[2001:db8::7]:9050`, a unix path or
//!   `@abstract`). Unix paths are cut at 26 bytes (the 28-byte buffer). For connect, sendto
//!   and dup the exit program also describes the socket itself (see `network`): connect's
//!   local end, `fd.connected`, `fd.name_changed`, and dup's `fd` (`fd.type` of the duplicated
//!   descriptor, both ends, `cip:cport->sip:sport`). Without the kernel's socket offsets these
//!   stay unknown (`<NA>`). `fd.name_changed` compares with the socket's connected peer: Falco
//!   compares with the last address that descriptor sent to, so on an unconnected socket every
//!   sendto with an address is a change here.
//! - `user.uid`/`user.gid` come from the record: the thread's *effective* ids at the syscall
//!   (`current->cred`, as Falco's), the real ones only if the kernel's offsets were unknown;
//!   `user.name` is cleared when the record's uid is not the one the process table knows.
//!
//! # Cost
//! Strings are written into the `Event`'s existing buffers (`clear()` then push). /proc is read
//! only to resolve paths: a relative path or symlink walk
//! ([`paths::resolve_in_process`](crate::detect::process::paths::resolve_in_process): a
//! `readlink` of a non-`AT_FDCWD` dirfd, `lstat`s inside the process's root), the cwd of a
//! process the table does not know, and the path of the descriptor of `fchmod`/`fchown`/
//! `finit_module`/`execveat(AT_EMPTY_PATH)`. Those resolutions allocate their result.

use crate::detect::process::ProcessTable;
use crate::rules::{Container, Event};
use crate::syscalls::{Arch, SyscallNames};
use exporter_ebpf::{SyscallEvent, MAX_SYSCALLS};
use std::fmt::Write as _;
use std::path::PathBuf;

mod clock;
mod cx;
mod files;
mod flags;
mod network;
mod other;
mod process;
mod sockaddr;

pub use clock::{boot_to_epoch_ns, monotonic_ns};
pub use cx::raw_path;
pub use flags::{render_flags, AT_EMPTY_PATH, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW};
pub use sockaddr::{parse_sockaddr, SockAddr, AF_INET, AF_INET6, AF_UNIX};

use cx::{ArgW, Cx};
use files::FileCall;
use network::NetCall;
use other::OtherCall;
use process::ProcessCall;

/// A syscall by family; `Other(Positional)` for one whose arguments the decoder does not name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sys {
    File(FileCall),
    Net(NetCall),
    Process(ProcessCall),
    Other(OtherCall),
}

impl Sys {
    fn of(name: &str) -> Sys {
        FileCall::of(name)
            .map(Sys::File)
            .or_else(|| NetCall::of(name).map(Sys::Net))
            .or_else(|| ProcessCall::of(name).map(Sys::Process))
            .unwrap_or_else(|| Sys::Other(OtherCall::of(name)))
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
    pub fn decode(
        &self,
        raw: &SyscallEvent,
        num: u64,
        boot_to_epoch_ns: i64,
        table: &ProcessTable,
        container: Option<Container>,
        ev: &mut Event,
    ) {
        self.decode_with_long_paths(raw, [None, None], num, boot_to_epoch_ns, table, container, ev);
    }

    /// As [`Decoder::decode`], with the whole of the path slots the record carries cut
    /// (`long[i]` for `raw.paths[i]`, from the kernel's `LongPath` records).
    #[allow(clippy::too_many_arguments)]
    pub fn decode_with_long_paths(
        &self,
        raw: &SyscallEvent,
        long: [Option<&str>; 2],
        num: u64,
        boot_to_epoch_ns: i64,
        table: &ProcessTable,
        container: Option<Container>,
        ev: &mut Event,
    ) {
        let nr = raw.nr as usize;
        let (name, kind) = match self.kinds.get(nr) {
            Some(k) => (self.names.name(nr), *k),
            None => ("", Sys::Other(OtherCall::Positional)),
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
        let exec_done = matches!(kind, Sys::Process(ProcessCall::Execve | ProcessCall::Execveat)) && raw.res == 0;
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
            long,
        };
        cx.decode(kind);
        let n = cx.args.n;
        let has_fd = cx.has_fd;
        args.0.truncate(n);
        if !has_fd {
            *fd = None;
        }
    }
}

impl Cx<'_> {
    fn decode(&mut self, kind: Sys) {
        match kind {
            Sys::File(call) => self.decode_file(call),
            Sys::Net(call) => self.decode_network(call),
            Sys::Process(call) => self.decode_process(call),
            Sys::Other(call) => self.decode_other(call),
        }
    }
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
