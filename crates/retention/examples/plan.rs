//! Audit a retention policy on a list of backups, the way `lifeboat retention plan` does.
//!
//! ```text
//! cargo run -p lifeboat-retention --example plan                 # a generated history
//! cargo run -p lifeboat-retention --example plan -- backups.json # your own list
//! ```
//!
//! The file is a JSON array of `{"id", "time", "tags", "host", "plan"}`; the output is
//! the JSON plan (`[{"id", "keep", "reasons"}]`). Without a file, two hosts with a
//! backup every night for 90 days (one of them still running, one under an object lock)
//! are planned with the plan default (7 daily, 4 weekly, 12 monthly) and shown as a
//! table, followed by an expiry example.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use chrono::{DateTime, Duration, FixedOffset, SubsecRound, TimeZone, Utc};
use lifeboat_retention::{Expiry, GroupBy, Policy, Snapshot, apply_grouped, expire, plan_from_json_at};

fn main() -> ExitCode {
    let now = Utc::now().trunc_subsecs(0);
    let policy = Policy::plan_default();

    if let Some(path) = std::env::args().nth(1) {
        let input = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("plan: cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        };
        return match plan_from_json_at(&input, &policy, GroupBy::default(), false, now) {
            Ok(json) => {
                let _ = writeln!(std::io::stdout(), "{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("plan: {path}: {e}");
                ExitCode::FAILURE
            }
        };
    }

    // Two hosts in different time zones, one backup per local night.
    let zones = [("db-paris", 3600), ("db-newyork", -5 * 3600)];
    let mut backups = Vec::new();
    let today = now.date_naive();
    for (host, offset) in zones {
        let tz = FixedOffset::east_opt(offset).expect("valid offset");
        for days_ago in 0..90 {
            let day = today - Duration::days(days_ago);
            let Some(time) = tz.from_local_datetime(&day.and_hms_opt(2, 30, 0).expect("valid time")).single() else {
                continue;
            };
            let time: DateTime<FixedOffset> = time;
            let mut backup = Snapshot::new(format!("{host}-{}", day.format("%m%d")), time)
                .with_host(host)
                .with_plan("postgres-nightly");
            if host == "db-paris" && days_ago == 0 {
                backup = backup.with_in_progress(true);
            }
            if host == "db-newyork" && days_ago == 45 {
                backup = backup.with_locked_until(Some((now + Duration::days(30)).fixed_offset()));
            }
            backups.push(backup);
        }
    }

    let mut out = String::new();
    let _ = writeln!(out, "policy: {policy} (grouped by {})", GroupBy::default());
    let groups = match apply_grouped(&policy, GroupBy::default(), &backups, false, Some(now)) {
        Ok(groups) => groups,
        Err(e) => {
            eprintln!("plan: {e}");
            return ExitCode::FAILURE;
        }
    };
    for group in &groups {
        let _ = writeln!(out, "\n{}: keep {}, forget {}", group.key, group.kept(), group.forgotten());
        for d in group.decisions.iter().filter(|d| d.keep) {
            let time = backups.iter().find(|b| b.id == d.id).map(|b| b.time.to_rfc3339()).unwrap_or_default();
            let _ = writeln!(out, "  keep  {:<18} {time}  {}", d.id, d.reasons.join(", "));
        }
    }

    let restored = [
        Snapshot::new("restored-logs-2024.05", (now - Duration::days(10)).fixed_offset()),
        Snapshot::new("restored-logs-2024.06", (now - Duration::days(2)).fixed_offset()),
    ];
    let _ = writeln!(out, "\nrestored indices, {}:", Expiry::days(7));
    match expire(Expiry::days(7), &restored, now) {
        Ok(decisions) => {
            for d in decisions {
                let action = if d.keep { "keep" } else { "delete" };
                let _ = writeln!(out, "  {action:<6} {:<22} {}", d.id, d.reasons.join(", "));
            }
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::stdout().write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("plan: {e}");
            ExitCode::FAILURE
        }
    }
}
