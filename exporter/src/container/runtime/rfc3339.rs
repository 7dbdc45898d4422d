//! The times runtimes write: RFC 3339 as Go formats `time.Time`.

/// Nanoseconds since the Unix epoch of an RFC 3339 time as Go writes one
/// (`2026-12-06T09:05:10.52259972Z`: 0 to 9 fraction digits, `Z` or `+hh:mm`); `None` for
/// anything else and for times before the epoch (Docker's zero time means "never").
pub fn parse_rfc3339_ns(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        let digits = text.get(from..to)?;
        digits.bytes().all(|c| c.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = number(20, 20 + digits)? * 10_i64.pow(9 - digits as u32);
        rest = fraction.get(digits..)?;
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let at = text.len() - 5;
            let seconds = number(at, at + 2)? * 3600 + number(at + 3, at + 5)? * 60;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds).ok()?.checked_mul(1_000_000_000)?.checked_add(u64::try_from(nanos).ok()?)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ns("2026-12-06T09:05:10.52259972Z"), Some(1_796_547_910_522_599_720));
        assert_eq!(parse_rfc3339_ns("2024-02-29T23:59:59.000000001Z"), Some(1_709_251_199_000_000_001));
        assert_eq!(parse_rfc3339_ns("2026-12-06T11:05:10+02:00"), parse_rfc3339_ns("2026-12-06T09:05:10Z"));
        assert_eq!(parse_rfc3339_ns("2026-12-06T08:35:10.5-00:30"), parse_rfc3339_ns("2026-12-06T09:05:10.5Z"));
        for bad in [
            "0001-01-01T00:00:00Z",
            "",
            "2026-12-06",
            "2026-12-06 09:05:10Z",
            "2026-13-06T09:05:10Z",
            "2026-12-06T09:05:10.Z",
            "2026-12-06T09:05:10.1234567890Z",
            "2026-12-06T09:05:10",
            "2026-12-06T09:05:10+0200",
            "2026-12-06T09:05:1éZ",
            "2026-12-06T09:05:10Zjunk",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad}");
        }
    }
}
