//! Elapsed-time durations for schedules: `90s`, `5m`, `1h30m`, `2d`, `1w`.
//!
//! Not lifeboat-retention's [`Duration`](lifeboat_retention::Duration): that one is restic's
//! *calendar* duration, where `m` means months and there are no minutes or seconds. A
//! schedule's interval, jitter and lateness are elapsed time (a jitter of `5m` is five
//! minutes), so they get systemd's/Go's units instead; there is no month or year unit,
//! because those are not a fixed length (write a cron pattern for "monthly").

use std::fmt;

use chrono::TimeDelta;

use super::error::ScheduleError;

/// A positive length of elapsed time, written as one or more `<number><unit>` parts with
/// units `s`, `m` (minutes), `h`, `d` (24 hours) and `w` (7 days), largest first, each
/// at most once: `1h30m`, `45s`, `1w2d`. Zero (`0s`) is allowed where a field says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(TimeDelta);

/// The units, largest first, with their length in seconds.
const UNITS: [(char, i64); 5] = [('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// The longest span accepted: 100 years, far beyond any schedule, and far from overflow.
const MAX_SECONDS: i64 = 100 * 366 * 86_400;

impl Span {
    /// A span of `seconds` seconds (negative values are clamped to zero).
    pub fn from_seconds(seconds: i64) -> Self {
        Span(TimeDelta::seconds(seconds.clamp(0, MAX_SECONDS)))
    }

    /// The span as a [`TimeDelta`].
    pub fn as_delta(&self) -> TimeDelta {
        self.0
    }

    /// True for a zero span.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Parses `text` as the value of `field`; errors name both.
    pub fn parse(field: &'static str, text: &str) -> Result<Span, ScheduleError> {
        let bad = |reason: &str| ScheduleError::invalid(field, text, reason);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(bad("empty; write e.g. \"90s\", \"5m\", \"1h30m\", \"1d\""));
        }
        let mut total: i64 = 0;
        let mut number: Option<i64> = None;
        let mut next_unit = 0usize; // units must come largest first, each once
        for c in trimmed.chars() {
            if let Some(digit) = c.to_digit(10) {
                let so_far = number.unwrap_or(0);
                number = Some(
                    so_far
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(i64::from(digit)))
                        .filter(|n| *n <= MAX_SECONDS)
                        .ok_or_else(|| bad("too long"))?,
                );
                continue;
            }
            let Some(position) = UNITS.iter().position(|(unit, _)| *unit == c) else {
                return Err(bad(&format!("unknown unit {c:?}; the units are w, d, h, m (minutes), s")));
            };
            let Some(n) = number.take() else {
                return Err(bad(&format!("unit {c:?} has no number before it")));
            };
            if position < next_unit {
                return Err(bad("units must come largest first, each at most once (\"1h30m\")"));
            }
            next_unit = position + 1;
            total = n
                .checked_mul(UNITS.get(position).map_or(1, |(_, secs)| *secs))
                .and_then(|part| total.checked_add(part))
                .filter(|t| *t <= MAX_SECONDS)
                .ok_or_else(|| bad("too long (at most 100 years)"))?;
        }
        if number.is_some() {
            return Err(bad("a number without a unit; write e.g. \"30s\" or \"5m\""));
        }
        Ok(Span(TimeDelta::seconds(total)))
    }
}

impl fmt::Display for Span {
    /// The canonical form: `1h30m`, `0s` for zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0.num_seconds();
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, secs) in UNITS {
            if rest >= secs {
                write!(f, "{}{unit}", rest / secs)?;
                rest %= secs;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit_and_combinations() {
        let secs = |t: &str| Span::parse("every", t).map(|s| s.as_delta().num_seconds());
        assert_eq!(secs("45s"), Ok(45));
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("1h30m"), Ok(5_400));
        assert_eq!(secs("2d"), Ok(172_800));
        assert_eq!(secs("1w1d"), Ok(691_200));
        assert_eq!(secs("0s"), Ok(0));
    }

    #[test]
    fn refuses_bad_text_naming_field_and_value() {
        for text in ["", "5", "m", "5x", "-5m", "30m1h", "1h1h", "1.5h", "99999999999999999999s"] {
            match Span::parse("jitter", text) {
                Err(ScheduleError::Invalid { field, value, .. }) => {
                    assert_eq!((field, value.as_str()), ("jitter", text));
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn displays_canonically() {
        let span = Span::parse("every", "90m").unwrap_or(Span::from_seconds(0));
        assert_eq!(span.to_string(), "1h30m");
        assert_eq!(Span::from_seconds(0).to_string(), "0s");
        assert_eq!(Span::from_seconds(694_861).to_string(), "1w1d1h1m1s");
    }
}
