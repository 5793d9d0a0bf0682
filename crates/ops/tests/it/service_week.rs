//! The issue's "done when": a simulated week under the injected clock with four plans,
//! files (nightly at 02:00 Europe/Berlin, copied off-site, quick verify nightly, prune on
//! Sundays), PostgreSQL (hourly, the real server), Redis (hourly, the real server) and an
//! Elasticsearch snapshot policy (nightly, the Elasticsearch test double): the clock moves
//! an hour at a time, the scheduler ticks, and the runs, the retention (judged by the
//! simulated days), the copies and the weekly restore drill of each plan but the
//! Elasticsearch one (the default schedule) are exactly as expected.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::TimeDelta;
use lifeboat_es::{ClusterConfig, EsClient, EsManager, RepositorySpec, Scope, StateStore as EsState};
use lifeboat_es_double::{DoubleConfig, EsDouble, IndexSeed};
use lifeboat_ops::service::OverallHealth;
use lifeboat_ops::state::{JobKind, JobState};
use lifeboat_testkit::datasets::{pg_create_db, redis_dataset};
use lifeboat_testkit::{Cleanup, ManualClock, password_of, pg_url, redis_url, unique, with_path, without_password};

use crate::service::{Site, all_jobs, monday, service};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_simulated_week_runs_four_plans_with_their_retention_and_copies() {
    let site = Site::new();
    let (files, offsite, pg_repo, redis_repo) =
        (site.repo("files").await, site.repo("offsite").await, site.repo("pg").await, site.repo("redis").await);
    let data = site.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a.txt"), "the files plan's data\n").unwrap();

    let pg = pg_url();
    let db = unique("lbops_week");
    pg_create_db(&pg, &db);
    let _pg_cleanup = Cleanup::pg(&pg, &[&db]);
    std::fs::write(site.path("pg-pw"), format!("{}\n", password_of(&pg))).unwrap();
    let pg_db = without_password(&with_path(&pg, &format!("/{db}")));

    let redis = with_path(&redis_url(), "/9");
    let prefix = unique("lbops_week");
    redis_dataset(&redis, &prefix, 5);
    let _redis_cleanup = Cleanup::Redis(vec![redis.clone()], prefix.clone());
    std::fs::write(site.path("redis-pw"), format!("{}\n", password_of(&redis))).unwrap();

    let es = EsDouble::start_with(DoubleConfig::default()).await.unwrap();
    es.create_index("logs-2026.03.01", IndexSeed::daily("2026-03-01", 10));
    let es_state = site.path("es-state");
    let client = ClusterConfig { url: es.url().parse().unwrap(), ..ClusterConfig::new("http://127.0.0.1:1").unwrap() };
    let admin = EsManager::new(EsClient::new(&client).unwrap(), EsState::new(&es_state), Scope::Admin);
    let spec = RepositorySpec::Fs { location: "/mnt/backups/week".into(), readonly: false, compress: None };
    admin.repositories().create("backups", &spec, true).await.unwrap();

    let pw = site.pw();
    let text = format!(
        r#"
[service]
concurrency = 3
per-repository = 1

[plans.files]
repository = "{files}"
password-file = "{pw}"
source = {{ kind = "files", paths = ["{data}"] }}
schedule = {{ cron = "0 2 * * *", timezone = "Europe/Berlin" }}
retention = {{ keep-daily = 3 }}
verify = {{ quick = {{ cron = "0 4 * * *", timezone = "Europe/Berlin" }} }}
prune = {{ schedule = {{ cron = "0 5 * * 0", timezone = "Europe/Berlin" }} }}
objectives = {{ rpo = "26h" }}
[[plans.files.copy-to]]
repository = "{offsite}"

[plans.postgres]
repository = "{pg_repo}"
password-file = "{pw}"
schedule = {{ every = "1h" }}
retention = {{ keep-hourly = 24 }}
source = {{ kind = "postgres", url = "{pg_db}", password-file = "{pg_pw}" }}

[plans.redis]
repository = "{redis_repo}"
password-file = "{pw}"
schedule = {{ every = "1h" }}
retention = {{ keep-last = 12 }}
source = {{ kind = "redis", url = "{redis_plain}", password-file = "{redis_pw}", mode = "logical", key-pattern = "{prefix}*" }}

[plans.logs]
schedule = {{ cron = "0 2 * * *", timezone = "UTC" }}
retention = {{ keep-daily = 3 }}
source = {{ kind = "elasticsearch", url = "{es_url}", repository = "backups", policy = "nightly", indices = "logs-*", state-dir = "{es_state}" }}
"#,
        data = data.display(),
        pg_pw = site.path("pg-pw").display(),
        redis_plain = without_password(&redis),
        redis_pw = site.path("redis-pw").display(),
        es_url = es.url(),
        es_state = es_state.display(),
    );
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service(&site, &text, &clock).await;
    let began = Instant::now();
    service.tick().await.unwrap(); // Monday 00:00: every schedule seen, nothing due before it
    for _ in 0..7 * 24 {
        clock.advance(TimeDelta::hours(1));
        service.tick().await.unwrap();
        service.wait_idle().await;
    }
    let wall = began.elapsed();

    let jobs = all_jobs(&service).await;
    let failed: Vec<_> = jobs.iter().filter(|j| j.state != JobState::Succeeded).collect();
    assert!(failed.is_empty(), "jobs that did not succeed: {failed:#?}");
    let mut runs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for job in &jobs {
        *runs.entry((job.plan.clone(), format!("{:?}", job.kind))).or_default() += 1;
    }
    let expected: BTreeMap<(String, String), usize> = [
        (("files", JobKind::Backup), 7),
        (("files", JobKind::Verify), 7),
        (("files", JobKind::Prune), 1),
        (("logs", JobKind::Backup), 7),
        (("postgres", JobKind::Backup), 168),
        (("redis", JobKind::Backup), 168),
        // The default drill schedule, weekly (`every = "7d"`, anchored at the epoch: Thursdays
        // 00:00 UTC), drills each drilled plan once.
        (("files", JobKind::Drill), 1),
        (("logs", JobKind::Drill), 1),
        (("postgres", JobKind::Drill), 1),
        (("redis", JobKind::Drill), 1),
    ]
    .into_iter()
    .map(|((p, k), n)| ((p.to_owned(), format!("{k:?}")), n))
    .collect();
    assert_eq!(runs, expected, "runs per plan and kind");
    let files_slots: Vec<_> =
        jobs.iter().filter(|j| j.plan == "files" && j.kind == JobKind::Backup).map(|j| j.scheduled_for).collect();
    let nightly: Vec<_> = (0..7).map(|d| Some(monday() + TimeDelta::hours(1) + TimeDelta::days(d))).collect();
    assert_eq!(files_slots, nightly, "02:00 in Berlin is 01:00 UTC in March");
    let thursday = monday() + TimeDelta::days(3);
    let drills: Vec<_> = jobs.iter().filter(|j| j.kind == JobKind::Drill).map(|j| (&j.plan, j.scheduled_for)).collect();
    assert!(drills.iter().all(|(_, slot)| *slot == Some(thursday)), "drilled on Thursday 00:00 UTC: {drills:?}");
    // Each drill kept its report, passed, and restored the newest backup of its plan then.
    let reports = service.drills(Default::default()).await.unwrap();
    let mut drilled: Vec<_> = reports.iter().filter_map(|r| r.plan.clone()).collect();
    drilled.sort();
    assert_eq!(drilled, ["files", "logs", "postgres", "redis"], "{reports:#?}");
    assert!(reports.iter().all(|r| r.passed && r.started == thursday), "{reports:#?}");

    // Retention, judged by the simulated days and hours.
    let kept = site.listed("files").await;
    let kept_ids: Vec<String> = kept.iter().map(|m| m.id.clone()).collect();
    assert_eq!(kept.len(), 3, "keep-daily = 3");
    assert_eq!(kept.last().map(|m| m.finished.to_utc()), Some(monday() + TimeDelta::hours(1) + TimeDelta::days(6)));
    let copies = site.listed("offsite").await;
    assert_eq!(copies.len(), 7, "every nightly backup was copied off-site");
    assert!(kept_ids.iter().all(|id| copies.iter().any(|c| &c.id == id)), "the kept backups are off-site too");
    assert_eq!(site.listed("pg").await.len(), 24, "keep-hourly = 24");
    assert_eq!(site.listed("redis").await.len(), 12, "keep-last = 12");
    let snapshots = admin.snapshots().list("backups").await.unwrap();
    assert_eq!(snapshots.len(), 3, "the cluster keeps 3 daily snapshots: {snapshots:?}");

    // What the API shows.
    let status = service.status().await.unwrap();
    assert_eq!(status.health, OverallHealth::Ok, "{status:#?}");
    assert!(status.plans.iter().all(|p| p.within_rpo == Some(true)), "{status:#?}");
    let backups = service.backups(Some("files")).await.unwrap();
    assert_eq!(backups.len(), 3 + 7, "primary and off-site");
    let repositories = service.repositories().await.unwrap();
    assert_eq!(repositories.len(), 4);
    let files_repo = repositories.iter().find(|r| r.plans == ["files"] && r.backups == 3).unwrap();
    assert_eq!(files_repo.last_verify_ok, Some(true));
    assert_eq!(files_repo.last_verify, Some(monday() + TimeDelta::hours(3) + TimeDelta::days(6)));
    println!("simulated week: {} jobs in {wall:?}", jobs.len());
    // 361 jobs, 336 of them real database dumps with their retention, 3 drills: about 40 s on an idle
    // two-core machine, 90 s with five builds beside it; the bound catches a regression
    // (a job paying for a listing, a lost wake-up waiting out the 30 s loop pause).
    assert!(wall.as_secs() < 150, "the simulated week took {wall:?}");
}
