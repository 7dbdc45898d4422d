//! Reads of the current task's fields (credentials, executable) through the structure offsets
//! user space found in BTF: Rust BPF gets no CO-RE relocations.

use aya_ebpf::{
    helpers::{bpf_get_current_task, bpf_probe_read_kernel},
    macros::map,
    maps::Array,
};
use exporter_ebpf::KernelOffsets;

/// Kernel structure offsets for naming opened files (from BTF, by user space).
#[map]
pub(crate) static OFFSETS: Array<KernelOffsets> = Array::with_max_entries(1, 0);

/// The current task's effective uid and gid (`current->cred->euid/egid`, kuid values as seen
/// from the initial user namespace): what Falco's `user.uid` is. `bpf_get_current_uid_gid` gives
/// the real ids, which differ in a setuid program.
#[inline(always)]
pub(crate) fn effective_ids() -> Option<(u32, u32)> {
    let (o, task) = offsets_and_task()?;
    let cred: *const u8 = read_at(task, o.task_cred)?;
    Some((read_at(cred, o.cred_euid)?, read_at(cred, o.cred_egid)?))
}

/// The current task's start (`start_boottime`, ns after boot) and its effective and permitted
/// capabilities (`kernel_cap_t`: one u64 since 6.3, two u32 words before, the same 8 bytes).
#[inline(always)]
pub(crate) fn start_and_caps() -> Option<(u64, u64, u64)> {
    let (o, task) = offsets_and_task()?;
    let cred: *const u8 = read_at(task, o.task_cred)?;
    Some((
        read_at(task, o.task_start_boottime)?,
        read_at(cred, o.cred_cap_effective)?,
        read_at(cred, o.cred_cap_permitted)?,
    ))
}

/// The current task's pid in its own pid namespace: `thread_pid->numbers[thread_pid->level].nr`.
#[inline(always)]
pub(crate) fn pid_in_namespace() -> Option<u32> {
    let (o, task) = offsets_and_task()?;
    let pid: *const u8 = read_at(task, o.task_thread_pid)?;
    let level: u32 = read_at(pid, o.pid_level)?;
    // MAX_PID_NS_LEVEL: deeper is no pid the kernel made.
    if level > 32 {
        return None;
    }
    let nr: i32 = read_at(pid, o.pid_numbers + level * o.upid_size + o.upid_nr)?;
    u32::try_from(nr).ok()
}

/// Whether the current task runs a memfd (`memfd_create` + `execveat`): memfd files are named
/// `memfd:<name>`. `None` when it cannot tell.
#[inline(never)]
pub(crate) fn exe_is_memfd() -> Option<bool> {
    let (o, task) = offsets_and_task()?;
    let mm: *const u8 = read_at(task, o.task_mm)?;
    let exe: *const u8 = read_at(mm, o.mm_exe_file)?;
    let dentry: *const u8 = read_at(exe, o.file_path + o.path_dentry)?;
    let name: *const u8 = read_at(dentry, o.dentry_name + o.qstr_name)?;
    let prefix: [u8; 6] = read_at(name, 0)?;
    Some(&prefix == b"memfd:")
}

/// The `struct file` behind descriptor `fd` of the current task, with the offsets and the task.
#[inline(always)]
pub(crate) fn fd_file(fd: u64) -> Option<(&'static KernelOffsets, *const u8, *const u8)> {
    let (o, task) = offsets_and_task()?;
    let files: *const u8 = read_at(task, o.task_files)?;
    let fdt: *const u8 = read_at(files, o.files_fdt)?;
    let max_fds: u32 = read_at(fdt, o.fdt_max_fds)?;
    if fd >= max_fds as u64 {
        return None;
    }
    let fd_array: *const u8 = read_at(fdt, o.fdt_fd)?;
    let file: *const u8 = read_at(fd_array, (fd * 8) as u32)?;
    Some((o, task, file))
}

/// The kernel structure offsets (when user space found them in BTF) and the current task.
#[inline(always)]
pub(crate) fn offsets_and_task() -> Option<(&'static KernelOffsets, *const u8)> {
    let o = OFFSETS.get(0)?;
    if o.valid == 0 {
        return None;
    }
    Some((o, unsafe { bpf_get_current_task() } as *const u8))
}

/// Reads a `T` at `base + offset` of kernel memory.
#[inline(always)]
pub(crate) fn read_at<T>(base: *const u8, offset: u32) -> Option<T> {
    if base.is_null() {
        return None;
    }
    unsafe { bpf_probe_read_kernel(base.add(offset as usize) as *const T) }.ok()
}
