//! Socket syscalls: the address passed to connect, bind and sendto, and the socket as `fd`;
//! a new socket's family, type and protocol.

use super::cx::Cx;
use super::flags::SOCKET_FAMILIES;
use super::sockaddr::{parse_sockaddr, write_addr, SockAddr};
use crate::rules::Role;
use std::fmt::Write as _;

/// The socket syscalls the decoder names arguments of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NetCall {
    Socket,
    Connect,
    Bind,
    Sendto,
}

impl NetCall {
    pub(super) fn of(name: &str) -> Option<NetCall> {
        use NetCall::*;
        Some(match name {
            "socket" => Socket,
            "connect" => Connect,
            "bind" => Bind,
            "sendto" => Sendto,
            _ => return None,
        })
    }
}

impl Cx<'_> {
    pub(super) fn decode_network(&mut self, call: NetCall) {
        use NetCall::*;
        match call {
            Socket => self.new_socket(),
            Connect | Bind => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.socket(fd, call == Bind, "tcp");
            }
            Sendto => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.args.int("size", self.arg(2) as i64);
                if self.raw.sockaddr_len > 0 {
                    self.socket(fd, false, "udp");
                }
            }
        }
    }

    /// socket(2) as Falco renders it: `domain` by name (`AF_PACKET`), `type` and `proto` as
    /// numbers (`type` keeps SOCK_NONBLOCK/SOCK_CLOEXEC); the new descriptor as `fd` for the
    /// families `fd.type` names.
    fn new_socket(&mut self) {
        let (domain, kind, proto) = (self.arg(0) & 0xffff_ffff, self.u32(1), self.u32(2));
        self.enum_arg("domain", domain, &SOCKET_FAMILIES);
        self.args.int("type", kind);
        self.args.int("proto", proto);
        let fd_type = match domain {
            1 => "unix",
            2 => "ipv4",
            10 => "ipv6",
            16 => "netlink",
            _ => return,
        };
        let res = self.raw.res;
        let f = self.fd();
        f.num = res;
        f.kind.push_str(fd_type);
        f.nameraw = None;
        if fd_type.starts_with("ipv") {
            // The low bits of `type` are the socket type; the rest are creation flags.
            f.l4proto = match kind & 0xf {
                1 => Some("tcp".to_owned()),
                2 => Some("udp".to_owned()),
                3 => Some("raw".to_owned()),
                _ => None,
            };
        }
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
#[path = "network_tests.rs"]
mod tests;
