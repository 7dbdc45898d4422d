use super::*;

#[test]
fn open_flags_to_text_per_arch() {
    let text = |arch, f: u64| {
        let mut out = String::new();
        Decoder::with_proc_root(arch, "/nonexistent".into()).render_open_flags(f, &mut out);
        out
    };
    let x86 = Arch::X86_64;
    assert_eq!(text(x86, 0), "O_RDONLY");
    assert_eq!(text(x86, 577), "O_WRONLY|O_CREAT|O_TRUNC");
    assert_eq!(text(x86, (libc::O_RDWR | libc::O_NOFOLLOW | libc::O_EXCL) as u64), "O_RDWR|O_EXCL|O_NOFOLLOW");
    assert_eq!(text(x86, libc::O_SYNC as u64), "O_RDONLY|O_SYNC");
    assert_eq!(text(x86, libc::O_DSYNC as u64), "O_RDONLY|O_DSYNC");
    assert_eq!(text(x86, (libc::O_TMPFILE | libc::O_RDWR) as u64), "O_RDWR|O_TMPFILE");
    assert_eq!(text(x86, libc::O_PATH as u64), "O_RDONLY|O_PATH");
    assert_eq!(text(x86, 1 << 30 | 1), "O_WRONLY|0x40000000");
    // aarch64 swaps O_DIRECTORY/O_NOFOLLOW with O_DIRECT/O_LARGEFILE.
    assert_eq!(text(x86, 0o40000), "O_RDONLY|O_DIRECT");
    assert_eq!(text(Arch::Aarch64, 0o40000), "O_RDONLY|O_DIRECTORY");
    assert_eq!(text(Arch::Aarch64, 0o100000), "O_RDONLY|O_NOFOLLOW");
    assert_eq!(text(Arch::Aarch64, 0o20040000 | 2), "O_RDWR|O_TMPFILE");
    // Other flag sets.
    let mut out = String::new();
    render_flags(0, CLONE_FLAGS, &mut out);
    assert_eq!(out, "0");
    out.clear();
    render_flags(0x10020000, CLONE_FLAGS, &mut out);
    assert_eq!(out, "CLONE_NEWNS|CLONE_NEWUSER");
}
