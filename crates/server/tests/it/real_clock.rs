//! THE REAL-CLOCK TEST (the "Done when"): lifeboatd runs a plan scheduled
//! `* * * * *` for ten real minutes, and exactly ten scheduled backups succeed (plus or
//! minus one for where the start falls between two minutes), each started in its minute.
//!
//! Ten minutes long, so `#[ignore]`d in plain `cargo test`; scripts/test.sh runs it in the
//! background from the start of the suite (`--ignored --exact real_clock::...`) and waits
//! for it at the end, so it costs CI no wall time.

use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use lifeboat_ops::state::{JobKind, JobState, Scope, Trigger};

use crate::common::{Daemon, Site};

const MINUTES: u64 = 10;

#[test]
#[ignore = "ten real minutes: scripts/test.sh runs it in the background (cargo test -p lifeboatd --test it -- --ignored real_clock)"]
fn a_plan_every_minute_runs_ten_times_in_ten_real_minutes() {
    let site = Site::new();
    site.local_repo("repo");
    // Its weekly drill (Thursdays 00:00 UTC) is off: ten minutes across that slot would hold
    // the plan's lock for a drill while a backup slot passes.
    site.write_config(
        "[plans.minutely]\nrepository = \"@DIR@/repo\"\npassword-file = \"@PASSWORD_FILE@\"\n\
         source = { kind = \"stdin\", command = [\"date\", \"+%s\"] }\n\
         schedule = { cron = \"* * * * *\" }\nretention = { keep-last = 1000 }\ndrill = { enabled = false }\n",
    );
    let token = site.token("it", &[Scope::Read]);
    let mut daemon = Daemon::start(&site);
    let started = Utc::now();
    let clock = Instant::now();
    let deadline = clock + Duration::from_secs(MINUTES * 60);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(5));
        assert!(daemon.child.try_wait().ok().flatten().is_none(), "lifeboatd exited:\n{}", daemon.log_text());
    }
    let ended = Utc::now();
    // Let a run that started in the last seconds finish before stopping.
    std::thread::sleep(Duration::from_secs(20));
    let backups = crate::api::backups_of(&daemon.get("/api/v1/backups?plan=minutely", &token).json());
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(Duration::from_secs(90)).and_then(|s| s.code()), Some(0), "{}", daemon.log_text());

    let jobs: Vec<_> = site
        .jobs()
        .into_iter()
        .filter(|j| j.kind == JobKind::Backup && j.trigger == Trigger::Schedule)
        .filter(|j| j.scheduled_for.is_some_and(|s| s > started && s <= ended))
        .collect();
    let succeeded: Vec<_> = jobs.iter().filter(|j| j.state == JobState::Succeeded).collect();
    // Minute boundaries in (started, ended]: 10, or 11 when the window holds both ends.
    let boundaries = (ended.timestamp() / 60 - started.timestamp() / 60) as usize;
    eprintln!(
        "real clock: {} of {} scheduled backups succeeded from {started} to {ended} ({boundaries} minute boundaries)",
        succeeded.len(),
        jobs.len()
    );
    assert!(
        (MINUTES as usize - 1..=MINUTES as usize + 1).contains(&succeeded.len()) && succeeded.len() == boundaries,
        "{} scheduled backups succeeded in {MINUTES} minutes ({boundaries} minute boundaries passed); jobs: {jobs:#?}\n{}",
        succeeded.len(),
        daemon.log_text()
    );
    assert_eq!(jobs.len(), succeeded.len(), "a scheduled run did not succeed: {jobs:#?}");
    let mut slots: Vec<_> = succeeded.iter().filter_map(|j| j.scheduled_for).collect();
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), succeeded.len(), "two runs for one slot: {jobs:#?}");
    for job in &succeeded {
        let slot = job.scheduled_for.expect("slot");
        assert_eq!((slot.second(), slot.nanosecond()), (0, 0), "a slot off the minute: {job:?}");
        let start = job.started_at.expect("started");
        let late = (start - slot).num_milliseconds();
        assert!((0..30_000).contains(&late), "job {:?} started {late} ms after its slot", job.id);
    }
    assert!(backups.len() >= succeeded.len(), "{} backups listed for {} runs", backups.len(), succeeded.len());
}
