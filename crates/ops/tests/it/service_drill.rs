//! Restore drills in the service (lifeboat_ops::service) under a clock the test moves: the
//! drill schedule (its own, the `[drills]` default, off), a scheduled drill of a stdin plan
//! that restores its newest backup with its progress in the job's log and its report kept,
//! and `drill_failed`: raised by a drill that failed (no backup) and by one that missed its RPO,
//! resolved by the next passing drill.

use std::sync::Arc;

use chrono::TimeDelta;
use lifeboat_ops::alerts::{AlertFilter, AlertRule, AlertStateFilter};
use lifeboat_ops::service::Service;
use lifeboat_ops::state::{DrillFilter, JobFilter, JobKind, JobState, Trigger};
use lifeboat_testkit::ManualClock;

use crate::service::{Site, all_jobs, monday, service, stdin_plan};

/// The open `drill_failed` alerts.
async fn drill_alerts(service: &Service) -> Vec<lifeboat_ops::alerts::Alert> {
    let filter = AlertFilter { state: Some(AlertStateFilter::Open), ..Default::default() };
    service.alerts(filter).await.unwrap().into_iter().filter(|a| a.rule == AlertRule::DrillFailed).collect()
}

/// Waits until the alert engine has seen every job's end (it evaluates on its own task).
async fn settled(service: &Service, check: impl Fn(usize) -> bool) -> Vec<lifeboat_ops::alerts::Alert> {
    for _ in 0..300 {
        let alerts = drill_alerts(service).await;
        if check(alerts.len()) {
            return alerts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("drill_failed never got there: {:#?}", drill_alerts(service).await);
}

/// Ticks every hour for `hours`, waiting for the jobs each time.
async fn hours(service: &Service, clock: &ManualClock, hours: i64) {
    for _ in 0..hours {
        clock.advance(TimeDelta::hours(1));
        service.tick().await.unwrap();
        service.wait_idle().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn drills_follow_their_schedule_the_drills_default_or_none() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let hourly = "schedule = { every = \"1h\" }";
    let text = format!(
        "[drills]\nschedule = {{ every = \"12h\" }}\n{}{}{}{}",
        stdin_plan(&site, "own", &r1, "echo own", &format!("{hourly}\ndrill = {{ schedule = {{ every = \"6h\" }} }}")),
        stdin_plan(&site, "default", &r1, "echo default", hourly),
        stdin_plan(&site, "off", &r1, "echo off", &format!("{hourly}\ndrill = {{ enabled = false }}")),
        stdin_plan(&site, "manual", &r1, "echo manual", ""),
    );
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    service.tick().await.unwrap();
    hours(&service, &clock, 24).await;
    let drills: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> = all_jobs(&service)
        .await
        .into_iter()
        .filter(|j| j.kind == JobKind::Drill)
        .map(|j| (j.plan.clone(), j.scheduled_for))
        .collect();
    let at = |h: i64| Some(monday() + TimeDelta::hours(h));
    let mut expected =
        vec![("own".to_owned(), at(6)), ("own".into(), at(12)), ("own".into(), at(18)), ("own".into(), at(24))];
    expected.extend([("default".to_owned(), at(12)), ("default".into(), at(24))]);
    let mut got = drills.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "own every 6h, [drills] every 12h, none when off or without a schedule");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_drill_restores_the_newest_backup_and_keeps_its_report() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    // Backups on the hour, the drill at 03:30 (not in the same slot as a backup: which of
    // two jobs queued at once for a plan goes first is not fixed).
    let extra = "schedule = { every = \"1h\" }\nobjectives = { rpo = \"2h\", rto = \"1h\" }\n\
                 drill = { schedule = { cron = \"30 3 * * *\" } }";
    let text = stdin_plan(&site, "db", &r1, "echo the data of db", extra);
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    service.tick().await.unwrap();
    for _ in 0..7 {
        clock.advance(TimeDelta::minutes(30));
        service.tick().await.unwrap();
        service.wait_idle().await;
    }

    let jobs = all_jobs(&service).await;
    let backups: Vec<_> = jobs.iter().filter(|j| j.kind == JobKind::Backup).collect();
    let drill = jobs.iter().find(|j| j.kind == JobKind::Drill).expect("a drill at 03:30");
    assert_eq!(drill.scheduled_for, Some(monday() + TimeDelta::minutes(210)));
    assert_eq!(backups.len(), 3, "01:00, 02:00, 03:00: {jobs:#?}");
    assert_eq!(drill.trigger, Trigger::Schedule);
    assert_eq!(drill.state, JobState::Succeeded, "{drill:#?}\n{:#?}", service.job_log(drill.id).await.unwrap());
    // The drill restored the newest backup.
    let newest = backups.iter().filter_map(|b| b.backup_id.clone()).next_back().unwrap();
    assert_eq!(drill.backup_id.as_deref(), Some(newest.as_str()), "{jobs:#?}");

    let log = service.job_log(drill.id).await.unwrap();
    let text: Vec<String> = log.entries.iter().map(|e| e.to_string()).collect();
    let text = text.join("\n");
    assert!(text.contains("restore drill of plan db started"), "{text}");
    assert!(text.contains("step 1 of"), "the drill's progress is in the job's log:\n{text}");
    assert!(text.contains(" passed: RTO "), "{text}");

    let reports = service.drills(DrillFilter { plan: Some("db".into()), ..Default::default() }).await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let report = &reports[0];
    assert!(report.passed && report.objectives_met == Some(true), "{report:#?}");
    assert_eq!(report.rpo_seconds, Some(1800), "the 03:00 backup, restored at 03:30 by the service's clock");
    assert_eq!(service.drill(&report.id).await.unwrap().id, report.id);
    assert!(text.contains(&report.id), "the log names the report:\n{text}");
    assert!(drill_alerts(&service).await.is_empty());
    let failed = service.jobs(JobFilter { state: Some(JobState::Failed), ..Default::default() }).await.unwrap();
    assert!(failed.jobs.is_empty(), "{failed:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn drill_failed_is_raised_by_a_failed_or_late_drill_and_resolved_by_a_passing_one() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let text = format!(
        "[service]\nretries = 0\n{}",
        stdin_plan(&site, "db", &r1, "echo the data of db", "objectives = { rpo = \"1h\" }")
    );
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;

    // No backup yet: the drill fails, so does its job, and drill_failed fires naming it.
    let job = service.run_drill("db", Trigger::Api, Some("tester".into())).await.unwrap();
    service.wait_idle().await;
    let record = service.job(job).await.unwrap().unwrap();
    assert_eq!((record.kind, record.state), (JobKind::Drill, JobState::Failed), "{record:#?}");
    let alerts = settled(&service, |n| n == 1).await;
    assert_eq!(alerts[0].plan.as_deref(), Some("db"));
    assert!(alerts[0].summary.starts_with("plan db: restore drill failed"), "{}", alerts[0].summary);
    assert_eq!(alerts[0].job, u64::try_from(job.0).ok());

    // A backup, then a drill within the RPO: it passes and resolves the alert.
    service.run_now("db", JobKind::Backup, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    clock.advance(TimeDelta::minutes(10));
    let passing = service.run_drill("db", Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    let record = service.job(passing).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Succeeded, "{record:#?}\n{:#?}", service.job_log(passing).await.unwrap());
    settled(&service, |n| n == 0).await;

    // Two hours later the newest backup is past the RPO: the drill restores it fine but
    // misses its objective, which fails the job and raises the alert again.
    clock.advance(TimeDelta::hours(2));
    let late = service.run_drill("db", Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    let record = service.job(late).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Failed, "{record:#?}");
    let error = record.error.clone().unwrap_or_default();
    assert!(error.contains("missed its objectives") && error.contains("RPO"), "{error}");
    let alerts = settled(&service, |n| n == 1).await;
    assert!(alerts[0].summary.contains("missed its objectives"), "{}", alerts[0].summary);
    let reports = service.drills(DrillFilter::default()).await.unwrap();
    assert_eq!(reports.len(), 3, "every drill kept its report: {reports:#?}");
    assert_eq!(reports[0].objectives_met, Some(false), "newest first: {reports:#?}");
    assert!(reports[0].passed, "the restore itself passed: {reports:#?}");
    assert!(reports[1].passed && reports[1].objectives_met == Some(true), "{reports:#?}");
    assert!(!reports[2].passed && reports[2].failure.is_some(), "the drill without a backup: {reports:#?}");
}
