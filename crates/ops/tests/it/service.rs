//! The service's scheduler and job runner (lifeboat_ops::service) under a clock the test
//! moves: the concurrency limits, the per-plan lock, the overlap policies, cancellation
//! (the child killed, nothing listed), the timeout, retries on transient failures only, job
//! logs, crash recovery then the missed-run policy, reload and shutdown.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lifeboat_ops::Config;
use lifeboat_ops::credentials::OpenSettings;
use lifeboat_ops::service::opener::StorageHook;
use lifeboat_ops::service::{DefaultOpener, ErrorKind, JobEvent, SchedulerState, Service, ServiceOptions};
use lifeboat_ops::state::{
    AsyncStateStore, JobFilter, JobKind, JobRecord, JobState, NewJob, StateOptions, StateStore, Trigger,
};
use lifeboat_repo::{Credential, Repository};
use lifeboat_storage::FsStorage;
use lifeboat_storage::layer::RetryPolicy;
use lifeboat_testkit::process::{my_children, wait_until_empty};
use lifeboat_testkit::{ClockedStorage, ManualClock};
use tokio::sync::broadcast;

use crate::common::{REPO_PASSWORD, cheap_init};

/// Monday 2026-03-02 00:00 UTC: a slot of every hourly and daily schedule.
pub fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
}

/// A directory with repositories, a password file and a known-state directory.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new() -> Site {
        let dir = tempfile::Builder::new().prefix("lifeboat-service-test-").tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), format!("{REPO_PASSWORD}\n")).unwrap();
        std::fs::write(dir.path().join("wrong-pw"), "not the password\n").unwrap();
        Site { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pw(&self) -> String {
        self.path("pw").display().to_string()
    }

    /// A new repository `name` (cheap key derivation) and its path.
    pub async fn repo(&self, name: &str) -> String {
        let path = self.path(name);
        std::fs::create_dir_all(&path).unwrap();
        Repository::init(Arc::new(FsStorage::new(&path)), Credential::password(REPO_PASSWORD), cheap_init())
            .await
            .unwrap();
        path.display().to_string()
    }

    /// The opener the tests use: the site's known-state directory, one storage attempt.
    pub fn opener(&self) -> Arc<DefaultOpener> {
        let settings = OpenSettings { state_dir: Some(self.path("known")), ..Default::default() };
        let retry =
            RetryPolicy { max_attempts: 1, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(1) };
        // Storage times on the simulated time line, as they would be on a host living it.
        let layer: StorageHook = Arc::new(|storage, clock| Arc::new(ClockedStorage::new(storage, Arc::clone(clock))));
        Arc::new(DefaultOpener { settings, retry: Some(retry), layer: Some(layer) })
    }

    /// Backup ids in repository `name`.
    pub async fn listed(&self, name: &str) -> Vec<lifeboat_repo::Manifest> {
        let repo = Repository::open(Arc::new(FsStorage::new(self.path(name))), Credential::password(REPO_PASSWORD))
            .await
            .unwrap();
        repo.list().await.unwrap().0
    }
}

/// A service on `text` with an in-memory state, the clock at `start`, no scheduler loop.
pub async fn service(site: &Site, text: &str, clock: &Arc<ManualClock>) -> Service {
    let state = AsyncStateStore::new(StateStore::open_in_memory().unwrap());
    service_on(site, text, clock, state).await
}

pub async fn service_on(site: &Site, text: &str, clock: &Arc<ManualClock>, state: AsyncStateStore) -> Service {
    let config = Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    Service::start(ServiceOptions {
        config,
        origin: site.path("lifeboat.toml").display().to_string(),
        state,
        clock: clock.clone(),
        opener: site.opener(),
        run_scheduler: false,
    })
    .await
    .unwrap()
}

/// A stdin plan `name` on `repo` running `sh -c SCRIPT` (`sleep N` alone: the program
/// itself, so that it is this process's child), with `extra` lines.
pub fn stdin_plan(site: &Site, name: &str, repo: &str, script: &str, extra: &str) -> String {
    let command = match script.strip_prefix("sleep ") {
        Some(secs) if !secs.contains(';') => format!("[\"sleep\", \"{secs}\"]"),
        _ => format!("[\"sh\", \"-c\", \"{script}\"]"),
    };
    format!(
        "[plans.{name}]\nrepository = \"{repo}\"\npassword-file = \"{}\"\n{extra}\n\
         [plans.{name}.source]\nkind = \"stdin\"\ncommand = {command}\nname = \"{name}.txt\"\n",
        site.pw()
    )
}

/// Every job, oldest first.
pub async fn all_jobs(service: &Service) -> Vec<JobRecord> {
    let mut jobs = service.jobs(JobFilter { limit: Some(1000), ..Default::default() }).await.unwrap().jobs;
    jobs.reverse();
    jobs
}

/// The events received so far.
fn drain(events: &mut broadcast::Receiver<JobEvent>) -> Vec<JobEvent> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        out.push(event);
    }
    out
}

/// The most jobs running at once, overall and per repository, from the events.
fn peaks(events: &[JobEvent]) -> (usize, HashMap<String, usize>) {
    let (mut now, mut peak) = (0usize, 0usize);
    let mut per: HashMap<String, (usize, usize)> = HashMap::new();
    for event in events {
        match event {
            JobEvent::Started { repository, .. } => {
                now += 1;
                peak = peak.max(now);
                let entry = per.entry(repository.clone().unwrap_or_default()).or_default();
                entry.0 += 1;
                entry.1 = entry.1.max(entry.0);
            }
            JobEvent::Finished { repository, .. } => {
                now -= 1;
                per.entry(repository.clone().unwrap_or_default()).or_default().0 -= 1;
            }
            _ => {}
        }
    }
    (peak, per.into_iter().map(|(k, (_, p))| (k, p)).collect())
}

/// Waits (real time) for a `Started` event of job `job`.
async fn started(events: &mut broadcast::Receiver<JobEvent>, job: lifeboat_ops::state::JobId) {
    let wait = async {
        loop {
            if let Ok(JobEvent::Started { job: j, .. }) = events.recv().await
                && j == job
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait).await.expect("the job never started");
}

fn states(jobs: &[JobRecord]) -> Vec<JobState> {
    jobs.iter().map(|j| j.state).collect()
}

#[tokio::test]
async fn the_global_and_per_repository_limits_hold() {
    let site = Site::new();
    let (r1, r2) = (site.repo("r1").await, site.repo("r2").await);
    let mut text = "[service]\nconcurrency = 2\nper-repository = 1\n".to_owned();
    for (name, repo) in [("a", &r1), ("b", &r1), ("c", &r2), ("d", &r2), ("e", &r1), ("f", &r2)] {
        text.push_str(&stdin_plan(&site, name, repo, "sleep 0.3; echo data", ""));
    }
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    let mut events = service.subscribe();
    for name in ["a", "b", "c", "d", "e", "f"] {
        service.run_now(name, JobKind::Backup, Trigger::Api, None).await.unwrap();
    }
    service.wait_idle().await;
    let events = drain(&mut events);
    let (peak, per_repository) = peaks(&events);
    assert_eq!(peak, 2, "two at once (the global limit), never more: {events:?}");
    assert!(per_repository.values().all(|p| *p == 1), "one at a time per repository: {per_repository:?}");
    assert_eq!(states(&all_jobs(&service).await), vec![JobState::Succeeded; 6]);
}

#[tokio::test]
async fn two_runs_of_one_plan_never_overlap() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let text = format!(
        "[service]\nconcurrency = 4\nper-repository = 4\n{}",
        stdin_plan(&site, "a", &r1, "sleep 0.3; echo x", "forget-after-backup = false")
    );
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    let mut events = service.subscribe();
    for _ in 0..3 {
        service.run_now("a", JobKind::Backup, Trigger::Manual, None).await.unwrap();
    }
    service.wait_idle().await;
    let (peak, _) = peaks(&drain(&mut events));
    assert_eq!(peak, 1, "the plan's lock lets one run at a time");
    assert_eq!(site.listed("r1").await.len(), 3);
}

/// A plan every minute whose run takes 1.5 s (real time), under the overlap policy `overlap`.
async fn overlapping(overlap: &str) -> (Service, Arc<ManualClock>, Vec<JobEvent>, Site) {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let extra = format!("schedule = {{ every = \"1m\", overlap = \"{overlap}\" }}\nforget-after-backup = false");
    let text = stdin_plan(&site, "a", &r1, "sleep 1.5; echo x", &extra);
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    let mut events = service.subscribe();
    service.tick().await.unwrap(); // first seen: nothing due before it
    for _ in 0..3 {
        clock.advance(TimeDelta::minutes(1));
        service.tick().await.unwrap();
    }
    service.wait_idle().await;
    (service, clock, drain(&mut events), site)
}

#[tokio::test]
async fn overlap_skip_drops_the_slots_that_come_while_a_run_is_in_progress() {
    let (service, _clock, events, _site) = overlapping("skip").await;
    let jobs = all_jobs(&service).await;
    assert_eq!(states(&jobs), vec![JobState::Succeeded], "one run, the two slots during it skipped");
    assert_eq!(jobs[0].scheduled_for, Some(monday() + TimeDelta::minutes(1)));
    let skipped: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Skipped { reason, count, .. } => Some((reason.clone(), *count)),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped.iter().all(|(r, c)| r.contains("a run was in progress") && *c == 1), "{skipped:?}");
    let state = service.state().plan_state("a".into()).await.unwrap().unwrap();
    assert_eq!(state.skipped_slots, 2);
    assert_eq!(state.last_skipped_slot, Some(monday() + TimeDelta::minutes(3)));
}

#[tokio::test]
async fn overlap_queue_runs_one_slot_after_the_running_one_and_drops_the_rest() {
    let (service, _clock, events, site) = overlapping("queue").await;
    let jobs = all_jobs(&service).await;
    assert_eq!(states(&jobs), vec![JobState::Succeeded, JobState::Succeeded], "{jobs:#?}");
    let slots: Vec<_> = jobs.iter().map(|j| j.scheduled_for).collect();
    assert_eq!(slots, vec![Some(monday() + TimeDelta::minutes(1)), Some(monday() + TimeDelta::minutes(2))]);
    assert!(jobs[1].started_at >= jobs[0].ended_at, "the queued run waited for the running one");
    let (peak, _) = peaks(&events);
    assert_eq!(peak, 1);
    assert!(
        events.iter().any(|e| matches!(e, JobEvent::Skipped { reason, .. } if reason.contains("one already queued")))
    );
    assert_eq!(site.listed("r1").await.len(), 2);
}

// The checks below poll /proc with blocking sleeps: the job needs worker threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_backup_kills_its_command_and_lists_nothing() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let text = stdin_plan(&site, "slow", &r1, "sleep 30", "");
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    let mut events = service.subscribe();
    let id = service.run_now("slow", JobKind::Backup, Trigger::Api, Some("alice".into())).await.unwrap();
    started(&mut events, id).await;
    let sleeping = wait_until_empty(10, || if my_children("sleep").is_empty() { vec![()] } else { vec![] });
    assert!(sleeping.is_empty(), "the command never started: {:?}", service.job(id).await.unwrap());
    let began = Instant::now();
    let job = service.cancel(id, Some("alice".into())).await.unwrap();
    assert!(began.elapsed() < Duration::from_secs(10), "cancelling took {:?}", began.elapsed());
    assert_eq!(job.state, JobState::Cancelled);
    assert!(job.error.as_deref().is_some_and(|e| e.contains("alice")), "{job:?}");
    let left = wait_until_empty(10, || my_children("sleep"));
    assert!(left.is_empty(), "the command outlived its job: {left:?}");
    assert!(service.backups(Some("slow")).await.unwrap().is_empty());
    assert!(site.listed("r1").await.is_empty(), "a cancelled backup was listed");
    // A job that has ended cannot be cancelled again; one that never was cannot be found.
    assert_eq!(service.cancel(id, None).await.unwrap_err().kind(), ErrorKind::Conflict);
    let unknown = lifeboat_ops::state::JobId(id.0 + 100);
    assert_eq!(service.cancel(unknown, None).await.unwrap_err().kind(), ErrorKind::NotFound);
}

// The checks below poll /proc with blocking sleeps: the job needs worker threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_shell_pipeline_stops_every_process_it_started() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    // `sh` starts `sleep` as its own child: killing `sh` alone would orphan the sleep.
    let text = stdin_plan(&site, "piped", &r1, "echo start; sleep 987; echo end", "");
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    let mut events = service.subscribe();
    let id = service.run_now("piped", JobKind::Backup, Trigger::Api, None).await.unwrap();
    started(&mut events, id).await;
    let grandchild = || lifeboat_testkit::process::tool_processes("sleep", "987");
    let seen = wait_until_empty(10, || if grandchild().is_empty() { vec![()] } else { vec![] });
    assert!(seen.is_empty(), "the pipeline never started its sleep");
    let job = service.cancel(id, None).await.unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    let left = wait_until_empty(10, grandchild);
    assert!(left.is_empty(), "a process the command started outlived the cancelled job: {left:?}");
    assert!(site.listed("r1").await.is_empty(), "a cancelled backup was listed");
}

#[tokio::test]
async fn a_job_past_its_timeout_fails_and_is_not_retried() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let text = format!(
        "[service]\njob-timeout = \"1s\"\nretries = 2\nretry-backoff = \"0s\"\n{}",
        stdin_plan(&site, "slow", &r1, "sleep 30", "")
    );
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    service.run_now("slow", JobKind::Backup, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    let jobs = all_jobs(&service).await;
    assert_eq!(states(&jobs), vec![JobState::Failed], "{jobs:#?}");
    assert!(jobs[0].error.as_deref().is_some_and(|e| e.contains("timed out after 1s")), "{jobs:?}");
    assert!(wait_until_empty(10, || my_children("sleep")).is_empty(), "the command outlived its job");
}

#[tokio::test]
async fn transient_failures_are_retried_with_attempts_and_permanent_ones_are_not() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    // A database on a loopback port nobody listens on: connection refused, transient.
    let port = lifeboat_testkit::closed_port();
    let mut text = "[service]\nretries = 2\nretry-backoff = \"0s\"\n".to_owned();
    text.push_str(&format!(
        "[plans.dead]\nrepository = \"{r1}\"\npassword-file = \"{}\"\n\
         source = {{ kind = \"postgres\", url = \"postgres://backup@127.0.0.1:{port}/app\" }}\n",
        site.pw()
    ));
    text.push_str(
        &stdin_plan(&site, "wrong", &r1, "echo x", "")
            .replace(&site.pw(), &site.path("wrong-pw").display().to_string()),
    );
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    service.run_now("dead", JobKind::Backup, Trigger::Api, None).await.unwrap();
    service.run_now("wrong", JobKind::Backup, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    let jobs = all_jobs(&service).await;
    let of = |plan: &str| jobs.iter().filter(|j| j.plan == plan).cloned().collect::<Vec<_>>();
    let dead_jobs = of("dead");
    assert_eq!(dead_jobs.iter().map(|j| j.attempt).collect::<Vec<_>>(), vec![1, 2, 3], "{dead_jobs:#?}");
    assert_eq!(states(&dead_jobs), vec![JobState::Failed; 3]);
    assert_eq!(dead_jobs[1].retry_of, Some(dead_jobs[0].id));
    assert_eq!(dead_jobs[2].retry_of, Some(dead_jobs[1].id));
    let wrong = of("wrong");
    assert_eq!(states(&wrong), vec![JobState::Failed], "a wrong password is not retried: {wrong:#?}");
    let error = wrong[0].error.clone().unwrap_or_default();
    assert!(!error.contains("not the password") && !error.contains(REPO_PASSWORD), "{error}");
}

#[tokio::test]
async fn a_job_keeps_its_log_and_figures() {
    let site = Site::new();
    let (r1, off) = (site.repo("r1").await, site.repo("offsite").await);
    let extra = format!("[[plans.a.copy-to]]\nrepository = \"{off}\"\n");
    let text = format!("{}{extra}", stdin_plan(&site, "a", &r1, "echo hello backup", "retention = { keep-last = 1 }"));
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    let first = service.run_now("a", JobKind::Backup, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    clock.advance(TimeDelta::hours(1));
    let id = service.run_now("a", JobKind::Backup, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    let job = service.job(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    let backup = job.backup_id.clone().unwrap();
    assert_eq!(job.bytes_read, Some(13));
    assert!(job.bytes_stored.is_some_and(|n| n > 0));
    assert_eq!(job.started_at, Some(monday() + TimeDelta::hours(1)), "timed by the service's clock");
    let lines: Vec<String> = service.job_log(id).await.unwrap().entries.iter().map(|e| e.to_string()).collect();
    let text = lines.join("\n");
    for expected in ["backup started", &format!("backup {backup}: 13 bytes read"), "retention: forgot 1", "copied to "]
    {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    assert!(!text.contains(REPO_PASSWORD), "{text}");
    let listed = site.listed("r1").await;
    assert_eq!(listed.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![backup.clone()], "keep-last = 1");
    assert_eq!(listed[0].finished.to_utc(), monday() + TimeDelta::hours(1), "dated by the service's clock");
    assert_eq!(site.listed("offsite").await.len(), 2, "both copied off-site");
    let backups = service.backups(Some("a")).await.unwrap();
    assert_eq!(backups.len(), 3, "one in the primary, two off-site: {backups:#?}");
    let status = service.status().await.unwrap();
    assert_eq!(status.plans[0].last_backup_id.as_deref(), Some(backup.as_str()));
    assert_ne!(first, id);
    let repositories = service.repositories().await.unwrap();
    assert_eq!(repositories.len(), 2);
    assert!(repositories.iter().all(|r| r.reachable && r.locks == 0), "{repositories:#?}");
    assert_eq!(repositories.iter().map(|r| r.backups).sum::<u64>(), 3);
}

/// A state file with a job left running by a dead lifeboatd, and the schedules' next slots
/// stored at `monday()`; then the service comes back five and a half hours later.
#[tokio::test]
async fn after_a_crash_the_running_job_is_failed_and_each_missed_run_policy_applies() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let text = format!(
        "{}{}",
        stdin_plan(&site, "once", &r1, "echo x", "schedule = { every = \"1h\", missed = \"run-once\" }"),
        stdin_plan(&site, "skip", &r1, "echo x", "schedule = { every = \"1h\", missed = \"skip\" }"),
    );
    let state_path = site.path("state/lifeboatd.sqlite");
    let clock = Arc::new(ManualClock::new(monday()));
    let crashed = {
        let state =
            AsyncStateStore::new(StateStore::open_with(&state_path, StateOptions::default(), clock.as_ref()).unwrap());
        let service = service_on(&site, &text, &clock, state.clone()).await;
        service.tick().await.unwrap(); // stores the next slots: 01:00
        let job = state.create_job(NewJob::new("once", JobKind::Backup, Trigger::Schedule), monday()).await.unwrap();
        state.start_job(job, monday()).await.unwrap();
        job
    }; // every handle dropped: the owner lock goes, as at a crash
    clock.set(monday() + TimeDelta::minutes(330));
    let store = StateStore::open_with(&state_path, StateOptions::default(), clock.as_ref()).unwrap();
    assert_eq!(store.recovered_at_open(), &[crashed]);
    let service = service_on(&site, &text, &clock, AsyncStateStore::new(store)).await;
    let mut events = service.subscribe();
    service.tick().await.unwrap();
    service.wait_idle().await;
    let jobs = all_jobs(&service).await;
    assert_eq!(jobs[0].state, JobState::Failed);
    assert_eq!(jobs[0].error.as_deref(), Some(lifeboat_ops::state::RECOVERED_RUNNING));
    let once: Vec<_> = jobs.iter().filter(|j| j.plan == "once" && j.id != crashed).collect();
    assert_eq!(once.len(), 1, "run-once: one catch-up run: {jobs:#?}");
    assert_eq!(once[0].scheduled_for, Some(monday() + TimeDelta::hours(5)), "for the newest missed slot");
    assert_eq!(once[0].state, JobState::Succeeded);
    assert!(jobs.iter().all(|j| j.plan != "skip"), "skip: no catch-up");
    let skipped: HashMap<String, u64> = drain(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            JobEvent::Skipped { plan, count, .. } => Some((plan, count)),
            _ => None,
        })
        .fold(HashMap::new(), |mut m, (p, c)| {
            *m.entry(p).or_default() += c;
            m
        });
    assert_eq!(skipped.get("once"), Some(&4), "01:00..04:00 missed");
    assert_eq!(skipped.get("skip"), Some(&5), "01:00..05:00 missed");
    // The next slot is the regular one after now.
    let next = service.status().await.unwrap().plans.iter().map(|p| p.next_run).collect::<Vec<_>>();
    assert_eq!(next, vec![Some(monday() + TimeDelta::hours(6)); 2]);
}

#[tokio::test]
async fn reload_refuses_an_invalid_config_and_keeps_the_old_one() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let text = stdin_plan(&site, "a", &r1, "echo x", "");
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    // Built in code with a mistake Config::parse would have refused.
    let mut bad = (*service.config()).clone();
    bad.service.concurrency = 0;
    let error = service.reload(bad).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid);
    assert!(error.to_string().contains("service.concurrency"), "{error}");
    // A file that does not parse.
    std::fs::write(site.path("lifeboat.toml"), "[plans.a\nrepository = 1").unwrap();
    assert_eq!(service.reload_from_file().await.unwrap_err().kind(), ErrorKind::Invalid);
    assert_eq!(service.config().plans.keys().collect::<Vec<_>>(), vec!["a"], "the old config stays");
    // A good one adds a plan and drops another.
    let next = stdin_plan(&site, "b", &r1, "echo y", "");
    std::fs::write(site.path("lifeboat.toml"), &next).unwrap();
    let report = service.reload_from_file().await.unwrap();
    assert_eq!((report.added, report.removed), (vec!["b".to_owned()], vec!["a".to_owned()]));
    assert_eq!(
        service.run_now("a", JobKind::Backup, Trigger::Api, None).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    service.run_now("b", JobKind::Backup, Trigger::Api, None).await.unwrap();
    service.wait_idle().await;
    assert_eq!(site.listed("r1").await.len(), 1);
}

#[tokio::test]
async fn shutdown_waits_for_the_grace_then_cancels_and_refuses_new_jobs() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let text = format!(
        "{}{}",
        stdin_plan(&site, "slow", &r1, "sleep 30", ""),
        stdin_plan(&site, "quick", &r1, "sleep 0.2; echo x", "")
    );
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    let mut events = service.subscribe();
    let quick = service.run_now("quick", JobKind::Backup, Trigger::Api, None).await.unwrap();
    let slow = service.run_now("slow", JobKind::Backup, Trigger::Api, None).await.unwrap();
    started(&mut events, slow).await;
    let began = Instant::now();
    service.shutdown(Duration::from_millis(1500)).await;
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_secs(10), "shutdown took {took:?}");
    assert_eq!(service.job(quick).await.unwrap().unwrap().state, JobState::Succeeded, "finished within the grace");
    let slow = service.job(slow).await.unwrap().unwrap();
    assert_eq!(slow.state, JobState::Cancelled);
    assert_eq!(slow.error.as_deref(), Some("lifeboatd shutting down"));
    assert!(wait_until_empty(10, || my_children("sleep")).is_empty());
    assert_eq!(
        service.run_now("quick", JobKind::Backup, Trigger::Api, None).await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
}

#[tokio::test]
async fn bad_requests_are_errors_of_their_kind() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &stdin_plan(&site, "a", &r1, "echo x", ""), &clock).await;
    assert_eq!(
        service.run_now("nope", JobKind::Backup, Trigger::Api, None).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(service.run_now("a", JobKind::Copy, Trigger::Api, None).await.unwrap_err().kind(), ErrorKind::Invalid);
    // Forget is part of each backup; a drill is a job of its own now, but not of a plan that is not there.
    assert_eq!(service.run_now("a", JobKind::Forget, Trigger::Api, None).await.unwrap_err().kind(), ErrorKind::Invalid);
    assert_eq!(service.run_drill("nope", Trigger::Api, None).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(service.drill("drill-nope").await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(service.backups(Some("nope")).await.unwrap_err().kind(), ErrorKind::NotFound);
    let status = service.status().await.unwrap();
    assert_eq!(status.plans.len(), 1);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["health"], "ok");
    let _ = Path::new("");
}

#[tokio::test]
async fn the_scheduler_reports_off_running_and_stopped() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let text = stdin_plan(&site, "web", &r1, "echo x", "");
    let clock = Arc::new(ManualClock::new(monday()));
    let manual = service(&site, &text, &clock).await;
    assert_eq!(manual.scheduler(), SchedulerState::Off, "started without a scheduler");
    let config = Config::parse(&text, "test.toml").unwrap();
    let scheduled = Service::start(ServiceOptions {
        config,
        origin: site.path("lifeboat.toml").display().to_string(),
        state: AsyncStateStore::new(StateStore::open_in_memory().unwrap()),
        clock: clock.clone(),
        opener: site.opener(),
        run_scheduler: true,
    })
    .await
    .unwrap();
    assert_eq!(scheduled.scheduler(), SchedulerState::Running);
    scheduled.shutdown(Duration::from_secs(1)).await;
    assert_eq!(scheduled.scheduler(), SchedulerState::Stopped);
}
