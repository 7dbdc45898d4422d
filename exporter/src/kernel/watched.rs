//! Watched files by identity. The rules name files by path (`/etc/shadow`); a hard link gives the
//! same file another name (`ln /etc/shadow /tmp/x; cat /tmp/x`), which no path test sees. So the
//! exact paths the rules watch are looked up in the host's root and in every container's root,
//! and their (device, inode) pairs go to the kernel prefilter (`INODES`) and to the detector,
//! which names such an opened file by its watched path.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

/// Most watched (device, inode) pairs kept (the kernel map's size).
pub const MAX_WATCHED_INODES: usize = 4096;

/// A watched file: the kernel's device number, inode, the rule bits of its path, and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedFile {
    pub dev: u64,
    pub ino: u64,
    pub rules: u64,
    pub path: Arc<str>,
}

/// (device, inode) -> watched path, shared by the collector (which refreshes it) and the detector
/// (which reads it for every opened file the kernel named).
#[derive(Debug, Default)]
pub struct WatchedInodes {
    by_inode: RwLock<HashMap<(u64, u64), Arc<str>>>,
    /// The watched paths themselves, to look for one in a process's root on a miss.
    paths: RwLock<Vec<(String, u64)>>,
    /// A long-lived process of each container cgroup, whose root stands for the container's when
    /// the process that opened the file is already gone.
    cgroup_pids: RwLock<HashMap<u64, u32>>,
}

impl WatchedInodes {
    /// The watched path of an opened file, if it is one: from the last scan, else (a file with
    /// other names, opened in a container that appeared since) by looking the watched paths up in
    /// the root of the process that opened it, of its parent, or of another process of its
    /// cgroup. A short-lived reader is often gone when its event is evaluated, and a container
    /// that started a moment ago may have no process known for its cgroup yet; the shell that
    /// ran the reader usually lives on, in the same root.
    pub fn path_of(
        &self,
        dev: u64,
        ino: u64,
        (pid, parent): (u32, u32),
        cgroup_id: u64,
        multi_link: bool,
    ) -> Option<Arc<str>> {
        if let Some(path) = self.by_inode.read().ok()?.get(&(dev, ino)) {
            return Some(path.clone());
        }
        if !multi_link {
            return None;
        }
        let paths = self.paths.read().ok()?.clone();
        let mut roots: Vec<PathBuf> =
            [pid, parent].iter().filter(|&&p| p > 0).map(|p| PathBuf::from(format!("/proc/{p}/root"))).collect();
        if let Some(other) = self.cgroup_pids.read().ok()?.get(&cgroup_id) {
            roots.push(PathBuf::from(format!("/proc/{other}/root")));
        }
        let found = scan(&paths, &roots).into_iter().find(|f| (f.dev, f.ino) == (dev, ino))?;
        if let Ok(mut map) = self.by_inode.write() {
            map.insert((dev, ino), found.path.clone());
        }
        Some(found.path)
    }

    /// The process last found for a container cgroup.
    pub fn cgroup_pid(&self, cgroup_id: u64) -> Option<u32> {
        self.cgroup_pids.read().ok()?.get(&cgroup_id).copied()
    }

    /// The result of a scan, the paths it looked for and a process of each container cgroup.
    pub fn replace(&self, paths: &[(String, u64)], files: &[WatchedFile], cgroup_pids: HashMap<u64, u32>) {
        if let Ok(mut pids) = self.cgroup_pids.write() {
            *pids = cgroup_pids;
        }
        if let Ok(mut map) = self.by_inode.write() {
            map.clear();
            map.extend(files.iter().map(|f| ((f.dev, f.ino), f.path.clone())));
        }
        if let Ok(mut kept) = self.paths.write() {
            kept.clear();
            kept.extend_from_slice(paths);
        }
    }
}

/// The kernel's internal `dev_t` (`MKDEV`: 12-bit major above a 20-bit minor) of a `st_dev` as
/// stat(2) reports it (glibc's encoding: minor in bits 0-7 and 20-31, major in bits 8-19 and 32+).
pub fn kernel_dev(st_dev: u64) -> u64 {
    let major = ((st_dev >> 8) & 0xfff) | ((st_dev >> 32) & !0xfff);
    let minor = (st_dev & 0xff) | ((st_dev >> 12) & !0xff);
    (major << 20) | minor
}

/// Looks each watched path (absolute, with the rule bits of its exact entry) up under each root
/// (`/` for the host, `/proc/<pid>/root` for a container), following symlinks as an open would.
/// Missing files are skipped; the same file found twice keeps its first path and all bits.
pub fn scan(paths: &[(String, u64)], roots: &[PathBuf]) -> Vec<WatchedFile> {
    let mut by_inode: HashMap<(u64, u64), WatchedFile> = HashMap::new();
    for root in roots {
        for (path, rules) in paths {
            let Ok(meta) = std::fs::metadata(within(root, path)) else { continue };
            let key = (kernel_dev(meta.dev()), meta.ino());
            if by_inode.len() >= MAX_WATCHED_INODES && !by_inode.contains_key(&key) {
                tracing::warn!(path, "watched-file table full: further hard links are not recognised");
                continue;
            }
            by_inode
                .entry(key)
                .or_insert_with(|| WatchedFile { dev: key.0, ino: key.1, rules: 0, path: Arc::from(path.as_str()) })
                .rules |= rules;
        }
    }
    let mut files: Vec<WatchedFile> = by_inode.into_values().collect();
    files.sort_by_key(|f| (f.dev, f.ino));
    files
}

/// `path` (absolute) under `root`. Symlinks met on the way are resolved by the host's kernel, so
/// an absolute symlink inside a container points into the host; the watched paths are plain
/// files (`/etc/shadow`), where that does not arise.
fn within(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_in_the_kernels_encoding() {
        // makedev(8, 1) = 0x801 as stat(2) reports it; the kernel's MKDEV(8, 1) = 8 << 20 | 1.
        assert_eq!(kernel_dev(0x801), (8 << 20) | 1);
        // major 259, minor 300 (both beyond 8 bits): glibc puts minor's high bits at 20-31.
        let st_dev = (300 & 0xff) | ((259 & 0xfff) << 8) | ((300u64 & !0xff) << 12);
        assert_eq!(kernel_dev(st_dev), (259 << 20) | 300);
    }

    #[test]
    fn a_hard_link_is_the_same_watched_file_in_every_root() {
        let host = tempfile::tempdir().unwrap();
        let container = tempfile::tempdir().unwrap();
        for root in [host.path(), container.path()] {
            std::fs::create_dir_all(root.join("etc")).unwrap();
            std::fs::write(root.join("etc/shadow"), "root:*:1::::::\n").unwrap();
        }
        std::fs::write(host.path().join("etc/sudoers"), "").unwrap();
        let paths = vec![("/etc/shadow".to_owned(), 0b01), ("/etc/sudoers".to_owned(), 0b10), ("/nope".to_owned(), 4)];
        let files = scan(&paths, &[host.path().to_path_buf(), container.path().to_path_buf()]);
        assert_eq!(files.len(), 3, "{files:?}");
        let link = host.path().join("tmp-link");
        std::fs::hard_link(host.path().join("etc/shadow"), &link).unwrap();
        let meta = std::fs::metadata(&link).unwrap();
        let watched = WatchedInodes::default();
        watched.replace(&paths, &files, HashMap::new());
        assert_eq!(
            watched.path_of(kernel_dev(meta.dev()), meta.ino(), (0, 0), 0, true).as_deref(),
            Some("/etc/shadow")
        );
        let found = files.iter().find(|f| f.ino == meta.ino()).unwrap();
        assert_eq!(found.rules, 0b01);
    }

    #[test]
    fn a_miss_is_looked_up_in_the_process_root() {
        // This process's root is "/": a hard link made after the scan is still found.
        let dir = tempfile::tempdir().unwrap();
        let watched_file = dir.path().join("watched");
        std::fs::write(&watched_file, "x").unwrap();
        std::fs::hard_link(&watched_file, dir.path().join("other-name")).unwrap();
        let meta = std::fs::metadata(dir.path().join("other-name")).unwrap();
        let paths = vec![(watched_file.to_str().unwrap().to_owned(), 1)];
        let watched = WatchedInodes::default();
        let me = std::process::id();
        // The opener (pid 0 here) is gone; another process of its cgroup (this one) is not.
        watched.replace(&paths, &[], HashMap::from([(7, me)]));
        let (dev, ino) = (kernel_dev(meta.dev()), meta.ino());
        assert_eq!(watched.path_of(dev, ino, (0, 0), 7, false), None, "single-link files are not looked for");
        assert_eq!(watched.path_of(dev, ino, (0, 0), 8, true), None, "no process of that cgroup is known");
        assert_eq!(
            watched.path_of(dev, ino, (0, me), 8, true).as_deref(),
            watched_file.to_str(),
            "the opener's parent (this process) lives on"
        );
        assert_eq!(watched.path_of(dev, ino, (0, 0), 7, true).as_deref(), watched_file.to_str());
    }
}
