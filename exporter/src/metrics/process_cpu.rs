//! `process_cpu_seconds_total` to the clock tick: the `prometheus` crate's process collector
//! counts whole seconds, which reads 0 for an exporter that works a few hundred milliseconds
//! during a benchmark.

/// The name the crate's collector uses too; its family is replaced by this one.
pub const NAME: &str = "process_cpu_seconds_total";

/// User plus system CPU time of this process, in seconds, from /proc/self/stat.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    parse_cpu_seconds(&stat, ticks)
}

/// utime + stime (fields 14 and 15) over `ticks` per second. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_seconds(stat: &str, ticks: i64) -> Option<f64> {
    if ticks <= 0 {
        return None;
    }
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the comm come field 3 (state) onwards: utime is the 12th of those, stime the 13th.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / ticks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_in_seconds() {
        let stat = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 905 0 0 0 137 24 0 0 20 0 3 0 1234 0 0";
        assert_eq!(parse_cpu_seconds(stat, 100), Some(1.61));
        assert_eq!(parse_cpu_seconds(stat, 0), None);
        assert_eq!(parse_cpu_seconds("4242 (x) S 1", 100), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        assert!(cpu_seconds().is_some_and(|s| s > 0.0));
    }
}
