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
/// (`family` 0: no socket). Without `EVENT_SOCKET`, `event.sock` means nothing.
#[inline(never)]
pub(crate) fn describe_socket(fd: u64, event: &mut SyscallEvent) {
    if fill_socket(fd, &mut event.sock).is_some() {
        event.flags |= EVENT_SOCKET;
    }
}

/// Writes the socket's description straight into the event (no copy of a `SocketInfo` on the
/// stack: this runs deep in the exit program's calls, where the verifier allows 512 bytes for
/// the whole chain). `None` when it cannot tell.
#[inline(always)]
fn fill_socket(fd: u64, info: &mut SocketInfo) -> Option<()> {
    let s = SOCKET_OFFSETS.get(0)?;
    if s.valid == 0 {
        return None;
    }
    let (o, _, file) = fd_file(fd)?;
    let inode: *const u8 = read_at(file, o.file_inode)?;
    let mode: u16 = read_at(inode, o.inode_mode)?;
    info.family = 0;
    if mode & S_IFMT != S_IFSOCK {
        return Some(());
    }
    let socket: *const u8 = read_at(file, s.file_private_data)?;
    let sk: *const u8 = read_at(socket, s.socket_sk)?;
    info.family = read_at(sk, s.skc_family)?;
    info.sock_type = read_at(sk, s.sk_type)?;
    info.protocol = read_at(sk, s.sk_protocol)?;
    info.state = read_at::<u8>(sk, s.skc_state)? as u16;
    info.ports = [read_at(sk, s.skc_num)?, u16::from_be(read_at(sk, s.skc_dport)?)];
    info.addrs = [[0; 16]; 2];
    match info.family {
        AF_INET => {
            info.addrs[0][..4].copy_from_slice(&read_at::<[u8; 4]>(sk, s.skc_rcv_saddr)?);
            info.addrs[1][..4].copy_from_slice(&read_at::<[u8; 4]>(sk, s.skc_daddr)?);
        }
        AF_INET6 => {
            info.addrs[0] = read_at(sk, s.skc_v6_rcv_saddr)?;
            info.addrs[1] = read_at(sk, s.skc_v6_daddr)?;
        }
        _ => {}
    }
    Some(())
}
