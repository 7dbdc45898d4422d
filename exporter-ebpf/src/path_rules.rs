//! The prefilter's path test: which watched paths (`PATHS`), path substrings (`NEEDLES`) or
//! watched files (`INODES`) an event names, by its path arguments or, for an open, by the file
//! the kernel actually opened.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    helpers::generated,
    macros::map,
    maps::{lpm_trie::Key, Array, HashMap, LpmTrie, PerCpuArray},
};
use exporter_ebpf::{
    ArgSpec, InodeKey, Needles, SyscallEvent, EVENT_MULTI_LINK, EVENT_RESOLVED_PATH, MAX_NEEDLE, MAX_NEEDLES, MAX_PATH,
};

use crate::{path_walk::name_open_file, stash::arg_at};

/// Watched paths: exact ones with their NUL, prefixes without. Each value holds the bits of every
/// rule matching that key, including those of shorter prefixes (the trie returns one entry).
#[map]
static PATHS: LpmTrie<[u8; MAX_PATH], u64> = LpmTrie::with_max_entries(4096, BPF_F_NO_PREALLOC);
/// Watched files by (device, inode) -> rule bits, so a hard link to one is seen as that file.
#[map]
static INODES: HashMap<InodeKey, u64> = HashMap::with_max_entries(4096, 0);
/// Substrings of paths some rules need (`contains`, `endswith`, basenames).
#[map]
static NEEDLES: Array<Needles> = Array::with_max_entries(1, 0);
/// The `PATHS` look-up key (260 bytes, too large for the stack next to the rest).
#[map]
static LPM_KEY: PerCpuArray<Key<[u8; MAX_PATH]>> = PerCpuArray::with_max_entries(1, 0);

/// The rules whose path predicate `event` satisfies, or `None` when the kernel cannot tell: no
/// path, a relative or unnormalised one (`..`, `//`), or a name that did not fit.
#[inline(never)]
pub(crate) fn path_rules(event: &mut SyscallEvent, spec: &ArgSpec) -> Option<u64> {
    let key = LPM_KEY.get_ptr_mut(0)?;
    let key = unsafe { &mut *key };
    let named_fd = if spec.returns_fd == 1 && event.res >= 0 {
        Some(event.res as u64)
    } else {
        arg_at(&event.args, spec.named_fd)
    };
    if let Some(fd) = named_fd {
        // The file actually opened, or the descriptor's: symlinks, `..`, `//` and the cwd
        // resolved by the kernel.
        let len = name_open_file(fd, event)?;
        event.path_lens[1] = len as i32;
        event.flags |= EVENT_RESOLVED_PATH;
        let by_inode = InodeKey { dev: event.dev as u64, ino: event.ino };
        let by_path = lookup_path(key, &event.paths[1], len) | needle_rules(&event.paths[1], len, Found::Path);
        return match unsafe { INODES.get(&by_inode) } {
            Some(linked) => Some(by_path | linked),
            // Another name of this file may be watched, and user space may know it (it looks
            // watched files up by identity in each root) before this map does.
            None if event.flags & EVENT_MULTI_LINK != 0 => None,
            None => Some(by_path),
        };
    }
    raw_path_rules(event)
}

/// The path test on the path arguments as passed (see `path_rules`), without needles.
#[inline(never)]
pub(crate) fn raw_path_rules(event: &SyscallEvent) -> Option<u64> {
    let key = LPM_KEY.get_ptr_mut(0)?;
    let key = unsafe { &mut *key };
    let mut matching = 0;
    let mut seen = false;
    for i in 0..2 {
        let len = event.path_lens[i];
        if len <= 0 {
            continue;
        }
        let len = len as usize;
        if !is_normalised(&event.paths[i], len) {
            return None;
        }
        matching |= lookup_path(key, &event.paths[i], len);
        seen = true;
    }
    // Needles are looked for only in the file an open returned (one more search here would take
    // this program past the verifier's budget): a rule with needles passes untested.
    let untested = NEEDLES.get(0).map_or(0, |n| n.path_any);
    seen.then_some(matching | untested)
}

/// The rules whose raw needles (`fd.nameraw contains`) the first path argument, as the caller
/// passed it, contains; `None` when it was not read or did not fit.
#[inline(never)]
pub(crate) fn raw_needle_rules(event: &SyscallEvent) -> Option<u64> {
    let len = event.path_lens[0];
    // A full buffer was cut: the needle may be in what was not copied.
    if len <= 0 || len as usize >= MAX_PATH {
        return None;
    }
    Some(needle_rules(&event.paths[0], len as usize, Found::Raw))
}

/// Which of a needle's rule bits a search collects.
#[derive(Clone, Copy, PartialEq)]
enum Found {
    Path,
    Raw,
}

/// State of a needle search between `search_step` calls (on the caller's stack).
#[repr(C)]
struct Search {
    path: *const [u8; MAX_PATH],
    needles: *const Needles,
    len: u64,
    raw: u64,
    /// The needles this search collects bits of (`Needles::raw_needles` or `path_needles`).
    own: u64,
    found: u64,
}

/// The rule bits of every needle found in `path[..len]` (`len` counts the NUL, which suffix
/// needles end with).
#[inline(always)]
fn needle_rules(path: &[u8; MAX_PATH], len: usize, which: Found) -> u64 {
    let Some(needles) = NEEDLES.get(0) else {
        return 0;
    };
    if which == Found::Path && needles.path_any == 0 {
        return 0;
    }
    let (raw, own) = match which {
        Found::Raw => (1, needles.raw_needles),
        Found::Path => (0, needles.path_needles),
    };
    let mut search = Search { path, needles, len: len as u64, raw, own: own as u64, found: 0 };
    // bpf_loop: the verifier checks one position once instead of unrolling 256 of them, and
    // this kernel inlines the loop, so a position costs no call.
    let step: extern "C" fn(u64, *mut core::ffi::c_void) -> i64 = search_step;
    let positions = (len & (MAX_PATH - 1)) as u32;
    unsafe { generated::bpf_loop(positions, step as *mut _, &mut search as *mut Search as *mut _, 0) };
    search.found
}

/// Looks for the needles starting at position `i`; most positions end at the first-byte table.
extern "C" fn search_step(i: u64, ctx: *mut core::ffi::c_void) -> i64 {
    let s = unsafe { &mut *(ctx as *mut Search) };
    let (path, needles) = unsafe { (&*s.path, &*s.needles) };
    let i = i as usize & (MAX_PATH - 1);
    let starting = needles.first[path[i] as usize] as u64 & s.own;
    if starting == 0 {
        return 0;
    }
    for j in 0..MAX_NEEDLES {
        // Past the last needle starting here: nothing left to compare.
        if starting >> j == 0 {
            break;
        }
        if starting >> j & 1 != 0 && found_at(path, i, s.len as usize, needles, j) {
            s.found |= if s.raw != 0 { needles.raw_rules[j] } else { needles.path_rules[j] };
        }
    }
    0
}

/// Whether needle `j` is at `path[i..]` (within `len`). A call of its own: inlined into
/// `search_step`'s unrolled needle loop it took 200 bytes of stack there, and the entry
/// program's call chain (stash, raw path rules, this search) must fit in 512.
#[inline(never)]
fn found_at(path: &[u8; MAX_PATH], i: usize, len: usize, needles: &Needles, j: usize) -> bool {
    if i + needles.lens[j] as usize > len {
        return false;
    }
    // All bytes, masked past the needle's end, and one test at the end: a test per byte or on
    // the length would leave the verifier different ranges on each way out, which it cannot
    // merge, and the states multiply per needle.
    let mut differ = 0u8;
    for k in 0..MAX_NEEDLE {
        differ |= (path[(i + k) & (MAX_PATH - 1)] ^ needles.bytes[j][k]) & needles.masks[j][k];
    }
    differ == 0
}

/// `PATHS` look-up of `path[..len]` (`len` counts the NUL, so exact entries need the whole path
/// and prefix entries match any path they start).
#[inline(always)]
fn lookup_path(key: &mut Key<[u8; MAX_PATH]>, path: &[u8; MAX_PATH], len: usize) -> u64 {
    let len = len & (MAX_PATH - 1);
    key.prefix_len = (len * 8) as u32;
    // SAFETY: both buffers are MAX_PATH bytes and `len` is masked below that.
    if unsafe {
        generated::bpf_probe_read_kernel(key.data.as_mut_ptr() as *mut _, len as u32, path.as_ptr() as *const _)
    } != 0
    {
        return 0;
    }
    PATHS.get(&*key).copied().unwrap_or(0)
}

/// Whether a NUL-terminated path of `len` bytes (NUL included) is absolute and normalised: no
/// empty, `.` or `..` component and no trailing slash (the root `/` itself is).
#[inline(never)]
fn is_normalised(path: &[u8; MAX_PATH], len: usize) -> bool {
    // Room to look three bytes past any slash without leaving the buffer.
    if !(2..MAX_PATH - 3).contains(&len) || path[0] != b'/' {
        return false;
    }
    if len == 2 {
        return true;
    }
    if path[(len - 2) & (MAX_PATH - 1)] == b'/' {
        return false;
    }
    let end = |c: u8| c == b'/' || c == 0;
    // Each step looks only at bytes, never at state from earlier steps: the verifier then walks
    // the loop in one pass instead of one path per combination of counters.
    for i in 0..MAX_PATH - 3 {
        if i + 1 >= len {
            return true;
        }
        if path[i] != b'/' {
            continue;
        }
        let (a, b, c) = (path[i + 1], path[i + 2], path[i + 3]);
        if a == b'/' || (a == b'.' && (end(b) || (b == b'.' && end(c)))) {
            return false;
        }
    }
    true
}
