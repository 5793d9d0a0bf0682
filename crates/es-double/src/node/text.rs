//! Small formatters and parsers the APIs share: times, byte sizes as `_cat` prints them, boolean
//! query flags, name checks, Java regex replacements, base64 for basic auth.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::http::{EsErr, es_err};

pub(super) fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()).unwrap_or_default()
}

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(super) fn version_id(version: &str) -> i64 {
    let p: Vec<i64> = version.split('.').map(|x| x.parse().unwrap_or(0)).collect();
    p.first().copied().unwrap_or(0) * 1_000_000
        + p.get(1).copied().unwrap_or(0) * 10_000
        + p.get(2).copied().unwrap_or(0) * 100
        + 99
}

/// Formats bytes the way `_cat` does without `bytes=`: `260b`, `88.1kb`, `1gb`.
pub(super) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["b", "kb", "mb", "gb", "tb", "pb"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        return format!("{b}b");
    }
    let s = format!("{v:.1}");
    format!("{}{}", s.strip_suffix(".0").unwrap_or(&s), UNITS[u])
}

pub(super) fn fmt_bytes(b: u64, query: &BTreeMap<String, String>) -> String {
    match query.get("bytes").map(String::as_str) {
        Some("b") => b.to_string(),
        Some("kb") | Some("k") => (b / 1024).to_string(),
        Some("mb") | Some("m") => (b / 1024 / 1024).to_string(),
        Some("gb") | Some("g") => (b / 1024 / 1024 / 1024).to_string(),
        _ => human_bytes(b),
    }
}

pub(super) fn truthy(query: &BTreeMap<String, String>, key: &str, default: bool) -> bool {
    match query.get(key).map(String::as_str) {
        Some("true") | Some("") => true,
        Some("false") => false,
        _ => default,
    }
}

pub(super) fn validate_snapshot_name(repo: &str, name: &str) -> Result<(), EsErr> {
    let bad = |why: &str| {
        es_err(400, "invalid_snapshot_name_exception", format!("[{repo}:{name}] Invalid snapshot name [{name}], {why}"))
    };
    if name.is_empty() {
        return Err(bad("cannot be empty"));
    }
    if name.contains(char::is_whitespace) {
        return Err(bad("must not contain whitespace"));
    }
    if name.contains('#') {
        return Err(bad("must not contain '#'"));
    }
    if name.starts_with('_') {
        return Err(bad("must not start with '_'"));
    }
    if name.to_lowercase() != name {
        return Err(bad("must be lowercase"));
    }
    if name.chars().any(|c| "\\/*?\"<>|,".contains(c)) {
        return Err(bad("must not contain the following characters [\\, /, *, ?, \", <, >, |, ,]"));
    }
    Ok(())
}

pub(super) fn validate_index_name(name: &str) -> Result<(), EsErr> {
    let bad = |why: &str| es_err(400, "invalid_index_name_exception", format!("Invalid index name [{name}], {why}"));
    if name.to_lowercase() != name {
        return Err(bad("must be lowercase"));
    }
    if name.starts_with('_') || name.starts_with('-') || name.starts_with('+') {
        return Err(bad("must not start with '_', '-', or '+'"));
    }
    if name.chars().any(|c| "\\/*?\"<>| ,#:".contains(c)) {
        return Err(bad("must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]"));
    }
    Ok(())
}

pub(super) fn string_list(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()),
        Value::Array(a) => Some(a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()),
        _ => None,
    }
}

/// Converts a Java regex replacement (`$1`, `\$`) to the regex crate's syntax (`${1}`, `$$`).
pub(super) fn java_replacement(r: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = r.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                if chars[i + 1] == '$' {
                    out.push_str("$$");
                } else {
                    out.push(chars[i + 1]);
                }
                i += 2;
            }
            '$' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                out.push_str(&format!("${{{}}}", chars[start..j].iter().collect::<String>()));
                i = j;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

pub(super) fn basic_header(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

pub(super) fn base64(input: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

pub(super) fn part<'a>(parts: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    parts.get(k).map(String::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_and_bytes() {
        assert_eq!(java_replacement("restore_$1"), "restore_${1}");
        assert_eq!(java_replacement("a\\$b$12"), "a$$b${12}");
        assert_eq!(human_bytes(260), "260b");
        assert_eq!(human_bytes(1024), "1kb");
        assert_eq!(human_bytes(90214), "88.1kb");
        assert_eq!(base64(b"elastic:changeme"), "ZWxhc3RpYzpjaGFuZ2VtZQ==");
    }
}
