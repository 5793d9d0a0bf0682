//! The "keep N days" rule for policy snapshots.
//!
//! This is a deliberately small, pure seam: `lifeboat-retention` (restic-style keep rules) can
//! replace [`select_expired`] later without touching the policy runner.

use chrono::{DateTime, Duration, Utc};

use crate::models::SnapshotState;

/// A snapshot considered for deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Snapshot name.
    pub name: String,
    /// Start time; snapshots without one are never deleted.
    pub start: Option<DateTime<Utc>>,
    /// State.
    pub state: SnapshotState,
}

/// Returns the names of the snapshots older than `keep_days` at `now`, oldest first.
///
/// Rules: `keep_days == 0` keeps everything; a running snapshot is never selected; the newest
/// `SUCCESS` snapshot is never selected, however old, so there is always something to restore.
pub fn select_expired(candidates: &[Candidate], keep_days: u32, now: DateTime<Utc>) -> Vec<String> {
    if keep_days == 0 {
        return vec![];
    }
    let cutoff = now - Duration::days(i64::from(keep_days));
    let newest_success = candidates
        .iter()
        .filter(|c| c.state == SnapshotState::Success && c.start.is_some())
        .max_by_key(|c| c.start)
        .map(|c| c.name.clone());
    let mut expired: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.state.is_running())
        .filter(|c| Some(&c.name) != newest_success.as_ref())
        .filter(|c| c.start.is_some_and(|s| s < cutoff))
        .collect();
    expired.sort_by_key(|c| c.start);
    expired.into_iter().map(|c| c.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, days_ago: i64, state: SnapshotState, now: DateTime<Utc>) -> Candidate {
        Candidate { name: name.into(), start: Some(now - Duration::days(days_ago)), state }
    }

    #[test]
    fn keeps_recent_and_newest_success() {
        let now = Utc::now();
        let cands = vec![
            c("d10", 10, SnapshotState::Success, now),
            c("d9", 9, SnapshotState::Partial, now),
            c("d8", 8, SnapshotState::Success, now),
            c("d1", 1, SnapshotState::Success, now),
        ];
        assert_eq!(select_expired(&cands, 3, now), vec!["d10", "d9", "d8"]);
        assert!(select_expired(&cands, 0, now).is_empty());
        // Only old snapshots, the newest successful one survives even though it is expired.
        let old = vec![
            c("d10", 10, SnapshotState::Success, now),
            c("d9", 9, SnapshotState::Success, now),
            c("d8", 8, SnapshotState::Failed, now),
        ];
        assert_eq!(select_expired(&old, 3, now), vec!["d10", "d8"]);
        let running = vec![c("d10", 10, SnapshotState::InProgress, now), c("d1", 1, SnapshotState::Success, now)];
        assert!(select_expired(&running, 3, now).is_empty());
    }
}
