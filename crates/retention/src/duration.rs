//! restic's calendar duration: `1y2m7d3h`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::RetentionError;

/// A calendar duration in restic's form: a number of years, months, days and hours,
/// written like `1y2m7d3h` (`m` is **months**; there is no unit for minutes or weeks,
/// write `7d` for a week).
///
/// Units may come in any order and each at most once. Negative numbers, unknown units,
/// numbers without a unit and empty text are rejected. A duration whose every part is
/// zero (`0d`) is valid but [`is_zero`](Self::is_zero); a policy treats it as "rule not
/// set", as restic does.
///
/// ```
/// use lifeboat_retention::Duration;
/// let d: Duration = "1y2m7d3h".parse().unwrap();
/// assert_eq!((d.years, d.months, d.days, d.hours), (1, 2, 7, 3));
/// assert_eq!(d.to_string(), "1y2m7d3h");
/// assert!("-7d".parse::<Duration>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Duration {
    /// Whole years.
    pub years: u32,
    /// Whole calendar months.
    pub months: u32,
    /// Whole days.
    pub days: u32,
    /// Whole hours.
    pub hours: u32,
}

impl Duration {
    /// A duration from its four parts.
    pub const fn new(years: u32, months: u32, days: u32, hours: u32) -> Self {
        Duration { years, months, days, hours }
    }

    /// A duration of `n` days.
    pub const fn days(n: u32) -> Self {
        Duration::new(0, 0, n, 0)
    }

    /// True when every part is zero. Policies treat a zero duration as "rule not set".
    pub const fn is_zero(&self) -> bool {
        self.years == 0 && self.months == 0 && self.days == 0 && self.hours == 0
    }

    /// The point in time this duration lies before `reference`, computed the way restic
    /// (Go's `time.AddDate` followed by `Add`) does it:
    ///
    /// 1. years and months are subtracted from the calendar month of `reference` (in its
    ///    own UTC offset), keeping the day of month, which may then overflow: one month
    ///    before 31 March is "31 February", which Go normalises to 2 or 3 March
    ///    (leap year or not), not to the end of February;
    /// 2. days are subtracted on the calendar, hours as elapsed time.
    ///
    /// Returns `None` when the result lies before the earliest representable date, which
    /// callers treat as "infinitely long ago".
    pub fn before(&self, reference: &DateTime<FixedOffset>) -> Option<DateTime<Utc>> {
        let local = reference.naive_local();
        let months_total = i64::from(local.year()) * 12 + i64::from(local.month0())
            - i64::from(self.years) * 12
            - i64::from(self.months);
        let year = i32::try_from(months_total.div_euclid(12)).ok()?;
        let month = u32::try_from(months_total.rem_euclid(12)).ok()? + 1;
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let day_shift = i64::from(local.day()) - 1 - i64::from(self.days);
        let date = if day_shift >= 0 {
            first.checked_add_days(Days::new(day_shift.unsigned_abs()))?
        } else {
            first.checked_sub_days(Days::new(day_shift.unsigned_abs()))?
        };
        let wall = date.and_time(local.time()).checked_sub_signed(TimeDelta::try_hours(i64::from(self.hours))?)?;
        let utc = wall.checked_sub_signed(TimeDelta::try_seconds(i64::from(reference.offset().local_minus_utc()))?)?;
        Some(DateTime::from_naive_utc_and_offset(utc, Utc))
    }
}

impl fmt::Display for Duration {
    /// restic's spelling: the non-zero parts in the order y, m, d, h; `0h` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0h");
        }
        for (n, unit) in [(self.years, 'y'), (self.months, 'm'), (self.days, 'd'), (self.hours, 'h')] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Duration {
    type Err = RetentionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| RetentionError::InvalidDuration { input: input.to_string(), reason };
        let text = input.trim();
        if text.is_empty() {
            return Err(fail("the duration is empty (expected something like 7d, 1m or 1y2m7d3h)".into()));
        }
        let mut out = Duration::default();
        let mut seen = [false; 4];
        let mut rest = text;
        while !rest.is_empty() {
            if rest.starts_with('-') {
                return Err(fail("negative durations are not allowed".into()));
            }
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                let c = rest.chars().next().unwrap_or(' ');
                return Err(fail(format!("expected a number where {c:?} is (write it like 1y2m7d3h)")));
            }
            let (number, after) = rest.split_at(digits);
            let value: u32 =
                number.parse().map_err(|_| fail(format!("the number {number} is too large (at most {})", u32::MAX)))?;
            let mut chars = after.chars();
            let slot = match chars.next() {
                None => return Err(fail(format!("no unit after the number {number} (use y, m, d or h)"))),
                Some('y') => 0,
                Some('m') => 1,
                Some('d') => 2,
                Some('h') => 3,
                Some('w') => {
                    return Err(fail(format!(
                        "unknown unit 'w' after {number}: weeks are not supported, write days (7d)"
                    )));
                }
                Some(other) => {
                    return Err(fail(format!(
                        "unknown unit {other:?} after {number} (use y for years, m for months, d for days, h for hours)"
                    )));
                }
            };
            if seen[slot] {
                return Err(fail(format!("the unit {:?} is given twice", ['y', 'm', 'd', 'h'][slot])));
            }
            seen[slot] = true;
            match slot {
                0 => out.years = value,
                1 => out.months = value,
                2 => out.days = value,
                _ => out.hours = value,
            }
            rest = chars.as_str();
        }
        Ok(out)
    }
}

impl TryFrom<String> for Duration {
    type Error = RetentionError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Duration> for String {
    fn from(value: Duration) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn parses_all_units_in_any_order() {
        assert_eq!("1y2m7d3h".parse::<Duration>().unwrap(), Duration::new(1, 2, 7, 3));
        assert_eq!("3h1y".parse::<Duration>().unwrap(), Duration::new(1, 0, 0, 3));
        assert_eq!("  7d ".parse::<Duration>().unwrap(), Duration::days(7));
        assert_eq!("0d".parse::<Duration>().unwrap(), Duration::default());
        assert!("0d".parse::<Duration>().unwrap().is_zero());
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        for (input, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("-7d", "negative"),
            ("1d-2h", "negative"),
            ("7", "no unit"),
            ("7w", "weeks"),
            ("7s", "unknown unit"),
            ("1D", "unknown unit"),
            ("d", "expected a number"),
            ("1.5d", "unknown unit '.'"),
            ("1d2d", "twice"),
            ("99999999999d", "too large"),
            ("1d 2h", "expected a number"),
        ] {
            let err = input.parse::<Duration>().unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(needle), "{input:?}: {msg}");
            assert!(msg.contains(&format!("{input:?}")), "{input:?}: {msg}");
        }
    }

    #[test]
    fn displays_like_restic() {
        assert_eq!(Duration::new(0, 1, 14, 0).to_string(), "1m14d");
        assert_eq!(Duration::new(2, 0, 0, 5).to_string(), "2y5h");
        assert_eq!(Duration::default().to_string(), "0h");
    }

    #[test]
    fn serde_uses_the_text_form() {
        let d: Duration = serde_json::from_str("\"1y1d\"").unwrap();
        assert_eq!(d, Duration::new(1, 0, 1, 0));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1y1d\"");
        assert!(serde_json::from_str::<Duration>("\"-1d\"").is_err());
    }

    #[test]
    fn month_arithmetic_overflows_like_go() {
        // 2024 is a leap year: "31 February" is 2 March.
        let cut = Duration::new(0, 1, 0, 0).before(&at("2024-03-31T12:00:00Z")).unwrap();
        assert_eq!(cut, at("2024-03-02T12:00:00Z"));
        // 2023 is not: "31 February" is 3 March.
        let cut = Duration::new(0, 1, 0, 0).before(&at("2023-03-31T12:00:00Z")).unwrap();
        assert_eq!(cut, at("2023-03-03T12:00:00Z"));
        // One year before 29 February is "29 February 2023", i.e. 1 March 2023.
        let cut = Duration::new(1, 0, 0, 0).before(&at("2024-02-29T00:00:00Z")).unwrap();
        assert_eq!(cut, at("2023-03-01T00:00:00Z"));
        // Months roll over the year boundary.
        let cut = Duration::new(0, 14, 0, 0).before(&at("2024-01-15T00:00:00Z")).unwrap();
        assert_eq!(cut, at("2022-11-15T00:00:00Z"));
    }

    #[test]
    fn days_are_calendar_days_and_hours_elapsed_time_in_the_reference_offset() {
        let cut = Duration::new(0, 0, 1, 3).before(&at("2024-03-01T02:00:00+05:30")).unwrap();
        // 1 March 02:00 +05:30 minus one calendar day is 29 February 02:00 +05:30, minus 3h is 28 Feb 23:00 +05:30.
        assert_eq!(cut, at("2024-02-28T23:00:00+05:30"));
    }

    #[test]
    fn far_past_is_none() {
        assert_eq!(Duration::new(u32::MAX, 0, 0, 0).before(&at("2024-01-01T00:00:00Z")), None);
        assert_eq!(Duration::new(0, 0, u32::MAX, 0).before(&at("2024-01-01T00:00:00Z")), None);
        assert_eq!(Duration::new(0, 0, 0, u32::MAX).before(&at("2024-01-01T00:00:00Z")), None);
        let cut = Duration::new(0, 0, 36_524, 24).before(&at("2024-01-01T00:00:00Z")).unwrap();
        // 1924..2023 has 25 leap days: 36 525 days in the century.
        assert_eq!(cut, at("1924-01-01T00:00:00Z"));
    }
}
