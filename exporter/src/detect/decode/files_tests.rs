use crate::detect::decode::fixtures::*;
use crate::detect::decode::flags::MS_MGC_VAL;
use crate::detect::decode::{Decoder, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW};
use crate::detect::process::paths::{AT_FDCWD, AT_SYMLINK_FOLLOW};
use crate::detect::process::ProcessTable;
use crate::rules::Event;
use crate::syscalls::Arch;
use exporter_ebpf::{SyscallEvent, EVENT_RESOLVED_PATH};
use std::os::unix::fs::symlink;
use std::path::PathBuf;

#[test]
fn open_family() {
    let mut r = rec("openat", 3);
    r.args[0] = AT_FDCWD as u64;
    r.args[2] = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64;
    r.args[3] = 0o644;
    path(&mut r, 0, "/etc//cron.d/./x");
    let ev = decode(&r);
    assert_eq!(
        args(&ev),
        [("dirfd", i(-100)), ("name", s("/etc/cron.d/x")), ("flags", s("O_WRONLY|O_CREAT|O_TRUNC")), ("mode", i(420))]
    );
    let f = fd(&ev);
    assert_eq!((f.num, f.kind.as_str(), f.name.as_str()), (3, "file", "/etc/cron.d/x"));
    assert_eq!(f.nameraw.as_deref(), Some("/etc//cron.d/./x"));

    let mut r = rec("open", -13);
    r.args[1] = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY) as u64;
    path(&mut r, 0, "/etc/../root");
    let ev = decode(&r);
    assert_eq!(args(&ev), [("name", s("/root")), ("flags", s("O_RDONLY|O_DIRECTORY|O_CLOEXEC")), ("mode", i(0))]);
    assert_eq!((fd(&ev).num, fd(&ev).kind.as_str()), (-1, "directory"));

    let mut r = rec("creat", 4);
    r.args[1] = 0o600;
    path(&mut r, 0, "/tmp/f");
    assert_eq!(args(&decode(&r)), [("name", s("/tmp/f")), ("mode", i(0o600))]);

    // openat2 without the open_how copied: no flags (documented); with it: decoded.
    let mut r = rec("openat2", 5);
    r.args[0] = AT_FDCWD as u64;
    path(&mut r, 0, "/etc/shadow");
    assert_eq!(args(&decode(&r)), [("dirfd", i(-100)), ("name", s("/etc/shadow"))]);
    let how: [u64; 3] = [(libc::O_RDWR | libc::O_APPEND) as u64, 0o640, 0x8];
    for (k, w) in how.iter().enumerate() {
        r.sockaddr[k * 8..k * 8 + 8].copy_from_slice(&w.to_ne_bytes());
    }
    r.sockaddr_len = 24;
    assert_eq!(
        args(&decode(&r)),
        [
            ("dirfd", i(-100)),
            ("name", s("/etc/shadow")),
            ("flags", s("O_RDWR|O_APPEND")),
            ("mode", i(0o640)),
            ("resolve", i(8))
        ]
    );
}

#[test]
fn o_nofollow_does_not_follow_the_last_link() {
    let d = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(d.path()).unwrap().display().to_string();
    std::fs::write(d.path().join("real"), "x").unwrap();
    symlink(format!("{base}/real"), d.path().join("l")).unwrap();
    let me = std::process::id();
    let mut r = rec("openat", 3);
    r.tgid = me;
    r.args[0] = AT_FDCWD as u64;
    path(&mut r, 0, &format!("{base}/l"));
    let table = ProcessTable::new(PathBuf::from("/proc"), 4);
    let mut ev = Event::default();
    let dec = Decoder::new(Arch::X86_64);
    dec.decode(&r, 1, 0, &table, None, &mut ev);
    assert_eq!(fd(&ev).name, format!("{base}/real"));
    r.args[2] = libc::O_NOFOLLOW as u64;
    dec.decode(&r, 1, 0, &table, None, &mut ev);
    assert_eq!(fd(&ev).name, format!("{base}/l"));
}

#[test]
fn chmod_and_chown_families() {
    let mut r = rec("chmod", 0);
    r.args[1] = 0o4755;
    path(&mut r, 0, "/usr/bin//x");
    assert_eq!(args(&decode(&r)), [("filename", s("/usr/bin/x")), ("mode", i(0o4755))]);

    let fake = Fake::new().fd(3, "/etc/passwd");
    let mut r = rec("fchmod", 0);
    r.args[0] = 3;
    r.args[1] = 0o777;
    let ev = decode_with(&fake, &r);
    assert_eq!(args(&ev), [("fd", i(3)), ("mode", i(511))]);
    assert_eq!((fd(&ev).num, fd(&ev).name.as_str(), fd(&ev).kind.as_str()), (3, "/etc/passwd", "file"));
    // The kernel named the descriptor's file at the exit: that name, not the descriptor's now.
    r.flags |= EVENT_RESOLVED_PATH;
    path(&mut r, 1, "/etc/shadow");
    assert_eq!(fd(&decode_with(&fake, &r)).name, "/etc/shadow");

    let mut r = rec("fchmodat", 0);
    r.args[0] = AT_FDCWD as u64;
    r.args[2] = 0o666;
    path(&mut r, 0, "/tmp/../etc/shadow");
    let ev = decode(&r);
    assert_eq!(args(&ev), [("dirfd", i(-100)), ("filename", s("/etc/shadow")), ("mode", i(438))]);
    assert_eq!(fd(&ev).name, "/etc/shadow");

    let mut r = rec("chown", 0);
    r.args[1] = 1000;
    r.args[2] = u32::MAX as u64; // -1: unchanged
    path(&mut r, 0, "/host/etc/sudoers");
    assert_eq!(args(&decode(&r)), [("path", s("/host/etc/sudoers")), ("uid", i(1000)), ("gid", i(4294967295))]);
    let mut r = rec("lchown", 0);
    path(&mut r, 0, "/a");
    assert_eq!(decode(&r).args.get("path"), Some(&s("/a")));
    let mut r = rec("fchownat", 0);
    r.args[0] = AT_FDCWD as u64;
    r.args[2] = 0;
    r.args[3] = 0;
    r.args[4] = AT_SYMLINK_NOFOLLOW;
    path(&mut r, 0, "/etc/gshadow");
    assert_eq!(
        args(&decode(&r)),
        [
            ("dirfd", i(-100)),
            ("pathname", s("/etc/gshadow")),
            ("uid", i(0)),
            ("gid", i(0)),
            ("flags", s("AT_SYMLINK_NOFOLLOW"))
        ]
    );
    let fake = Fake::new().fd(4, "/etc/group");
    let mut r = rec("fchown", 0);
    r.args[0] = 4;
    let ev = decode_with(&fake, &r);
    assert_eq!(args(&ev), [("fd", i(4)), ("uid", i(0)), ("gid", i(0))]);
    assert_eq!(fd(&ev).name, "/etc/group");
}

#[test]
fn link_family() {
    // symlink: a relative target is relative to the link's directory.
    let mut r = rec("symlink", 0);
    path(&mut r, 0, "../../etc/passwd");
    path(&mut r, 1, "/var/www/passwd");
    let ev = decode(&r);
    assert_eq!(args(&ev), [("target", s("/etc/passwd")), ("linkpath", s("/var/www/passwd"))]);
    assert_eq!(fd(&ev).name, "/var/www/passwd");
    let mut r = rec("symlinkat", 0);
    r.args[1] = AT_FDCWD as u64;
    path(&mut r, 0, "/etc/shadow");
    path(&mut r, 1, "s");
    let ev = decode_with(&Fake::new().cwd("/tmp"), &r);
    assert_eq!(args(&ev), [("target", s("/etc/shadow")), ("linkdirfd", i(-100)), ("linkpath", s("/tmp/s"))]);
    assert_eq!((fd(&ev).name.as_str(), fd(&ev).nameraw.as_deref()), ("/tmp/s", Some("s")));

    let mut r = rec("linkat", 0);
    r.args[0] = AT_FDCWD as u64;
    r.args[2] = AT_FDCWD as u64;
    r.args[4] = AT_SYMLINK_FOLLOW as u64;
    path(&mut r, 0, "/host/etc//shadow");
    path(&mut r, 1, "/tmp/h");
    let ev = decode(&r);
    assert_eq!(
        args(&ev),
        [
            ("olddir", i(-100)),
            ("oldpath", s("/host/etc/shadow")),
            ("newdir", i(-100)),
            ("newpath", s("/tmp/h")),
            ("flags", s("AT_SYMLINK_FOLLOW"))
        ]
    );
    assert_eq!(fd(&ev).name, "/tmp/h");
    let mut r = rec("link", 0);
    path(&mut r, 0, "shadow");
    path(&mut r, 1, "/tmp/h");
    let ev = decode_with(&Fake::new().cwd("/etc"), &r);
    assert_eq!(args(&ev), [("oldpath", s("/etc/shadow")), ("newpath", s("/tmp/h"))]);
}

#[test]
fn rename_unlink_mkdir() {
    let mut r = rec("renameat2", 0);
    r.args[0] = AT_FDCWD as u64;
    r.args[2] = AT_FDCWD as u64;
    r.args[4] = 1;
    path(&mut r, 0, "/tmp/x");
    path(&mut r, 1, "/etc//passwd");
    let ev = decode(&r);
    assert_eq!(
        args(&ev),
        [
            ("olddirfd", i(-100)),
            ("oldpath", s("/tmp/x")),
            ("newdirfd", i(-100)),
            ("newpath", s("/etc/passwd")),
            ("flags", s("RENAME_NOREPLACE"))
        ]
    );
    assert_eq!(fd(&ev).name, "/etc/passwd");
    let mut r = rec("rename", 0);
    path(&mut r, 0, "/a");
    path(&mut r, 1, "/b");
    assert_eq!(args(&decode(&r)), [("oldpath", s("/a")), ("newpath", s("/b"))]);
    let mut r = rec("unlink", 0);
    path(&mut r, 0, "/var/log//wtmp");
    assert_eq!(args(&decode(&r)), [("path", s("/var/log/wtmp"))]);
    let mut r = rec("unlinkat", 0);
    r.args[0] = AT_FDCWD as u64;
    r.args[2] = AT_REMOVEDIR;
    path(&mut r, 0, "/tmp/d/");
    let ev = decode(&r);
    assert_eq!(args(&ev), [("dirfd", i(-100)), ("name", s("/tmp/d")), ("flags", s("AT_REMOVEDIR"))]);
    assert_eq!(fd(&ev).kind, "directory");
    let mut r = rec("mkdir", 0);
    r.args[1] = 0o700;
    path(&mut r, 0, "/tmp/n");
    assert_eq!(args(&decode(&r)), [("path", s("/tmp/n")), ("mode", i(0o700))]);
}

#[test]
fn mount_family() {
    let mut r = rec("mount", 0);
    r.args[3] = MS_MGC_VAL | 4096 | 16384;
    path(&mut r, 0, "/dev//sda1");
    path(&mut r, 1, "/mnt/");
    let ev = decode(&r);
    assert_eq!(args(&ev), [("dev", s("/dev/sda1")), ("dir", s("/mnt")), ("flags", s("MS_BIND|MS_REC"))]);
    assert_eq!((fd(&ev).kind.as_str(), fd(&ev).name.as_str()), ("directory", "/mnt"));
    path(&mut r, 0, "proc");
    r.args[3] = 0;
    assert_eq!(args(&decode(&r))[0..1], [("dev", s("proc"))]);
    assert_eq!(decode(&r).args.get("flags"), Some(&s("0")));
    let mut r = rec("umount2", 0);
    r.args[1] = 2;
    path(&mut r, 0, "/proc/sys");
    assert_eq!(args(&decode(&r)), [("name", s("/proc/sys")), ("flags", s("MNT_DETACH"))]);
}

#[test]
fn a_path_argument_the_kernel_cut_is_judged_by_its_whole() {
    let long = format!("/{}etc/shadow", "./".repeat(150));
    let fake = Fake::new();
    let whole = |r: &SyscallEvent, long: [Option<&str>; 2]| {
        let mut ev = Event::default();
        fake.decoder().decode_with_long_paths(r, long, 7, 0, &fake.table(), None, &mut ev);
        ev
    };
    let mut r = rec("fchmodat", 0);
    r.args[0] = AT_FDCWD as u64;
    path(&mut r, 0, &long);
    assert_eq!(fd(&decode_with(&fake, &r)).name, "/", "its first 255 bytes name the root");
    assert_eq!(fd(&whole(&r, [Some(&long), None])).name, "/etc/shadow");

    let mut r = rec("symlinkat", 0);
    r.args[1] = AT_FDCWD as u64;
    path(&mut r, 0, &long);
    path(&mut r, 1, "/tmp/s");
    let ev = whole(&r, [Some(&long), None]);
    assert_eq!(args(&ev)[0], ("target", s("/etc/shadow")));
}
