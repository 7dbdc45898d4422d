//! Test fixtures: kernel records built field by field, and a fake /proc for the decoder.

use super::Decoder;
use super::{AF_INET, AF_INET6};
use crate::detect::process::ProcessTable;
use crate::rules::{ArgValue, Event, Fd, Process, User};
use crate::syscalls::{Arch, SyscallNames};
use exporter_ebpf::{SyscallEvent, MAX_PATH};
use std::net::Ipv6Addr;
use std::os::unix::fs::symlink;

pub(super) const PID: u32 = 4242;

/// A zeroed kernel record of syscall `name` (x86_64 numbers) from pid 4242, comm `comm`.
pub(super) fn rec(name: &str, res: i64) -> SyscallEvent {
    // SAFETY: SyscallEvent is plain integers and arrays: all-zero is a valid value.
    let mut r: SyscallEvent = unsafe { std::mem::zeroed() };
    r.nr = SyscallNames::new(Arch::X86_64).number(name).unwrap_or_else(|| panic!("{name}")) as u32;
    r.res = res;
    r.tgid = PID;
    r.tid = PID;
    r.uid = 1000;
    r.gid = 1001;
    r.ktime_ns = 5_000;
    comm(&mut r, "tester");
    r
}

pub(super) fn comm(r: &mut SyscallEvent, c: &str) {
    r.comm = [0; 16];
    let n = c.len().min(15);
    r.comm[..n].copy_from_slice(&c.as_bytes()[..n]);
}

pub(super) fn path(r: &mut SyscallEvent, slot: usize, p: &str) {
    let n = p.len().min(MAX_PATH - 1);
    r.paths[slot] = [0; MAX_PATH];
    r.paths[slot][..n].copy_from_slice(&p.as_bytes()[..n]);
    r.path_lens[slot] = n as i32 + 1;
}

pub(super) fn sockaddr_v4(r: &mut SyscallEvent, ip: [u8; 4], port: u16) {
    r.sockaddr[..2].copy_from_slice(&AF_INET.to_ne_bytes());
    r.sockaddr[2..4].copy_from_slice(&port.to_be_bytes());
    r.sockaddr[4..8].copy_from_slice(&ip);
    r.sockaddr_len = 16;
}

pub(super) fn sockaddr_v6(r: &mut SyscallEvent, ip: Ipv6Addr, port: u16) {
    r.sockaddr[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
    r.sockaddr[2..4].copy_from_slice(&port.to_be_bytes());
    r.sockaddr[8..24].copy_from_slice(&ip.octets());
    r.sockaddr_len = 28;
}

/// A fake /proc with an empty entry for PID (no `root`: symlink walks are lexical), unless
/// [`Fake::process`] fills it.
pub(super) struct Fake {
    pub(super) dir: tempfile::TempDir,
}

impl Fake {
    pub(super) fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(PID.to_string()).join("fd")).unwrap();
        Fake { dir }
    }
    pub(super) fn cwd(self, cwd: &str) -> Fake {
        symlink(cwd, self.dir.path().join(PID.to_string()).join("cwd")).unwrap();
        self
    }
    pub(super) fn fd(self, fd: i64, target: &str) -> Fake {
        symlink(target, self.dir.path().join(PID.to_string()).join("fd").join(fd.to_string())).unwrap();
        self
    }
    /// /proc entries for `proc` (as PID, the records' pid) as a live process has them (stat,
    /// status, cmdline, exe, cwd, loginuid, and a root holding only an /etc/passwd that names
    /// `user`), and for its ancestors, each the parent of the one before: what the process
    /// table loads.
    pub(super) fn process(self, proc: &Process, user: &User) -> Fake {
        let root = self.dir.path().join(format!("root-of-{PID}"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        let passwd = format!("{}:x:{}:{}::/:/bin/sh\n", user.name, user.uid, user.gid);
        std::fs::write(root.join("etc/passwd"), passwd).unwrap();
        let argv: Vec<&str> = std::iter::once(proc.exe.as_str()).chain(proc.args.iter().map(String::as_str)).collect();
        let entry = ProcEntry {
            pid: PID as i64,
            ppid: proc.ppid,
            comm: &proc.name,
            argv,
            exepath: &proc.exepath,
            cwd: &proc.cwd,
            tty: proc.tty,
            sid: proc.sid,
            pgrp: proc.vpgid,
            uid: user.uid,
            gid: user.gid,
            loginuid: user.loginuid,
        };
        self.write_entry(&entry, Some(&root));
        for (n, a) in proc.ancestors.iter().enumerate() {
            let ppid = proc.ancestors.get(n + 1).map_or(1, |up| up.pid);
            let argv = a.cmdline.split(' ').collect();
            let (comm, exepath) = (a.name.as_str(), a.exepath.as_str());
            let entry = ProcEntry {
                pid: a.pid,
                ppid,
                comm,
                argv,
                exepath,
                cwd: "/",
                tty: 0,
                sid: 0,
                pgrp: 0,
                uid: 0,
                gid: 0,
                loginuid: -1,
            };
            self.write_entry(&entry, None);
        }
        self
    }

    fn write_entry(&self, p: &ProcEntry, root: Option<&std::path::Path>) {
        let dir = self.dir.path().join(p.pid.to_string());
        std::fs::create_dir_all(dir.join("fd")).unwrap();
        let stat = format!(
            "{} ({}) S {} {} {} {}{} 100{}",
            p.pid,
            p.comm,
            p.ppid,
            p.pgrp,
            p.sid,
            p.tty,
            " 0".repeat(14),
            " 0".repeat(30)
        );
        std::fs::write(dir.join("stat"), stat).unwrap();
        let (uid, gid) = (p.uid, p.gid);
        let status = format!(
            "Tgid:\t{}\nPPid:\t{}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\n",
            p.pid, p.ppid
        );
        std::fs::write(dir.join("status"), status).unwrap();
        std::fs::write(dir.join("cmdline"), p.argv.join("\0") + "\0").unwrap();
        std::fs::write(dir.join("loginuid"), (p.loginuid as u32).to_string()).unwrap();
        symlink(p.exepath, dir.join("exe")).unwrap();
        // The cwd may have been set already (`Fake::cwd`): the recorded one is the same.
        let _ = symlink(p.cwd, dir.join("cwd"));
        if let Some(root) = root {
            symlink(root, dir.join("root")).unwrap();
        }
    }

    pub(super) fn decoder(&self) -> Decoder {
        Decoder::with_proc_root(Arch::X86_64, self.dir.path().to_path_buf())
    }
    pub(super) fn table(&self) -> ProcessTable {
        ProcessTable::new(self.dir.path().to_path_buf(), 16)
    }
}

/// One /proc entry of [`Fake::process`].
struct ProcEntry<'a> {
    pid: i64,
    ppid: i64,
    comm: &'a str,
    argv: Vec<&'a str>,
    exepath: &'a str,
    cwd: &'a str,
    tty: i64,
    sid: i64,
    pgrp: i64,
    uid: i64,
    gid: i64,
    loginuid: i64,
}

pub(super) fn decode_with(fake: &Fake, r: &SyscallEvent) -> Event {
    let mut ev = Event::default();
    fake.decoder().decode(r, 7, 1_000_000, &fake.table(), None, &mut ev);
    ev
}

pub(super) fn decode(r: &SyscallEvent) -> Event {
    decode_with(&Fake::new(), r)
}

pub(super) fn s(v: &str) -> ArgValue {
    ArgValue::Str(v.into())
}

pub(super) fn i(v: i64) -> ArgValue {
    ArgValue::Int(v)
}

pub(super) fn args(ev: &Event) -> Vec<(&str, ArgValue)> {
    ev.args.0.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

pub(super) fn fd(ev: &Event) -> &Fd {
    ev.fd.as_ref().expect("an fd")
}
