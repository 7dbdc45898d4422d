use crate::detect::decode::fixtures::*;
use crate::detect::decode::Decoder;
use crate::detect::process::paths::AT_FDCWD;
use crate::detect::process::ProcessTable;
use crate::rules::Event;
use crate::syscalls::Arch;
use exporter_ebpf::MAX_PATH;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

#[test]
fn relative_dotdot_and_double_slash_through_a_real_dir_and_our_own_pid() {
    let d = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(d.path()).unwrap().display().to_string();
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    std::fs::create_dir_all(d.path().join("sub")).unwrap();
    std::fs::write(d.path().join("etc/shadow"), "x").unwrap();
    symlink(format!("{base}/etc/shadow"), d.path().join("sub/s")).unwrap();
    let dir = std::fs::File::open(d.path().join("sub")).unwrap();
    let dirfd = std::os::fd::AsRawFd::as_raw_fd(&dir);
    let me = std::process::id();
    let table = ProcessTable::new(PathBuf::from("/proc"), 4);
    let dec = Decoder::new(Arch::X86_64);
    let mut ev = Event::default();
    let mut r = rec("openat", 9);
    r.tgid = me;
    // Relative to a dirfd: .. and //.
    r.args[0] = dirfd as u64;
    path(&mut r, 0, "../etc//./shadow");
    dec.decode(&r, 1, 0, &table, None, &mut ev);
    assert_eq!(fd(&ev).name, format!("{base}/etc/shadow"));
    assert_eq!(ev.args.get("dirfd"), Some(&i(dirfd as i64)));
    // Through a symlink below the dirfd.
    path(&mut r, 0, "s");
    dec.decode(&r, 1, 0, &table, None, &mut ev);
    assert_eq!(fd(&ev).name, format!("{base}/etc/shadow"));
    assert_eq!(fd(&ev).nameraw.as_deref(), Some("s"));
    // Relative to the cwd (the table does not know us: /proc/<pid>/cwd is read).
    let cwd = std::env::current_dir().unwrap().display().to_string();
    r.args[0] = AT_FDCWD as u64;
    path(&mut r, 0, "src/..//src/./decode.rs");
    dec.decode(&r, 1, 0, &table, None, &mut ev);
    assert_eq!(fd(&ev).name, format!("{cwd}/src/decode.rs"));
    // The dirfd is gone (process exited): lexical.
    let fake = Fake::new();
    r.tgid = PID;
    r.args[0] = 77;
    path(&mut r, 0, "a/../b//c");
    assert_eq!(fd(&decode_with(&fake, &r)).name, "/b/c");
}

#[test]
fn truncated_paths_still_decode() {
    let mut r = rec("openat", 3);
    r.args[0] = AT_FDCWD as u64;
    let long = format!("/{}", "a".repeat(400));
    path(&mut r, 0, &long);
    assert_eq!(r.path_lens[0] as usize, MAX_PATH);
    let ev = decode(&r);
    assert_eq!(fd(&ev).name, long[..MAX_PATH - 1]);
    // Even without the NUL the kernel writes.
    r.paths[0][MAX_PATH - 1] = b'b';
    assert_eq!(fd(&decode(&r)).name.len(), MAX_PATH);
    // A failed copy: the argument is empty, there is no object.
    r.path_lens[0] = -14;
    let ev = decode(&r);
    assert_eq!(ev.args.get("name"), Some(&s("")));
    assert!(ev.fd.is_none());
}
