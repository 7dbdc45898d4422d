//! Socket syscalls: the address passed to connect, bind and sendto, and the socket as `fd`.

use super::cx::Cx;
use super::sockaddr::{parse_sockaddr, write_addr, SockAddr};
use crate::rules::Role;
use std::fmt::Write as _;

/// The socket syscalls the decoder names arguments of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NetCall {
    Connect,
    Bind,
    Sendto,
}

impl NetCall {
    pub(super) fn of(name: &str) -> Option<NetCall> {
        use NetCall::*;
        Some(match name {
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
