//! The alert engine (lifeboat_ops::alerts) under a clock the test moves: one alert per
//! condition that repeats update and a success resolves, the RPO rule with no scheduler
//! running, acknowledgements that expire, a real PostgreSQL source on a closed port, the
//! disk threshold on this machine's file system, a copy that lags.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use lifeboat_ops::Config;
use lifeboat_ops::alerts::{Alert, AlertEvent, AlertFilter, AlertRule, AlertState, AlertStateFilter, Severity};
use lifeboat_ops::service::{ErrorKind, OverallHealth, SchedulerState, Service};
use lifeboat_ops::state::{JobKind, Trigger};
use lifeboat_repo::{Lock, LockKind, LockOwner, LockReleases};
use lifeboat_storage::clock::Clock;
use lifeboat_testkit::ManualClock;
use tokio::sync::broadcast;

use crate::service::{Site, monday, service, stdin_plan};

/// Every alert, newest first.
async fn all(service: &Service) -> Vec<Alert> {
    let filter = AlertFilter { state: Some(AlertStateFilter::All), ..Default::default() };
    service.alerts(filter).await.unwrap()
}

/// The open alerts of `rule`.
async fn open(service: &Service, rule: AlertRule) -> Vec<Alert> {
    let filter = AlertFilter { state: Some(AlertStateFilter::Open), ..Default::default() };
    service.alerts(filter).await.unwrap().into_iter().filter(|a| a.rule == rule).collect()
}

/// Waits (real time) for the next event that `want` accepts.
async fn next(events: &mut broadcast::Receiver<AlertEvent>, want: impl Fn(&AlertEvent) -> bool) -> AlertEvent {
    let wait = async {
        loop {
            let event = events.recv().await.expect("the alert events ended");
            if want(&event) {
                return event;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.expect("no such alert event came")
}

/// Waits (real time) until `check` holds for the alerts.
async fn until(service: &Service, check: impl Fn(&[Alert]) -> bool) -> Vec<Alert> {
    for _ in 0..300 {
        let alerts = all(service).await;
        if check(&alerts) {
            return alerts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the alerts never got there: {:#?}", all(service).await);
}

async fn backup(service: &Service, plan: &str) {
    service.run_now(plan, JobKind::Backup, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_backup_raises_one_alert_that_repeats_update_and_a_success_resolves() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let flag = site.path("flag").display().to_string();
    let text = format!("[service]\nretries = 0\n{}", stdin_plan(&site, "db", &r1, &format!("cat {flag}"), ""));
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    let mut events = service.subscribe_alerts();

    backup(&service, "db").await;
    let fired = next(&mut events, |e| matches!(e, AlertEvent::Fired(_))).await.alert().clone();
    assert_eq!(
        (fired.rule, fired.severity, fired.state),
        (AlertRule::BackupFailed, Severity::Critical, AlertState::Firing)
    );
    assert_eq!(fired.plan.as_deref(), Some("db"));
    assert!(fired.summary.starts_with("plan db: backup failed"), "{}", fired.summary);
    assert_eq!(fired.occurrences, 1);

    clock.advance(TimeDelta::minutes(5));
    backup(&service, "db").await;
    let alerts = until(&service, |a| a.first().is_some_and(|a| a.occurrences == 2)).await;
    assert_eq!(alerts.len(), 1, "a repeat updates the open alert: {alerts:#?}");
    assert_eq!(alerts[0].id, fired.id);
    assert_eq!(alerts[0].last_seen, monday() + TimeDelta::minutes(5));
    assert_eq!(alerts[0].first_seen, monday());
    assert!(alerts[0].job > fired.job, "the job that last updated it: {alerts:#?}");

    std::fs::write(&flag, "now it works\n").unwrap();
    backup(&service, "db").await;
    let resolved = next(&mut events, |e| matches!(e, AlertEvent::Resolved(_))).await.alert().clone();
    assert_eq!((resolved.id.as_str(), resolved.state), (fired.id.as_str(), AlertState::Resolved));
    assert!(open(&service, AlertRule::BackupFailed).await.is_empty());

    std::fs::remove_file(&flag).unwrap();
    backup(&service, "db").await;
    let again = next(&mut events, |e| matches!(e, AlertEvent::Fired(_))).await.alert().clone();
    assert_ne!(again.id, fired.id, "a repeat after it resolved is a new alert");
    assert_eq!(all(&service).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_source_on_a_closed_port_is_one_alert_across_its_retries() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let port = lifeboat_testkit::closed_port();
    let text = format!(
        "[service]\nretries = 2\nretry-backoff = \"0s\"\n[plans.pg]\nrepository = \"{r1}\"\npassword-file = \"{}\"\n\
         source = {{ kind = \"postgres\", url = \"postgres://backup@127.0.0.1:{port}/app\" }}\n",
        site.pw()
    );
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    backup(&service, "pg").await;
    let alerts = until(&service, |a| a.first().is_some_and(|a| a.occurrences == 3)).await;
    assert_eq!(alerts.len(), 1, "three failed attempts, one alert: {alerts:#?}");
    let alert = &alerts[0];
    assert_eq!((alert.rule, alert.state), (AlertRule::BackupFailed, AlertState::Firing));
    let jobs = crate::service::all_jobs(&service).await;
    assert_eq!(alert.job, jobs.last().map(|j| j.id.0 as u64), "the last retry updated it");
    assert!(
        alert.summary.contains(&port.to_string()) || alert.summary.to_lowercase().contains("refused"),
        "{}",
        alert.summary
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_plan_fires_with_no_scheduler_and_an_acknowledgement_expires() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let text = stdin_plan(&site, "web", &r1, "echo data", "schedule = { every = \"1h\" }");
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    assert_eq!(service.scheduler(), SchedulerState::Off);
    service.evaluate_alerts().await.unwrap();
    assert!(all(&service).await.is_empty(), "a plan just seen is not stale");

    clock.advance(TimeDelta::minutes(121));
    let mut events = service.subscribe_alerts();
    service.evaluate_alerts().await.unwrap();
    let stale = open(&service, AlertRule::RpoExceeded).await;
    assert_eq!(stale.len(), 1, "{stale:#?}");
    assert!(stale[0].summary.contains("since lifeboatd first saw it"), "{}", stale[0].summary);
    assert!(matches!(events.try_recv(), Ok(AlertEvent::Fired(_))));
    let status = service.status().await.unwrap();
    assert_eq!((status.health, status.alerts_open), (OverallHealth::Failing, 1), "a critical alert fails the status");

    let until_at = clock.now() + TimeDelta::hours(1);
    let acked = service.acknowledge(&stale[0].id, "local:tester", Some("on it".into()), Some(until_at)).await.unwrap();
    assert_eq!(acked.state, AlertState::Acknowledged);
    let ack = acked.acknowledged.clone().unwrap();
    assert_eq!((ack.by.as_str(), ack.comment.as_deref(), ack.until), ("local:tester", Some("on it"), Some(until_at)));
    assert!(matches!(events.try_recv(), Ok(AlertEvent::Acknowledged(_))));
    let audit = service.state().audit_entries(None, None).await.unwrap();
    assert!(
        audit.iter().any(|e| e.operation == "alert_acknowledge" && e.actor == "local:tester"),
        "the acknowledgement is in the audit log: {audit:#?}"
    );

    clock.advance(TimeDelta::minutes(30));
    service.evaluate_alerts().await.unwrap();
    let still = service.alert(&stale[0].id).await.unwrap();
    assert_eq!((still.state, still.occurrences), (AlertState::Acknowledged, 2), "quiet while acknowledged");
    assert!(events.try_recv().is_err(), "no event while acknowledged");

    clock.advance(TimeDelta::minutes(31));
    service.evaluate_alerts().await.unwrap();
    assert_eq!(service.alert(&stale[0].id).await.unwrap().state, AlertState::Firing, "until has passed");
    assert!(matches!(events.try_recv(), Ok(AlertEvent::Fired(a)) if a.id == stale[0].id));

    backup(&service, "web").await;
    let resolved = next(&mut events, |e| matches!(e, AlertEvent::Resolved(_))).await;
    assert_eq!(resolved.alert().id, stale[0].id, "a success clears it at once");
    let error = service.acknowledge(&stale[0].id, "local:tester", None, None).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
}

#[tokio::test]
async fn unknown_alert_ids_are_not_found() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &stdin_plan(&site, "web", &r1, "echo x", ""), &clock).await;
    for id in ["A999", "bogus", "A-1", ""] {
        assert_eq!(service.alert(id).await.unwrap_err().kind(), ErrorKind::NotFound, "{id}");
        let error = service.acknowledge(id, "local:tester", None, None).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disk_fuller_than_the_threshold_fires_and_a_higher_threshold_resolves_it() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let plan = stdin_plan(&site, "web", &r1, "echo x", "");
    let text = format!("{plan}[plans.web.alerts]\ndisk-usage = 1\n");
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    service.evaluate_alerts().await.unwrap();
    let full = open(&service, AlertRule::DiskFull).await;
    assert_eq!(full.len(), 1, "this machine's file system is more than 1% used: {:#?}", all(&service).await);
    assert_eq!(full[0].severity, Severity::Warning);
    assert!(full[0].summary.contains("above 1%"), "{}", full[0].summary);
    let status = service.status().await.unwrap();
    assert_eq!((status.health, status.alerts_open), (OverallHealth::Degraded, 1), "a warning degrades the status");

    let relaxed = Config::parse(&format!("{plan}[plans.web.alerts]\ndisk-usage = 100\n"), "test.toml").unwrap();
    service.reload(relaxed).await.unwrap();
    service.evaluate_alerts().await.unwrap();
    assert!(open(&service, AlertRule::DiskFull).await.is_empty());
    assert_eq!(service.alert(&full[0].id).await.unwrap().state, AlertState::Resolved);
    let bad = Config::parse(&format!("{plan}[plans.web.alerts]\ndisk-usage = 101\n"), "test.toml").unwrap_err();
    assert!(bad.to_string().contains("disk-usage"), "{bad}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_destination_that_lags_fires_copy_behind_until_the_copy_runs() {
    let site = Site::new();
    let (r1, off) = (site.repo("r1").await, site.repo("off").await);
    let extra = format!(
        "[[plans.web.copy-to]]\nrepository = \"{off}\"\nafter-backup = false\nschedule = {{ every = \"1d\" }}\n\
         [plans.web.alerts]\ncopy-lag = \"2h\"\n"
    );
    let text = format!("{}{extra}", stdin_plan(&site, "web", &r1, "echo data", ""));
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    backup(&service, "web").await;
    service.evaluate_alerts().await.unwrap();
    assert!(open(&service, AlertRule::CopyBehind).await.is_empty(), "within the lag");

    clock.advance(TimeDelta::hours(3));
    service.evaluate_alerts().await.unwrap();
    let behind = open(&service, AlertRule::CopyBehind).await;
    assert_eq!(behind.len(), 1, "{:#?}", all(&service).await);
    assert!(behind[0].repository.as_deref().is_some_and(|r| r.contains("off")), "{behind:#?}");

    service.run_now("web", JobKind::Copy, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    service.evaluate_alerts().await.unwrap();
    assert!(open(&service, AlertRule::CopyBehind).await.is_empty(), "{:#?}", all(&service).await);
    assert_eq!(service.alert(&behind[0].id).await.unwrap().state, AlertState::Resolved);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_older_than_lock_stuck_after_fires_until_it_is_released() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &stdin_plan(&site, "web", &r1, "echo x", ""), &clock).await;
    let storage: Arc<dyn lifeboat_storage::Storage> = Arc::new(lifeboat_storage::FsStorage::new(site.path("r1")));
    let owner = LockOwner { clock: clock.clone(), releases: LockReleases::default() };
    let lock = Lock::acquire_for(storage, LockKind::Shared, "backup", &owner).await.unwrap();
    service.evaluate_alerts().await.unwrap();
    assert!(open(&service, AlertRule::LockStuck).await.is_empty(), "a fresh lock is not stuck");

    // Past the default, [service] job-timeout (6h): no job of this lifeboatd holds it.
    clock.advance(TimeDelta::hours(7));
    service.evaluate_alerts().await.unwrap();
    let stuck = open(&service, AlertRule::LockStuck).await;
    assert_eq!(stuck.len(), 1, "{:#?}", all(&service).await);
    assert!(stuck[0].summary.contains("7h") && stuck[0].summary.contains("backup"), "{}", stuck[0].summary);

    lock.release().await;
    service.evaluate_alerts().await.unwrap();
    assert_eq!(service.alert(&stuck[0].id).await.unwrap().state, AlertState::Resolved);
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verify_that_finds_damage_raises_verify_damaged() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &stdin_plan(&site, "web", &r1, "echo some data to check", ""), &clock).await;
    backup(&service, "web").await;
    let mut events = service.subscribe_alerts();
    service.run_verify("web", false, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    assert!(open(&service, AlertRule::VerifyDamaged).await.is_empty(), "a sound repository");

    let objects = files_under(&site.path("r1").join("data"));
    assert!(!objects.is_empty(), "the backup stored data objects");
    for object in &objects {
        let mut bytes = std::fs::read(object).unwrap();
        bytes.iter_mut().for_each(|b| *b ^= 0x5a);
        std::fs::write(object, bytes).unwrap();
    }
    service.run_verify("web", false, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    let fired = next(&mut events, |e| matches!(e, AlertEvent::Fired(a) if a.rule == AlertRule::VerifyDamaged)).await;
    let alert = fired.alert();
    assert_eq!((alert.severity, alert.plan.as_deref()), (Severity::Critical, Some("web")));
    assert!(alert.summary.contains("verify found damage"), "{}", alert.summary);
}
