//! UTC calendar arithmetic, written once: the sink's date partitions and
//! file stamps, and the status view's times all use it.

/// Seconds in a day.
pub const SECS_PER_DAY: u64 = 86_400;
/// Nanoseconds in a second.
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// Proleptic Gregorian (year, month, day) of a day number (days since
/// 1970-01-01); H. Hinnant's `civil_from_days`.
pub fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Day number (days since 1970-01-01) of a proleptic Gregorian date, for
/// dates from 1970 on (None before, or for a month outside 1..=12);
/// H. Hinnant's `days_from_civil`.
pub fn days_from_civil(y: u64, m: u32, d: u32) -> Option<u64> {
    if !(1..=12).contains(&m) {
        return None;
    }
    let (m, d) = (u64::from(m), u64::from(d));
    let y = if m <= 2 { y.checked_sub(1)? } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// UTC day (days since 1970-01-01) of a Unix time in ns.
pub fn day_of_ns(ns: u64) -> u64 {
    ns / NS_PER_SEC / SECS_PER_DAY
}

/// `YYYY-MM-DD` of a day number.
pub fn date_string(day: u64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// (hours, minutes, seconds) of the time of day of Unix seconds.
pub fn time_of_day(unix_s: u64) -> (u64, u64, u64) {
    let sod = unix_s % SECS_PER_DAY;
    (sod / 3_600, sod / 60 % 60, sod % 60)
}

/// Unix seconds as a UTC date and time: `2025-06-01 08:00:00 UTC`.
pub fn format_utc(unix_s: u64) -> String {
    let (y, m, d) = civil_from_days(unix_s / SECS_PER_DAY);
    let (hh, mm, ss) = time_of_day(unix_s);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(date_string(19_844), "2024-05-01");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(format_utc(1_748_764_800), "2025-06-01 08:00:00 UTC");
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(1969, 12, 31), None);
        assert_eq!(days_from_civil(2024, 13, 1), None);
    }

    #[test]
    fn days_round_trip() {
        for day in (0..200_000).step_by(17) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), Some(day));
        }
    }
}
