//! The kernel's `LongPath` records: the whole of path arguments too long for an event's slot.

use aya::maps::{MapData, RingBuf};
use exporter_ebpf::LongPath;

/// Long path records from the kernel. Each is committed at its syscall's entry, so before the
/// event it belongs to: drain this before the events.
pub struct LongPathRecords(pub(super) RingBuf<MapData>);

impl LongPathRecords {
    /// Hands every queued record to `handle`, oldest first.
    pub fn drain(&mut self, mut handle: impl FnMut(&LongPath)) {
        while let Some(record) = self.0.next() {
            if record.len() >= std::mem::size_of::<LongPath>() {
                // SAFETY: the kernel wrote a whole `LongPath` (checked length); the record may
                // not be aligned for it, hence the unaligned read.
                let path = unsafe { std::ptr::read_unaligned(record.as_ptr() as *const LongPath) };
                handle(&path);
            }
        }
    }
}
