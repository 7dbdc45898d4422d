use crate::detect::decode::fixtures::*;
use crate::detect::decode::AF_UNIX;
use crate::rules::Role;
use exporter_ebpf::{SocketInfo, SyscallEvent, EVENT_SOCKET};

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

/// A socket as the exit program describes it: IPv4 TCP, `state`, local and remote ends.
fn described(r: &mut SyscallEvent, state: u16, local: ([u8; 4], u16), remote: ([u8; 4], u16)) {
    r.flags |= EVENT_SOCKET;
    r.sock =
        SocketInfo { family: 2, sock_type: 1, protocol: 6, state, ports: [local.1, remote.1], ..SocketInfo::default() };
    r.sock.addrs[0][..4].copy_from_slice(&local.0);
    r.sock.addrs[1][..4].copy_from_slice(&remote.0);
}

/// dup2 of a connected TCP socket onto stdout: `fd` is the old descriptor, as the kernel
/// described its socket; a descriptor that is no socket is named from /proc.
#[test]
fn dup_names_the_socket_it_duplicates() {
    let mut r = rec("dup2", 1);
    r.args[..2].copy_from_slice(&[3, 1]);
    described(&mut r, 1, ([10, 0, 0, 5], 40000), ([203, 0, 113, 9], 4444));
    let ev = decode(&r);
    assert_eq!(args(&ev), [("oldfd", i(3)), ("newfd", i(1))]);
    let f = fd(&ev);
    assert_eq!((f.num, f.kind.as_str(), f.l4proto.as_deref(), f.connected), (3, "ipv4", Some("tcp"), Some(true)));
    assert_eq!(f.name, "10.0.0.5:40000->203.0.113.9:4444");
    assert_eq!((f.rip, f.rport), (Some("203.0.113.9".parse().unwrap()), Some(4444)));

    let mut r = rec("dup3", 0);
    r.args[..3].copy_from_slice(&[4, 0, 0o2000000]);
    r.flags |= EVENT_SOCKET; // described: no socket (family 0)
    let fake = Fake::new().fd(4, "/tmp/out.log");
    let ev = decode_with(&fake, &r);
    assert_eq!(args(&ev), [("oldfd", i(4)), ("newfd", i(0)), ("flags", s("O_CLOEXEC"))]);
    assert_eq!((fd(&ev).kind.as_str(), fd(&ev).name.as_str()), ("file", "/tmp/out.log"));
}

/// connect's local end and state, and sendto's `fd.name_changed`, from the described socket.
#[test]
fn connected_and_name_changed_come_from_the_socket() {
    let mut r = rec("connect", -115); // EINPROGRESS: SYN sent
    sockaddr_v4(&mut r, [203, 0, 113, 9], 443);
    described(&mut r, 2, ([10, 0, 0, 5], 40001), ([203, 0, 113, 9], 443));
    let f = fd(&decode(&r)).clone();
    assert_eq!((f.connected, f.lport, f.name.as_str()), (Some(true), Some(40001), "203.0.113.9:443"));

    let mut r = rec("sendto", 12);
    sockaddr_v4(&mut r, [198, 51, 100, 7], 53);
    described(&mut r, 7, ([0, 0, 0, 0], 5353), ([0, 0, 0, 0], 0)); // unconnected UDP
    r.sock.protocol = 17;
    let f = fd(&decode(&r)).clone();
    assert_eq!((f.connected, f.name_changed), (Some(false), Some(true)));
    described(&mut r, 1, ([10, 0, 0, 5], 5353), ([198, 51, 100, 7], 53)); // connected to it
    let f = fd(&decode(&r)).clone();
    assert_eq!((f.connected, f.name_changed), (Some(true), Some(false)));

    r.flags = 0; // not described: unknown, not a guess
    let f = fd(&decode(&r)).clone();
    assert_eq!((f.connected, f.name_changed), (None, None));
}
