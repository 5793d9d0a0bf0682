//! Signals and the process's life: SIGHUP reloads (an invalid config is refused and the old
//! kept, a valid one applied), SIGTERM during a long job ends within the grace period with
//! the job cancelled and nothing left behind, kill -9 then a restart marks the job failed,
//! and a second lifeboatd on the same state is refused.

use std::time::{Duration, Instant};

use lifeboat_ops::state::{JobState, Scope};

use crate::common::{Daemon, Site, files_under, processes_with, run_to_end, state_job};

/// A stdin plan whose command runs `sleep SECONDS`; SECONDS is unique to the test so its
/// process can be found in /proc.
fn sleepy_plan(name: &str, seconds: &str) -> String {
    format!(
        "[plans.{name}]\nrepository = \"@DIR@/repo\"\npassword-file = \"@PASSWORD_FILE@\"\n\
         source = {{ kind = \"stdin\", command = [\"sleep\", \"{seconds}\"] }}\n"
    )
}

fn quick_plan(name: &str) -> String {
    format!(
        "[plans.{name}]\nrepository = \"@DIR@/repo\"\npassword-file = \"@PASSWORD_FILE@\"\n\
         source = {{ kind = \"stdin\", command = [\"echo\", \"{name}\"] }}\n"
    )
}

fn plan_names(daemon: &Daemon, token: &str) -> Vec<String> {
    let r = daemon.get("/api/v1/plans", token);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let list = v.as_array().or_else(|| v["plans"].as_array()).cloned().unwrap_or_default();
    let mut names: Vec<String> = list.iter().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect();
    names.sort();
    names
}

fn wait_for_process(needle: &str, daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while processes_with(needle).is_empty() {
        assert!(Instant::now() < deadline, "the job's `sleep {needle}` never started:\n{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills what a test left running on purpose (kill -9 leaves the job's child behind).
fn kill_leftovers(needle: &str) {
    for (pid, _) in processes_with(needle) {
        // SAFETY: kill(2) on a pid we found running our unique command line.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

#[test]
fn sighup_refuses_an_invalid_config_keeping_the_old_and_applies_a_valid_one() {
    let site = Site::new();
    site.local_repo("repo");
    site.write_config(&quick_plan("alpha"));
    let token = site.token("it", &[Scope::Read]);
    let daemon = Daemon::start(&site);
    assert_eq!(plan_names(&daemon, &token), ["alpha"]);

    // Invalid: an unknown key, and a second plan that must not appear.
    site.write_config(&format!("{}{}[service]\nconcurency = 3\n", quick_plan("alpha"), quick_plan("beta")));
    daemon.signal(libc::SIGHUP);
    let refused = daemon.wait_log("refusing the reload", Duration::from_secs(30), |l| {
        l["level"] == "ERROR" && l.to_string().contains("concurency")
    });
    assert!(refused.to_string().contains("old"), "the refusal does not say the old config stays: {refused}");
    assert_eq!(plan_names(&daemon, &token), ["alpha"], "an invalid config changed the plans");
    assert_eq!(daemon.get("/readyz", &token).status, 200);

    site.write_config(&format!("{}{}", quick_plan("alpha"), quick_plan("beta")));
    daemon.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(30);
    while plan_names(&daemon, &token) != ["alpha", "beta"] {
        assert!(Instant::now() < deadline, "the valid config was not applied:\n{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_during_a_long_job_cancels_it_within_the_grace_period_leaving_nothing_behind() {
    let site = Site::new();
    site.local_repo("repo");
    let needle = "60.0417";
    site.write_config(&format!("[service]\ngrace = \"2s\"\n\n{}", sleepy_plan("slow", needle)));
    let token = site.token("it", &[Scope::Operate]);
    let mut daemon = Daemon::start(&site);
    let repo_before = files_under(&site.path("repo"));
    let job = daemon.run_plan("slow", &token);
    wait_for_process(needle, &daemon);

    let asked = Instant::now();
    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(20));
    let took = asked.elapsed();
    let Some(status) = status else {
        kill_leftovers(needle);
        panic!("lifeboatd did not exit within 20 s of SIGTERM (grace 2 s):\n{}", daemon.log_text());
    };
    assert_eq!(status.code(), Some(0), "exit after SIGTERM:\n{}", daemon.log_text());
    assert!(took < Duration::from_secs(2 + 8), "SIGTERM took {took:?} with a grace of 2 s");
    let orphans = processes_with(needle);
    kill_leftovers(needle);
    assert!(orphans.is_empty(), "the job's child outlived lifeboatd: {orphans:?}");

    let record = state_job(&site, job);
    assert_eq!(record.state, JobState::Cancelled, "{record:?}");
    assert!(record.backup_id.is_none(), "{record:?}");
    assert!(site.temp_leftovers().is_empty(), "temporary files left: {:?}", site.temp_leftovers());
    let repo_after = files_under(&site.path("repo"));
    // The audit head lifeboatd seals at shutdown is a record (records/audit-head/...), not
    // something the cancelled job left.
    let records = site.path("repo/records");
    // A format 3 repository's first backup creates its dedup domain (domains/<id>) before
    // any data: a repository object kept for every later backup, not a leftover.
    let repo_dir = site.path("repo");
    let added: Vec<String> = repo_after
        .iter()
        .filter(|p| !repo_before.contains(p) && !p.starts_with(&records))
        .filter_map(|p| p.strip_prefix(&repo_dir).ok().map(|p| p.to_string_lossy().into_owned()))
        .collect();
    assert!(
        added.iter().all(|p| !p.contains("tmp") && !p.starts_with("backups/") && !p.contains("manifest")),
        "the cancelled job left files in the repository: {added:?}"
    );
}

#[test]
fn after_kill_9_a_restart_marks_the_running_job_failed() {
    let site = Site::new();
    site.local_repo("repo");
    let needle = "60.0813";
    site.write_config(&sleepy_plan("slow", needle));
    let token = site.token("it", &[Scope::Operate]);
    let mut daemon = Daemon::start(&site);
    let job = daemon.run_plan("slow", &token);
    wait_for_process(needle, &daemon);
    daemon.signal(libc::SIGKILL);
    assert!(daemon.wait_exit(Duration::from_secs(10)).is_some(), "SIGKILL did not end lifeboatd");
    kill_leftovers(needle);
    assert_eq!(state_job(&site, job).state, JobState::Running, "before the restart the job is still recorded running");

    let daemon = Daemon::start(&site);
    let record = daemon.wait_job(job, &token, Duration::from_secs(10));
    assert_eq!(record["state"], "failed", "{record}");
    let error = record["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "a recovered job says why it failed: {record}");
    let stored = state_job(&site, job);
    assert!(stored.recovered_at.is_some(), "{stored:?}");
    assert_eq!(stored.error.as_deref(), Some(lifeboat_ops::state::RECOVERED_RUNNING));
}

#[test]
fn a_second_lifeboatd_on_the_same_state_is_refused_clearly() {
    let site = Site::new();
    site.local_repo("repo");
    site.write_config(&quick_plan("alpha"));
    let daemon = Daemon::start(&site);
    let config = site.config().display().to_string();
    let state = site.state().display().to_string();
    let started = Instant::now();
    let second = run_to_end(&site, &["--config", &config, "--state", &state, "--listen", "127.0.0.1:0"]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(second.status.code(), Some(1), "{}", second.stderr);
    assert!(
        second.stderr.contains("another lifeboatd") && second.stderr.contains(&state),
        "the refusal does not say why: {}",
        second.stderr
    );
    assert_eq!(
        crate::common::http(daemon.addr, "GET", "/readyz", None, None).status,
        200,
        "the first one was disturbed"
    );
}
