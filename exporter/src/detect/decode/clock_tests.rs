use super::*;

#[test]
fn boot_to_epoch_offset_gives_wall_clock_time() {
    let off = boot_to_epoch_ns();
    let mono = monotonic_ns() as i64;
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    assert!((mono + off - wall).abs() < 1_000_000_000, "{} vs {}", mono + off, wall);
}
