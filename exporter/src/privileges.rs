//! Least privilege at run time: once the kernel programs are loaded and attached, the exporter
//! keeps only the capabilities it still uses and can never regain the others.
//!
//! Kept: CAP_BPF and CAP_PERFMON (attaching exit tracepoints when the rules' syscalls change),
//! CAP_SYS_PTRACE (reading other processes' /proc links: exe, cwd, root, fd) and
//! CAP_DAC_READ_SEARCH (walking /proc/<pid>/root of processes owned by other users). Everything
//! else (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_DAC_OVERRIDE, CAP_SETUID, ...) leaves the effective,
//! permitted, inheritable, ambient and bounding sets, and no_new_privs is set.

pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// The capabilities a running exporter keeps.
pub const KEPT: [(u32, &str); 4] = [
    (CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"),
    (CAP_SYS_PTRACE, "CAP_SYS_PTRACE"),
    (CAP_PERFMON, "CAP_PERFMON"),
    (CAP_BPF, "CAP_BPF"),
];

/// The kept set as a bit mask (the form of `CapEff` in /proc/<pid>/status).
pub fn kept_mask() -> u64 {
    KEPT.iter().fold(0, |mask, (cap, _)| mask | (1u64 << cap))
}

#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("capabilities must be dropped before other threads start ({0} running)")]
    Threads(usize),
    #[error("{what} failed: {source}")]
    Syscall { what: &'static str, source: std::io::Error },
}

/// Drops to `KEPT`. Capabilities belong to threads, so this must run while the process has
/// one thread; later threads inherit the reduced sets.
pub fn drop_to_kept() -> Result<(), PrivilegeError> {
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(1);
    if threads > 1 {
        return Err(PrivilegeError::Threads(threads));
    }
    let keep = kept_mask();
    // The bounding set needs CAP_SETPCAP to shrink; without it (a container that never had the
    // others) there is nothing there to drop.
    for cap in (0..=kernel_last_cap()).filter(|cap| keep & (1u64 << cap) == 0) {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EPERM) {
                return Err(PrivilegeError::Syscall { what: "dropping from the bounding set", source: error });
            }
        }
    }
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(PrivilegeError::Syscall {
            what: "clearing ambient capabilities",
            source: std::io::Error::last_os_error(),
        });
    }
    set_capabilities(keep)?;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(PrivilegeError::Syscall { what: "setting no_new_privs", source: std::io::Error::last_os_error() });
    }
    Ok(())
}

/// capset(2), version 3: effective = permitted = `mask`, inheritable empty.
fn set_capabilities(mask: u64) -> Result<(), PrivilegeError> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let word = |shift: u32| (mask >> shift) as u32;
    let data = [
        Data { effective: word(0), permitted: word(0), inheritable: 0 },
        Data { effective: word(32), permitted: word(32), inheritable: 0 },
    ];
    // SAFETY: a version-3 header and the two data words it requires, both live for the call.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) } != 0 {
        return Err(PrivilegeError::Syscall { what: "capset", source: std::io::Error::last_os_error() });
    }
    Ok(())
}

/// The capabilities loading BPF programs needs that this process lacks: CAP_BPF plus
/// CAP_PERFMON for tracing programs, or CAP_SYS_ADMIN which implies both.
pub fn missing_for_loading() -> Vec<&'static str> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    missing_capabilities(parse_cap_set(&status, "CapEff:").unwrap_or(0))
}

/// The highest capability number the running kernel knows.
fn kernel_last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40)
}

/// The bounding set of pid 1, the host's init (the exporter runs in the host's pid namespace):
/// every capability a process on this host can ever hold. Usually all the kernel knows; less
/// where the host itself is confined (a VM sandbox, a node that is a container), and then that
/// is also all a runtime can give a privileged container. All the kernel knows if unreadable.
pub fn host_bounding_set() -> u64 {
    let status = std::fs::read_to_string("/proc/1/status").unwrap_or_default();
    parse_cap_set(&status, "CapBnd:").unwrap_or_else(|| u64::MAX >> (63 - kernel_last_cap().min(63)))
}

/// One capability set of /proc/<pid>/status (`field` is e.g. `CapEff:`).
fn parse_cap_set(status: &str, field: &str) -> Option<u64> {
    let hex = status.lines().find_map(|line| line.strip_prefix(field))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn missing_capabilities(effective: u64) -> Vec<&'static str> {
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    if has(CAP_SYS_ADMIN) {
        return Vec::new();
    }
    [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|&(cap, _)| !has(cap))
        .map(|(_, name)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_mask_has_exactly_the_kept_bits() {
        assert_eq!(kept_mask(), (1 << 2) | (1 << 19) | (1 << 38) | (1 << 39));
    }

    #[test]
    fn capability_rules() {
        assert!(missing_capabilities(1 << CAP_SYS_ADMIN).is_empty());
        assert!(missing_capabilities((1 << CAP_BPF) | (1 << CAP_PERFMON)).is_empty());
        assert_eq!(missing_capabilities(1 << CAP_BPF), vec!["CAP_PERFMON"]);
        assert_eq!(missing_capabilities(0), vec!["CAP_BPF", "CAP_PERFMON"]);
    }

    #[test]
    fn cap_sets_from_proc_status() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001fffeffffff\n";
        assert_eq!(parse_cap_set(status, "CapEff:"), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_set(status, "CapBnd:"), Some(0x1ff_feff_ffff));
        assert_eq!(parse_cap_set("Name: x\n", "CapEff:"), None);
    }
}
