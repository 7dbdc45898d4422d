//! The process side of an event: who made the call (the process and user snapshots), and the
//! syscalls that change a process: exec, ptrace, credentials, namespaces.

use super::cx::{Cx, Last};
use super::flags::{AT_EMPTY_PATH, AT_FLAGS, AT_SYMLINK_NOFOLLOW, CLONE_FLAGS, PTRACE_REQUESTS};
use super::Decoder;
use crate::detect::process::paths::AT_FDCWD;
use crate::detect::process::{kernel_str, ProcessTable};
use crate::rules::Event;
use exporter_ebpf::SyscallEvent;

impl Decoder {
    /// `comm_is_truth`: the record's comm names the process as it was at the syscall, so it
    /// wins over a table entry with another name.
    pub(super) fn fill_process(&self, raw: &SyscallEvent, table: &ProcessTable, comm_is_truth: bool, ev: &mut Event) {
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
            p.vpid = None;
            p.start_time = 0;
            p.env = std::sync::Arc::from([]);
            p.sname.clear();
            p.exe_ctime = 0;
            p.exe_mtime = 0;
            p.ancestors.clear();
            u.name.clear();
            u.loginuid = -1;
            u.loginname.clear();
            u.group_name.clear();
        } else {
            // The table's names are for its ids (the effective ones at exec).
            if u.uid != raw.uid as i64 {
                u.name.clear();
            }
            if u.gid != raw.gid as i64 {
                u.group_name.clear();
            }
        }
        u.uid = raw.uid as i64;
        u.gid = raw.gid as i64;
    }
}

/// The process syscalls the decoder names arguments of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProcessCall {
    Execve,
    Execveat,
    Ptrace,
    Setuid,
    Setreuid,
    Setresuid,
    Setgid,
    Setregid,
    Setresgid,
    Setns,
    Unshare,
}

impl ProcessCall {
    pub(super) fn of(name: &str) -> Option<ProcessCall> {
        use ProcessCall::*;
        Some(match name {
            "execve" => Execve,
            "execveat" => Execveat,
            "ptrace" => Ptrace,
            "setuid" => Setuid,
            "setreuid" => Setreuid,
            "setresuid" => Setresuid,
            "setgid" => Setgid,
            "setregid" => Setregid,
            "setresgid" => Setresgid,
            "setns" => Setns,
            "unshare" => Unshare,
            _ => return None,
        })
    }
}

impl Cx<'_> {
    pub(super) fn decode_process(&mut self, call: ProcessCall) {
        use ProcessCall::*;
        match call {
            Execve => {
                self.path_arg("filename", 0, AT_FDCWD, Last::Follow, Some("file"));
            }
            Execveat => {
                let dirfd = self.int32(0);
                let flags = self.arg(4);
                self.args.int("dirfd", dirfd);
                let raw_p = self.raw_path(0);
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
            Ptrace => {
                // Falco's rules test the request's name (`contains PTRACE_ATTACH`).
                let request = self.arg(0) & 0xffff_ffff;
                let name = PTRACE_REQUESTS.iter().find(|(nr, _)| *nr == request).map_or("PTRACE_UNKNOWN", |(_, n)| n);
                self.args.str("request", name);
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
        }
    }
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
