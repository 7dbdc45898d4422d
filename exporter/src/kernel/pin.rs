//! The kernel's counters pinned in bpffs, so a restarted exporter continues every count and
//! rule hit where the last one stopped instead of starting from zero.
//!
//! The maps are pinned in a directory named by a stamp of what their layout depends on: the
//! exporter's version, the kernel object's hash and `--max-cgroups` (the slot maps' size). A
//! start with the same stamp reuses the maps; any other stamp's directory is removed, with a
//! log line, and the counts start fresh. Syscalls made while no exporter runs are not counted.
//! One exporter holds the pins at a time (an exclusive lock on the directory): a second one on
//! the node runs with counters of its own, unpinned, rather than count into the same maps.

use std::path::{Path, PathBuf};

use exporter_ebpf::names;

use crate::kernel::probe::ProbeError;

/// `--bpf.pin-dir`'s default (bootstrap and the deployments mount bpffs at /sys/fs/bpf).
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/tracewarden";

/// Every map that holds a count: syscalls per slot, the slot assignments and free slots that
/// give the rows their meaning, drops, prefilter outcomes, rule hits and throttled events.
pub(super) const PINNED_MAPS: [&str; 7] = [
    names::SYSCALL_COUNTS,
    names::CGROUP_SLOTS,
    names::FREE_SLOTS,
    names::DROPS,
    names::FILTER_STATS,
    names::RULE_HITS,
    names::EVENTS_THROTTLED,
];

/// What user space makes of the pinned maps' contents (rule ids are name hashes, ...): bump it
/// when that changes, so pins an older build left are dropped rather than misread.
const PIN_FORMAT: u8 = 1;

/// `statfs` magic of bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Where this process's maps are pinned, and whether they hold an earlier run's counts.
#[derive(Debug)]
pub(super) struct Pins {
    pub dir: PathBuf,
    pub continued: bool,
    /// The base directory, locked for as long as this process counts into the pins.
    _lock: std::fs::File,
}

/// Makes `base/<stamp>` ready for pinning: reuses it when it holds every pinned map, removes
/// other stamps' directories (and a partial one of its own). `None`, with a warning, when `base`
/// is not on bpffs: the exporter then runs with counts that end with the process.
pub(super) fn prepare(base: &Path, max_slots: u32, object: &[u8]) -> Result<Option<Pins>, ProbeError> {
    let failed = |what: &str, path: &Path, e: std::io::Error| ProbeError::Pin {
        path: path.display().to_string(),
        cause: format!("{what}: {e}"),
    };
    if let Err(e) = std::fs::create_dir_all(base).and_then(|()| on_bpffs(base)) {
        tracing::warn!(dir = %base.display(), error = %e, "kernel counters not pinned (mount bpffs: mount -t bpf bpf /sys/fs/bpf): they restart from zero with the exporter");
        return Ok(None);
    }
    let lock = std::fs::File::open(base).map_err(|e| failed("opening", base, e))?;
    // SAFETY: a plain syscall on a descriptor this function owns.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(dir = %base.display(), error = %e, "another exporter holds the pinned kernel counters: this one's are not pinned");
        return Ok(None);
    }
    let stamp = stamp(max_slots, object);
    let dir = base.join(&stamp);
    for entry in std::fs::read_dir(base).map_err(|e| failed("reading", base, e))? {
        let entry = entry.map_err(|e| failed("reading", base, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != stamp {
            tracing::warn!(pinned = %entry.path().display(), found = %describe(&name), this = %describe(&stamp), "pinned kernel counters are from another version, kernel build or --max-cgroups: starting fresh (their counts are dropped)");
            remove_pins(&entry.path()).map_err(|e| failed("removing", &entry.path(), e))?;
        }
    }
    let complete = PINNED_MAPS.iter().all(|name| dir.join(name).exists());
    if dir.exists() && !complete {
        tracing::warn!(pinned = %dir.display(), "pinned kernel counters are incomplete: starting fresh");
        remove_pins(&dir).map_err(|e| failed("removing", &dir, e))?;
    }
    if complete {
        tracing::info!(pinned = %dir.display(), "continuing the kernel counters an earlier run pinned");
    } else {
        std::fs::create_dir(&dir).map_err(|e| failed("creating", &dir, e))?;
    }
    Ok(Some(Pins { dir, continued: complete, _lock: lock }))
}

fn on_bpffs(path: &Path) -> std::io::Result<()> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: a plain syscall on a NUL-terminated path into a zeroed struct it fills.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut fs) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if fs.f_type as i64 != BPF_FS_MAGIC {
        return Err(std::io::Error::other("not a bpf file system"));
    }
    Ok(())
}

/// `<version>_<max slots>_<hash of the kernel object and PIN_FORMAT>`, the version's dots as dashes (bpffs refuses
/// names with a dot).
fn stamp(max_slots: u32, object: &[u8]) -> String {
    let bytes = object.iter().chain(&[PIN_FORMAT]);
    let hash = bytes.fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{}_{max_slots}_{hash:016x}", env!("CARGO_PKG_VERSION").replace('.', "-"))
}

/// A stamp in words, for the log.
fn describe(stamp: &str) -> String {
    match stamp.splitn(3, '_').collect::<Vec<_>>()[..] {
        [version, slots, kernel] => {
            format!("version {}, --max-cgroups {slots}, kernel object {kernel}", version.replace('-', "."))
        }
        _ => format!("unknown ({stamp})"),
    }
}

/// Unpins every map in `dir` and removes it (a pin is a file; the map goes with its last user).
fn remove_pins(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            std::fs::remove_file(entry?.path())?;
        }
        std::fs::remove_dir(dir)
    } else {
        std::fs::remove_file(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_differ_by_slots_and_kernel_object_and_read_back() {
        let a = stamp(1024, b"object");
        assert_eq!(a, stamp(1024, b"object"));
        assert_ne!(a, stamp(2048, b"object"));
        assert_ne!(a, stamp(1024, b"other object"));
        let words = describe(&a);
        assert!(
            words.starts_with(&format!("version {}, --max-cgroups 1024, kernel object ", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(describe("junk"), "unknown (junk)");
    }

    #[test]
    fn a_directory_off_bpffs_is_not_pinned() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(prepare(&tmp.path().join("pins"), 1024, b"object").unwrap().is_none());
    }
}
