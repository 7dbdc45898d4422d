//! uid -> user name and gid -> group name from the `/etc/passwd` and `/etc/group` *of the
//! process's root*, so a container's uid 1000 is named as the container names it. Parsed files
//! are cached by the file's identity (device, inode, size, mtime), so a look-up costs one `stat`
//! unless the file changed or the root is new.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Parsed passwd files kept; beyond it the cache starts over (roots are few: host + images).
const MAX_FILES: usize = 256;

/// A passwd file's identity: device, inode, size, mtime seconds and nanoseconds.
type FileKey = (u64, u64, u64, i64, i64);

#[derive(Default)]
pub struct UserNames {
    files: HashMap<FileKey, HashMap<u32, String>>,
}

impl UserNames {
    /// The name of `uid` in `<root>/etc/passwd`; `None` without a file or an entry.
    pub fn name(&mut self, root: &Path, uid: u32) -> Option<String> {
        self.lookup(&root.join("etc/passwd"), uid)
    }

    /// The name of `gid` in `<root>/etc/group`; `None` without a file or an entry.
    pub fn group(&mut self, root: &Path, gid: u32) -> Option<String> {
        self.lookup(&root.join("etc/group"), gid)
    }

    fn lookup(&mut self, path: &Path, id: u32) -> Option<String> {
        let meta = fs::metadata(path).ok()?;
        let key = (meta.dev(), meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
        if !self.files.contains_key(&key) {
            let text = match read_without_atime(path) {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "cannot read the user or group file");
                    return None;
                }
            };
            if self.files.len() >= MAX_FILES {
                self.files.clear();
            }
            self.files.insert(key, parse_passwd(&text));
        }
        self.files.get(&key)?.get(&id).cloned()
    }
}

/// Reads a file of a process's root without updating its access time. An atime update holds a
/// write reference on the mount it goes through, here the container's root, and runc's remount
/// of a read-only root fails with EBUSY if it meets one: the exporter's read would make the
/// container fail to start. O_NOATIME needs the file's owner or CAP_FOWNER; without them the
/// file is read as usual.
fn read_without_atime(path: &Path) -> io::Result<String> {
    let mut file = match fs::File::options().read(true).custom_flags(libc::O_NOATIME).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => fs::File::open(path)?,
        opened => opened?,
    };
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// `name:x:id:...` lines (`/etc/passwd`'s uid, `/etc/group`'s gid); the first entry of an id
/// wins, as with getpwuid and getgrgid.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (f.next(), f.next(), f.next()) else { continue };
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if let Ok(uid) = uid.trim().parse::<u32>() {
            m.entry(uid).or_insert_with(|| name.to_owned());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd() {
        let m = parse_passwd("root:x:0:0:root:/root:/bin/bash\n# c\nbad\ntoor:x:0:0::/:/bin/sh\nwww:x:33:33::/:\n");
        assert_eq!(m.get(&0).map(String::as_str), Some("root"));
        assert_eq!(m.get(&33).map(String::as_str), Some("www"));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn names_from_the_root_and_rereads_a_changed_file() {
        let d = tempfile::tempdir().unwrap();
        let mut u = UserNames::default();
        assert_eq!(u.name(d.path(), 0), None);
        fs::create_dir(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/passwd"), "root:x:0:0::/:\n").unwrap();
        assert_eq!(u.name(d.path(), 0).as_deref(), Some("root"));
        assert_eq!(u.name(d.path(), 1000), None);
        // Size changes, so the key changes even within one mtime tick.
        fs::write(d.path().join("etc/passwd"), "root:x:0:0::/:\nalice:x:1000:1000::/:\n").unwrap();
        assert_eq!(u.name(d.path(), 1000).as_deref(), Some("alice"));
        assert_eq!(u.group(d.path(), 0), None, "no group file");
        fs::write(d.path().join("etc/group"), "root:x:0:\nstaff:x:50:alice,bob\n").unwrap();
        assert_eq!(u.group(d.path(), 50).as_deref(), Some("staff"));
        assert_eq!(u.group(d.path(), 1000), None);
    }

    /// Sets a file's atime to the epoch's first second: older than its mtime, so any read
    /// through a `relatime` mount updates it.
    fn age_atime(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        let times = [libc::timespec { tv_sec: 1, tv_nsec: 0 }, libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT }];
        // SAFETY: a NUL-terminated path and two timespecs.
        assert_eq!(unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) }, 0);
    }

    #[test]
    fn reading_a_roots_passwd_leaves_its_access_time() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("etc")).unwrap();
        let (passwd, plain) = (d.path().join("etc/passwd"), d.path().join("plain"));
        for f in [&passwd, &plain] {
            fs::write(f, "root:x:0:0::/:\n").unwrap();
            age_atime(f);
        }
        fs::read(&plain).unwrap();
        let atime = |f: &Path| fs::metadata(f).unwrap().atime();
        assert_ne!(atime(&plain), 1, "this file system does not update access times: the test proves nothing here");
        assert_eq!(UserNames::default().name(d.path(), 0).as_deref(), Some("root"));
        assert_eq!(atime(&passwd), 1);
    }
}
