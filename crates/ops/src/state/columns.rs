//! How Rust values become column values and back: times as Unix milliseconds, counts as
//! INTEGER, enumerations as lower-case TEXT. Reading is strict: a value this code never
//! writes is [`StateError::BadValue`], not a panic and not a guess.

use chrono::{DateTime, Utc};

use super::error::StateError;

/// An enumeration stored as TEXT: each variant has one lower-case name.
pub(crate) trait TextColumn: Sized + Copy + 'static {
    /// Every variant.
    const ALL: &'static [Self];
    /// The stored name.
    fn as_str(self) -> &'static str;
}

/// Parses a stored name of `T`, naming the table and column when it is not one.
pub(crate) fn parse_text<T: TextColumn>(
    path: &str,
    table: &'static str,
    column: &'static str,
    value: &str,
) -> Result<T, StateError> {
    T::ALL.iter().copied().find(|v| v.as_str() == value).ok_or_else(|| bad_value(path, table, column, value))
}

/// A time as stored.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A stored time, back.
pub(crate) fn time(
    path: &str,
    table: &'static str,
    column: &'static str,
    ms: i64,
) -> Result<DateTime<Utc>, StateError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| bad_value(path, table, column, &ms.to_string()))
}

/// An optional stored time, back.
pub(crate) fn opt_time(
    path: &str,
    table: &'static str,
    column: &'static str,
    ms: Option<i64>,
) -> Result<Option<DateTime<Utc>>, StateError> {
    ms.map(|ms| time(path, table, column, ms)).transpose()
}

/// A count the caller gives, as stored (SQLite integers are signed 64-bit).
pub(crate) fn count_in(path: &str, op: &'static str, what: &str, n: u64) -> Result<i64, StateError> {
    i64::try_from(n).map_err(|_| StateError::InvalidInput {
        path: path.to_owned(),
        op,
        reason: format!("{what} {n} is larger than the largest storable count"),
    })
}

/// A stored count, back.
pub(crate) fn count_out(path: &str, table: &'static str, column: &'static str, n: i64) -> Result<u64, StateError> {
    u64::try_from(n).map_err(|_| bad_value(path, table, column, &n.to_string()))
}

/// An optional stored count, back.
pub(crate) fn opt_count_out(
    path: &str,
    table: &'static str,
    column: &'static str,
    n: Option<i64>,
) -> Result<Option<u64>, StateError> {
    n.map(|n| count_out(path, table, column, n)).transpose()
}

fn bad_value(path: &str, table: &'static str, column: &'static str, value: &str) -> StateError {
    let value: String = value.chars().take(64).collect();
    StateError::BadValue { path: path.to_owned(), table, column, value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_milliseconds_and_bad_values_are_named() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(time("s.db", "jobs", "queued_at", millis(at)).unwrap(), at);
        let error = time("s.db", "jobs", "queued_at", i64::MAX).unwrap_err();
        assert!(error.to_string().contains("jobs.queued_at"), "{error}");
        assert!(count_out("s.db", "jobs", "bytes_read", -1).is_err());
        assert!(count_in("s.db", "record", "bytes read", u64::MAX).is_err());
        assert_eq!(count_in("s.db", "record", "bytes read", 7).unwrap(), 7);
    }
}
