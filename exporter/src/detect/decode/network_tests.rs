use crate::detect::decode::fixtures::*;
use crate::detect::decode::AF_UNIX;
use crate::rules::Role;

#[test]
fn sockets() {
    let mut r = rec("connect", -115);
    r.args[0] = 5;
    sockaddr_v4(&mut r, [203, 0, 113, 9], 4444);
    let ev = decode(&r);
    assert_eq!(args(&ev), [("fd", i(5)), ("addr", s("203.0.113.9:4444"))]);
    let f = fd(&ev);
    assert_eq!((f.num, f.kind.as_str(), f.l4proto.as_deref(), f.role), (5, "ipv4", Some("tcp"), Role::Client));
    assert_eq!((f.rip, f.rport, f.lip, f.lport), (Some("203.0.113.9".parse().unwrap()), Some(4444), None, None));
    assert_eq!(f.name, "203.0.113.9:4444");

    let mut r = rec("connect", 0);
    sockaddr_v6(&mut r, "2001:db8::7".parse().unwrap(), 9050);
    let ev = decode(&r);
    assert_eq!(ev.args.get("addr"), Some(&s("[2001:db8::7]:9050")));
    assert_eq!((fd(&ev).kind.as_str(), fd(&ev).rport), ("ipv6", Some(9050)));

    let mut r = rec("connect", 0);
    r.sockaddr[..2].copy_from_slice(&AF_UNIX.to_ne_bytes());
    r.sockaddr[2..18].copy_from_slice(b"/run/docker.sock");
    r.sockaddr_len = 28;
    let ev = decode(&r);
    assert_eq!((fd(&ev).kind.as_str(), fd(&ev).name.as_str(), fd(&ev).rip), ("unix", "/run/docker.sock", None));

    let mut r = rec("bind", 0);
    sockaddr_v4(&mut r, [0, 0, 0, 0], 31337);
    let ev = decode(&r);
    let f = fd(&ev);
    assert_eq!((f.lip, f.lport, f.rip, f.role), (Some("0.0.0.0".parse().unwrap()), Some(31337), None, Role::Server));

    let mut r = rec("sendto", 12);
    r.args[0] = 6;
    r.args[2] = 12;
    sockaddr_v4(&mut r, [8, 8, 8, 8], 53);
    let ev = decode(&r);
    assert_eq!(args(&ev), [("fd", i(6)), ("size", i(12)), ("addr", s("8.8.8.8:53"))]);
    assert_eq!(fd(&ev).l4proto.as_deref(), Some("udp"));
    r.sockaddr_len = 0;
    let ev = decode(&r);
    assert_eq!(args(&ev), [("fd", i(6)), ("size", i(12))]);
    assert!(ev.fd.is_none());
}

/// socket(2) as Falco renders it: the family by name, type and protocol as numbers.
#[test]
fn new_sockets() {
    let mut r = rec("socket", 3);
    r.args[..3].copy_from_slice(&[17, 3, 0x0300]); // AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)
    let ev = decode(&r);
    assert_eq!(args(&ev), [("domain", s("AF_PACKET")), ("type", i(3)), ("proto", i(768))]);
    assert!(ev.fd.is_none(), "fd.type names no packet socket");

    r.args[..3].copy_from_slice(&[2, 1 | 0o2000000, 0]); // AF_INET, SOCK_STREAM|SOCK_CLOEXEC
    let ev = decode(&r);
    assert_eq!(ev.args.get("domain"), Some(&s("AF_INET")));
    let f = fd(&ev);
    assert_eq!((f.num, f.kind.as_str(), f.l4proto.as_deref()), (3, "ipv4", Some("tcp")));

    r.args[0] = 99;
    assert_eq!(decode(&r).args.get("domain"), Some(&s("99")), "an unknown family stays a number");
}
