//! Where the time range of an index comes from: a date in its name, located by a [`NamePattern`]
//! such as `v2_{table}_{YYYYMMDD}_{n}`, or the minimum and maximum of a date field.

use chrono::{Datelike, Duration, TimeZone, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{EsError, Result};
use crate::model::time::TimeRange;

/// Granularity of a date embedded in an index name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Granularity {
    Year,
    Month,
    Day,
    Hour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateField {
    Year,
    Month,
    Day,
    Hour,
}

/// An index-name pattern that locates a date in index names, e.g. `v2_{table}_{YYYYMMDD}_{n}` or
/// `logs-{YYYY.MM.DD}`.
///
/// Placeholders in braces: a date made of `YYYY`, `MM`, `DD`, `HH` and separators (`.`, `-`, `_`,
/// `/`); `{n}` for a run of digits; any other word (`{table}`) for any non-empty text. `*` matches
/// anything. Everything else is literal. The index covers one period of the smallest unit in the
/// date, in UTC: `{YYYYMMDD}` → one day, `{YYYY.MM}` → one month.
#[derive(Debug, Clone)]
pub struct NamePattern {
    source: String,
    regex: Regex,
    fields: Vec<DateField>,
    granularity: Granularity,
}

impl NamePattern {
    /// Compiles a pattern; it must contain exactly one date placeholder with at least a year.
    pub fn parse(pattern: &str) -> Result<Self> {
        let bad = |reason: &str| EsError::invalid("index name pattern", pattern, reason.to_string());
        let mut re = String::from("^");
        let mut fields = Vec::new();
        let mut date_seen = false;
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    let mut token = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(x) => token.push(x),
                            None => return Err(bad("has an unclosed '{'")),
                        }
                    }
                    if token.is_empty() {
                        return Err(bad("has an empty placeholder '{}'"));
                    }
                    if token.contains('Y') && token.chars().all(|x| "YMDH.-_/".contains(x)) {
                        if date_seen {
                            return Err(bad("has more than one date placeholder"));
                        }
                        date_seen = true;
                        compile_date(&token, &mut re, &mut fields).map_err(|r| bad(&r))?;
                    } else if token == "n" {
                        re.push_str(r"\d+");
                    } else if token.chars().all(|x| x.is_ascii_alphanumeric() || x == '_') {
                        re.push_str(".+?");
                    } else {
                        return Err(bad(&format!("has an unknown placeholder {{{token}}}")));
                    }
                }
                '}' => return Err(bad("has an unmatched '}'")),
                '*' => re.push_str(".*?"),
                other => re.push_str(&regex::escape(&other.to_string())),
            }
        }
        re.push('$');
        if !date_seen {
            return Err(bad("needs a date placeholder such as {YYYYMMDD} or {YYYY.MM.DD}"));
        }
        let granularity = if fields.contains(&DateField::Hour) {
            Granularity::Hour
        } else if fields.contains(&DateField::Day) {
            Granularity::Day
        } else if fields.contains(&DateField::Month) {
            Granularity::Month
        } else {
            Granularity::Year
        };
        if granularity == Granularity::Hour && !fields.contains(&DateField::Day)
            || granularity == Granularity::Day && !fields.contains(&DateField::Month)
        {
            return Err(bad("a date with a day needs a month, and one with an hour needs a day"));
        }
        let regex = Regex::new(&re).map_err(|e| bad(&e.to_string()))?;
        Ok(NamePattern { source: pattern.to_string(), regex, fields, granularity })
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The time range an index covers, or `None` when the name does not match or holds an invalid
    /// date.
    pub fn range_for(&self, index: &str) -> Option<TimeRange> {
        let caps = self.regex.captures(index)?;
        let (mut y, mut mo, mut d, mut h) = (0i32, 1u32, 1u32, 0u32);
        for (i, f) in self.fields.iter().enumerate() {
            let v = caps.get(i + 1)?.as_str();
            match f {
                DateField::Year => y = v.parse().ok()?,
                DateField::Month => mo = v.parse().ok()?,
                DateField::Day => d = v.parse().ok()?,
                DateField::Hour => h = v.parse().ok()?,
            }
        }
        let start = Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).single()?;
        let end = match self.granularity {
            Granularity::Hour => start + Duration::hours(1),
            Granularity::Day => start + Duration::days(1),
            Granularity::Month => {
                let (ny, nm) = if start.month() == 12 { (y + 1, 1) } else { (y, start.month() + 1) };
                Utc.with_ymd_and_hms(ny, nm, 1, 0, 0, 0).single()?
            }
            Granularity::Year => Utc.with_ymd_and_hms(y + 1, 1, 1, 0, 0, 0).single()?,
        };
        Some(TimeRange { start, end })
    }
}

fn compile_date(token: &str, re: &mut String, fields: &mut Vec<DateField>) -> std::result::Result<(), String> {
    let chars: Vec<char> = token.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut j = i;
        while j < chars.len() && chars[j] == c {
            j += 1;
        }
        let run = j - i;
        match (c, run) {
            ('Y', 4) => push_field(re, fields, DateField::Year, 4)?,
            ('M', 2) => push_field(re, fields, DateField::Month, 2)?,
            ('D', 2) => push_field(re, fields, DateField::Day, 2)?,
            ('H', 2) => push_field(re, fields, DateField::Hour, 2)?,
            ('.' | '-' | '_' | '/', _) => {
                for _ in 0..run {
                    re.push_str(&regex::escape(&c.to_string()));
                }
            }
            _ => return Err(format!("date placeholder {{{token}}}: use YYYY, MM, DD and HH")),
        }
        i = j;
    }
    Ok(())
}

fn push_field(
    re: &mut String,
    fields: &mut Vec<DateField>,
    f: DateField,
    digits: usize,
) -> std::result::Result<(), String> {
    if fields.contains(&f) {
        return Err("a date field appears twice".into());
    }
    fields.push(f);
    re.push_str(&format!(r"(\d{{{digits}}})"));
    Ok(())
}

/// Where the time range of an index comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimeSource {
    /// The date in the index name, located by a [`NamePattern`].
    IndexName {
        /// The pattern text.
        pattern: String,
    },
    /// The minimum and maximum of a date field in the live index.
    Field {
        /// Field name, e.g. `@timestamp`.
        field: String,
    },
}

impl TimeSource {
    /// Validates the source (compiles the name pattern).
    pub fn validate(&self) -> Result<()> {
        match self {
            TimeSource::IndexName { pattern } => NamePattern::parse(pattern).map(|_| ()),
            TimeSource::Field { field } if field.trim().is_empty() => {
                Err(EsError::invalid("time field", field, "must not be empty"))
            }
            TimeSource::Field { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::model::time::parse_instant;

    fn at(s: &str) -> DateTime<Utc> {
        parse_instant(s, false).unwrap()
    }

    #[test]
    fn name_pattern_days() {
        let p = NamePattern::parse("v2_{table}_{YYYYMMDD}_{n}").unwrap();
        let r = p.range_for("v2_http_logs_20240501_3").unwrap();
        assert_eq!(r.start, at("2024-05-01"));
        assert_eq!(r.end, at("2024-05-02"));
        assert!(p.range_for("v2_http_20240501").is_none());
        assert!(p.range_for("v2_http_20241301_1").is_none(), "month 13 is invalid");
    }

    #[test]
    fn name_pattern_other_granularities() {
        let p = NamePattern::parse("logs-{YYYY.MM}").unwrap();
        let r = p.range_for("logs-2023.12").unwrap();
        assert_eq!((r.start, r.end), (at("2023-12-01"), at("2024-01-01")));
        let p = NamePattern::parse("m-*-{YYYY-MM-DD-HH}").unwrap();
        let r = p.range_for("m-x-y-2024-02-29-23").unwrap();
        assert_eq!((r.start, r.end), (at("2024-02-29T23:00:00Z"), at("2024-03-01")));
    }

    #[test]
    fn name_pattern_errors() {
        assert!(NamePattern::parse("logs-*").is_err());
        assert!(NamePattern::parse("logs-{YYYY").is_err());
        assert!(NamePattern::parse("logs-{YYYYDD}").is_err());
        assert!(NamePattern::parse("logs-{YYYY}-{YYYY}").is_err());
        assert!(NamePattern::parse("logs-{YYY}").is_err());
    }
}
