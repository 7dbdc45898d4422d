use super::*;

#[test]
fn boot_to_epoch_offset_gives_wall_clock_time() {
    let off = boot_to_epoch_ns();
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let mono = ts.tv_sec * 1_000_000_000 + ts.tv_nsec;
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    assert!((mono + off - wall).abs() < 1_000_000_000, "{} vs {}", mono + off, wall);
}
