//! Syscall number -> name, for the `syscall` label.

use exporter_ebpf::{ArgSpec, MAX_SYSCALLS, NO_ARG, OPEN_FLAGS_CREAT, OPEN_FLAGS_HOW};

mod table;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this exporter was built for (and so runs on).
    pub const fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }

    /// The prefix of the kernel's syscall entry symbols (`__x64_sys_openat`).
    fn entry_symbol_prefix(self) -> &'static str {
        match self {
            Arch::X86_64 => "__x64_sys_",
            Arch::Aarch64 => "__arm64_sys_",
        }
    }

    fn table(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &table::X86_64,
            Arch::Aarch64 => &table::AARCH64,
        }
    }
}

/// Every number below `MAX_SYSCALLS` named once, so rendering /metrics allocates no names.
#[derive(Debug, Clone)]
pub struct SyscallNames {
    names: Vec<String>,
}

impl SyscallNames {
    pub fn new(arch: Arch) -> SyscallNames {
        let table = arch.table();
        let names = (0..MAX_SYSCALLS)
            .map(|nr| match table.get(nr) {
                Some(name) if !name.is_empty() => (*name).to_owned(),
                _ => format!("syscall_{nr}"),
            })
            .collect();
        SyscallNames { names }
    }

    pub fn name(&self, nr: usize) -> &str {
        &self.names[nr]
    }

    /// The number of a syscall on this architecture, if it has one.
    pub fn number(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// The `syscalls/sys_exit_*` tracepoint of a syscall: named after the kernel's
/// `SYSCALL_DEFINE`, which differs from the `__NR_` name for a few.
/// The exit tracepoints a syscall's events may complete at: its own, and for the exec family
/// the other member's too (a successful execveat exits as execve here).
pub fn exit_tracepoints(name: &str) -> Vec<&str> {
    match name {
        "execve" | "execveat" => vec!["execve", "execveat"],
        other => vec![tracepoint_name(other)],
    }
}

pub fn tracepoint_name(name: &str) -> &str {
    match name {
        "umount2" => "umount",
        "sendfile" => "sendfile64",
        other => other,
    }
}

/// The syscalls among `names` that this kernel does not implement, from a `/proc/kallsyms`
/// text: their entry symbol is weak (`W`), the `COND_SYSCALL` stub that returns -ENOSYS (a
/// kernel built without modules has `init_module` so). A name whose symbol is absent is not
/// claimed: it may be spelled otherwise.
pub fn not_implemented<'a>(kallsyms: &str, arch: Arch, names: &[&'a str]) -> Vec<&'a str> {
    let prefix = arch.entry_symbol_prefix();
    let weak: std::collections::HashSet<&str> = kallsyms
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (_, kind, symbol) = (words.next()?, words.next()?, words.next()?);
            matches!(kind, "W" | "w").then(|| symbol.strip_prefix(prefix)).flatten()
        })
        .collect();
    names.iter().copied().filter(|name| weak.contains(tracepoint_name(name))).collect()
}

/// Which arguments of a syscall the kernel copies into its event: paths (as the caller passed
/// them; user space resolves them against the process's cwd and root), socket addresses, and
/// the socket a descriptor argument refers to (described at the exit).
/// Syscalls not listed travel with their six raw arguments only.
pub fn arg_spec(name: &str) -> ArgSpec {
    let paths = |a: u8, b: u8| ArgSpec { paths: [a, b], ..ArgSpec::NONE };
    let sockaddr = |addr: u8, len: u8| ArgSpec { sockaddr: addr, sockaddr_len: len, ..ArgSpec::NONE };
    // The open family: the result is a descriptor for the path, and the flags say read/write.
    let open = |path: u8, open_flags: u8| ArgSpec { open_flags, returns_fd: 1, ..paths(path, NO_ARG) };
    match name {
        "open" => open(0, 1),
        "creat" => open(0, OPEN_FLAGS_CREAT),
        "openat" => open(1, 2),
        // The flags live in `struct open_how`, copied through the sockaddr buffer.
        "openat2" => ArgSpec { sockaddr: 2, sockaddr_len: 3, ..open(1, OPEN_FLAGS_HOW) },
        "execve" => ArgSpec { exec_family: 1, ..paths(0, NO_ARG) },
        "execveat" => ArgSpec { exec_family: 1, ..paths(1, NO_ARG) },
        "chmod" | "chown" | "lchown" | "unlink" | "chdir" | "mkdir" | "rmdir" | "truncate" | "umount2"
        | "memfd_create" | "acct" | "swapon" | "chroot" | "pivot_root" => paths(0, NO_ARG),
        "fchmodat" | "fchmodat2" | "fchownat" | "unlinkat" | "mkdirat" | "name_to_handle_at" => paths(1, NO_ARG),
        "rename" | "link" | "symlink" | "mount" => paths(0, 1),
        "symlinkat" => paths(0, 2),
        "renameat" | "renameat2" | "linkat" => paths(1, 3),
        // The exit describes the socket itself: connect's local end and state, dup's old
        // descriptor (a reverse shell dup2's a socket onto stdin/stdout).
        "connect" => ArgSpec { sock_fd: 0, ..sockaddr(1, 2) },
        "bind" => sockaddr(1, 2),
        "sendto" => ArgSpec { sock_fd: 0, ..sockaddr(4, 5) },
        "dup" | "dup2" | "dup3" => ArgSpec { sock_fd: 0, ..ArgSpec::NONE },
        // The file is the descriptor's: the exit names it, so the path test runs in the kernel.
        "fchmod" | "fchown" => ArgSpec { named_fd: 0, ..ArgSpec::NONE },
        _ => ArgSpec::NONE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_numbers() {
        let x86 = SyscallNames::new(Arch::X86_64);
        for (nr, name) in [
            (0, "read"),
            (1, "write"),
            (2, "open"),
            (39, "getpid"),
            (59, "execve"),
            (110, "getppid"),
            (165, "mount"),
            (257, "openat"),
            (310, "process_vm_readv"),
            (319, "memfd_create"),
            (322, "execveat"),
            (437, "openat2"),
            (452, "fchmodat2"),
            (469, "file_setattr"),
        ] {
            assert_eq!(x86.name(nr), name, "x86_64 {nr}");
        }
        let arm = SyscallNames::new(Arch::Aarch64);
        for (nr, name) in [
            (56, "openat"),
            (63, "read"),
            (64, "write"),
            (79, "newfstatat"),
            (80, "fstat"),
            (173, "getppid"),
            (221, "execve"),
            (222, "mmap"),
            (40, "mount"),
            (105, "init_module"),
            (279, "memfd_create"),
            (281, "execveat"),
            (437, "openat2"),
        ] {
            assert_eq!(arm.name(nr), name, "aarch64 {nr}");
        }
    }

    #[test]
    fn holes_and_unknown_numbers_get_a_numbered_name() {
        let x86 = SyscallNames::new(Arch::X86_64);
        assert_eq!(x86.name(335), "syscall_335"); // a hole between 334 and 387
        assert_eq!(x86.name(511), "syscall_511");
        let arm = SyscallNames::new(Arch::Aarch64);
        assert_eq!(arm.name(2), "io_submit");
        assert_eq!(arm.name(244), "syscall_244"); // arch-specific range, unused on arm64
    }

    #[test]
    fn tracepoint_names_follow_syscall_define() {
        assert_eq!(tracepoint_name("umount2"), "umount");
        assert_eq!(tracepoint_name("openat"), "openat");
        // Every syscall the shipped rules use that this kernel has a tracepoint for.
        if let Ok(events) = std::fs::read_dir("/sys/kernel/tracing/events/syscalls") {
            let have: Vec<String> = events.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            for name in ["umount2", "mount", "openat", "connect", "execve", "ptrace", "setns", "unshare", "symlinkat"] {
                let tracepoint = format!("sys_exit_{}", tracepoint_name(name));
                assert!(have.contains(&tracepoint), "{tracepoint} missing for {name}");
            }
        }
    }

    #[test]
    fn arg_specs_name_the_path_and_address_arguments() {
        assert_eq!(arg_spec("openat").paths, [1, NO_ARG]);
        assert_eq!((arg_spec("openat").open_flags, arg_spec("openat").returns_fd), (2, 1));
        assert_eq!((arg_spec("openat2").sockaddr, arg_spec("openat2").open_flags), (2, OPEN_FLAGS_HOW));
        assert_eq!(arg_spec("creat").open_flags, OPEN_FLAGS_CREAT);
        assert_eq!(arg_spec("chmod").returns_fd, 0);
        assert_eq!(arg_spec("open").paths, [0, NO_ARG]);
        assert_eq!(arg_spec("linkat").paths, [1, 3]);
        assert_eq!(arg_spec("symlinkat").paths, [0, 2]);
        assert_eq!((arg_spec("connect").sockaddr, arg_spec("connect").sockaddr_len), (1, 2));
        assert_eq!((arg_spec("sendto").sockaddr, arg_spec("sendto").sockaddr_len), (4, 5));
        assert_eq!(arg_spec("ptrace"), ArgSpec::NONE);
        assert_eq!((arg_spec("dup2").sock_fd, arg_spec("connect").sock_fd, arg_spec("bind").sock_fd), (0, 0, NO_ARG));
        assert_eq!(
            (arg_spec("fchmod").named_fd, arg_spec("fchown").named_fd, arg_spec("chmod").named_fd),
            (0, 0, NO_ARG)
        );
        let at_exit = |n: &str| arg_spec(n).names_file_at_exit();
        assert_eq!(
            (at_exit("openat"), at_exit("fchmod"), at_exit("fchown"), at_exit("chmod")),
            (true, true, true, false)
        );
        assert_eq!(SyscallNames::new(Arch::X86_64).number("openat"), Some(257));
        assert_eq!(SyscallNames::new(Arch::Aarch64).number("openat"), Some(56));
        assert_eq!(SyscallNames::new(Arch::X86_64).number("no_such_call"), None);
    }

    #[test]
    fn weak_entry_symbols_are_the_not_implemented_syscalls() {
        let kallsyms = "ffffffff81312770 T __x64_sys_ni_syscall\nffffffff813727d0 T __x64_sys_ptrace\n\
                        ffffffff81398ba0 W __x64_sys_init_module\nffffffff8139b900 W __x64_sys_finit_module\n\
                        ffffffff8139c000 W __arm64_sys_openat\n";
        let names = ["init_module", "finit_module", "ptrace", "openat", "no_such_call"];
        assert_eq!(not_implemented(kallsyms, Arch::X86_64, &names), ["init_module", "finit_module"]);
        assert_eq!(not_implemented(kallsyms, Arch::Aarch64, &names), ["openat"]);
    }

    /// The committed table agrees with the installed UAPI header (linux-libc-dev). Only x86_64
    /// machines install that header.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn x86_64_table_matches_installed_header() {
        const HEADER: &str = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
        let header = std::fs::read_to_string(HEADER).map_err(|e| format!("{HEADER} (linux-libc-dev): {e}"));
        let Some(header) = crate::prerequisite::needs("x86_64_table_matches_installed_header", header) else {
            return;
        };
        let names = SyscallNames::new(Arch::X86_64);
        let mut checked = 0;
        for line in header.lines() {
            let mut words = line.split_whitespace();
            if let (Some("#define"), Some(symbol), Some(nr)) = (words.next(), words.next(), words.next()) {
                if let (Some(name), Ok(nr)) = (symbol.strip_prefix("__NR_"), nr.parse::<usize>()) {
                    assert_eq!(names.name(nr), name);
                    checked += 1;
                }
            }
        }
        assert!(checked > 300, "only {checked} header entries checked");
    }
}
