//! Naming an opened file: from the descriptor to its file, dentry and mount, then up the dentry
//! tree to the task's root, writing the path backwards in `WALK_BUF`.

use aya_ebpf::{helpers::generated, macros::map, maps::PerCpuArray};
use exporter_ebpf::{DropReason, SyscallEvent, EVENT_MULTI_LINK, MAX_PATH};

use crate::{
    counting::count_drop,
    task::{fd_file, read_at, OFFSETS},
};

const S_IFMT: u16 = 0o170000;
const S_IFREG: u16 = 0o100000;

/// Components a file name may have before the walk gives up (the event then goes to user space).
const MAX_COMPONENTS: usize = 48;
/// Longest component copied (NAME_MAX).
const MAX_NAME: usize = 255;
/// The walk writes a path backwards ending at this index of `WALK_BUF`; the buffer is larger so
/// that (position & mask) + (length & mask) stays inside it for the verifier.
const WALK_END: usize = 511;
/// Where a file's name is assembled, backwards from `WALK_END`.
#[map]
static WALK_BUF: PerCpuArray<[u8; 2 * MAX_PATH + MAX_NAME + 1]> = PerCpuArray::with_max_entries(1, 0);

/// Names the file behind descriptor `fd` of the current task, relative to the task's root
/// (`/etc/shadow` inside a container), into `out` (NUL-terminated). Returns the length with the
/// NUL, or `None` if it cannot (no offsets, deeper than `MAX_COMPONENTS`, longer than `out`).
#[inline(never)]
pub(crate) fn name_open_file(fd: u64, event: &mut SyscallEvent) -> Option<usize> {
    let (o, task, file) = fd_file(fd)?;
    // The file's identity, for watched files opened through a hard link.
    let inode: *const u8 = read_at(file, o.file_inode)?;
    let sb: *const u8 = read_at(inode, o.inode_sb)?;
    event.ino = read_at(inode, o.inode_ino)?;
    event.dev = read_at(sb, o.sb_dev)?;
    let links: u32 = read_at(inode, o.inode_nlink)?;
    let mode: u16 = read_at(inode, o.inode_mode)?;
    // Only regular files have other names (a directory's link count is its subdirectories).
    if links > 1 && mode & S_IFMT == S_IFREG {
        event.flags |= EVENT_MULTI_LINK;
    }
    let fs: *const u8 = read_at(task, o.task_fs)?;
    let mut walk = Walk {
        vfsmount: read_at(file, o.file_path + o.path_mnt)?,
        dentry: read_at(file, o.file_path + o.path_dentry)?,
        root_mnt: read_at(fs, o.fs_root + o.path_mnt)?,
        root_dentry: read_at(fs, o.fs_root + o.path_dentry)?,
        pos: WALK_END as u64,
        state: WALK_RUNNING,
    };
    let buf = WALK_BUF.get_ptr_mut(0)?;
    let buf = unsafe { &mut *buf };
    buf[WALK_END] = 0;
    // bpf_loop: the verifier checks the step once instead of unrolling a loop whose branches
    // (component or mount crossing) would multiply its paths.
    let step: extern "C" fn(u64, *mut core::ffi::c_void) -> i64 = walk_step;
    unsafe { generated::bpf_loop(MAX_COMPONENTS as u32, step as *mut _, &mut walk as *mut Walk as *mut _, 0) };
    if walk.state != WALK_DONE {
        return None;
    }
    let mut pos = walk.pos as usize & WALK_END;
    if pos == WALK_END {
        pos -= 1;
        buf[pos] = b'/';
    }
    let len = WALK_END + 1 - pos;
    if len > MAX_PATH {
        count_drop(DropReason::PathTruncated);
        return None;
    }
    // SAFETY: `len <= MAX_PATH` bytes from inside WALK_BUF into `out`. The mask restates
    // 1 <= len <= MAX_PATH in a form the verifier keeps.
    let src = unsafe { buf.as_ptr().add(pos) };
    let size = (((len - 1) & (MAX_PATH - 1)) + 1) as u32;
    let out = &mut event.paths[1];
    if unsafe { generated::bpf_probe_read_kernel(out.as_mut_ptr() as *mut _, size, src as *const _) } != 0 {
        return None;
    }
    Some(len)
}

const WALK_RUNNING: u64 = 0;
const WALK_DONE: u64 = 1;
const WALK_FAILED: u64 = 2;

/// State of a path walk between `walk_step` calls (on the caller's stack).
#[repr(C)]
struct Walk {
    dentry: *const u8,
    vfsmount: *const u8,
    root_dentry: *const u8,
    root_mnt: *const u8,
    /// Where the path written so far starts in `WALK_BUF`.
    pos: u64,
    state: u64,
}

/// One step up: to the parent directory (writing this component's name before the path), or
/// across the top of a mount to where it is mounted. Returns 1 to stop the loop.
extern "C" fn walk_step(_index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    let walk = unsafe { &mut *(ctx as *mut Walk) };
    walk.state = match step_up(walk) {
        Some(WALK_RUNNING) => return 0,
        Some(state) => state,
        None => WALK_FAILED,
    };
    1
}

#[inline(always)]
fn step_up(walk: &mut Walk) -> Option<u64> {
    if walk.dentry == walk.root_dentry && walk.vfsmount == walk.root_mnt {
        return Some(WALK_DONE);
    }
    let o = OFFSETS.get(0)?;
    let mnt_root: *const u8 = read_at(walk.vfsmount, o.vfsmount_root)?;
    if walk.dentry == mnt_root {
        // The top of a mount: continue from where it is mounted, in the parent mount.
        let mount = unsafe { walk.vfsmount.sub(o.mount_mnt as usize) };
        let parent: *const u8 = read_at(mount, o.mount_parent)?;
        if parent == mount {
            // The namespace's root mount: the file is outside the task's root; stop here.
            return Some(WALK_DONE);
        }
        walk.dentry = read_at(mount, o.mount_mountpoint)?;
        walk.vfsmount = unsafe { parent.add(o.mount_mnt as usize) };
        return Some(WALK_RUNNING);
    }
    let parent: *const u8 = read_at(walk.dentry, o.dentry_parent)?;
    let len: u32 = read_at(walk.dentry, o.dentry_name + o.qstr_len)?;
    let name: *const u8 = read_at(walk.dentry, o.dentry_name + o.qstr_name)?;
    let (len, pos) = (len as usize, walk.pos as usize & WALK_END);
    if len == 0 || len > MAX_NAME || pos < len + 1 {
        return None;
    }
    let buf = WALK_BUF.get_ptr_mut(0)?;
    let buf = unsafe { &mut *buf };
    let start = (pos - len) & WALK_END;
    // SAFETY: start + len <= WALK_END; both masked so the verifier sees the bound.
    let dst = unsafe { buf.as_mut_ptr().add(start) };
    if unsafe { generated::bpf_probe_read_kernel(dst as *mut _, (len & MAX_NAME) as u32, name as *const _) } != 0 {
        return None;
    }
    let slash = (start - 1) & WALK_END;
    buf[slash] = b'/';
    walk.pos = slash as u64;
    walk.dentry = parent;
    Some(WALK_RUNNING)
}
