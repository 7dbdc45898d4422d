//! Socket syscalls: the address passed to connect, bind and sendto, and the socket as `fd`;
//! a new socket's family, type and protocol; dup, whose `fd` is the descriptor it duplicates
//! (a reverse shell dup2's a socket onto stdin and stdout).
//!
//! For connect, sendto and dup the exit program describes the socket itself (`EVENT_SOCKET`:
//! family, type, protocol, state, both ends): `fd.type` of a dup'd descriptor, connect's local
//! end, `fd.connected` (the socket's state is established or, for TCP, connecting) and
//! `fd.name_changed` of sendto (the address passed is not the socket's connected peer).

use super::cx::Cx;
use super::flags::SOCKET_FAMILIES;
use super::sockaddr::{parse_sockaddr, write_addr, SockAddr, AF_INET, AF_INET6, AF_UNIX};
use crate::rules::{Fd, Role};
use exporter_ebpf::{SocketInfo, EVENT_SOCKET};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const AF_NETLINK: u16 = 16;
/// `O_CLOEXEC`, the one flag dup3 takes.
const DUP3_FLAGS: &[(u64, &str)] = &[(0o2000000, "O_CLOEXEC")];
/// `TCP_ESTABLISHED` and `TCP_SYN_SENT`: the states of a connected (or connecting) socket; UDP
/// and unix sockets use the first for connected too.
const CONNECTED_STATES: [u16; 2] = [1, 2];

/// The socket syscalls the decoder names arguments of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NetCall {
    Socket,
    Dup,
    Dup2,
    Dup3,
    Connect,
    Bind,
    Sendto,
}

impl NetCall {
    pub(super) fn of(name: &str) -> Option<NetCall> {
        use NetCall::*;
        Some(match name {
            "socket" => Socket,
            "dup" => Dup,
            "dup2" => Dup2,
            "dup3" => Dup3,
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
            Dup | Dup2 | Dup3 => {
                let old = self.int32(0);
                self.args.int("oldfd", old);
                if call != Dup {
                    self.args.int("newfd", self.int32(1));
                }
                if call == Dup3 {
                    self.flags("flags", self.arg(2) & 0xffff_ffff, DUP3_FLAGS);
                }
                self.duplicated(old);
            }
            Connect | Bind => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.socket(fd, call == Bind, "tcp");
                if let (Connect, Some(sock), Some(f)) = (call, self.described(), self.fd.as_mut()) {
                    f.connected = Some(CONNECTED_STATES.contains(&sock.state));
                    if let Some((ip, port)) = local_end(&sock) {
                        f.lip = Some(ip);
                        f.lport = Some(port);
                    }
                }
            }
            Sendto => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.args.int("size", self.arg(2) as i64);
                if self.raw.sockaddr_len > 0 {
                    self.socket(fd, false, "udp");
                    if let (Some(sock), Some(f)) = (self.described(), self.fd.as_mut()) {
                        f.connected = Some(CONNECTED_STATES.contains(&sock.state));
                        f.name_changed = Some(remote_end(&sock) != f.rip.zip(f.rport));
                    }
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

    /// The socket the exit program described, if it did (a copy: it is small).
    fn described(&self) -> Option<SocketInfo> {
        (self.raw.flags & EVENT_SOCKET != 0).then_some(self.raw.sock)
    }

    /// dup's `fd`: the descriptor duplicated, a socket as the kernel described it, else what
    /// `/proc/<pid>/fd/<n>` links to (a file or a pipe).
    fn duplicated(&mut self, fdnum: i64) {
        let sock = self.described().filter(|s| s.family != 0);
        let link = if sock.is_none() { self.fd_path(fdnum) } else { None };
        let f = self.fd();
        f.num = fdnum;
        f.nameraw = None;
        match (sock, link) {
            (Some(sock), _) => describe(&sock, f),
            (None, Some(path)) if path.starts_with('/') => {
                f.kind.push_str("file");
                f.name.push_str(&path);
            }
            (None, Some(link)) if link.starts_with("pipe:") => f.kind.push_str("pipe"),
            // Not described and not a path: the kind stays unknown.
            (None, _) => {}
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

/// `fd` from a socket the kernel described: its type, protocol, both ends (the remote one as
/// the server: a descriptor seen only here was not seen to connect or accept), state and
/// `cip:cport->sip:sport` name.
fn describe(sock: &SocketInfo, f: &mut Fd) {
    f.kind.push_str(match sock.family {
        AF_INET => "ipv4",
        AF_INET6 => "ipv6",
        AF_UNIX => "unix",
        AF_NETLINK => "netlink",
        _ => return,
    });
    f.connected = Some(CONNECTED_STATES.contains(&sock.state));
    let Some((lip, lport)) = local_end(sock) else {
        return;
    };
    f.l4proto = Some(
        match (sock.protocol, sock.sock_type) {
            (6, _) => "tcp",
            (17, _) => "udp",
            (1 | 58, _) => "icmp",
            (_, 3) => "raw",
            _ => return,
        }
        .to_owned(),
    );
    f.lip = Some(lip);
    f.lport = Some(lport);
    if let Some((rip, rport)) = remote_end(sock) {
        f.rip = Some(rip);
        f.rport = Some(rport);
        write_addr(&mut f.name, lip, lport);
        f.name.push_str("->");
        write_addr(&mut f.name, rip, rport);
    }
}

/// The local address and port of an IP socket.
fn local_end(sock: &SocketInfo) -> Option<(IpAddr, u16)> {
    Some((ip_of(sock.family, &sock.addrs[0])?, sock.ports[0]))
}

/// The connected peer of an IP socket (`None` when it has none: port 0).
fn remote_end(sock: &SocketInfo) -> Option<(IpAddr, u16)> {
    let ip = ip_of(sock.family, &sock.addrs[1])?;
    (sock.ports[1] != 0).then_some((ip, sock.ports[1]))
}

fn ip_of(family: u16, addr: &[u8; 16]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(*addr))),
        _ => None,
    }
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
