//! File and path syscalls: the open, chmod, chown, link, rename, unlink, mkdir and mount
//! families (exec is with the process syscalls). Each writes its path arguments resolved, and
//! the file or directory it acts on as `fd`.

use super::cx::{Cx, Last};
use super::flags::{
    AT_FLAGS, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, MOUNT_FLAGS, MS_MGC_MSK, MS_MGC_VAL, RENAME_FLAGS, UMOUNT_FLAGS,
};
use crate::detect::process::paths::{self, AT_FDCWD};

/// The file and path syscalls the decoder names arguments of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FileCall {
    Open,
    Openat,
    Openat2,
    Creat,
    Chmod,
    Fchmod,
    Fchmodat,
    Fchmodat2,
    Chown,
    Lchown,
    Fchown,
    Fchownat,
    Symlink,
    Symlinkat,
    Link,
    Linkat,
    Rename,
    Renameat,
    Renameat2,
    Unlink,
    Unlinkat,
    Mkdir,
    Mkdirat,
    Rmdir,
    Chdir,
    Chroot,
    Mount,
    Umount2,
}

impl FileCall {
    pub(super) fn of(name: &str) -> Option<FileCall> {
        use FileCall::*;
        Some(match name {
            "open" => Open,
            "openat" => Openat,
            "openat2" => Openat2,
            "creat" => Creat,
            "chmod" => Chmod,
            "fchmod" => Fchmod,
            "fchmodat" => Fchmodat,
            "fchmodat2" => Fchmodat2,
            "chown" => Chown,
            "lchown" => Lchown,
            "fchown" => Fchown,
            "fchownat" => Fchownat,
            "symlink" => Symlink,
            "symlinkat" => Symlinkat,
            "link" => Link,
            "linkat" => Linkat,
            "rename" => Rename,
            "renameat" => Renameat,
            "renameat2" => Renameat2,
            "unlink" => Unlink,
            "unlinkat" => Unlinkat,
            "mkdir" => Mkdir,
            "mkdirat" => Mkdirat,
            "rmdir" => Rmdir,
            "chdir" => Chdir,
            "chroot" => Chroot,
            "mount" => Mount,
            "umount2" => Umount2,
            _ => return None,
        })
    }
}

impl Cx<'_> {
    pub(super) fn decode_file(&mut self, call: FileCall) {
        use FileCall::*;
        match call {
            Open | Openat | Creat | Openat2 => self.open(call),
            Chmod => {
                self.path_arg("filename", 0, AT_FDCWD, Last::Follow, Some("file"));
                self.args.int("mode", self.u32(1));
            }
            Fchmod => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.args.int("mode", self.u32(1));
                self.fd_object(fd);
            }
            Fchmodat | Fchmodat2 => {
                let dirfd = self.int32(0);
                let flags = if call == Fchmodat2 { self.arg(3) } else { 0 };
                self.args.int("dirfd", dirfd);
                let last = if flags & AT_SYMLINK_NOFOLLOW != 0 { Last::NoFollow } else { Last::Follow };
                self.path_arg("filename", 0, dirfd, last, Some("file"));
                self.args.int("mode", self.u32(2));
                if call == Fchmodat2 {
                    self.flags("flags", flags, AT_FLAGS);
                }
            }
            Chown | Lchown => {
                let last = if call == Lchown { Last::NoFollow } else { Last::Follow };
                self.path_arg("path", 0, AT_FDCWD, last, Some("file"));
                self.args.int("uid", self.u32(1));
                self.args.int("gid", self.u32(2));
            }
            Fchown => {
                let fd = self.int32(0);
                self.args.int("fd", fd);
                self.args.int("uid", self.u32(1));
                self.args.int("gid", self.u32(2));
                self.fd_object(fd);
            }
            Fchownat => {
                let dirfd = self.int32(0);
                let flags = self.arg(4);
                self.args.int("dirfd", dirfd);
                let last = if flags & AT_SYMLINK_NOFOLLOW != 0 { Last::NoFollow } else { Last::Follow };
                self.path_arg("pathname", 0, dirfd, last, Some("file"));
                self.args.int("uid", self.u32(2));
                self.args.int("gid", self.u32(3));
                self.flags("flags", flags, AT_FLAGS);
            }
            Symlink | Symlinkat => {
                let dirfd = if call == Symlinkat { self.int32(1) } else { AT_FDCWD };
                let linkraw = self.raw_path(1);
                let link = linkraw.as_deref().map(|l| self.resolve(dirfd, l, Last::NoFollow));
                let target = self.raw_path(0).map(|t| match &link {
                    Some(l) => {
                        let root = self.d.proc_root.join(self.pid.to_string()).join("root");
                        paths::symlink_target_in_root(&root, l, &t)
                    }
                    None => paths::normalize(&t),
                });
                self.args.str("target", target.as_deref().unwrap_or(""));
                if call == Symlinkat {
                    self.args.int("linkdirfd", dirfd);
                }
                self.args.str("linkpath", link.as_deref().unwrap_or(""));
                if let (Some(l), Some(r)) = (&link, &linkraw) {
                    self.set_object("file", l, Some(r));
                }
            }
            Link | Linkat => {
                let at = call == Linkat;
                let (olddir, newdir, flags) =
                    if at { (self.int32(0), self.int32(2), self.arg(4)) } else { (AT_FDCWD, AT_FDCWD, 0) };
                let old = self.raw_path(0).map(|p| {
                    let cwd = if olddir == AT_FDCWD { self.cwd().into_owned() } else { "/".to_owned() };
                    paths::hardlink_source(&self.d.proc_root, self.pid, olddir, &p, &cwd, flags as i64)
                        .unwrap_or_else(|_| paths::normalize(&p))
                });
                if at {
                    self.args.int("olddir", olddir);
                }
                self.args.str("oldpath", old.as_deref().unwrap_or(""));
                if at {
                    self.args.int("newdir", newdir);
                }
                self.path_arg("newpath", 1, newdir, Last::NoFollow, Some("file"));
                if at {
                    self.flags("flags", flags, AT_FLAGS);
                }
            }
            Rename | Renameat | Renameat2 => {
                let at = call != Rename;
                let (olddir, newdir) = if at { (self.int32(0), self.int32(2)) } else { (AT_FDCWD, AT_FDCWD) };
                if at {
                    self.args.int("olddirfd", olddir);
                }
                self.path_arg("oldpath", 0, olddir, Last::NoFollow, None);
                if at {
                    self.args.int("newdirfd", newdir);
                }
                self.path_arg("newpath", 1, newdir, Last::NoFollow, Some("file"));
                if call == Renameat2 {
                    self.flags("flags", self.arg(4), RENAME_FLAGS);
                }
            }
            Unlink => {
                self.path_arg("path", 0, AT_FDCWD, Last::NoFollow, Some("file"));
            }
            Unlinkat => {
                let dirfd = self.int32(0);
                let flags = self.arg(2);
                self.args.int("dirfd", dirfd);
                let obj = if flags & AT_REMOVEDIR != 0 { "directory" } else { "file" };
                self.path_arg("name", 0, dirfd, Last::NoFollow, Some(obj));
                self.flags("flags", flags, AT_FLAGS);
            }
            Mkdir | Mkdirat => {
                let dirfd = if call == Mkdirat { self.int32(0) } else { AT_FDCWD };
                if call == Mkdirat {
                    self.args.int("dirfd", dirfd);
                }
                let m = if call == Mkdirat { self.u32(2) } else { self.u32(1) };
                self.path_arg("path", 0, dirfd, Last::NoFollow, Some("directory"));
                self.args.int("mode", m);
            }
            Rmdir => {
                self.path_arg("path", 0, AT_FDCWD, Last::NoFollow, Some("directory"));
            }
            Chdir | Chroot => {
                self.path_arg("path", 0, AT_FDCWD, Last::Follow, Some("directory"));
            }
            Mount => {
                // The source is a path only for block devices and bind mounts (`proc`, `overlay`,
                // `tmpfs` are names).
                match self.raw_path(0) {
                    Some(dev) if dev.contains('/') => {
                        let r = self.resolve(AT_FDCWD, &dev, Last::Follow);
                        self.args.str("dev", &r);
                    }
                    Some(dev) => self.args.str("dev", &dev),
                    None => self.args.str("dev", ""),
                }
                self.path_arg("dir", 1, AT_FDCWD, Last::Follow, Some("directory"));
                let mut flags = self.arg(3);
                if flags & MS_MGC_MSK == MS_MGC_VAL {
                    flags &= !MS_MGC_MSK;
                }
                self.flags("flags", flags, MOUNT_FLAGS);
            }
            Umount2 => {
                let flags = self.arg(1);
                let last = if flags & 8 != 0 { Last::NoFollow } else { Last::Follow };
                self.path_arg("name", 0, AT_FDCWD, last, Some("directory"));
                self.flags("flags", flags, UMOUNT_FLAGS);
            }
        }
    }

    /// open, openat, openat2, creat: the file as `fd`, its `num` the result.
    fn open(&mut self, call: FileCall) {
        use FileCall::*;
        let d = self.d;
        // `p`: the argument index of the path (flags and mode follow it).
        let (dirfd, p) = match call {
            Openat | Openat2 => {
                let dirfd = self.int32(0);
                self.args.int("dirfd", dirfd);
                (dirfd, 1)
            }
            _ => (AT_FDCWD, 0),
        };
        let (flags, mode) = match call {
            Openat2 => match self.open_how() {
                Some((f, m, _)) => (Some(f), Some(m)),
                None => (None, None),
            },
            Creat => (None, Some(self.arg(1))),
            _ => (Some(self.arg(p + 1)), Some(self.arg(p + 2))),
        };
        let f = flags.unwrap_or(0);
        let last = if f & d.o_nofollow != 0 { Last::NoFollow } else { Last::Follow };
        let obj = if f & d.o_directory != 0 && f & 0o20000000 == 0 { "directory" } else { "file" };
        self.path_arg("name", 0, dirfd, last, Some(obj));
        if let Some(f) = flags {
            d.render_open_flags(f, self.args.text("flags"));
        }
        if let Some(m) = mode {
            self.args.int("mode", m as u32 as i64);
        }
        if call == Openat2 {
            if let Some((_, _, r)) = self.open_how() {
                self.args.int("resolve", r as i64);
            }
        }
        let res = self.raw.res;
        if let Some(f) = self.fd.as_mut() {
            f.num = if res >= 0 { res } else { -1 };
        }
    }

    /// `struct open_how { u64 flags, mode, resolve }` when the kernel copied it into the
    /// sockaddr buffer (see the `decode` module docs).
    fn open_how(&self) -> Option<(u64, u64, u64)> {
        let n = self.raw.sockaddr_len as usize;
        if n < 24 {
            return None;
        }
        let b = &self.raw.sockaddr;
        let w = |i: usize| u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        Some((w(0), w(1), w(2)))
    }
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
