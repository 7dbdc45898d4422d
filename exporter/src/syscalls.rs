//! Syscall number -> name, for the `syscall` label.

use exporter_ebpf::MAX_SYSCALLS;

#[path = "syscalls_table.rs"]
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

    /// The committed table agrees with the installed UAPI header, where the machine has it.
    #[test]
    fn x86_64_table_matches_installed_header() {
        let Ok(header) = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h") else {
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
