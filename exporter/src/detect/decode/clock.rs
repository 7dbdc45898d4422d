//! Kernel timestamps to wall-clock time.

/// Nanoseconds to add to a `bpf_ktime_get_ns` value (CLOCK_MONOTONIC) to get nanoseconds since
/// the Unix epoch: `CLOCK_REALTIME - CLOCK_MONOTONIC`, read now (monotonic read on both sides of
/// the real-time read, the midpoint used). Recompute it now and then: it moves when the wall
/// clock is set or slewed.
pub fn boot_to_epoch_ns() -> i64 {
    let m1 = now(libc::CLOCK_MONOTONIC);
    let real = now(libc::CLOCK_REALTIME);
    let m2 = now(libc::CLOCK_MONOTONIC);
    real - (m1 + (m2 - m1) / 2)
}

/// Now on the kernel's `bpf_ktime_get_ns` clock (CLOCK_MONOTONIC), in ns.
pub fn monotonic_ns() -> u64 {
    now(libc::CLOCK_MONOTONIC).max(0) as u64
}

fn now(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec; both clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

#[cfg(test)]
#[path = "clock_tests.rs"]
mod tests;
