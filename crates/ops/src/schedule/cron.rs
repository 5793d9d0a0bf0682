//! Cron patterns evaluated in an IANA time zone, daylight-saving changes included.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use super::error::ScheduleError;

/// A cron pattern (5 fields, or 6 with seconds first) in a time zone.
///
/// The pattern follows Vixie cron / cronie as croner reads it: `minute hour day-of-month
/// month day-of-week`, with an optional leading seconds field; names (`MON`, `JAN`), ranges,
/// lists and steps; `L` (last day of the month, or last weekday `5L`), `W` and `#` as
/// croner supports them; and cron's nicknames `@hourly`, `@daily`, `@weekly` (Sunday),
/// `@monthly` and `@yearly`. When both day fields are restricted, a day matches if *either*
/// does (cron's rule). There is no year field.
///
/// # Daylight-saving time
///
/// The pattern is matched against the wall clock of [`zone`](Self::zone), the way cronie,
/// Vixie cron and the Open Cron Pattern Specification (which croner implements) treat
/// clock changes:
///
/// - **Gap** (spring forward, e.g. 02:00 → 03:00 in Europe/Berlin on the last Sunday of
///   March): a *fixed-time* pattern (single second, minute and hour, like `30 2 * * *`) whose
///   time falls into the gap runs **once, at the first instant after the gap** (03:00 local),
///   so a daily backup is never silently lost for a day. A pattern with a wildcard or a step
///   in its time fields (`*/15 * * * *`) simply has no slots inside the missing hour.
/// - **Repeat** (fall back, e.g. 03:00 → 02:00 in late October): a fixed-time pattern whose
///   time occurs twice runs **once, at the first occurrence** (the summer-time one). A
///   wildcard or stepped pattern runs at both instants, since each is a distinct
///   moment of elapsed time (an `every 15 minutes` job keeps its pace through the repeat).
///
/// cronie's manual says the same ("jobs that would have run in the interval that has been
/// skipped will be run immediately ... care is taken to avoid running jobs twice"). systemd
/// timers instead skip a time that falls into a gap (systemd issue #5595), which loses that
/// day's backup, so Lifeboat follows cron.
#[derive(Debug, Clone)]
pub struct CronTrigger {
    pattern: String,
    zone: Tz,
    /// Boxed: a parsed pattern is some 300 bytes, and `Trigger` (in `trigger.rs`)
    /// holds either this or a small interval.
    cron: Box<Cron>,
}

/// How many one-second nudges [`CronTrigger::next_after`] makes if croner ever returns an
/// instant that is not after the one asked about (defensive; a DST repeat could in principle
/// map a later wall-clock time to an earlier instant).
const MAX_NUDGES: u32 = 4;

impl CronTrigger {
    /// Parses `pattern` (the `cron` field) in `zone` (an IANA name, the `timezone` field;
    /// `None` means UTC). A pattern that can never match (`0 0 30 2 *`) is refused.
    pub fn new(pattern: &str, zone: Option<&str>) -> Result<Self, ScheduleError> {
        let zone = match zone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                ScheduleError::invalid("timezone", name, "not an IANA time zone name (e.g. \"Europe/Berlin\", \"UTC\")")
            })?,
        };
        let fields = pattern.split_whitespace().count();
        let nickname = pattern.trim_start().starts_with('@');
        if !(fields == 5 || fields == 6 || (nickname && fields == 1)) {
            return Err(ScheduleError::invalid(
                "cron",
                pattern,
                format!(
                    "has {fields} fields; write 5 (minute hour day month weekday), 6 (seconds first) or a nickname (@daily)"
                ),
            ));
        }
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(pattern).map_err(|e| ScheduleError::invalid("cron", pattern, e.to_string()))?;
        let trigger = CronTrigger { pattern: pattern.trim().to_owned(), zone, cron: Box::new(cron) };
        if trigger.next_after(DateTime::<Utc>::UNIX_EPOCH).is_none() {
            return Err(ScheduleError::invalid("cron", pattern, "never matches any date"));
        }
        Ok(trigger)
    }

    /// The pattern as written (trimmed).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The time zone the pattern is read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first slot strictly after `t`, or `None` if there is none (the pattern matches no
    /// date before croner's search limit, the year 5000).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = t;
        for _ in 0..MAX_NUDGES {
            let local = self.zone.from_utc_datetime(&from.naive_utc());
            let next = self.cron.find_next_occurrence(&local, false).ok()?.with_timezone(&Utc);
            if next > t {
                return Some(next);
            }
            from = next + chrono::TimeDelta::seconds(1);
        }
        None
    }

    /// True when `t`, read on this zone's wall clock, matches the pattern.
    pub fn matches(&self, t: DateTime<Utc>) -> bool {
        let local = self.zone.from_utc_datetime(&t.naive_utc());
        self.cron.is_time_matching(&local).unwrap_or(false)
    }
}

impl PartialEq for CronTrigger {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.zone == other.zone
    }
}

impl Eq for CronTrigger {}
