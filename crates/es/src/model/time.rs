//! Instants and durations as given on the command line, and half-open UTC time ranges.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{EsError, Result};

/// A half-open UTC time range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl TimeRange {
    /// Builds a range; `end` must be after `start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self> {
        if end <= start {
            return Err(EsError::invalid(
                "time range",
                format!("{} .. {}", start.to_rfc3339(), end.to_rfc3339()),
                "the end must be after the start",
            ));
        }
        Ok(TimeRange { start, end })
    }

    /// True when the two ranges share at least one instant.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl std::fmt::Display for TimeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} .. {}", self.start.to_rfc3339(), self.end.to_rfc3339())
    }
}

/// Parses an instant: RFC 3339 (`2024-05-01T10:00:00Z`), `YYYY-MM-DDTHH:MM[:SS]` (UTC) or a date
/// `YYYY-MM-DD`. A bare date means the start of that day, or, with `end_of_day`, the start of the
/// next day (so `--to 2024-05-03` includes all of May 3rd).
pub fn parse_instant(s: &str, end_of_day: bool) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end_of_day { d.succ_opt().unwrap_or(d) } else { d };
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()));
    }
    Err(EsError::invalid("time", s, "use RFC 3339 (2024-05-01T10:00:00Z), 2024-05-01T10:00 or 2024-05-01"))
}

/// Parses a duration such as `90s`, `30m`, `12h`, `7d` or `2w`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 =
        num.parse().map_err(|_| EsError::invalid("duration", s, "use a number and a unit: 90s, 30m, 12h, 7d, 2w"))?;
    let d = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    };
    match d {
        Some(d) if n > 0 => Ok(d),
        _ => Err(EsError::invalid("duration", s, "use a positive number and a unit: 90s, 30m, 12h, 7d, 2w")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_instant(s, false).unwrap()
    }

    #[test]
    fn instants_and_durations() {
        assert_eq!(parse_instant("2024-05-03", true).unwrap(), at("2024-05-04"));
        assert_eq!(at("2024-05-03T10:00"), at("2024-05-03T10:00:00Z"));
        assert!(parse_instant("yesterday", false).is_err());
        assert_eq!(parse_duration("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_duration("36h").unwrap(), Duration::hours(36));
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("3y").is_err());
    }

    #[test]
    fn overlap() {
        let a = TimeRange::new(at("2024-05-01"), at("2024-05-02")).unwrap();
        let b = TimeRange::new(at("2024-05-02"), at("2024-05-03")).unwrap();
        let c = TimeRange::new(at("2024-05-01T12:00:00Z"), at("2024-05-02T01:00:00Z")).unwrap();
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c) && b.overlaps(&c));
        assert!(TimeRange::new(at("2024-05-02"), at("2024-05-01")).is_err());
    }
}
