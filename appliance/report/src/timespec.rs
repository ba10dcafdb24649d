//! `--since` and `--until`: a point in time given as Unix seconds, a UTC
//! date and time, or an age relative to the moment the report is drawn
//! (so a served report's window moves with the clock).

use model::time::days_from_civil;

/// A bound of the report's time range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// Unix seconds.
    At(u64),
    /// This many seconds before the report is drawn.
    Ago(u64),
}

impl TimeSpec {
    /// Reads `1714521600` (Unix seconds), `2024-05-01`, `2024-05-01T10:00`,
    /// `2024-05-01 10:00:30Z` (UTC), `now`, or an age: `90s`, `15m`, `2h`,
    /// `1d`, `2w`.
    pub fn parse(s: &str) -> Result<TimeSpec, String> {
        let s = s.trim();
        if s == "now" {
            return Ok(TimeSpec::Ago(0));
        }
        if let Ok(v) = s.parse::<u64>() {
            return Ok(TimeSpec::At(v));
        }
        if let Some(t) = parse_utc(s) {
            return Ok(TimeSpec::At(t));
        }
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => 0,
        };
        match num.parse::<u64>() {
            Ok(n) if mult > 0 && !num.is_empty() => Ok(TimeSpec::Ago(n.saturating_mul(mult))),
            _ => Err(format!(
                "`{s}`: expected Unix seconds, a UTC date and time (2024-05-01, \
                 2024-05-01T10:00:00Z) or an age (90s, 15m, 2h, 1d, 2w)"
            )),
        }
    }

    /// Unix seconds of the bound when the report is drawn at `now`.
    pub fn resolve(self, now_unix_s: u64) -> u64 {
        match self {
            TimeSpec::At(t) => t,
            TimeSpec::Ago(d) => now_unix_s.saturating_sub(d),
        }
    }
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS]`,
/// optionally ending in `Z`: Unix seconds (UTC).
fn parse_utc(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 || m.len() != 2 || day.len() != 2 {
        return None;
    }
    let day: u32 = day.parse().ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(y.parse().ok()?, m.parse().ok()?, day)?;
    let mut secs = days * 86_400;
    if let Some(t) = time {
        let parts: Vec<&str> = t.split(':').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        let v: Vec<u64> = parts
            .iter()
            .map(|p| p.parse::<u64>().ok())
            .collect::<Option<_>>()?;
        let (hh, mm, ss) = (v[0], v[1], v.get(2).copied().unwrap_or(0));
        if hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        secs += hh * 3_600 + mm * 60 + ss;
    }
    Some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            TimeSpec::parse("1714521600"),
            Ok(TimeSpec::At(1_714_521_600))
        );
        assert_eq!(
            TimeSpec::parse("2024-05-01"),
            Ok(TimeSpec::At(1_714_521_600))
        );
        assert_eq!(
            TimeSpec::parse("2024-05-01T10:00"),
            Ok(TimeSpec::At(1_714_521_600 + 36_000))
        );
        assert_eq!(
            TimeSpec::parse("2024-05-01 10:00:30Z"),
            Ok(TimeSpec::At(1_714_521_600 + 36_030))
        );
        assert_eq!(TimeSpec::parse("15m"), Ok(TimeSpec::Ago(900)));
        assert_eq!(TimeSpec::parse("2w"), Ok(TimeSpec::Ago(1_209_600)));
        assert_eq!(TimeSpec::parse("now"), Ok(TimeSpec::Ago(0)));
        for bad in [
            "",
            "m",
            "15x",
            "2024-5-1",
            "2024-05-01T25:00",
            "2024-13-01",
            "yesterday",
        ] {
            assert!(TimeSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TimeSpec::Ago(60).resolve(1_000), 940);
        assert_eq!(TimeSpec::Ago(6_000).resolve(1_000), 0);
        assert_eq!(TimeSpec::At(5).resolve(1_000), 5);
    }
}
