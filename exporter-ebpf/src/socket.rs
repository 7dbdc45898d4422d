//! Describing the socket behind a descriptor an event names (dup's old descriptor, the socket
//! of connect and sendto): family, type, protocol, state and both ends, read at the syscall's
//! exit through the structure offsets user space found in BTF.

use aya_ebpf::{macros::map, maps::Array};
use exporter_ebpf::{SocketInfo, SocketOffsets, SyscallEvent, EVENT_SOCKET};

use crate::task::{fd_file, read_at};

/// Socket structure offsets (from BTF, by user space).
#[map]
pub(crate) static SOCKET_OFFSETS: Array<SocketOffsets> = Array::with_max_entries(1, 0);

const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Describes descriptor `fd` of the current task in `event.sock` and sets `EVENT_SOCKET`
/// (`family` 0: no socket). Leaves the event as it is when it cannot tell.
#[inline(never)]
pub(crate) fn describe_socket(fd: u64, event: &mut SyscallEvent) {
    if let Some(sock) = read_socket(fd) {
        event.sock = sock;
        event.flags |= EVENT_SOCKET;
    }
}

#[inline(always)]
fn read_socket(fd: u64) -> Option<SocketInfo> {
    let s = SOCKET_OFFSETS.get(0)?;
    if s.valid == 0 {
        return None;
    }
    let (o, _, file) = fd_file(fd)?;
    let inode: *const u8 = read_at(file, o.file_inode)?;
    let mode: u16 = read_at(inode, o.inode_mode)?;
    let mut info = SocketInfo::default();
    if mode & S_IFMT != S_IFSOCK {
        return Some(info);
    }
    let socket: *const u8 = read_at(file, s.file_private_data)?;
    let sk: *const u8 = read_at(socket, s.socket_sk)?;
    info.family = read_at(sk, s.skc_family)?;
    info.sock_type = read_at(sk, s.sk_type)?;
    info.protocol = read_at(sk, s.sk_protocol)?;
    info.state = read_at::<u8>(sk, s.skc_state)? as u16;
    info.ports = [read_at(sk, s.skc_num)?, u16::from_be(read_at(sk, s.skc_dport)?)];
    match info.family {
        AF_INET => {
            let (local, remote): ([u8; 4], [u8; 4]) = (read_at(sk, s.skc_rcv_saddr)?, read_at(sk, s.skc_daddr)?);
            info.addrs[0][..4].copy_from_slice(&local);
            info.addrs[1][..4].copy_from_slice(&remote);
        }
        AF_INET6 => {
            info.addrs = [read_at(sk, s.skc_v6_rcv_saddr)?, read_at(sk, s.skc_v6_daddr)?];
        }
        _ => {}
    }
    Some(info)
}
