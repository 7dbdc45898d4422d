//! Path arguments longer than an event's slot: sent whole on `LONG_PATHS` at entry, so user
//! space judges what the path names rather than its first 255 bytes.

use aya_ebpf::{helpers::generated, macros::map, maps::RingBuf};
use exporter_ebpf::{LongPath, SyscallEvent, MAX_LONG_PATH};

/// Whole long path arguments, each before the event it belongs to.
#[map]
static LONG_PATHS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

/// Sends path argument `slot` of `event`, read again whole from the caller's memory at `user`.
/// False when it could not (ring full, unreadable): the event then carries a truncated path.
#[inline(never)]
pub(crate) fn send_long_path(event: &SyscallEvent, slot: u32, user: *const u8) -> bool {
    let Some(mut entry) = LONG_PATHS.reserve::<LongPath>(0) else {
        return false;
    };
    let record = entry.as_mut_ptr();
    // SAFETY: `record` points into the reserved ring entry, `MAX_LONG_PATH` bytes for the path.
    let read = unsafe {
        (*record).ktime_ns = event.ktime_ns;
        (*record).tid = event.tid;
        (*record).slot = slot;
        (*record)._pad = 0;
        generated::bpf_probe_read_user_str(
            core::ptr::addr_of_mut!((*record).path) as *mut _,
            MAX_LONG_PATH as u32,
            user as *const _,
        )
    };
    if read <= 0 {
        entry.discard(0);
        return false;
    }
    unsafe { (*record).len = read as u32 };
    entry.submit(0);
    true
}
