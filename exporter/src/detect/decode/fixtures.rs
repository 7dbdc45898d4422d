//! Test fixtures: kernel records built field by field, and a fake /proc for the decoder.

use super::Decoder;
use super::{AF_INET, AF_INET6};
use crate::detect::process::ProcessTable;
use crate::rules::{ArgValue, Event, Fd};
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

/// A fake /proc with an empty entry for PID (no `root`: symlink walks are lexical).
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
    pub(super) fn decoder(&self) -> Decoder {
        Decoder::with_proc_root(Arch::X86_64, self.dir.path().to_path_buf())
    }
    pub(super) fn table(&self) -> ProcessTable {
        ProcessTable::new(self.dir.path().to_path_buf(), 16)
    }
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
