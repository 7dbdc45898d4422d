use super::*;

#[test]
fn sockaddr_decoding() {
    let mut b = [0u8; 28];
    b[..2].copy_from_slice(&AF_INET.to_ne_bytes());
    b[2..4].copy_from_slice(&[0x11, 0x5c]); // 4444
    b[4..8].copy_from_slice(&[203, 0, 113, 9]);
    assert_eq!(parse_sockaddr(&b[..16]), Some(SockAddr::Inet("203.0.113.9".parse().unwrap(), 4444)));
    assert_eq!(parse_sockaddr(&b[..6]), None, "too short");
    b[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
    b[2..4].copy_from_slice(&9050u16.to_be_bytes());
    b[8..24].copy_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(parse_sockaddr(&b), Some(SockAddr::Inet("2001:db8::7".parse().unwrap(), 9050)));
    assert_eq!(parse_sockaddr(&b[..20]), None);
    let mut u = [0u8; 28];
    u[..2].copy_from_slice(&AF_UNIX.to_ne_bytes());
    u[2..18].copy_from_slice(b"/run/docker.sock");
    assert_eq!(parse_sockaddr(&u), Some(SockAddr::Unix("/run/docker.sock".into())));
    let mut a = [0u8; 8];
    a[..2].copy_from_slice(&AF_UNIX.to_ne_bytes());
    a[3..8].copy_from_slice(b"x11-0");
    assert_eq!(parse_sockaddr(&a), Some(SockAddr::Unix("@x11-0".into())));
    assert_eq!(parse_sockaddr(&a[..2]), Some(SockAddr::Unix("".into())));
    assert_eq!(parse_sockaddr(&[16, 0, 0, 0]), Some(SockAddr::Other(16)));
    assert_eq!(parse_sockaddr(&[2]), None);
}
