//! The state store on real SQLite files: migrations and refusals, permissions, the job
//! lifecycle and pages, bounded logs, crash recovery after a SIGKILL, concurrent handles,
//! and the async wrapper.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lifeboat_ops::state::{
    AsyncStateStore, ErrorKind, JobFilter, JobId, JobKind, JobOutcome, JobResult, JobState, LogEntry, LogLevel, NewJob,
    NewLogLine, RECOVERED_QUEUED, RECOVERED_RUNNING, StateError, StateOptions, StateStore, Trigger,
};
use lifeboat_storage::clock::SystemClock;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_232_800 + seconds, 0).expect("a valid test time") // 2026-01-01 02:00 UTC
}

fn backup(plan: &str) -> NewJob {
    NewJob::new(plan, JobKind::Backup, Trigger::Schedule)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("a raw connection")
}

fn line(n: u64) -> NewLogLine {
    NewLogLine { at: at(n as i64), level: LogLevel::Info, line: format!("line {n}") }
}

#[test]
fn an_empty_file_is_migrated_and_reopening_it_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::File::create(&path).unwrap(); // zero bytes: SQLite treats it as a new database
    let mut state = StateStore::open(&path).unwrap();
    assert_eq!(state.schema_version().unwrap(), StateStore::supported_schema_version());
    let id = state.create_job(&backup("web"), at(0)).unwrap();
    drop(state);

    let state = StateStore::open(&path).unwrap();
    assert_eq!(state.schema_version().unwrap(), StateStore::supported_schema_version());
    assert_eq!(state.job(id).unwrap().map(|j| j.plan).as_deref(), Some("web"));
    let tables: i64 = raw(&path)
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'jobs'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn a_database_from_a_newer_lifeboat_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(StateStore::open(&path).unwrap());
    let future = StateStore::supported_schema_version() + 1;
    raw(&path).pragma_update(None, "user_version", future).unwrap();

    let error = StateStore::open(&path).unwrap_err();
    assert!(matches!(error, StateError::NewerVersion { found, .. } if found == future), "{error}");
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    let version: i64 = raw(&path).query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, future, "never downgraded");
}

#[test]
fn a_file_of_random_bytes_is_a_damaged_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut bytes = vec![0u8; 64 * 1024];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
    std::fs::write(&path, &bytes).unwrap();

    let error = StateStore::open(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Damaged, "{error}");
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the damaged file is left for inspection");
}

#[test]
fn a_new_state_directory_is_0700_and_its_files_0600() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("var").join("lifeboat");
    let path = state_dir.join("state.db");
    let mut state = StateStore::open(&path).unwrap();
    state.create_job(&backup("web"), at(0)).unwrap(); // a write: the -wal file exists now

    assert_eq!(mode(&state_dir), 0o700);
    assert_eq!(mode(&dir.path().join("var")), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("var/lifeboat/state.db-wal")), 0o600);
    assert_eq!(mode(&dir.path().join("var/lifeboat/state.db.lock")), 0o600);
    let journal: String = raw(&path).query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn a_job_runs_its_course_and_a_backup_updates_its_plan() {
    let mut state = StateStore::open_in_memory().unwrap();
    let mut job = backup("web");
    job.repository = Some("primary".into());
    job.scheduled_for = Some(at(0));
    let id = state.create_job(&job, at(1)).unwrap();
    let queued = state.job(id).unwrap().unwrap();
    assert_eq!((queued.state, queued.attempt, queued.started_at), (JobState::Queued, 1, None));

    state.start_job(id, at(2)).unwrap();
    state.record_progress(id, 100, 40).unwrap();
    assert_eq!(state.job(id).unwrap().unwrap().bytes_read, Some(100));
    let outcome =
        JobOutcome { bytes_read: Some(1000), backup_id: Some("9c1e".into()), ..JobOutcome::of(JobResult::Succeeded) };
    state.finish_job(id, &outcome, at(9)).unwrap();

    let done = state.job(id).unwrap().unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!((done.bytes_read, done.bytes_stored), (Some(1000), Some(40)), "a missing figure keeps the progress");
    assert_eq!((done.scheduled_for, done.started_at, done.ended_at), (Some(at(0)), Some(at(2)), Some(at(9))));
    assert_eq!(done.repository.as_deref(), Some("primary"));
    let plan = state.plan_state("web").unwrap().unwrap();
    assert_eq!((plan.last_success, plan.last_success_job), (Some(at(9)), Some(id)));
    assert_eq!(plan.last_backup_id.as_deref(), Some("9c1e"));
    assert_eq!(plan.last_failure, None);

    let error = state.finish_job(id, &JobOutcome::of(JobResult::Succeeded), at(10)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
    assert_eq!(state.start_job(JobId(9999), at(10)).unwrap_err().kind(), ErrorKind::NotFound);

    let retry = state.create_job(&backup("web"), at(20)).unwrap();
    state.start_job(retry, at(21)).unwrap();
    let failed = JobOutcome::of(JobResult::Failed { error: "repository unreachable".into() });
    state.finish_job(retry, &failed, at(22)).unwrap();
    let plan = state.plan_state("web").unwrap().unwrap();
    assert_eq!((plan.last_failure, plan.last_failure_job), (Some(at(22)), Some(retry)));
    assert_eq!(plan.last_backup_id.as_deref(), Some("9c1e"), "a failure keeps the last backup");
    assert_eq!(state.job(retry).unwrap().unwrap().error.as_deref(), Some("repository unreachable"));
}

#[test]
fn a_queued_job_can_be_cancelled_but_not_succeed_without_running() {
    let mut state = StateStore::open_in_memory().unwrap();
    let id = state.create_job(&NewJob::new("web", JobKind::Verify, Trigger::Api), at(0)).unwrap();
    let error = state.finish_job(id, &JobOutcome::of(JobResult::Succeeded), at(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict);
    state
        .finish_job(id, &JobOutcome::of(JobResult::Cancelled { reason: "cancelled by token ops".into() }), at(1))
        .unwrap();
    assert_eq!(state.job(id).unwrap().unwrap().state, JobState::Cancelled);
    assert_eq!(state.record_progress(id, 1, 1).unwrap_err().kind(), ErrorKind::Conflict);
    assert!(state.plan_state("web").unwrap().is_none(), "only backups move a plan's last runs");
}

#[test]
fn job_pages_follow_each_other_newest_first_and_filters_apply() {
    let mut state = StateStore::open_in_memory().unwrap();
    let mut all = Vec::new();
    for n in 0..25 {
        let plan = if n % 2 == 0 { "web" } else { "db" };
        let kind = if n % 5 == 0 { JobKind::Verify } else { JobKind::Backup };
        let id = state.create_job(&NewJob::new(plan, kind, Trigger::Schedule), at(n)).unwrap();
        if n % 3 == 0 {
            state.start_job(id, at(n)).unwrap();
        }
        all.push(id);
    }
    all.reverse();

    let mut seen = Vec::new();
    let mut filter = JobFilter { limit: Some(10), ..Default::default() };
    let mut pages = 0;
    loop {
        let page = state.list_jobs(&filter).unwrap();
        pages += 1;
        seen.extend(page.jobs.iter().map(|j| j.id));
        match page.next_before {
            Some(before) => filter.before = Some(before),
            None => break,
        }
    }
    assert_eq!(seen, all);
    assert_eq!(pages, 3);

    let web = state.list_jobs(&JobFilter { plan: Some("web".into()), ..Default::default() }).unwrap();
    assert_eq!(web.jobs.len(), 13);
    assert!(web.jobs.iter().all(|j| j.plan == "web"));
    let running = state.list_jobs(&JobFilter { state: Some(JobState::Running), ..Default::default() }).unwrap();
    assert_eq!(running.jobs.len(), 9);
    let verify = JobFilter { kind: Some(JobKind::Verify), plan: Some("db".into()), ..Default::default() };
    let verify = state.list_jobs(&verify).unwrap();
    assert_eq!(verify.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), vec![all[9], all[19]]);
}

#[test]
fn a_chatty_job_keeps_its_first_and_last_lines_and_says_how_many_went() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let options = StateOptions { log_head_lines: 3, log_tail_lines: 4, max_log_line_bytes: 32, ..Default::default() };
    let mut state = StateStore::open_with(&path, options, &SystemClock).unwrap();
    let id = state.create_job(&backup("web"), at(0)).unwrap();
    let mut n = 0;
    for batch in [1u64, 2, 50, 400, 547] {
        let lines: Vec<_> = (n..n + batch).map(line).collect();
        state.append_log(id, &lines).unwrap();
        n += batch;
    }
    assert_eq!(n, 1000);
    let rows: i64 = raw(&path).query_row("SELECT count(*) FROM job_logs", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 7, "at most head + tail rows are stored");

    let log = state.job_log(id).unwrap();
    assert_eq!((log.total_lines, log.omitted_lines), (1000, 993));
    let shown: Vec<String> = log
        .entries
        .iter()
        .map(|e| match e {
            LogEntry::Line(l) => l.line.clone(),
            other => other.to_string(),
        })
        .collect();
    let expected =
        ["line 0", "line 1", "line 2", "... 993 lines omitted", "line 996", "line 997", "line 998", "line 999"];
    assert_eq!(shown, expected);
    assert_eq!(state.job(id).unwrap().unwrap().log_lines, 1000);

    let long = NewLogLine { at: at(0), level: LogLevel::Warn, line: "x".repeat(10_000) };
    state.append_log(id, &[long]).unwrap();
    let log = state.job_log(id).unwrap();
    let Some(LogEntry::Line(last)) = log.entries.last() else { panic!("the last entry is a line: {log:?}") };
    assert!(last.line.len() <= 32 && last.line.ends_with('…'), "{:?}", last.line);
    assert_eq!(state.append_log(JobId(4242), &[line(0)]).unwrap_err().kind(), ErrorKind::NotFound);
}

#[test]
fn old_jobs_go_with_their_logs_but_a_plans_last_runs_stay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut state = StateStore::open(&path).unwrap();
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = state.create_job(&backup("web"), at(n)).unwrap();
        state.start_job(id, at(n)).unwrap();
        state.append_log(id, &[line(0), line(1)]).unwrap();
        state.finish_job(id, &JobOutcome::of(JobResult::Succeeded), at(n + 1)).unwrap();
        ids.push(id);
    }
    assert_eq!(state.delete_jobs_ended_before(at(100)).unwrap(), 2, "the last success is kept");
    assert!(state.job(ids[0]).unwrap().is_none());
    assert!(state.job(ids[2]).unwrap().is_some());
    let rows: i64 = raw(&path).query_row("SELECT count(*) FROM job_logs", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 2, "foreign keys are on: the deleted jobs' lines went with them");
}

#[test]
fn next_runs_and_skipped_slots_are_kept_per_plan() {
    let mut state = StateStore::open_in_memory().unwrap();
    state.set_next_run("web", Some(at(3600)), at(0)).unwrap();
    state.record_skipped_slot("web", at(-7200), at(1)).unwrap();
    state.record_skipped_slot("web", at(-3600), at(1)).unwrap();
    state.set_next_run("db", None, at(2)).unwrap();
    let web = state.plan_state("web").unwrap().unwrap();
    assert_eq!((web.next_run, web.skipped_slots, web.last_skipped_slot), (Some(at(3600)), 2, Some(at(-3600))));
    let plans: Vec<_> = state.plan_states().unwrap().into_iter().map(|p| (p.plan, p.next_run)).collect();
    assert_eq!(plans, vec![("db".to_owned(), None), ("web".to_owned(), Some(at(3600)))]);
    assert!(state.remove_plan_state("db").unwrap());
    assert!(state.plan_state("db").unwrap().is_none());
}

#[test]
fn reopening_marks_unfinished_jobs_failed_with_the_reason_and_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut state = StateStore::open(&path).unwrap();
    let running = state.create_job(&backup("web"), at(0)).unwrap();
    state.start_job(running, at(1)).unwrap();
    let queued = state.create_job(&backup("db"), at(2)).unwrap();
    let finished = state.create_job(&backup("web"), at(0)).unwrap();
    state.start_job(finished, at(0)).unwrap();
    state.finish_job(finished, &JobOutcome::of(JobResult::Succeeded), at(1)).unwrap();
    drop(state); // as if the process had died: nothing finished the two jobs

    let state = StateStore::open(&path).unwrap();
    assert_eq!(state.recovered_at_open(), &[running, queued]);
    for (id, reason) in [(running, RECOVERED_RUNNING), (queued, RECOVERED_QUEUED)] {
        let job = state.job(id).unwrap().unwrap();
        assert_eq!(job.state, JobState::Failed);
        assert_eq!(job.error.as_deref(), Some(reason));
        assert!(job.recovered_at.is_some() && job.ended_at == job.recovered_at, "{job:?}");
    }
    assert_eq!(state.job(finished).unwrap().unwrap().state, JobState::Succeeded);
    assert_eq!(state.plan_state("db").unwrap().unwrap().last_failure_job, Some(queued));
    drop(state);
    assert!(StateStore::open(&path).unwrap().recovered_at_open().is_empty(), "recovery runs once");
}

#[test]
fn a_second_owner_is_refused_while_an_attached_handle_is_welcome() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut owner = StateStore::open(&path).unwrap();
    let id = owner.create_job(&backup("web"), at(0)).unwrap();
    owner.start_job(id, at(0)).unwrap();

    let error = StateStore::open(&path).unwrap_err();
    assert!(matches!(error, StateError::InUse { .. }), "{error}");
    assert_eq!(error.kind(), ErrorKind::Locked);
    let attached = StateStore::attach(&path, StateOptions::default()).unwrap();
    assert!(attached.recovered_at_open().is_empty());
    assert_eq!(attached.job(id).unwrap().unwrap().state, JobState::Running, "an attached handle recovers nothing");
    drop(owner);
    assert!(StateStore::open(&path).is_ok(), "the lock went with its owner");
}

const CHILD_ENV: &str = "LIFEBOAT_STATE_CRASH_CHILD";
const READY: &str = "STATE-CHILD-READY";

/// The child half of the crash test: own the store, start a job, say so, and wait to die
/// (or, should the parent go first, for its end of the pipe to close).
fn crash_child(path: &str) {
    let mut state = StateStore::open(path).expect("the child opens the store");
    let id = state.create_job(&backup("web"), Utc::now()).expect("the child creates a job");
    state.start_job(id, Utc::now()).expect("the child starts it");
    state.append_log(id, &[line(0)]).expect("the child logs a line");
    println!("{READY} {}", id.0);
    let _ = std::io::stdin().read_to_end(&mut Vec::new()); // blocks until the parent's SIGKILL
    std::process::exit(3); // the parent is gone: do not pass as a test
}

#[test]
fn a_job_running_when_lifeboatd_is_killed_is_failed_when_the_store_reopens() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        return crash_child(&path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "state::a_job_running_when_lifeboatd_is_killed_is_failed_when_the_store_reopens"])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let id = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split_once(READY).and_then(|(_, id)| id.trim().parse::<i64>().ok())) // after libtest's "test ... "
        .map(JobId);
    let Some(id) = id else {
        let _ = child.kill();
        panic!("the child never said it was ready: {:?}", child.wait());
    };
    assert_eq!(StateStore::open(&path).unwrap_err().kind(), ErrorKind::Locked, "the live child owns the store");

    child.kill().unwrap(); // SIGKILL: no destructor, no rollback, no unlock by the child
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status:?}");

    let state = StateStore::open(&path).unwrap();
    let job = state.job(id).unwrap().expect("the child's job is in the file");
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.error.as_deref(), Some(RECOVERED_RUNNING));
    assert!(job.recovered_at.is_some());
    assert_eq!(state.recovered_at_open(), &[id]);
    assert_eq!(state.job_log(id).unwrap().total_lines, 1, "what the child committed survived");
    assert!(state.check_integrity().unwrap().is_empty());
}

#[test]
fn two_handles_writing_at_once_neither_corrupt_nor_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let owner = StateStore::open(&path).unwrap();
    let attached = StateStore::attach(&path, StateOptions::default()).unwrap();
    const PER_HANDLE: usize = 150;
    let work = |mut state: StateStore, plan: &'static str| {
        std::thread::spawn(move || -> Result<Vec<JobId>, StateError> {
            let mut ids = Vec::new();
            for n in 0..PER_HANDLE {
                let id = state.create_job(&backup(plan), at(n as i64))?;
                state.start_job(id, at(n as i64))?;
                state.append_log(id, &[line(0), line(1), line(2)])?;
                state.record_progress(id, n as u64, n as u64)?;
                state.finish_job(id, &JobOutcome::of(JobResult::Succeeded), at(n as i64 + 1))?;
                ids.push(id);
            }
            Ok(ids)
        })
    };
    let a = work(owner, "web");
    let b = work(attached, "db");
    let mut ids = a.join().unwrap().unwrap();
    ids.extend(b.join().unwrap().unwrap());
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2 * PER_HANDLE, "every job got its own id");

    let state = StateStore::attach(&path, StateOptions::default()).unwrap();
    let done = JobFilter { state: Some(JobState::Succeeded), limit: Some(1000), ..Default::default() };
    assert_eq!(state.list_jobs(&done).unwrap().jobs.len(), 2 * PER_HANDLE);
    let rows: i64 = raw(&path).query_row("SELECT count(*) FROM job_logs", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 3 * 2 * PER_HANDLE as i64);
    assert!(state.check_integrity().unwrap().is_empty());
}

#[test]
fn a_writer_that_waits_past_the_busy_timeout_gets_an_unavailable_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(StateStore::open(&path).unwrap());
    let holder = raw(&path);
    holder.execute_batch("BEGIN IMMEDIATE").unwrap(); // holds the write lock until COMMIT
    let options = StateOptions { busy_timeout: Duration::from_millis(20), ..Default::default() };
    let mut state = StateStore::attach(&path, options).unwrap(); // reads only: not blocked
    let error = state.create_job(&backup("web"), at(0)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    holder.execute_batch("COMMIT").unwrap();
    state.create_job(&backup("web"), at(0)).unwrap();
}

#[tokio::test]
async fn the_async_store_works_off_the_reactor_and_survives_a_panicking_call() {
    let state = AsyncStateStore::new(StateStore::open_in_memory().unwrap());
    let id = state.create_job(backup("web"), at(0)).await.unwrap();
    state.start_job(id, at(1)).await.unwrap();
    state.append_log(id, vec![line(0)]).await.unwrap();
    state.finish_job(id, JobOutcome::of(JobResult::Succeeded), at(2)).await.unwrap();

    let panicked = state.call(|_| -> Result<(), StateError> { panic!("a bug in a caller's closure") }).await;
    assert_eq!(panicked.unwrap_err().kind(), ErrorKind::Internal);

    let page = state.list_jobs(JobFilter::default()).await.unwrap();
    assert_eq!(page.jobs.iter().map(|j| (j.id, j.state)).collect::<Vec<_>>(), vec![(id, JobState::Succeeded)]);
    assert_eq!(state.job_log(id).await.unwrap().total_lines, 1);
    let plan = state.plan_state("web".into()).await.unwrap().unwrap();
    assert_eq!(plan.last_success, Some(at(2)));
}
