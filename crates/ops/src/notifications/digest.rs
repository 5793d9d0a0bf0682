//! The daily digest (`[notifications] digest = "08:00"`): what the router saw since the last
//! one — the alerts still open, how many jobs succeeded and failed — sent to every channel at
//! that local time of `timezone` (default: the machine's zone).

use std::collections::BTreeMap;

use chrono::{DateTime, Local, NaiveTime, TimeZone, Utc};
use lifeboat_notify::{Event, Notification, Severity};

use crate::alerts::{Alert, AlertEvent};
use crate::config::NotificationSettings;
use crate::events::JobEvent;
use crate::state::JobState;

/// The digest's running tally and its next time.
pub(super) struct Digest {
    next: Option<DateTime<Utc>>,
    open: BTreeMap<String, Alert>,
    succeeded: u64,
    failed: BTreeMap<String, u64>,
}

impl Digest {
    pub(super) fn new(settings: &NotificationSettings) -> Digest {
        Digest { next: next_time(settings, Utc::now()), open: BTreeMap::new(), succeeded: 0, failed: BTreeMap::new() }
    }

    pub(super) fn alert(&mut self, event: &AlertEvent) {
        let a = event.alert();
        match event {
            AlertEvent::Resolved(_) => {
                self.open.remove(&a.id);
            }
            _ => {
                self.open.insert(a.id.clone(), a.clone());
            }
        }
    }

    pub(super) fn job(&mut self, event: &JobEvent) {
        if let JobEvent::Finished { plan, state, .. } = event {
            match state {
                JobState::Succeeded => self.succeeded += 1,
                JobState::Failed => *self.failed.entry(plan.clone()).or_default() += 1,
                _ => {}
            }
        }
    }

    /// Takes a reloaded `digest`/`timezone` (the tallies stay).
    pub(super) fn reschedule(&mut self, settings: &NotificationSettings) {
        self.next = next_time(settings, Utc::now());
    }

    /// Resolves at the next digest time; never when no digest is configured.
    pub(super) async fn due(&self) {
        match self.next {
            Some(at) => {
                let wait = (at - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
            }
            None => std::future::pending().await,
        }
    }

    /// The digest message; resets the job counts and schedules the next one.
    pub(super) fn take(&mut self, settings: &NotificationSettings) -> Notification {
        let failed: u64 = self.failed.values().sum();
        let mut text = format!(
            "{} open alert(s). Since the last digest: {} job(s) succeeded, {failed} failed.",
            self.open.len(),
            self.succeeded
        );
        for a in self.open.values() {
            text.push_str(&format!("\n- {} [{}] {}", a.id, a.severity.as_str(), a.summary));
        }
        for (plan, n) in &self.failed {
            text.push_str(&format!("\n- plan {plan}: {n} failed job(s)"));
        }
        let worst = self.open.values().map(|a| a.severity).max();
        let severity = match worst {
            Some(crate::alerts::Severity::Critical) => Severity::Critical,
            Some(crate::alerts::Severity::Warning) => Severity::Warning,
            _ if failed > 0 => Severity::Warning,
            _ => Severity::Info,
        };
        self.succeeded = 0;
        self.failed.clear();
        self.next = next_time(settings, Utc::now() + chrono::TimeDelta::seconds(1));
        Notification {
            event: Event::Digest,
            severity,
            title: format!("Lifeboat daily digest: {} open alert(s)", self.open.len()),
            text,
            plan: None,
            repository: None,
            alert: None,
            job: None,
            at: Utc::now(),
            link: settings.dashboard_url.clone(),
        }
    }
}

/// The next `digest` time of day after `now`, in `timezone` (or the local zone).
fn next_time(settings: &NotificationSettings, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let time = NaiveTime::parse_from_str(settings.digest.as_deref()?, "%H:%M").ok()?;
    match settings.timezone.as_deref().and_then(|t| t.parse::<chrono_tz::Tz>().ok()) {
        Some(tz) => next_in(&tz, time, now),
        None => next_in(&Local, time, now),
    }
}

fn next_in<Z: TimeZone>(zone: &Z, time: NaiveTime, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(zone).date_naive();
    (0..3).find_map(|days| {
        let date = today + chrono::Days::new(days);
        // A time skipped by a DST change takes the next day's (earliest of an ambiguous one).
        let at = zone.from_local_datetime(&date.and_time(time)).earliest()?.with_timezone(&Utc);
        (at > now).then_some(at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_digest_is_today_or_tomorrow_in_the_zone() {
        let settings = NotificationSettings {
            digest: Some("08:00".into()),
            timezone: Some("Europe/Berlin".into()),
            ..Default::default()
        };
        let before = Utc.with_ymd_and_hms(2026, 12, 2, 6, 0, 0).unwrap();
        assert_eq!(next_time(&settings, before), Some(Utc.with_ymd_and_hms(2026, 12, 2, 7, 0, 0).unwrap()));
        let after = Utc.with_ymd_and_hms(2026, 12, 2, 7, 30, 0).unwrap();
        assert_eq!(next_time(&settings, after), Some(Utc.with_ymd_and_hms(2026, 12, 3, 7, 0, 0).unwrap()));
        assert_eq!(next_time(&NotificationSettings::default(), after), None);
    }

    fn alert(id: &str, severity: crate::alerts::Severity) -> Alert {
        let now = Utc::now();
        Alert {
            id: id.into(),
            rule: crate::alerts::AlertRule::BackupFailed,
            severity,
            plan: Some("db".into()),
            repository: None,
            summary: format!("summary of {id}"),
            details: None,
            job: None,
            state: crate::alerts::AlertState::Firing,
            first_seen: now,
            last_seen: now,
            occurrences: 1,
            resolved_at: None,
            acknowledged: None,
        }
    }

    #[test]
    fn the_digest_lists_open_alerts_and_counts_jobs_then_resets() {
        let settings = NotificationSettings { digest: Some("08:00".into()), ..Default::default() };
        let mut d = Digest::new(&settings);
        d.alert(&AlertEvent::Fired(alert("A1", crate::alerts::Severity::Critical)));
        d.alert(&AlertEvent::Fired(alert("A2", crate::alerts::Severity::Warning)));
        d.alert(&AlertEvent::Resolved(alert("A1", crate::alerts::Severity::Critical)));
        for state in [JobState::Succeeded, JobState::Succeeded, JobState::Failed] {
            d.job(&JobEvent::Finished {
                job: crate::state::JobId(1),
                plan: "db".into(),
                kind: crate::state::JobKind::Backup,
                repository: None,
                state,
                duration_seconds: 1.0,
                bytes_read: 0,
                bytes_stored: 0,
                backup_id: None,
                verify_ok: None,
                error: None,
            });
        }
        let n = d.take(&settings);
        assert_eq!(n.event, Event::Digest);
        assert_eq!(n.severity, Severity::Warning);
        assert_eq!(n.title, "Lifeboat daily digest: 1 open alert(s)");
        assert!(
            n.text.starts_with("1 open alert(s). Since the last digest: 2 job(s) succeeded, 1 failed."),
            "{}",
            n.text
        );
        assert!(n.text.contains("- A2 [warning] summary of A2") && !n.text.contains("A1"), "{}", n.text);
        assert!(n.text.contains("- plan db: 1 failed job(s)"), "{}", n.text);
        let again = d.take(&settings);
        assert!(again.text.contains("0 job(s) succeeded, 0 failed"), "{}", again.text);
    }
}
