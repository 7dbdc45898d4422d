//! Paths as the kernel resolves them, so a rule on `/etc/shadow` sees `cd /etc; cat shadow`,
//! `cat /tmp/../etc//shadow` and `ln -s /etc/shadow /tmp/x; cat /tmp/x` as `/etc/shadow`.
//!
//! Two levels:
//! - lexical ([`normalize`], [`resolve`], [`join`], [`symlink_target`]): string work only, no
//!   system calls. `..` of a symlink is taken lexically here (the kernel would take the parent of
//!   the link's target); [`follow_symlinks`] gets that right.
//! - on the file system ([`resolve_at`] reads `/proc/<pid>/fd/<dirfd>`, [`follow_symlinks`] reads
//!   links inside the process's root): a few `lstat`/`readlink` calls per component, for the
//!   evaluator to use on candidate events only.
//!
//! Every result is an absolute path without `.`, `..`, `//` or a trailing `/`.

use std::collections::VecDeque;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `AT_FDCWD`: the `dirfd` of `*at` syscalls meaning "relative to the cwd".
pub const AT_FDCWD: i64 = -100;

/// The kernel's limit on symlinks followed in one path walk (`MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// Collapses `//`, `.` and `..` lexically; `..` never goes above `/`. A relative input is taken
/// relative to `/`; the empty path is `/`.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    render(parts.iter().copied())
}

fn render<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `path` joined to `cwd` when relative (absolute paths unchanged), *not* normalised: what
/// [`follow_symlinks`] wants, because `..` after a symlink must apply to the link's target.
pub fn join(cwd: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else if path.is_empty() {
        cwd.to_owned()
    } else {
        format!("{}/{}", cwd.trim_end_matches('/'), path)
    }
}

/// A path argument as the kernel would start resolving it: relative against `cwd`, absolute
/// unchanged, then [`normalize`]d. The empty path resolves to `cwd` (as with `AT_EMPTY_PATH`).
pub fn resolve(cwd: &str, path: &str) -> String {
    normalize(&join(cwd, path))
}

/// Why a `*at` path could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot read {link}: {source} (process or descriptor gone)")]
    DirFd { link: PathBuf, source: std::io::Error },
    #[error("dirfd {dirfd} of pid {pid} is {target:?}, not a directory path")]
    NotAPath { pid: i32, dirfd: i64, target: String },
}

/// A path argument of an `*at` syscall (`openat`, `fchmodat`, `linkat`, ...): absolute paths are
/// normalised, `dirfd == AT_FDCWD` resolves against `cwd`, any other `dirfd` against the target
/// of `<proc_root>/<pid>/fd/<dirfd>` (so the descriptor must still be open when this runs; the
/// kernel side should resolve it itself where it can). Lexical: see [`resolve_in_process`].
pub fn resolve_at(proc_root: &Path, pid: i32, dirfd: i64, path: &str, cwd: &str) -> Result<String, ResolveError> {
    join_at(proc_root, pid, dirfd, path, cwd).map(|p| normalize(&p))
}

/// [`resolve_at`] without the normalisation (for [`follow_symlinks`]).
pub fn join_at(proc_root: &Path, pid: i32, dirfd: i64, path: &str, cwd: &str) -> Result<String, ResolveError> {
    if path.starts_with('/') {
        return Ok(path.to_owned());
    }
    if dirfd == AT_FDCWD {
        return Ok(join(cwd, path));
    }
    let link = proc_root.join(pid.to_string()).join("fd").join(dirfd.to_string());
    let target = fs::read_link(&link).map_err(|source| ResolveError::DirFd { link, source })?;
    let target = target.to_string_lossy();
    // Sockets, pipes and anonymous inodes read as `socket:[123]`, `anon_inode:[...]`.
    if !target.starts_with('/') {
        return Err(ResolveError::NotAPath { pid, dirfd, target: target.into_owned() });
    }
    Ok(join(&target, path))
}

/// The object of a path syscall as the kernel finds it, in one call: [`join_at`], then
/// [`follow_symlinks`] inside `<proc_root>/<pid>/root` (all components, or all but the last when
/// `follow_last` is false: `O_NOFOLLOW`, `lstat`, `unlink`, `linkat` without
/// `AT_SYMLINK_FOLLOW`). This is what turns `ln -s /etc/shadow /tmp/x; cat /tmp/x` into
/// `/etc/shadow`. Needs the process alive; a gone process gets the lexical result.
pub fn resolve_in_process(
    proc_root: &Path,
    pid: i32,
    dirfd: i64,
    path: &str,
    cwd: &str,
    follow_last: bool,
) -> Result<String, ResolveError> {
    let joined = join_at(proc_root, pid, dirfd, path, cwd)?;
    let root = proc_root.join(pid.to_string()).join("root");
    Ok(if follow_last { follow_symlinks(&root, &joined) } else { follow_parent_symlinks(&root, &joined) })
}

/// `linkat`'s `flags` bit: follow `oldpath` if it is a symlink.
pub const AT_SYMLINK_FOLLOW: i64 = 0x400;

/// The file a hard link (`link`/`linkat`) makes a new name for: `oldpath` resolved like
/// [`resolve_in_process`], following a final symlink only with [`AT_SYMLINK_FOLLOW`]. A rule on
/// the watched file can then match the `linkat` event itself; later opens of the new name are
/// the same inode, which [`same_file`] tells.
pub fn hardlink_source(
    proc_root: &Path,
    pid: i32,
    olddirfd: i64,
    oldpath: &str,
    cwd: &str,
    flags: i64,
) -> Result<String, ResolveError> {
    resolve_in_process(proc_root, pid, olddirfd, oldpath, cwd, flags & AT_SYMLINK_FOLLOW != 0)
}

/// Whether two paths inside `root` are the same file (device and inode, symlinks followed):
/// a hard link to `/etc/shadow` under another name is `/etc/shadow`. False if either is missing.
pub fn same_file(root: &Path, a: &str, b: &str) -> bool {
    let id = |p: &str| {
        let mut full = root.to_path_buf();
        full.extend(p.split('/').filter(|c| !c.is_empty()));
        fs::metadata(full).ok().map(|m| (m.dev(), m.ino()))
    };
    matches!((id(a), id(b)), (Some(x), Some(y)) if x == y)
}

/// Where a symlink created at `linkpath` with contents `target` points (`symlink`/`symlinkat`
/// events carry both): a relative target is relative to the link's directory, not the cwd.
/// Lexical; `linkpath` should already be absolute.
pub fn symlink_target(linkpath: &str, target: &str) -> String {
    if target.starts_with('/') {
        return normalize(target);
    }
    resolve(&parent_dir(linkpath), target)
}

/// The normalised directory holding `path`.
fn parent_dir(path: &str) -> String {
    let p = normalize(path);
    match p.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => p[..i].to_owned(),
    }
}

/// [`symlink_target`] with the target's own symlinks followed inside `root` (for a process:
/// `/proc/<pid>/root`), so `ln -s /tmp/x /tmp/y` where `/tmp/x -> /etc/shadow` is `/etc/shadow`.
pub fn symlink_target_in_root(root: &Path, linkpath: &str, target: &str) -> String {
    follow_symlinks(root, &join(&parent_dir(linkpath), target))
}

/// Resolves every symlink of the absolute `path` component by component *inside* `root`, as
/// `open` without `O_NOFOLLOW` would: pass `/proc/<pid>/root` so a container's `/etc/shadow` is
/// looked up in the container. An absolute link target restarts at `root`, `..` stops at
/// `root` (a link to `../../..` cannot escape it), and after [`MAX_SYMLINKS`] links the rest is
/// taken lexically (the kernel would fail with `ELOOP`), as it is after [`MAX_LOOKUPS`]
/// look-ups ([`follow_symlinks_checked`] says so). Components that do not exist are kept
/// as written (a file about to be created). Pass [`join`]ed, not normalised, paths so `..` after
/// a link applies to its target.
pub fn follow_symlinks(root: &Path, path: &str) -> String {
    walk(root, path, true).path
}

/// [`follow_symlinks`] except the last component (`lstat`, `unlink`, `rename`, `symlink`'s
/// linkpath, `open(O_NOFOLLOW)`): the link itself is the object.
pub fn follow_parent_symlinks(root: &Path, path: &str) -> String {
    walk(root, path, false).path
}

/// Most `lstat`s one resolution makes; beyond it the rest of the path is taken lexically and the
/// result says it is incomplete. Each `lstat` walks the prefix again, so this bounds the cost of
/// a hostile path (thousands of components, links to long targets) to a few milliseconds.
pub const MAX_LOOKUPS: usize = 1024;

/// A [`follow_symlinks_checked`] result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub path: String,
    /// False when [`MAX_LOOKUPS`] or [`MAX_SYMLINKS`] cut the walk short: the kernel would have
    /// failed (`ELOOP`) or the path is built to be expensive; an evaluator may treat it as suspect.
    pub complete: bool,
    /// `lstat` calls made.
    pub lookups: usize,
}

/// [`follow_symlinks`] (`follow_last`) or [`follow_parent_symlinks`], saying whether the walk
/// was complete.
pub fn follow_symlinks_checked(root: &Path, path: &str, follow_last: bool) -> Resolved {
    walk(root, path, follow_last)
}

fn walk(root: &Path, path: &str, follow_last: bool) -> Resolved {
    let mut done: Vec<String> = Vec::new();
    let mut todo: VecDeque<String> = split(path).collect();
    let (mut links, mut lookups, mut complete) = (0usize, 0usize, true);
    // Depth of a component that is missing or not a directory: nothing below it exists, so
    // components below it need no look-up until `..` climbs back above it.
    let mut dead_at: Option<usize> = None;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                if dead_at.is_some_and(|d| done.len() <= d) {
                    dead_at = None;
                }
                continue;
            }
            _ => {}
        }
        if dead_at.is_some() || (todo.is_empty() && !follow_last) {
            done.push(c);
            continue;
        }
        if links >= MAX_SYMLINKS || lookups >= MAX_LOOKUPS {
            complete = false;
            done.push(c);
            continue;
        }
        let mut on_disk = root.to_path_buf();
        on_disk.extend(done.iter().chain(std::iter::once(&c)));
        lookups += 1;
        let kind = fs::symlink_metadata(&on_disk).map(|m| m.file_type());
        match kind {
            Ok(t) if t.is_symlink() => {}
            Ok(t) if t.is_dir() => {
                done.push(c);
                continue;
            }
            _ => {
                dead_at = Some(done.len());
                done.push(c);
                continue;
            }
        }
        let target = match fs::read_link(&on_disk) {
            Ok(t) => t.to_string_lossy().into_owned(),
            Err(e) => {
                tracing::debug!(path = %on_disk.display(), error = %e, "symlink vanished while resolving");
                dead_at = Some(done.len());
                done.push(c);
                continue;
            }
        };
        links += 1;
        if target.starts_with('/') {
            done.clear();
            dead_at = None;
        }
        let mut next: VecDeque<String> = split(&target).collect();
        next.append(&mut todo);
        todo = next;
    }
    if !complete {
        tracing::debug!(path, links, lookups, "symlink resolution cut short; rest of the path taken lexically");
    }
    Resolved { path: render(done.iter().map(String::as_str)), complete, lookups }
}

fn split(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split('/').filter(|c| !c.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn normalize_collapses_and_never_climbs_above_root() {
        assert_eq!(normalize("/tmp/../etc//shadow"), "/etc/shadow");
        assert_eq!(normalize("/etc/./shadow"), "/etc/shadow");
        assert_eq!(normalize("/../../etc/shadow"), "/etc/shadow");
        assert_eq!(normalize("//etc///shadow/"), "/etc/shadow");
        assert_eq!(normalize("/a/b/../../.."), "/");
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("etc/shadow"), "/etc/shadow");
        assert_eq!(normalize("/etc/..shadow/...."), "/etc/..shadow/....");
    }

    #[test]
    fn resolve_relative_against_cwd() {
        assert_eq!(resolve("/etc", "shadow"), "/etc/shadow");
        assert_eq!(resolve("/etc/", "./shadow"), "/etc/shadow");
        assert_eq!(resolve("/root", "../etc/shadow"), "/etc/shadow");
        assert_eq!(resolve("/root", "/tmp/../etc//shadow"), "/etc/shadow");
        assert_eq!(resolve("/", "../../../etc/shadow"), "/etc/shadow");
        assert_eq!(resolve("/etc", ""), "/etc");
        assert_eq!(join("/etc/", "shadow"), "/etc/shadow");
        assert_eq!(join("/", "x"), "/x");
    }

    #[test]
    fn resolve_at_uses_cwd_or_the_dirfd() {
        let proc_root = Path::new("/proc");
        let me = std::process::id() as i32;
        assert_eq!(resolve_at(proc_root, me, AT_FDCWD, "shadow", "/etc").unwrap(), "/etc/shadow");
        assert_eq!(resolve_at(proc_root, me, 99_999, "/etc/./shadow", "/").unwrap(), "/etc/shadow");

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        let f = std::fs::File::open(dir.path().join("etc")).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&f) as i64;
        let want = format!("{}/etc/shadow", std::fs::canonicalize(dir.path()).unwrap().display());
        assert_eq!(resolve_at(proc_root, me, fd, "../etc//shadow", "/").unwrap(), want);
        assert_eq!(resolve_at(proc_root, me, fd, "", "/").unwrap(), want.trim_end_matches("/shadow"));
        assert!(matches!(resolve_at(proc_root, me, 99_999, "x", "/"), Err(ResolveError::DirFd { .. })));

        let (r, _w) = std::io::pipe().unwrap();
        let pfd = std::os::fd::AsRawFd::as_raw_fd(&r) as i64;
        assert!(matches!(resolve_at(proc_root, me, pfd, "x", "/"), Err(ResolveError::NotAPath { .. })));
    }

    #[test]
    fn resolve_in_a_live_process_follows_links_and_hard_links_are_the_same_file() {
        // The test process's own root is the host's /: build the links in a tempdir and use
        // absolute paths through it.
        let d = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(d.path()).unwrap().display().to_string();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/shadow"), "x").unwrap();
        symlink(format!("{base}/etc/shadow"), d.path().join("x")).unwrap();
        std::fs::hard_link(d.path().join("etc/shadow"), d.path().join("h")).unwrap();
        let (proc_root, me) = (Path::new("/proc"), std::process::id() as i32);
        let shadow = format!("{base}/etc/shadow");
        assert_eq!(resolve_in_process(proc_root, me, AT_FDCWD, "x", &base, true).unwrap(), shadow);
        assert_eq!(resolve_in_process(proc_root, me, AT_FDCWD, "x", &base, false).unwrap(), format!("{base}/x"));
        assert_eq!(hardlink_source(proc_root, me, AT_FDCWD, "x", &base, AT_SYMLINK_FOLLOW).unwrap(), shadow);
        assert_eq!(hardlink_source(proc_root, me, AT_FDCWD, "x", &base, 0).unwrap(), format!("{base}/x"));
        assert!(same_file(Path::new("/"), &format!("{base}/h"), &shadow));
        assert!(same_file(Path::new("/"), &format!("{base}/x"), &shadow));
        assert!(!same_file(Path::new("/"), &format!("{base}/etc"), &shadow));
        assert!(!same_file(Path::new("/"), &format!("{base}/nope"), &format!("{base}/nope")));
        // Inside a fake root: absolute paths are the root's.
        let r = fake_root();
        std::fs::hard_link(r.path().join("etc/shadow"), r.path().join("tmp/h")).unwrap();
        assert!(same_file(r.path(), "/tmp/h", "/etc/shadow"));
    }

    #[test]
    fn symlink_target_is_relative_to_the_link_directory() {
        assert_eq!(symlink_target("/tmp/x", "/etc/shadow"), "/etc/shadow");
        assert_eq!(symlink_target("/tmp/x", "../etc/shadow"), "/etc/shadow");
        assert_eq!(symlink_target("/x", "etc//shadow"), "/etc/shadow");
        assert_eq!(symlink_target("/tmp/sub/x", "./../../etc/./shadow"), "/etc/shadow");
    }

    /// A fake root: /etc/shadow, /tmp, /var/run -> ../run (relative), /lib -> /usr/lib.
    fn fake_root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for dir in ["etc", "tmp", "run", "usr/lib"] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        std::fs::create_dir(r.join("var")).unwrap();
        std::fs::write(r.join("etc/shadow"), "root:*:").unwrap();
        symlink("../run", r.join("var/run")).unwrap();
        symlink("/usr/lib", r.join("lib")).unwrap();
        d
    }

    #[test]
    fn follows_a_real_symlink_to_shadow() {
        let d = fake_root();
        symlink("/etc/shadow", d.path().join("tmp/x")).unwrap();
        assert_eq!(follow_symlinks(d.path(), "/tmp/x"), "/etc/shadow");
        // The link itself is the object of lstat/unlink.
        assert_eq!(follow_parent_symlinks(d.path(), "/tmp/x"), "/tmp/x");
        // Relative link target, link in the middle of the path.
        symlink("../etc", d.path().join("tmp/e")).unwrap();
        assert_eq!(follow_symlinks(d.path(), "/tmp/e/shadow"), "/etc/shadow");
        assert_eq!(follow_parent_symlinks(d.path(), "/tmp/e/shadow"), "/etc/shadow");
        // Chains: /tmp/y -> x -> /etc/shadow.
        symlink("x", d.path().join("tmp/y")).unwrap();
        assert_eq!(follow_symlinks(d.path(), "/tmp/y"), "/etc/shadow");
        // Absolute link inside the root restarts at the root, not the host's /.
        assert_eq!(follow_symlinks(d.path(), "/lib/libc.so"), "/usr/lib/libc.so");
        assert_eq!(follow_symlinks(d.path(), "/var/run/x.pid"), "/run/x.pid");
    }

    #[test]
    fn every_evasion_is_etc_shadow() {
        let d = fake_root();
        symlink("/etc/shadow", d.path().join("tmp/x")).unwrap();
        let root = d.path();
        // cd /etc; cat shadow
        assert_eq!(follow_symlinks(root, &join("/etc", "shadow")), "/etc/shadow");
        // cat /tmp/../etc//shadow
        assert_eq!(follow_symlinks(root, &join("/root", "/tmp/../etc//shadow")), "/etc/shadow");
        // ln -s /etc/shadow /tmp/x; cat /tmp/x (from cwd /tmp, relative)
        assert_eq!(follow_symlinks(root, &join("/tmp", "x")), "/etc/shadow");
        // The symlink event itself: symlink("/etc/shadow", "/tmp/x").
        assert_eq!(symlink_target("/tmp/x", "/etc/shadow"), "/etc/shadow");
        assert_eq!(symlink_target_in_root(root, "/tmp/z", "x"), "/etc/shadow");
    }

    #[test]
    fn dotdot_after_a_symlink_applies_to_its_target() {
        let d = fake_root();
        std::fs::create_dir_all(d.path().join("usr/share")).unwrap();
        // /lib -> /usr/lib, so /lib/../share is /usr/share, not /share.
        assert_eq!(follow_symlinks(d.path(), "/lib/../share"), "/usr/share");
        assert_eq!(normalize("/lib/../share"), "/share");
    }

    #[test]
    fn never_escapes_the_root() {
        let d = fake_root();
        symlink("../../../../../../etc/shadow", d.path().join("tmp/up")).unwrap();
        symlink("/../../..", d.path().join("tmp/top")).unwrap();
        assert_eq!(follow_symlinks(d.path(), "/tmp/up"), "/etc/shadow");
        assert_eq!(follow_symlinks(d.path(), "/tmp/top/etc/shadow"), "/etc/shadow");
        assert_eq!(follow_symlinks(d.path(), "/../../tmp/../../etc/shadow"), "/etc/shadow");
    }

    #[test]
    fn loops_stop_after_the_limit() {
        let d = fake_root();
        symlink("b", d.path().join("tmp/a")).unwrap();
        symlink("a", d.path().join("tmp/b")).unwrap();
        let got = follow_symlinks(d.path(), "/tmp/a/shadow");
        assert!(got == "/tmp/a/shadow" || got == "/tmp/b/shadow", "{got}");
    }

    #[test]
    fn nothing_is_looked_up_below_a_missing_component_and_hostile_paths_are_bounded() {
        let d = fake_root();
        let deep = format!("/nope{}", "/x".repeat(500));
        let r = follow_symlinks_checked(d.path(), &deep, true);
        assert_eq!((r.lookups, r.complete, r.path.len()), (1, true, deep.len()));
        // `..` climbs out of the missing part and look-ups resume: nope, tmp, x, etc, shadow.
        symlink("/etc/shadow", d.path().join("tmp/x")).unwrap();
        let r = follow_symlinks_checked(d.path(), "/nope/a/b/../../../tmp/x", true);
        assert_eq!((r.path.as_str(), r.lookups), ("/etc/shadow", 5));
        // A file is not a directory either.
        assert_eq!(follow_symlinks_checked(d.path(), "/etc/shadow/a/b/c", true).lookups, 2);
        // Padding that costs a look-up per component runs out of budget and says so.
        let padded = format!("/etc{}/../tmp/x", "/../etc".repeat(MAX_LOOKUPS + 10));
        let r = follow_symlinks_checked(d.path(), &padded, true);
        assert_eq!((r.path.as_str(), r.complete, r.lookups), ("/tmp/x", false, MAX_LOOKUPS));
        // Link loops: incomplete.
        symlink("l2", d.path().join("tmp/l1")).unwrap();
        symlink("l1", d.path().join("tmp/l2")).unwrap();
        assert!(!follow_symlinks_checked(d.path(), "/tmp/l1", true).complete);
        assert!(follow_symlinks_checked(d.path(), "/tmp/x", true).complete);
    }

    #[test]
    fn missing_components_are_kept() {
        let d = fake_root();
        assert_eq!(follow_symlinks(d.path(), "/etc/new/../file"), "/etc/file");
        assert_eq!(follow_symlinks(d.path(), "/nope/x"), "/nope/x");
        assert_eq!(follow_symlinks(d.path(), "/"), "/");
    }
}
