//! Flag arguments rendered as Falco renders them: names joined by `|`, unnamed bits in hex.

use super::Decoder;
use crate::detect::process::paths::AT_SYMLINK_FOLLOW;
use crate::syscalls::Arch;
use std::fmt::Write as _;

impl Decoder {
    /// Renders open(2) flags as Falco does (`O_WRONLY|O_CREAT|O_TRUNC`, `O_RDONLY` for none),
    /// with this architecture's values; bits without a name are appended in hex.
    pub fn render_open_flags(&self, flags: u64, out: &mut String) {
        out.push_str(match flags & 3 {
            0 => "O_RDONLY",
            1 => "O_WRONLY",
            2 => "O_RDWR",
            _ => "O_WRONLY|O_RDWR",
        });
        let rest = flags & !3;
        if rest != 0 {
            out.push('|');
            render_flags(rest, self.open_flags, out);
        }
    }
}

/// Renders `v` as the names of `table` (first match wins, composite masks first) joined by `|`;
/// unnamed bits in hex; `0` when nothing is set.
pub fn render_flags(v: u64, table: &[(u64, &str)], out: &mut String) {
    let start = out.len();
    let mut rest = v;
    for &(mask, name) in table {
        if mask != 0 && rest & mask == mask {
            if out.len() > start {
                out.push('|');
            }
            out.push_str(name);
            rest &= !mask;
        }
    }
    if rest != 0 {
        if out.len() > start {
            out.push('|');
        }
        let _ = write!(out, "{rest:#x}");
    }
    if out.len() == start {
        out.push('0');
    }
}

const OPEN_FLAGS_COMMON: [(u64, &str); 11] = [
    (0o4010000, "O_SYNC"),
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o20000, "FASYNC"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
];

const fn open_table(
    tmpfile: u64,
    direct: u64,
    largefile: u64,
    directory: u64,
    nofollow: u64,
) -> [(u64, &'static str); 18] {
    let c = OPEN_FLAGS_COMMON;
    [
        (tmpfile, "O_TMPFILE"),
        c[0],
        c[1],
        c[2],
        c[3],
        c[4],
        c[5],
        c[6],
        c[7],
        c[8],
        (direct, "O_DIRECT"),
        (largefile, "O_LARGEFILE"),
        (directory, "O_DIRECTORY"),
        (nofollow, "O_NOFOLLOW"),
        c[9],
        c[10],
        (0o10000000, "O_PATH"),
        (0o20000000, "O_TMPFILE"),
    ]
}

/// x86_64 (and the generic asm values): O_DIRECT 040000, O_LARGEFILE 0100000, O_DIRECTORY
/// 0200000, O_NOFOLLOW 0400000. `O_TMPFILE` is `__O_TMPFILE | O_DIRECTORY`.
static OPEN_FLAGS_X86_64: &[(u64, &str)] = &open_table(0o20200000, 0o40000, 0o100000, 0o200000, 0o400000);
/// aarch64: O_DIRECTORY 040000, O_NOFOLLOW 0100000, O_DIRECT 0200000, O_LARGEFILE 0400000.
static OPEN_FLAGS_AARCH64: &[(u64, &str)] = &open_table(0o20040000, 0o200000, 0o400000, 0o40000, 0o100000);

/// This architecture's open(2) flag names, then its O_NOFOLLOW and O_DIRECTORY values.
pub(super) fn open_flags(arch: Arch) -> (&'static [(u64, &'static str)], u64, u64) {
    match arch {
        Arch::X86_64 => (OPEN_FLAGS_X86_64, 0o400000, 0o200000),
        Arch::Aarch64 => (OPEN_FLAGS_AARCH64, 0o100000, 0o40000),
    }
}

pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
pub const AT_REMOVEDIR: u64 = 0x200;
pub const AT_EMPTY_PATH: u64 = 0x1000;
pub(super) static AT_FLAGS: &[(u64, &str)] = &[
    (AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"),
    (AT_REMOVEDIR, "AT_REMOVEDIR"),
    (AT_SYMLINK_FOLLOW as u64, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (AT_EMPTY_PATH, "AT_EMPTY_PATH"),
];
pub(super) static RENAME_FLAGS: &[(u64, &str)] =
    &[(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")];
pub(super) static MOUNT_FLAGS: &[(u64, &str)] = &[
    (1, "MS_RDONLY"),
    (2, "MS_NOSUID"),
    (4, "MS_NODEV"),
    (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"),
    (32, "MS_REMOUNT"),
    (64, "MS_MANDLOCK"),
    (128, "MS_DIRSYNC"),
    (256, "MS_NOSYMFOLLOW"),
    (1024, "MS_NOATIME"),
    (2048, "MS_NODIRATIME"),
    (4096, "MS_BIND"),
    (8192, "MS_MOVE"),
    (16384, "MS_REC"),
    (32768, "MS_SILENT"),
    (1 << 16, "MS_POSIXACL"),
    (1 << 17, "MS_UNBINDABLE"),
    (1 << 18, "MS_PRIVATE"),
    (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"),
    (1 << 21, "MS_RELATIME"),
    (1 << 22, "MS_KERNMOUNT"),
    (1 << 23, "MS_I_VERSION"),
    (1 << 24, "MS_STRICTATIME"),
    (1 << 25, "MS_LAZYTIME"),
];
/// `MS_MGC_VAL`: the magic old callers put in the upper 16 bits; dropped before rendering.
pub(super) const MS_MGC_MSK: u64 = 0xffff0000;
pub(super) const MS_MGC_VAL: u64 = 0xc0ed0000;
pub(super) static UMOUNT_FLAGS: &[(u64, &str)] =
    &[(1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"), (8, "UMOUNT_NOFOLLOW")];
pub(super) static CLONE_FLAGS: &[(u64, &str)] = &[
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x80, "CLONE_NEWTIME"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x02000000, "CLONE_NEWCGROUP"),
    (0x04000000, "CLONE_NEWUTS"),
    (0x08000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
];
pub(super) static MFD_FLAGS: &[(u64, &str)] =
    &[(1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (4, "MFD_HUGETLB"), (8, "MFD_NOEXEC_SEAL"), (0x10, "MFD_EXEC")];
pub(super) static MODULE_INIT_FLAGS: &[(u64, &str)] =
    &[(1, "MODULE_INIT_IGNORE_MODVERSIONS"), (2, "MODULE_INIT_IGNORE_VERMAGIC"), (4, "MODULE_INIT_COMPRESSED_FILE")];
/// ptrace(2) requests by their Linux numbers, under Falco's names (its driver maps each to one
/// name; a request it does not know is `PTRACE_UNKNOWN`). x86's register requests (12-15,
/// 18-19, 25-26) have the same numbers on the other architectures that have them.
pub(super) static PTRACE_REQUESTS: &[(u64, &str)] = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSR"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSR"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (18, "PTRACE_GETFPXREGS"),
    (19, "PTRACE_SETFPXREGS"),
    (21, "PTRACE_OLDSETOPTIONS"),
    (24, "PTRACE_SYSCALL"),
    (25, "PTRACE_GET_THREAD_AREA"),
    (26, "PTRACE_SET_THREAD_AREA"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
    (0x420a, "PTRACE_GETSIGMASK"),
    (0x420b, "PTRACE_SETSIGMASK"),
];
/// Address families by number, as Falco names a socket's `domain`.
pub(super) static SOCKET_FAMILIES: [&str; 46] = [
    "AF_UNSPEC",
    "AF_UNIX",
    "AF_INET",
    "AF_AX25",
    "AF_IPX",
    "AF_APPLETALK",
    "AF_NETROM",
    "AF_BRIDGE",
    "AF_ATMPVC",
    "AF_X25",
    "AF_INET6",
    "AF_ROSE",
    "AF_DECnet",
    "AF_NETBEUI",
    "AF_SECURITY",
    "AF_KEY",
    "AF_NETLINK",
    "AF_PACKET",
    "AF_ASH",
    "AF_ECONET",
    "AF_ATMSVC",
    "AF_RDS",
    "AF_SNA",
    "AF_IRDA",
    "AF_PPPOX",
    "AF_WANPIPE",
    "AF_LLC",
    "AF_IB",
    "AF_MPLS",
    "AF_CAN",
    "AF_TIPC",
    "AF_BLUETOOTH",
    "AF_IUCV",
    "AF_RXRPC",
    "AF_ISDN",
    "AF_PHONET",
    "AF_IEEE802154",
    "AF_CAIF",
    "AF_ALG",
    "AF_NFC",
    "AF_VSOCK",
    "AF_KCM",
    "AF_QIPCRTR",
    "AF_SMC",
    "AF_XDP",
    "AF_MCTP",
];
pub(super) static BPF_CMDS: [&str; 37] = [
    "BPF_MAP_CREATE",
    "BPF_MAP_LOOKUP_ELEM",
    "BPF_MAP_UPDATE_ELEM",
    "BPF_MAP_DELETE_ELEM",
    "BPF_MAP_GET_NEXT_KEY",
    "BPF_PROG_LOAD",
    "BPF_OBJ_PIN",
    "BPF_OBJ_GET",
    "BPF_PROG_ATTACH",
    "BPF_PROG_DETACH",
    "BPF_PROG_TEST_RUN",
    "BPF_PROG_GET_NEXT_ID",
    "BPF_MAP_GET_NEXT_ID",
    "BPF_PROG_GET_FD_BY_ID",
    "BPF_MAP_GET_FD_BY_ID",
    "BPF_OBJ_GET_INFO_BY_FD",
    "BPF_PROG_QUERY",
    "BPF_RAW_TRACEPOINT_OPEN",
    "BPF_BTF_LOAD",
    "BPF_BTF_GET_FD_BY_ID",
    "BPF_TASK_FD_QUERY",
    "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
    "BPF_MAP_FREEZE",
    "BPF_BTF_GET_NEXT_ID",
    "BPF_MAP_LOOKUP_BATCH",
    "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
    "BPF_MAP_UPDATE_BATCH",
    "BPF_MAP_DELETE_BATCH",
    "BPF_LINK_CREATE",
    "BPF_LINK_UPDATE",
    "BPF_LINK_GET_FD_BY_ID",
    "BPF_LINK_GET_NEXT_ID",
    "BPF_ENABLE_STATS",
    "BPF_ITER_CREATE",
    "BPF_LINK_DETACH",
    "BPF_PROG_BIND_MAP",
    "BPF_TOKEN_CREATE",
];

#[cfg(test)]
#[path = "flags_tests.rs"]
mod tests;
