//! Date-math names such as `<nightly-{now/d}>`, resolved the way Elasticsearch resolves them.

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};

/// Resolves a date-math snapshot name such as `<daily-{now/d}>` or `<m-{now/M{yyyy.MM}}>`.
pub(super) fn resolve_date_math(name: &str, now: DateTime<Utc>) -> Result<String, String> {
    let Some(inner) = name.strip_prefix('<').and_then(|n| n.strip_suffix('>')) else {
        return Ok(name.to_string());
    };
    let mut out = String::new();
    let chars: Vec<char> = inner.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '{' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // {expr} or {expr{format}}
        let mut depth = 0;
        let mut j = i;
        while j < chars.len() {
            match chars[j] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        if j >= chars.len() {
            return Err(format!("invalid date math expression [{name}]: unbalanced '{{'"));
        }
        let body: String = chars[i + 1..j].iter().collect();
        let (expr, format) = match body.find('{') {
            Some(p) => (body[..p].to_string(), body[p + 1..body.len() - 1].to_string()),
            None => (body.clone(), "yyyy.MM.dd".to_string()),
        };
        let format = format.split('|').next().unwrap_or("yyyy.MM.dd").to_string();
        let t = eval_date_math(&expr, now).ok_or_else(|| format!("invalid date math expression [{expr}]"))?;
        let f = format
            .replace("yyyy", "%Y")
            .replace("MM", "%m")
            .replace("dd", "%d")
            .replace("HH", "%H")
            .replace("mm", "%M")
            .replace("ss", "%S");
        out.push_str(&t.format(&f).to_string());
        i = j + 1;
    }
    Ok(out)
}

pub(super) fn eval_date_math(expr: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let rest = expr.strip_prefix("now")?;
    let mut t = now;
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '+' | '-' => {
                let sign = if chars[i] == '-' { -1 } else { 1 };
                i += 1;
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let n: i64 = chars[start..i].iter().collect::<String>().parse().ok()?;
                let unit = *chars.get(i)?;
                i += 1;
                let d = match unit {
                    'd' => chrono::Duration::days(n),
                    'h' | 'H' => chrono::Duration::hours(n),
                    'm' => chrono::Duration::minutes(n),
                    's' => chrono::Duration::seconds(n),
                    'w' => chrono::Duration::weeks(n),
                    _ => return None,
                };
                t += d * sign;
            }
            '/' => {
                let unit = *chars.get(i + 1)?;
                i += 2;
                t = match unit {
                    'd' => Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), 0, 0, 0).single()?,
                    'h' | 'H' => Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), t.hour(), 0, 0).single()?,
                    'M' => Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).single()?,
                    'y' => Utc.with_ymd_and_hms(t.year(), 1, 1, 0, 0, 0).single()?,
                    _ => return None,
                };
            }
            _ => return None,
        }
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn date_math() {
        let now = Utc.with_ymd_and_hms(2024, 5, 7, 13, 14, 15).unwrap();
        assert_eq!(resolve_date_math("<nightly-{now/d}>", now).unwrap(), "nightly-2024.05.07");
        assert_eq!(resolve_date_math("<m-{now/M{yyyy.MM}}>", now).unwrap(), "m-2024.05");
        assert_eq!(resolve_date_math("<d-{now-1d/d}>", now).unwrap(), "d-2024.05.06");
        assert_eq!(resolve_date_math("plain", now).unwrap(), "plain");
        assert!(resolve_date_math("<bad-{now/q}>", now).is_err());
    }
}
