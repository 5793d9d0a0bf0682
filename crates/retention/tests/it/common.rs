//! Helpers shared by the integration tests.
#![allow(dead_code)]

use chrono::{DateTime, FixedOffset, Utc};
use lifeboat_retention::{Decision, Snapshot};

/// Parses an RFC 3339 time, keeping its offset.
pub fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("bad test time {s:?}: {e}"))
}

/// Parses an RFC 3339 time as UTC.
pub fn utc(s: &str) -> DateTime<Utc> {
    at(s).to_utc()
}

/// Backups from (id, time) pairs, all of one plan and host.
pub fn snaps(list: &[(&str, &str)]) -> Vec<Snapshot> {
    list.iter().map(|(id, t)| Snapshot::new(*id, at(t)).with_plan("p").with_host("h")).collect()
}

/// The ids of the kept backups, in decision order.
pub fn kept(decisions: &[Decision]) -> Vec<&str> {
    decisions.iter().filter(|d| d.keep).map(|d| d.id.as_str()).collect()
}

/// The reasons of one backup.
pub fn reasons<'a>(decisions: &'a [Decision], id: &str) -> Vec<&'a str> {
    decisions
        .iter()
        .find(|d| d.id == id)
        .unwrap_or_else(|| panic!("no decision for {id}"))
        .reasons
        .iter()
        .map(String::as_str)
        .collect()
}
