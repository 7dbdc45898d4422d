//! `struct sockaddr` as the kernel copied it: parsed, and written as Falco names addresses.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A decoded `struct sockaddr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr<'a> {
    Inet(IpAddr, u16),
    /// A path, `@name` for the abstract namespace, empty for an unnamed socket.
    Unix(Cow<'a, str>),
    /// Another family (its number).
    Other(u16),
}

pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// Decodes the first `len` bytes of a sockaddr as the kernel copied them; `None` if too short
/// for its family.
pub fn parse_sockaddr(b: &[u8]) -> Option<SockAddr<'_>> {
    let family = u16::from_ne_bytes(b.get(..2)?.try_into().ok()?);
    let port = |b: &[u8]| b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    match family {
        AF_INET => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SockAddr::Inet(IpAddr::V4(Ipv4Addr::from(a)), port(b)?))
        }
        AF_INET6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(SockAddr::Inet(IpAddr::V6(Ipv6Addr::from(a)), port(b)?))
        }
        AF_UNIX => {
            let p = &b[2..];
            Some(SockAddr::Unix(match p.first() {
                None => Cow::Borrowed(""),
                Some(0) => {
                    let mut s = String::from("@");
                    s.push_str(&String::from_utf8_lossy(&p[1..]));
                    Cow::Owned(s)
                }
                Some(_) => {
                    let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
                    String::from_utf8_lossy(&p[..end])
                }
            }))
        }
        f => Some(SockAddr::Other(f)),
    }
}

/// Writes `ip:port` (`[v6]:port`).
pub(super) fn write_addr(out: &mut String, ip: IpAddr, port: u16) {
    let _ = match ip {
        IpAddr::V4(a) => write!(out, "{a}:{port}"),
        IpAddr::V6(a) => write!(out, "[{a}]:{port}"),
    };
}

#[cfg(test)]
#[path = "sockaddr_tests.rs"]
mod tests;
