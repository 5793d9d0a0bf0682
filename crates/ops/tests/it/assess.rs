//! `dr::assess::assess` against real things: a private PostgreSQL that answers with its
//! version and size and, once stopped, makes its plan at risk (naming it, without its
//! password); a backup older than the RPO (manual clock); a plan without a backup; a copy
//! that lacks the newest backup; the last verify and drill from the state; a drill report
//! found in the repository when there is no state.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use lifeboat_ops::Config;
use lifeboat_ops::credentials::OpenSettings;
use lifeboat_ops::dr::assess::{AssessReport, DrStatus, assess};
use lifeboat_ops::dr::report::{RpoMeasure, RtoMeasure};
use lifeboat_ops::dr::{DrEnv, DrillReport, DrillSubject, ReportKind};
use lifeboat_ops::opener::DefaultOpener;
use lifeboat_ops::state::{AsyncStateStore, JobKind, JobOutcome, JobResult, NewJob, StateStore, Trigger};
use lifeboat_repo::{BackupRequest, Credential, Repository};
use lifeboat_storage::FsStorage;
use lifeboat_storage::clock::Clock;
use lifeboat_testkit::ManualClock;
use lifeboat_testkit::pg_server::PrivatePostgres;

use crate::common::{REPO_PASSWORD, cheap_init};

/// A directory with repositories, their password file and a known-state directory.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::Builder::new().prefix("lifeboat-assess-test-").tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), format!("{REPO_PASSWORD}\n")).unwrap();
        Site { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A new repository `name`, opened.
    async fn repo(&self, name: &str) -> Repository {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        let storage = Arc::new(FsStorage::new(&path));
        Repository::init(storage, Credential::password(REPO_PASSWORD), cheap_init()).await.unwrap()
    }

    /// The environment of an assessment of `text` (`@SITE@` replaced by the site's path).
    fn env(&self, text: &str, clock: Arc<dyn Clock>, state: Option<AsyncStateStore>) -> DrEnv {
        let text = text.replace("@SITE@", &self.path(""));
        let config = Config::parse(&text, "assess.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let settings = OpenSettings { state_dir: Some(self.path("known").into()), ..Default::default() };
        DrEnv {
            config: Arc::new(config),
            origin: "assess.toml".into(),
            opener: Arc::new(DefaultOpener { settings, retry: None, layer: None }),
            clock,
            state,
            cancel: Default::default(),
        }
    }
}

async fn backup(repo: &Repository, plan: &str) -> String {
    let request = BackupRequest { plan: Some(plan.into()), name: "data.txt".into(), ..Default::default() };
    repo.backup_stream(&b"some data"[..], request).await.unwrap().id
}

fn now_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc::now()))
}

#[track_caller]
fn has_reason(report: &AssessReport, needle: &str) {
    assert!(
        report.reasons.iter().any(|r| r.contains(needle)),
        "no reason mentions {needle:?}:\n{}",
        serde_json::to_string_pretty(report).unwrap()
    );
}

#[track_caller]
fn no_reason(report: &AssessReport, needle: &str) {
    assert!(!report.reasons.iter().any(|r| r.contains(needle)), "a reason mentions {needle:?}:\n{:#?}", report.reasons);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_postgres_puts_its_plan_at_risk_and_a_running_one_answers_with_version_and_size() {
    let pg = PrivatePostgres::start_new();
    let site = Site::new();
    let repo = site.repo("repo").await;
    backup(&repo, "db").await;
    std::fs::write(site.path("pg.pw"), format!("{}\n", pg.password)).unwrap();
    let text = format!(
        "[plans.db]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\n\
         objectives = {{ rpo = \"1h\", rto = \"30m\" }}\n\
         source = {{ kind = \"postgres\", url = \"{}\", password-file = \"@SITE@pg.pw\" }}\n",
        pg.url
    );
    let env = site.env(&text, now_clock(), None);

    let report = assess(&env).await;
    let source = &report.sources[0];
    assert!(source.reachable, "{source:?}");
    assert!(
        source.version.as_deref().is_some_and(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit())),
        "{source:?}"
    );
    assert!(source.size_bytes.is_some_and(|b| b > 0), "{source:?}");
    assert_eq!(report.plans[0].rpo_met, Some(true), "{:?}", report.plans[0]);
    assert_eq!(report.status, DrStatus::Degraded, "{:#?}", report.reasons);
    no_reason(&report, "cannot be reached");

    pg.stop();
    let report = assess(&env).await;
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(&pg.password), "the assessment shows the database password: {json}");
    assert_eq!(report.status, DrStatus::AtRisk);
    let source = &report.sources[0];
    assert!(!source.reachable, "{source:?}");
    assert_eq!(source.status, DrStatus::AtRisk);
    has_reason(&report, &format!("plan db: source {} cannot be reached", pg.url));
    assert!(
        report.recommendations.iter().any(|r| r.contains("bring the source of plan db back")),
        "{:#?}",
        report.recommendations
    );
    // The repository and its backups are still fine.
    assert!(report.repositories[0].reachable, "{:?}", report.repositories[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_older_than_the_rpo_and_a_plan_without_backups_are_at_risk() {
    let site = Site::new();
    let repo = site.repo("repo").await;
    let id = backup(&repo, "web").await;
    let data = site.path("data");
    std::fs::create_dir_all(&data).unwrap();
    let text = format!(
        "[plans.web]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\nschedule = {{ every = \"30m\" }}\n\
         objectives = {{ rpo = \"1h\", rto = \"30m\" }}\nsource = {{ kind = \"files\", paths = [\"{data}\"] }}\n\n\
         [plans.empty]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\n\
         source = {{ kind = \"stdin\", command = [\"no-such-program-lifeboat\"] }}\n"
    );
    let clock = now_clock();
    let env = site.env(&text, clock.clone(), None);
    let fresh = assess(&env).await;
    let web = fresh.plans.iter().find(|p| p.plan == "web").unwrap();
    assert_eq!(web.newest_backup.as_deref(), Some(id.as_str()));
    assert_eq!(web.rpo_met, Some(true));
    no_reason(&fresh, "plan web: the newest backup");
    has_reason(&fresh, "plan empty has no backup");
    has_reason(&fresh, "plan empty: source no-such-program-lifeboat cannot be reached");
    has_reason(&fresh, "plan empty has no schedule");
    assert_eq!(fresh.status, DrStatus::AtRisk);

    clock.advance(TimeDelta::hours(2));
    let late = assess(&env).await;
    let web = late.plans.iter().find(|p| p.plan == "web").unwrap();
    assert_eq!(web.rpo_met, Some(false));
    assert_eq!(web.status, DrStatus::AtRisk);
    assert!(web.newest_backup_age_seconds.is_some_and(|a| a >= 7200), "{web:?}");
    has_reason(&late, "plan web: the newest backup is 2h old, more than its RPO of 1h");
    assert!(late.sources.iter().any(|s| s.plan == "web" && s.reachable), "{:?}", late.sources);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_lacking_the_newest_backup_and_local_only_copies_degrade() {
    let site = Site::new();
    let repo = site.repo("repo").await;
    site.repo("copy").await;
    backup(&repo, "web").await;
    let text = "[plans.web]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\nschedule = { every = \"1h\" }\n\
                source = { kind = \"stdin\", command = [\"true\"] }\n\n[[plans.web.copy-to]]\nrepository = \"@SITE@copy\"\n";
    let clock = now_clock();
    let env = site.env(text, clock.clone(), None);
    let report = assess(&env).await;
    has_reason(&report, "plan web has no off-site copy: its copies are local directories");
    no_reason(&report, "is not in");
    let web = &report.plans[0];
    assert_eq!(web.copies.len(), 1);
    assert_eq!(web.copies[0].has_newest, Some(false));
    assert_eq!(report.repositories.len(), 2, "{:?}", report.repositories);
    assert!(report.repositories.iter().all(|r| r.reachable && r.free_bytes.is_some()), "{:?}", report.repositories);

    clock.advance(TimeDelta::hours(7)); // past the default copy-lag of 6h
    let report = assess(&env).await;
    has_reason(&report, "is not in");
    assert!(report.status >= DrStatus::Degraded);
}

fn drill_report(id: &str, plan: &str, started: chrono::DateTime<Utc>, passed: bool, rto: f64) -> DrillReport {
    DrillReport {
        id: id.into(),
        kind: ReportKind::Drill,
        subject: DrillSubject::Plan(plan.into()),
        host: "test".into(),
        started,
        finished: started + TimeDelta::seconds(rto as i64 + 1),
        passed,
        failure: (!passed)
            .then(|| "step 2 (verify): table public.orders: the backup recorded 10 rows, the restore holds 9".into()),
        steps: Vec::new(),
        rto: RtoMeasure { seconds: rto, objective_seconds: Some(1800), met: Some(rto <= 1800.0) },
        rpo: RpoMeasure {
            backup: None,
            backup_time: None,
            backup_age_seconds: Some(60),
            largest_gap_seconds: Some(60),
            window_days: 30,
            objective_seconds: Some(3600),
            met: Some(true),
        },
        objectives_met: Some(passed && rto <= 1800.0),
        scratch: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_verify_and_drill_come_from_the_state() {
    let site = Site::new();
    let repo = site.repo("repo").await;
    backup(&repo, "db").await;
    let text = "[plans.db]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\nschedule = { every = \"1h\" }\n\
                objectives = { rpo = \"1h\", rto = \"30m\" }\nsource = { kind = \"stdin\", command = [\"true\"] }\n";
    let now = Utc::now();
    let state = AsyncStateStore::new(StateStore::open_in_memory().unwrap());
    let env = site.env(text, Arc::new(ManualClock::new(now)), Some(state.clone()));

    let report = assess(&env).await;
    has_reason(&report, "plan db was never verified");
    has_reason(&report, "plan db: no drill on record");

    let job = state.create_job(NewJob::new("db", JobKind::Verify, Trigger::Schedule), now).await.unwrap();
    state.start_job(job, now).await.unwrap();
    state.finish_job(job, JobOutcome::of(JobResult::Succeeded), now).await.unwrap();
    let failed = drill_report("drill-1", "db", now - TimeDelta::hours(2), false, 20.0);
    state.call(move |s| s.insert_drill_report(&failed.to_record())).await.unwrap();
    let report = assess(&env).await;
    assert_eq!(report.plans[0].last_verify_ok, Some(true));
    no_reason(&report, "never verified");
    no_reason(&report, "the last verify");
    has_reason(&report, "plan db: the last drill (");
    has_reason(&report, "public.orders");
    assert_eq!(report.status, DrStatus::AtRisk);
    let last = report.plans[0].last_drill.as_ref().unwrap();
    assert_eq!((last.id.as_str(), last.passed, last.found_in.as_str()), ("drill-1", false, "state"));

    let slow = drill_report("drill-2", "db", now - TimeDelta::hours(1), true, 2400.0);
    state.call(move |s| s.insert_drill_report(&slow.to_record())).await.unwrap();
    has_reason(&assess(&env).await, "plan db: the last drill took 40m to restore, more than its RTO of 30m");

    let good = drill_report("drill-3", "db", now - TimeDelta::minutes(10), true, 42.0);
    state.call(move |s| s.insert_drill_report(&good.to_record())).await.unwrap();
    let report = assess(&env).await;
    no_reason(&report, "drill");
    assert_eq!(report.plans[0].last_drill.as_ref().map(|d| d.id.as_str()), Some("drill-3"));
    // No copy is the only thing left: degraded, not at risk.
    assert_eq!(report.status, DrStatus::Degraded, "{:#?}", report.reasons);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_state_the_last_drill_is_read_from_the_repository() {
    let site = Site::new();
    let repo = site.repo("repo").await;
    backup(&repo, "db").await;
    let started = Utc::now() - TimeDelta::minutes(5);
    let other = drill_report("drill-20990101-b", "other", started, false, 1.0);
    let mine = drill_report("drill-20990101-a", "db", started, true, 12.5);
    for report in [&other, &mine] {
        repo.put_record("drill", &report.id, &serde_json::to_vec(report).unwrap()).await.unwrap();
    }
    let text = "[plans.db]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\n\
                objectives = { rpo = \"1h\", rto = \"30m\" }\nsource = { kind = \"stdin\", command = [\"true\"] }\n";
    let report = assess(&site.env(text, now_clock(), None)).await;
    let last = report.plans[0].last_drill.as_ref().unwrap_or_else(|| panic!("{:?}", report.plans[0]));
    assert_eq!((last.id.as_str(), last.found_in.as_str()), ("drill-20990101-a", "repository"));
    assert_eq!(last.rto_seconds, 12.5);
    no_reason(&report, "drill");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_is_checked_for_health_and_each_snapshot_repository_is_verified() {
    use lifeboat_es::{ClusterConfig, EsClient, EsManager, RepositorySpec, Scope, StateStore as EsState};
    use lifeboat_es_double::{EsDouble, IndexSeed};
    use lifeboat_ops::plans::ResolvedPlan;
    use lifeboat_ops::run::{RunRequest, run_es_plan};

    let d = EsDouble::start().await.unwrap();
    d.create_index("logs-2026.03.01", IndexSeed::daily("2026-03-01", 20));
    let es_state = tempfile::tempdir().unwrap();
    let admin = EsManager::new(
        EsClient::new(&ClusterConfig::new(&d.url()).unwrap()).unwrap(),
        EsState::new(es_state.path()),
        Scope::Admin,
    );
    let spec = RepositorySpec::Fs { location: "/mnt/backups/assess".into(), readonly: false, compress: None };
    admin.repositories().create("backups", &spec, true).await.unwrap();
    let source = |repository: &str, policy: &str| {
        format!(
            "source = {{ kind = \"elasticsearch\", url = \"{}\", repository = \"{repository}\", policy = \"{policy}\", \
             indices = \"logs-*\", state-dir = \"{}\" }}\n",
            d.url(),
            es_state.path().display()
        )
    };
    let text = format!(
        "[plans.logs]\nschedule = {{ every = \"1d\" }}\nobjectives = {{ rpo = \"1d\", rto = \"1h\" }}\n{}",
        source("backups", "nightly")
    );
    let site = Site::new();
    let env = site.env(&text, now_clock(), None);
    let config = env.config.plan("logs", "assess.toml").unwrap().clone();
    let plan = ResolvedPlan { name: "logs".into(), origin: "assess.toml".into(), config };
    let taken = run_es_plan(&plan, &RunRequest::default()).await.unwrap();

    let report = assess(&env).await;
    let cluster = &report.clusters[0];
    assert!(cluster.reachable && cluster.health.is_some(), "{cluster:?}");
    assert_eq!(cluster.plans, vec!["logs".to_string()]);
    assert!(cluster.repositories.iter().all(|r| r.verified), "{cluster:?}");
    let logs = &report.plans[0];
    assert_eq!(logs.newest_backup.as_deref(), Some(taken.snapshot.as_str()), "{logs:?}");
    assert_eq!(logs.rpo_met, Some(true));
    assert!(report.sources.is_empty(), "an Elasticsearch plan's source is its cluster: {:?}", report.sources);
    no_reason(&report, "cluster");

    let broken = format!("{text}\n[plans.other]\nschedule = {{ every = \"1d\" }}\n{}", source("missing", "other"));
    let report = assess(&site.env(&broken, now_clock(), None)).await;
    has_reason(&report, "snapshot repository missing fails its verify");
    assert_eq!(report.status, DrStatus::AtRisk);
    assert_eq!(report.clusters.len(), 1, "one cluster, checked once: {:?}", report.clusters);
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_and_redis_sources_answer_with_their_version_and_size() {
    use lifeboat_testkit::datasets::{mysql_create_db, redis_clear, redis_dataset};
    use lifeboat_testkit::{Cleanup, mysql_url, password_of, redis_url, unique, with_path, without_password};

    let (my, redis) = (mysql_url(), redis_url());
    let db = unique("lbops_assess");
    let _cleanup = Cleanup::my(&my, &[&db]);
    mysql_create_db(&my, &db);
    lifeboat_testkit::sql::mysql(
        &my,
        Some(&db),
        "CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'x');",
    );
    let prefix = unique("lbops_assess_keys");
    redis_dataset(&redis, &prefix, 0);
    let site = Site::new();
    let repo = site.repo("repo").await;
    backup(&repo, "shop").await;
    backup(&repo, "cache").await;
    std::fs::write(site.path("my.pw"), format!("{}\n", password_of(&my))).unwrap();
    let redis_password = lifeboat_testkit::parse(&redis).password;
    std::fs::write(site.path("redis.pw"), format!("{redis_password}\n")).unwrap();
    let plan = |name: &str, kind: &str, url: &str, pw: &str| {
        format!(
            "[plans.{name}]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\n\
             source = {{ kind = \"{kind}\", url = \"{url}\", password-file = \"@SITE@{pw}\" }}\n"
        )
    };
    let text = format!(
        "{}{}",
        plan("shop", "mysql", &without_password(&with_path(&my, &db)), "my.pw"),
        plan("cache", "redis", &without_password(&redis), "redis.pw")
    );
    let report = assess(&site.env(&text, now_clock(), None)).await;
    redis_clear(&redis, &prefix);
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(&password_of(&my)), "the assessment shows the MariaDB password");
    let source = |plan: &str| report.sources.iter().find(|s| s.plan == plan).unwrap().clone();
    let (shop, cache) = (source("shop"), source("cache"));
    assert!(shop.reachable && shop.version.as_deref().is_some_and(|v| v.contains("MariaDB")), "{shop:?}");
    assert!(shop.size_bytes.is_some_and(|b| b > 0), "{shop:?}");
    assert!(cache.reachable && cache.version.is_some() && cache.size_bytes.is_some(), "{cache:?}");
    assert!(cache.keys.is_some_and(|k| k > 0), "{cache:?}");
    no_reason(&report, "cannot be reached");
}
