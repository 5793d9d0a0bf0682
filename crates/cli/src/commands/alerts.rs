//! `lifeboat alerts` and `lifeboat alerts ack ID`: a running lifeboatd's alerts over its API
//! (`GET /api/v1/alerts?state=`, `POST /api/v1/alerts/{id}/acknowledge`), as a table or the
//! API's JSON, through the same client as `lifeboat status`.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use lifeboat_ops::alerts::AlertStateFilter;
use serde_json::{Value, json};

use super::server::{Api, relative, table, text, time};
use crate::flags::{AlertsListArgs, ServerArgs};
use crate::render::{escape, print_json};

/// `lifeboat alerts`.
pub async fn list(args: AlertsListArgs) -> Result<ExitCode> {
    let state: AlertStateFilter = args.state.parse().map_err(|e: String| anyhow!("--state: {e}"))?;
    let api = Api::new(&args.server).await?;
    let shown = serde_json::to_value(state)?.as_str().unwrap_or("open").to_owned();
    let answer = api.get(api.url(&["api", "v1", "alerts"], &[("state", &shown), ("limit", "1000")])?).await?;
    if args.server.json {
        print_json(&answer)?;
        return Ok(ExitCode::SUCCESS);
    }
    let alerts = answer["alerts"].as_array().cloned().unwrap_or_default();
    if alerts.is_empty() {
        println!("no {shown} alerts");
    } else {
        print!("{}", alerts_table(&alerts, Utc::now()));
    }
    Ok(ExitCode::SUCCESS)
}

/// `lifeboat alerts ack ID`.
pub async fn ack(id: &str, comment: Option<String>, until: Option<String>, server: ServerArgs) -> Result<ExitCode> {
    let until = until.map(|u| parse_until(&u, Utc::now())).transpose()?;
    let api = Api::new(&server).await?;
    let url = api.url(&["api", "v1", "alerts", id, "acknowledge"], &[])?;
    let body = json!({ "comment": comment, "until": until.map(|t| t.to_rfc3339()) });
    let alert = api.post(url, &body).await?;
    if server.json {
        print_json(&alert)?;
    } else {
        let until = match time(&alert["acknowledged"]["until"]) {
            Some(t) => format!(" until {}", t.to_rfc3339()),
            None => String::new(),
        };
        println!("acknowledged {}: {}{until}", text(&alert["id"]), text(&alert["summary"]));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--until`: an RFC 3339 time, or a length of time from `now` (`4h`, `2d`, `1h30m`).
fn parse_until(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let span = lifeboat_ops::schedule::Span::parse("--until", text)
        .map_err(|_| anyhow!("--until {:?} is neither an RFC 3339 time nor a duration like 4h or 2d", escape(text)))?;
    Ok(now + span.as_delta())
}

/// The table of `lifeboat alerts`.
fn alerts_table(alerts: &[Value], now: DateTime<Utc>) -> String {
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            let by = a["acknowledged"]["by"].as_str().map(|b| format!(" by {}", escape(b))).unwrap_or_default();
            vec![
                text(&a["id"]),
                text(&a["severity"]),
                format!("{}{by}", text(&a["state"])),
                text(&a["rule"]),
                text(&a["plan"]),
                relative(&a["first_seen"], now),
                relative(&a["last_seen"], now),
                text(&a["occurrences"]),
                text(&a["summary"]),
            ]
        })
        .collect();
    table(&["ID", "SEVERITY", "STATE", "RULE", "PLAN", "FIRST SEEN", "LAST SEEN", "SEEN", "SUMMARY"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_is_a_time_or_a_duration_from_now() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_until("4h", now).unwrap(), now + chrono::TimeDelta::hours(4));
        let at = parse_until("2026-03-03T12:00:00+01:00", now).unwrap();
        assert_eq!(at.to_rfc3339(), "2026-03-03T11:00:00+00:00");
        assert!(parse_until("tomorrow", now).unwrap_err().to_string().contains("--until"));
    }
}
