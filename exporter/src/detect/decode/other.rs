//! The rest: kernel modules, memfd_create and bpf by name; any other syscall's arguments by
//! position, so `evt.arg[N]` works.

use super::cx::Cx;
use super::flags::{BPF_CMDS, MFD_FLAGS, MODULE_INIT_FLAGS};

/// Module, memfd and bpf syscalls, and any syscall the other families do not name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OtherCall {
    InitModule,
    FinitModule,
    MemfdCreate,
    Bpf,
    /// Any other syscall: `arg0`..`arg5`, raw numbers.
    Positional,
}

impl OtherCall {
    pub(super) fn of(name: &str) -> OtherCall {
        use OtherCall::*;
        match name {
            "init_module" => InitModule,
            "finit_module" => FinitModule,
            "memfd_create" => MemfdCreate,
            "bpf" => Bpf,
            _ => Positional,
        }
    }
}

impl Cx<'_> {
    pub(super) fn decode_other(&mut self, call: OtherCall) {
        use OtherCall::*;
        match call {
            InitModule => self.args.int("len", self.arg(1) as i64),
            FinitModule => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.flags("flags", self.arg(2) & 0xffff_ffff, MODULE_INIT_FLAGS);
                self.fd_object(fd);
            }
            MemfdCreate => {
                let raw = self.raw;
                let name = self.raw_path(0);
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
                self.enum_arg("cmd", self.arg(0) & 0xffff_ffff, &BPF_CMDS);
                self.args.int("size", self.u32(2));
            }
            Positional => {
                for (i, name) in ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"].iter().enumerate() {
                    self.args.int(name, self.arg(i) as i64);
                }
            }
        }
    }
}
