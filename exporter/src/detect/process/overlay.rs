//! `proc.is_exe_upper_layer`, best effort from user space: the executable is on the upper
//! (writable) layer of an overlay mount, i.e. it was written or modified inside the container
//! rather than shipped in the image. Falco decides this in the kernel from the overlay inode.
//!
//! Here: the mount holding `exepath` is the one of `/proc/<pid>/mountinfo` with the longest
//! mount point above it; if it is an `overlay` with `upperdir=`, the executable is "upper" when
//! `<upperdir>/<path below the mount>` is a regular file (new files and copied-up ones alike).
//! The mount table is cached per (mount namespace, root inode), so an exec costs one `stat` of
//! the namespace plus one `lstat` in the upper directory.
//!
//! Stays false when: the upper directory is not visible to the exporter (it runs in another
//! mount namespace without the runtime's storage mounted, e.g. a DaemonSet without
//! `/var/lib/docker`), the executable was deleted (` (deleted)`), the process is gone before its
//! exec is processed, or the overlay was set up without an `upperdir` (read-only).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Mount namespaces whose tables are kept; beyond it the cache starts over.
const MAX_NAMESPACES: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub point: String,
    /// The mounted subtree (`root` column of mountinfo), for bind mounts of part of an overlay.
    pub root: String,
    /// `upperdir=` of an overlay mount.
    pub upperdir: Option<PathBuf>,
}

#[derive(Default)]
pub struct OverlayMounts {
    tables: HashMap<(u64, u64, u64), Vec<Mount>>,
}

impl OverlayMounts {
    /// Whether `exepath` of the process at `pid_dir` (`/proc/<pid>`) is on an overlay upper layer.
    pub fn is_upper(&mut self, pid_dir: &Path, exepath: &str) -> bool {
        if !exepath.starts_with('/') || exepath.ends_with(" (deleted)") {
            return false;
        }
        let (Ok(ns), Ok(root)) = (fs::metadata(pid_dir.join("ns/mnt")), fs::metadata(pid_dir.join("root"))) else {
            return false;
        };
        let key = (ns.ino(), root.dev(), root.ino());
        if !self.tables.contains_key(&key) {
            let Ok(text) = fs::read_to_string(pid_dir.join("mountinfo")) else { return false };
            if self.tables.len() >= MAX_NAMESPACES {
                self.tables.clear();
            }
            self.tables.insert(key, parse_mountinfo(&text));
        }
        self.tables.get(&key).is_some_and(|mounts| upper_file(mounts, exepath).is_some_and(|p| is_regular(&p)))
    }
}

fn is_regular(p: &Path) -> bool {
    fs::symlink_metadata(p).map(|m| m.file_type().is_file()).unwrap_or(false)
}

/// The file in the upper directory that would hold `exepath`, if its mount is an overlay.
pub fn upper_file(mounts: &[Mount], exepath: &str) -> Option<PathBuf> {
    let m = mounts
        .iter()
        .filter(|m| {
            m.point == "/"
                || exepath.strip_prefix(m.point.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        // The last of equal mount points is the one on top.
        .enumerate()
        .max_by_key(|(i, m)| (m.point.len(), *i))
        .map(|(_, m)| m)?;
    let upper = m.upperdir.as_ref()?;
    let below = if m.point == "/" { exepath } else { &exepath[m.point.len()..] };
    let mut p = upper.clone();
    p.extend(m.root.split('/').chain(below.split('/')).filter(|c| !c.is_empty()));
    Some(p)
}

/// `/proc/<pid>/mountinfo`: `id parent maj:min root point opts [optional...] - fstype source superopts`.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(point), Some(fstype)) = (l.get(3), l.get(4), r.first()) else { continue };
        let upperdir = match *fstype {
            "overlay" => r
                .get(2)
                .and_then(|opts| opts.split(',').find_map(|o| o.strip_prefix("upperdir=")))
                .map(|u| PathBuf::from(unescape(u))),
            _ => None,
        };
        out.push(Mount { point: unescape(point), root: unescape(root), upperdir });
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(upper: &str) -> String {
        format!(
            "600 500 0:60 / / rw,relatime - overlay overlay rw,lowerdir=/l1:/l2,upperdir={upper},workdir=/w\n\
             601 600 0:61 / /proc rw - proc proc rw\n\
             602 600 8:1 /vol /data rw - ext4 /dev/sda1 rw\n\
             603 600 0:60 /opt /mnt/opt\\040x rw - overlay overlay rw,upperdir={upper}\n"
        )
    }

    #[test]
    fn parses_and_picks_the_deepest_mount() {
        let m = parse_mountinfo(&table("/var/lib/docker/overlay2/abc/diff"));
        assert_eq!(m.len(), 4);
        assert_eq!(m[3].point, "/mnt/opt x");
        let up = |p: &str| upper_file(&m, p).map(|p| p.display().to_string());
        assert_eq!(up("/usr/bin/evil").as_deref(), Some("/var/lib/docker/overlay2/abc/diff/usr/bin/evil"));
        assert_eq!(up("/data/x"), None);
        assert_eq!(up("/database/x").as_deref(), Some("/var/lib/docker/overlay2/abc/diff/database/x"));
        assert_eq!(up("/mnt/opt x/tool").as_deref(), Some("/var/lib/docker/overlay2/abc/diff/opt/tool"));
        assert_eq!(upper_file(&parse_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"), "/bin/sh"), None);
        assert_eq!(unescape("a\\040b\\13"), "a b\\13");
        assert_eq!(unescape("a\\134b"), "a\\b");
    }

    #[test]
    fn decides_from_a_synthetic_proc_dir() {
        let d = tempfile::tempdir().unwrap();
        let upper = d.path().join("upper");
        fs::create_dir_all(upper.join("usr/bin")).unwrap();
        fs::write(upper.join("usr/bin/evil"), "").unwrap();
        let pid = d.path().join("proc/42");
        fs::create_dir_all(pid.join("ns")).unwrap();
        fs::create_dir_all(pid.join("root")).unwrap();
        fs::write(pid.join("ns/mnt"), "").unwrap();
        fs::write(pid.join("mountinfo"), table(&upper.display().to_string())).unwrap();
        let mut o = OverlayMounts::default();
        assert!(o.is_upper(&pid, "/usr/bin/evil"));
        assert!(!o.is_upper(&pid, "/usr/bin/ls"));
        assert!(!o.is_upper(&pid, "/usr/bin/evil (deleted)"));
        assert!(!o.is_upper(&pid, "/memfd:x (deleted)"));
        assert!(!o.is_upper(&pid, "/usr/bin"), "a directory is not an executable");
        assert!(!o.is_upper(&d.path().join("proc/43"), "/usr/bin/evil"), "no such process");
    }
}
