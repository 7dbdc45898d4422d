//! The kernel's ring buffers as typed record streams: syscall events, lifecycle records, long
//! paths and new-cgroup notices. Poll a stream's file descriptor for readability (or call
//! [`Records::wait_readable`]), then [`Records::drain`] it.

use std::marker::PhantomData;
use std::os::fd::{AsRawFd, RawFd};

use aya::maps::{MapData, RingBuf};
use exporter_ebpf::{LifecycleEvent, LongPath, SyscallEvent};

/// A record type the kernel writes whole into a ring.
///
/// # Safety
/// Plain `#[repr(C)]` data, valid for any bit pattern: a record is read from the ring's bytes.
pub unsafe trait KernelRecord: Copy {}

// SAFETY: `#[repr(C)]` structs of integers and byte arrays shared with the kernel crate.
unsafe impl KernelRecord for SyscallEvent {}
// SAFETY: as above.
unsafe impl KernelRecord for LifecycleEvent {}
// SAFETY: as above.
unsafe impl KernelRecord for LongPath {}
// SAFETY: an integer (a cgroup id).
unsafe impl KernelRecord for u64 {}

/// One ring of `T` records, in the order the kernel committed them.
pub struct Records<T> {
    ring: RingBuf<MapData>,
    record: PhantomData<T>,
}

/// Syscall events.
pub type SyscallEvents = Records<SyscallEvent>;
/// Fork, exec and exit records.
pub type LifecycleEvents = Records<LifecycleEvent>;
/// The whole of path arguments too long for an event's slot. Each is committed at its
/// syscall's entry, so before the event it belongs to: drain these before the events.
pub type LongPathRecords = Records<LongPath>;
/// Cgroup ids the kernel just assigned a slot to.
pub type NewCgroups = Records<u64>;

impl<T: KernelRecord> Records<T> {
    pub(super) fn new(ring: RingBuf<MapData>) -> Records<T> {
        Records { ring, record: PhantomData }
    }

    /// Hands every queued record to `handle`, oldest first; returns how many. A record shorter
    /// than `T` (none is, unless the kernel object and this build disagree) is skipped.
    pub fn drain(&mut self, mut handle: impl FnMut(&T)) -> usize {
        let mut n = 0;
        while let Some(bytes) = self.ring.next() {
            if bytes.len() >= std::mem::size_of::<T>() {
                // SAFETY: the kernel wrote a whole `T` (checked length), and `T` is valid for
                // any bytes (`KernelRecord`); the record may not be aligned for it, hence the
                // unaligned read.
                let record = unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const T) };
                handle(&record);
                n += 1;
            }
        }
        n
    }

    /// Waits at most `timeout_ms` for something to read; whether there is. The ring is readable
    /// from the moment a record is reserved, so `false` at a zero timeout means nothing was
    /// reserved that the reader has not taken, not even a record the kernel is still writing.
    pub fn wait_readable(&self, timeout_ms: i32) -> bool {
        let mut poll = libc::pollfd { fd: self.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut poll, 1, timeout_ms) > 0 }
    }
}

impl<T> AsRawFd for Records<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}
