//! Drills and recoveries (lifeboat_ops::dr) against real things: plans of files, stdin,
//! PostgreSQL, MariaDB, Redis and Elasticsearch (the test double) backed up and drilled into
//! scratch targets that are gone afterwards (the servers are listed); a damaged backup fails
//! the drill by name; a scenario's dry run changes nothing (the servers compared before and
//! after); a real recovery into a second database; the RPO's largest gap from a known series
//! of backups (manual clock); the report kept in the state and the repository; the example
//! runbooks load; config mistakes named by key.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use lifeboat_ops::Config;
use lifeboat_ops::config::{DrillSettings, drill_schedule};
use lifeboat_ops::credentials::OpenSettings;
use lifeboat_ops::dr::report::{PAGE_RECORD_KIND, RECORD_KIND, largest_gap};
use lifeboat_ops::dr::{DrEnv, DrillReport, DrillSubject, ReportKind, Silent, StepOutcome, drill, recover, report};
use lifeboat_ops::opener::DefaultOpener;
use lifeboat_ops::plans::ResolvedPlan;
use lifeboat_ops::run::{RunRequest, run_plan};
use lifeboat_ops::state::{AsyncStateStore, DrillFilter, StateStore};
use lifeboat_repo::{Credential, OpenOptions, Repository};
use lifeboat_storage::FsStorage;
use lifeboat_storage::clock::Clock;
use lifeboat_testkit::ManualClock;
use lifeboat_testkit::datasets::{
    mysql_dataset, mysql_drop, pg_dataset, pg_drop, pg_fingerprint, redis_clear, redis_dataset,
};
use lifeboat_testkit::env::{mysql_url, pg_url, redis_url};
use lifeboat_testkit::names::unique;
use lifeboat_testkit::sql::{mysql, psql};

use crate::common::{REPO_PASSWORD, cheap_init};

/// A directory with a repository, its password file, the servers' password files and a
/// known-state directory.
struct Site {
    dir: tempfile::TempDir,
}

/// `url` without its password, and the password.
fn split_url(url: &str) -> (String, String) {
    let mut u = url::Url::parse(url).unwrap();
    let password = u.password().unwrap_or("").to_owned();
    u.set_password(None).unwrap();
    (u.to_string(), password)
}

/// `url` (no password) with its path replaced by `/db`.
fn with_db(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("/{db}"));
    u.to_string()
}

impl Site {
    async fn new() -> Site {
        let dir = tempfile::Builder::new().prefix("lifeboat-dr-test-").tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), format!("{REPO_PASSWORD}\n")).unwrap();
        let path = dir.path().join("repo");
        std::fs::create_dir_all(&path).unwrap();
        Repository::init(Arc::new(FsStorage::new(&path)), Credential::password(REPO_PASSWORD), cheap_init())
            .await
            .unwrap();
        Site { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The repository, its manifests dated by `clock`.
    async fn repo(&self, clock: Option<Arc<dyn Clock>>) -> Repository {
        let storage = Arc::new(FsStorage::new(self.dir.path().join("repo")));
        Repository::open_with(storage, Credential::password(REPO_PASSWORD), OpenOptions { clock, ..Default::default() })
            .await
            .unwrap()
    }

    /// Writes a password file `name` holding `password`.
    fn secret(&self, name: &str, password: &str) -> String {
        std::fs::write(self.dir.path().join(name), format!("{password}\n")).unwrap();
        self.path(name)
    }

    /// The environment of `text` (`@SITE@` replaced by the site's path).
    fn env(&self, text: &str, clock: Arc<dyn Clock>, state: Option<AsyncStateStore>) -> DrEnv {
        let text = text.replace("@SITE@", &self.path(""));
        let config = Config::parse(&text, "dr.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let settings = OpenSettings { state_dir: Some(self.path("known").into()), ..Default::default() };
        DrEnv {
            config: Arc::new(config),
            origin: "dr.toml".into(),
            opener: Arc::new(DefaultOpener { settings, retry: None, layer: None }),
            clock,
            state,
            cancel: Default::default(),
        }
    }

    /// Backs plan `name` of `env` up once.
    async fn backup(&self, env: &DrEnv, name: &str) -> String {
        let plan = ResolvedPlan { name: name.into(), origin: "dr.toml".into(), config: env.config.plans[name].clone() };
        let repo = self.repo(Some(env.clock.clone())).await;
        let clock = env.clock.clone();
        let request = RunRequest { clock: Some(clock.as_ref()), ..Default::default() };
        run_plan(&repo, &plan, &request).await.unwrap_or_else(|e| panic!("backup of {name}: {e}")).backup.id
    }
}

fn system_clock() -> Arc<dyn Clock> {
    Arc::new(lifeboat_storage::clock::SystemClock)
}

#[track_caller]
fn assert_passed(report: &DrillReport) {
    assert!(report.passed, "the drill failed:\n{}", report.to_markdown());
    assert!(report.scratch.iter().all(|s| s.cleaned), "a scratch target was left:\n{}", report.to_markdown());
}

fn details(report: &DrillReport) -> String {
    report.steps.iter().flat_map(|s| s.detail.iter().cloned()).collect::<Vec<_>>().join("\n")
}

/// The scratch databases of `label` on the PostgreSQL server.
fn pg_scratch(label: &str) -> String {
    psql(
        &pg_url(),
        "postgres",
        &format!("SELECT datname FROM pg_database WHERE datname LIKE 'lifeboat\\_drill\\_{label}\\_%';"),
    )
}

fn mysql_scratch(label: &str) -> String {
    mysql(
        &mysql_url(),
        None,
        &format!(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'lifeboat\\_drill\\_{label}\\_%';"
        ),
    )
}

// ---------------------------------------------------------------- config

fn example() -> Config {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenarios.example.toml");
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_example_runbooks_load_with_their_four_scenarios_and_drill_schedules() {
    let config = example();
    let names: Vec<&str> = config.scenarios.keys().map(String::as_str).collect();
    assert_eq!(names, ["database_failure", "es_tenant_restore", "full_disaster", "redis_failure"]);
    assert_eq!(config.scenarios["full_disaster"].plans(), ["db", "cache", "uploads"]);
    assert!(drill_schedule(&config.plans["logs"], &config.drills).is_none(), "logs: enabled = false");
    assert!(drill_schedule(&config.plans["cache"], &config.drills).is_some(), "cache: [drills] schedule");
    let own = drill_schedule(&config.plans["db"], &config.drills).unwrap();
    let t = "2026-12-02T12:00:00Z".parse().unwrap();
    assert_eq!(own.next_after(t), Some("2026-12-06T02:00:00Z".parse().unwrap()), "Sunday 03:00 in Berlin");
}

#[test]
fn a_plan_drills_weekly_by_default_not_when_disabled_nor_without_any_schedule() {
    let text = "[plans.a]\nrepository = \"/r\"\nsource = { kind = \"files\", paths = [\"/x\"] }\nschedule = { every = \"1h\" }\n\
                [plans.b]\nrepository = \"/r\"\nsource = { kind = \"files\", paths = [\"/x\"] }\n\
                [plans.c]\nrepository = \"/r\"\nsource = { kind = \"files\", paths = [\"/x\"] }\nschedule = { every = \"1h\" }\ndrill = { enabled = false }\n";
    let config = Config::parse(text, "t").unwrap();
    let weekly = drill_schedule(&config.plans["a"], &DrillSettings::default()).unwrap();
    let t = "2026-12-02T12:00:00Z".parse().unwrap();
    let next = weekly.next_after(t).unwrap();
    assert_eq!(weekly.interval_after(next), Some(TimeDelta::days(7)));
    assert!(drill_schedule(&config.plans["b"], &DrillSettings::default()).is_none(), "no schedule: drilled by hand");
    assert!(drill_schedule(&config.plans["c"], &DrillSettings::default()).is_none());
    let off = DrillSettings { enabled: Some(false), ..Default::default() };
    assert!(drill_schedule(&config.plans["a"], &off).is_none());
}

#[test]
fn scenario_mistakes_are_named_by_key_and_line() {
    let base = "[plans.db]\nrepository = \"/r\"\nsource = { kind = \"postgres\", url = \"postgres://u@h:5432/d\" }\n";
    let bad = format!(
        "{base}[scenarios.x]\n[[scenarios.x.steps]]\naction = \"restore\"\nplan = \"nope\"\n\
         [[scenarios.x.steps]]\naction = \"restore\"\nplan = \"db\"\nbackup = \"latest\"\nbefore = \"yesterday\"\ntarget = \"mysql://u@h/d\"\n\
         [[scenarios.x.steps]]\naction = \"check\"\n\
         [[scenarios.x.steps]]\naction = \"hook\"\ncommand = []\n"
    );
    let err = Config::parse(&bad, "t.toml").unwrap_err().to_string();
    for key in ["steps[0].plan", "steps[1].before", "steps[1].target", "steps[2].sql", "steps[3].command"] {
        assert!(err.contains(&format!("scenarios.x.{key}")), "{key} not named:\n{err}");
    }
    let unknown =
        format!("{base}[scenarios.x]\n[[scenarios.x.steps]]\naction = \"restore\"\nplan = \"db\"\ntargte = \"x\"\n");
    let err = Config::parse(&unknown, "t.toml").unwrap_err().to_string();
    assert!(err.contains("targte") && err.contains("line 8"), "{err}");
    let inline = format!(
        "{base}[scenarios.x]\n[[scenarios.x.steps]]\naction = \"restore\"\nplan = \"db\"\ntarget = \"postgres://u:hunter22@h/d\"\n"
    );
    let err = Config::parse(&inline, "t.toml").unwrap_err().to_string();
    assert!(!err.contains("hunter22"), "{err}");
}

#[test]
fn the_largest_gap_counts_the_age_of_the_newest_and_only_the_window() {
    let at = |s: &str| s.parse::<chrono::DateTime<Utc>>().unwrap();
    let now = at("2026-12-02T12:00:00Z");
    let series = [
        at("2026-10-01T00:00:00Z"),
        at("2026-11-30T00:00:00Z"),
        at("2026-12-01T00:00:00Z"),
        at("2026-12-02T06:00:00Z"),
    ];
    // From the window's start (Nov 2, 12:00) to Nov 30: 27.5 days.
    assert_eq!(largest_gap(&series, now, 30), Some(27 * 86_400 + 12 * 3600));
    let steady = [at("2026-12-01T00:00:00Z"), at("2026-12-01T12:00:00Z"), at("2026-12-02T00:00:00Z")];
    assert_eq!(largest_gap(&steady, now, 30), Some(12 * 3600));
    assert_eq!(largest_gap(&[], now, 30), None);
}

// ---------------------------------------------------------------- files and stdin

fn files_plan(site: &Site, extra: &str) -> String {
    let data = site.dir.path().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(data.join("sub/b.bin"), vec![7u8; 100_000]).unwrap();
    format!(
        "[drills]\nscratch-dir = \"@SITE@scratch\"\n\
         [plans.files]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\nschedule = {{ every = \"1h\" }}\n\
         source = {{ kind = \"files\", paths = [\"{}\"] }}\n{extra}",
        data.display()
    )
}

#[tokio::test]
async fn a_files_drill_restores_every_file_verified_and_removes_its_directory_and_the_report_is_kept() {
    let site = Site::new().await;
    std::fs::create_dir_all(site.path("scratch")).unwrap();
    let state = AsyncStateStore::new(StateStore::open(site.path("state.db")).unwrap());
    let env = site.env(
        &files_plan(&site, "objectives = { rpo = \"1d\", rto = \"1h\" }\n"),
        system_clock(),
        Some(state.clone()),
    );
    let backup = site.backup(&env, "files").await;

    let report = drill::run(&env, &DrillSubject::Plan("files".into()), &Silent).await.unwrap();
    assert_passed(&report);
    assert_eq!(report.kind, ReportKind::Drill);
    assert_eq!(report.rpo.backup.as_deref(), Some(backup.as_str()));
    assert_eq!(report.objectives_met, Some(true), "{}", report.to_markdown());
    assert!(details(&report).contains("2 file(s), 100006 bytes restored"), "{}", details(&report));
    let actions: Vec<&str> = report.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions, ["restore", "verify", "cleanup"]);
    assert_eq!(std::fs::read_dir(site.path("scratch")).unwrap().count(), 0, "the scratch directory is left");

    report::keep(&env, &report).await.unwrap();
    let id = report.id.clone();
    let kept = state.call(move |s| s.drill_report(&id)).await.unwrap().unwrap();
    assert_eq!(kept.plan.as_deref(), Some("files"));
    assert!(kept.passed);
    let back: DrillReport = serde_json::from_value(kept.report).unwrap();
    assert_eq!(back, report);
    let listed = state
        .call(|s| s.drill_reports(&DrillFilter { plan: Some("files".into()), ..Default::default() }))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let repo = site.repo(None).await;
    let record: DrillReport = serde_json::from_slice(&repo.get_record(RECORD_KIND, &report.id).await.unwrap()).unwrap();
    assert_eq!(record, report);
    let page = String::from_utf8(repo.get_record(PAGE_RECORD_KIND, &report.id).await.unwrap()).unwrap();
    assert!(page.contains("RTO") && page.contains("PASSED"), "{page}");
}

#[tokio::test]
async fn a_stdin_drill_restores_the_stream_into_a_scratch_directory() {
    let site = Site::new().await;
    let text = "[drills]\nscratch-dir = \"@SITE@\"\n\
                [plans.dump]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\n\
                source = { kind = \"stdin\", command = [\"seq\", \"1\", \"100000\"], name = \"numbers.txt\" }\n";
    let env = site.env(text, system_clock(), None);
    site.backup(&env, "dump").await;
    let report = drill::run(&env, &DrillSubject::Plan("dump".into()), &Silent).await.unwrap();
    assert_passed(&report);
    assert!(details(&report).contains("1 file(s), 588895 bytes restored"), "{}", details(&report));
    assert_eq!(report.objectives_met, None, "no objective set");
    let left: Vec<String> = std::fs::read_dir(site.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lifeboat-drill-"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn a_damaged_backup_fails_the_drill_naming_the_backup_and_the_object() {
    let site = Site::new().await;
    let env = site.env(&files_plan(&site, ""), system_clock(), None);
    let backup = site.backup(&env, "files").await;
    // Flip a byte in the middle of every data object.
    for file in lifeboat_testkit::files::all_files(&site.dir.path().join("repo/data")) {
        let mut bytes = std::fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&file, bytes).unwrap();
    }
    let report = drill::run(&env, &DrillSubject::Plan("files".into()), &Silent).await.unwrap();
    assert!(!report.passed);
    let failure = report.failure.clone().unwrap();
    assert!(failure.contains(&backup[..8]), "{failure}");
    assert!(failure.contains("data/"), "the object is not named: {failure}");
    assert_eq!(report.steps[0].outcome, StepOutcome::Failed);
    assert_eq!(report.steps[1].outcome, StepOutcome::Skipped);
    assert!(report.scratch.iter().all(|s| s.cleaned), "{}", report.to_markdown());
}

#[tokio::test]
async fn the_rpo_is_the_age_of_the_newest_backup_and_the_largest_gap_of_a_known_series() {
    let site = Site::new().await;
    let t0 = Utc::now() - TimeDelta::hours(10);
    let clock = Arc::new(ManualClock::new(t0));
    let extra = "objectives = { rpo = \"2h\" }\nforget-after-backup = false\n";
    let env = site.env(&files_plan(&site, extra), clock.clone(), None);
    for offset in [0, 1, 5, 6] {
        clock.set(t0 + TimeDelta::hours(offset));
        site.backup(&env, "files").await;
    }
    clock.set(t0 + TimeDelta::hours(7));
    let report = drill::run(&env, &DrillSubject::Plan("files".into()), &Silent).await.unwrap();
    assert!(report.passed, "{}", report.to_markdown());
    let age = report.rpo.backup_age_seconds.unwrap();
    assert!((3590..=3610).contains(&age), "age {age}");
    let gap = report.rpo.largest_gap_seconds.unwrap();
    assert!((4 * 3600 - 10..=4 * 3600 + 10).contains(&gap), "gap {gap}");
    assert_eq!(report.rpo.met, Some(false), "a 4 h gap misses a 2 h RPO");
    assert_eq!(report.objectives_met, Some(false));
    assert!(report.to_markdown().contains("**missed**"));
}

// ---------------------------------------------------------------- databases

#[tokio::test]
async fn a_postgres_drill_verifies_every_table_and_leaves_no_scratch_database() {
    let site = Site::new().await;
    let (server, password) = split_url(&pg_url());
    let db = unique("dr_pg");
    pg_dataset(&pg_url(), &db, 20_000);
    let pw = site.secret("pg.pw", &password);
    let label = unique("pgd").replace('_', "").chars().take(20).collect::<String>();
    let text = format!(
        "[plans.{label}]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\n\
         source = {{ kind = \"postgres\", url = \"{}\", password-file = \"{pw}\" }}\nobjectives = {{ rto = \"1h\" }}\n",
        with_db(&server, &db)
    );
    let env = site.env(&text, system_clock(), None);
    site.backup(&env, &label).await;
    let report = drill::run(&env, &DrillSubject::Plan(label.clone()), &Silent).await.unwrap();
    assert_passed(&report);
    let found = details(&report);
    assert!(found.contains("content equal") && found.contains("tables"), "{found}");
    assert_eq!(report.rto.met, Some(true));
    assert!(report.rto.seconds > 0.0);
    assert_eq!(report.scratch.len(), 1);
    assert!(report.scratch[0].name.starts_with(&format!("lifeboat_drill_{label}_")), "{:?}", report.scratch);
    assert_eq!(pg_scratch(&label), "", "a scratch database is left");
    assert!(!report.to_markdown().contains(&password));
    pg_drop(&pg_url(), &db);
}

#[tokio::test]
async fn a_mariadb_drill_verifies_every_table_and_leaves_no_scratch_database() {
    let site = Site::new().await;
    let (server, password) = split_url(&mysql_url());
    let db = unique("dr_my");
    mysql_dataset(&mysql_url(), &db, 5_000);
    let pw = site.secret("my.pw", &password);
    let label = unique("myd").replace('_', "").chars().take(20).collect::<String>();
    let text = format!(
        "[plans.{label}]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\n\
         source = {{ kind = \"mysql\", url = \"{}\", password-file = \"{pw}\" }}\n",
        with_db(&server, &db)
    );
    let env = site.env(&text, system_clock(), None);
    site.backup(&env, &label).await;
    let report = drill::run(&env, &DrillSubject::Plan(label.clone()), &Silent).await.unwrap();
    assert_passed(&report);
    assert!(details(&report).contains("content equal"), "{}", details(&report));
    assert_eq!(mysql_scratch(&label), "", "a scratch database is left");
    mysql_drop(&mysql_url(), &db);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_drill_restores_into_a_started_server_compares_keys_and_stops_it() {
    let site = Site::new().await;
    let (server, password) = split_url(&redis_url());
    let prefix = unique("drredis");
    redis_dataset(&redis_url(), &prefix, 2);
    let pw = site.secret("redis.pw", &password);
    let text = format!(
        "[plans.cache]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\n\
         source = {{ kind = \"redis\", url = \"{server}\", password-file = \"{pw}\" }}\n"
    );
    let env = site.env(&text, system_clock(), None);
    site.backup(&env, "cache").await;
    let report = drill::run(&env, &DrillSubject::Plan("cache".into()), &Silent).await.unwrap();
    redis_clear(&redis_url(), &prefix);
    assert_passed(&report);
    assert!(details(&report).contains("keys and their digest"), "{}", details(&report));
    assert!(report.scratch.iter().any(|s| s.kind == "redis-server"), "{:?}", report.scratch);
}

/// A PostgreSQL plan `label` of database `db`, and a scenario restoring it into `target`
/// with a SQL check of the restored rows.
fn pg_scenario(site: &Site, label: &str, db: &str, target: &str) -> String {
    let (server, password) = split_url(&pg_url());
    let pw = site.secret("pg.pw", &password);
    format!(
        "[plans.{label}]\nrepository = \"@SITE@repo\"\npassword-file = \"@SITE@pw\"\n\
         source = {{ kind = \"postgres\", url = \"{}\", password-file = \"{pw}\" }}\n\
         [scenarios.database_failure]\ndescription = \"db lost\"\nobjectives = {{ rto = \"1h\" }}\n\
         [[scenarios.database_failure.steps]]\naction = \"restore\"\nplan = \"{label}\"\ntarget = \"{}\"\npassword-file = \"{pw}\"\n\
         [[scenarios.database_failure.steps]]\naction = \"check\"\nsql = \"SELECT count(*) FROM z_big\"\nexpect = \"300\"\n\
         [[scenarios.database_failure.steps]]\naction = \"hook\"\ncommand = [\"true\"]\n",
        with_db(&server, db),
        with_db(&server, target)
    )
}

#[tokio::test]
async fn a_scenario_dry_run_changes_nothing_and_says_what_it_would_overwrite() {
    let site = Site::new().await;
    let db = unique("dr_src");
    let target = unique("dr_tgt");
    pg_dataset(&pg_url(), &db, 300);
    pg_dataset(&pg_url(), &target, 10);
    let label = "drdry";
    let env = site.env(&pg_scenario(&site, label, &db, &target), system_clock(), None);
    let backup = site.backup(&env, label).await;
    let before = (pg_fingerprint(&pg_url(), &db), pg_fingerprint(&pg_url(), &target));
    let databases = psql(&pg_url(), "postgres", "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database;");

    let plan = recover::plan(&env, "database_failure").await.unwrap();
    assert_eq!(plan.steps.len(), 3);
    let restore = &plan.steps[0];
    assert_eq!(restore.backup.as_deref(), Some(backup.as_str()));
    assert!(restore.why.as_deref().unwrap().contains("newest"), "{restore:?}");
    assert!(restore.size_bytes.unwrap() > 0);
    let overwrites = restore.overwrites.clone().unwrap();
    assert!(overwrites.contains("exists and holds 2 tables"), "{overwrites}");

    assert_eq!(
        (pg_fingerprint(&pg_url(), &db), pg_fingerprint(&pg_url(), &target)),
        before,
        "the dry run changed a database"
    );
    let after = psql(&pg_url(), "postgres", "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database;");
    assert_eq!(after, databases, "the dry run made or dropped a database");
    pg_drop(&pg_url(), &db);
    pg_drop(&pg_url(), &target);
}

#[tokio::test]
async fn a_real_recovery_restores_into_a_second_database_checks_it_and_a_scenario_drill_leaves_nothing() {
    let site = Site::new().await;
    let db = unique("dr_src");
    let target = unique("dr_new");
    pg_dataset(&pg_url(), &db, 300);
    let label = "drrec";
    let env = site.env(&pg_scenario(&site, label, &db, &target), system_clock(), None);
    site.backup(&env, label).await;

    let drilled = drill::run(&env, &DrillSubject::Scenario("database_failure".into()), &Silent).await.unwrap();
    assert_passed(&drilled);
    assert!(!lifeboat_testkit::datasets::pg_db_exists(&pg_url(), &target), "a drill touched the real target");
    assert_eq!(pg_scratch(label), "", "a scratch database is left");
    assert!(details(&drilled).contains("not run in a drill"), "{}", details(&drilled));

    let plan = recover::plan(&env, "database_failure").await.unwrap();
    assert!(plan.steps[0].overwrites.as_deref().unwrap().contains("does not exist"), "{:?}", plan.steps[0]);
    let report = recover::run(&env, &plan, &Silent).await.unwrap();
    assert!(report.passed, "{}", report.to_markdown());
    assert_eq!(report.kind, ReportKind::Recovery);
    assert!(report.scratch.is_empty());
    let actions: Vec<&str> = report.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(actions, ["restore", "verify", "check", "hook"]);
    assert_eq!(
        lifeboat_testkit::datasets::pg_table_digests(&pg_url(), &target),
        lifeboat_testkit::datasets::pg_table_digests(&pg_url(), &db)
    );

    // A failing check stops the recovery there.
    pg_drop(&pg_url(), &target);
    let wrong = pg_scenario(&site, label, &db, &target).replace("expect = \"300\"", "expect = \"301\"");
    let env = site.env(&wrong, system_clock(), None);
    let plan = recover::plan(&env, "database_failure").await.unwrap();
    let report = recover::run(&env, &plan, &Silent).await.unwrap();
    assert!(!report.passed);
    assert!(report.failure.as_deref().unwrap().contains("expected \"301\""), "{:?}", report.failure);
    assert_eq!(report.steps[3].outcome, StepOutcome::Skipped, "{}", report.to_markdown());
    pg_drop(&pg_url(), &db);
    pg_drop(&pg_url(), &target);
}

#[tokio::test]
async fn a_drill_that_cannot_make_its_scratch_database_fails_with_the_reason() {
    let site = Site::new().await;
    let db = unique("dr_unr");
    pg_dataset(&pg_url(), &db, 10);
    let label = "drunreach";
    let text = pg_scenario(&site, label, &db, "unused");
    let env = site.env(&text, system_clock(), None);
    site.backup(&env, label).await;
    // The designated drill server does not answer: the drill fails, never using the plan's.
    let text = format!("[drills]\npostgres-server = \"postgres://nobody@127.0.0.1:1/postgres\"\n{text}");
    let env = site.env(&text, system_clock(), None);
    let report = drill::run(&env, &DrillSubject::Plan(label.into()), &Silent).await.unwrap();
    assert!(!report.passed);
    let failure = report.failure.unwrap();
    assert!(failure.contains("scratch database") && failure.contains("127.0.0.1:1"), "{failure}");
    assert_eq!(pg_scratch(label), "", "a scratch database was made elsewhere");
    pg_drop(&pg_url(), &db);
}

// ---------------------------------------------------------------- Elasticsearch

#[tokio::test]
async fn an_elasticsearch_drill_restores_under_a_drill_prefix_compares_doc_counts_and_deletes_the_indices() {
    use lifeboat_es::{EsClient, EsManager, RepositorySpec, Scope, StateStore as EsState};
    use lifeboat_es_double::{EsDouble, IndexSeed};
    let site = Site::new().await;
    let d = EsDouble::start().await.unwrap();
    d.create_index("logs-2026.03.01", IndexSeed::daily("2026-03-01", 20));
    let state = site.path("es-state");
    let admin = EsManager::new(
        EsClient::new(&lifeboat_es::ClusterConfig::new(&d.url()).unwrap()).unwrap(),
        EsState::new(&state),
        Scope::Admin,
    );
    let spec = RepositorySpec::Fs { location: "/mnt/backups/dr".into(), readonly: false, compress: None };
    admin.repositories().create("backups", &spec, true).await.unwrap();
    // Restores go by the indices' time ranges: the policy reads them from the index names.
    let policy = lifeboat_es::SnapshotPolicy::new("nightly", "logs-*", "backups", "@daily", 0)
        .unwrap()
        .with_time_source(lifeboat_es::TimeSource::IndexName { pattern: "*logs-{YYYY.MM.DD}".into() })
        .unwrap();
    admin.policies().add(policy).await.unwrap();
    let text = format!(
        "[plans.logs]\nschedule = {{ every = \"1d\" }}\nobjectives = {{ rpo = \"1d\", rto = \"1h\" }}\n\
         [plans.logs.source]\nkind = \"elasticsearch\"\nurl = \"{}\"\nrepository = \"backups\"\npolicy = \"nightly\"\n\
         indices = \"logs-*\"\nstate-dir = \"{state}\"\n",
        d.url()
    );
    let env = site.env(&text, system_clock(), None);
    let plan = ResolvedPlan { name: "logs".into(), origin: "dr.toml".into(), config: env.config.plans["logs"].clone() };
    lifeboat_ops::run::run_es_plan(&plan, &RunRequest::default()).await.unwrap();

    let report = drill::run(&env, &DrillSubject::Plan("logs".into()), &Silent).await.unwrap();
    assert_passed(&report);
    assert!(details(&report).contains("20 docs, as the snapshot recorded"), "{}", details(&report));
    assert!(report.rpo.backup.as_deref().is_some_and(|b| b.starts_with("nightly-")), "{:?}", report.rpo);
    assert_eq!(report.objectives_met, Some(true), "{}", report.to_markdown());
    assert_eq!(report.scratch.len(), 1);
    assert_eq!(report.scratch[0].kind, "elasticsearch-indices");
    let left = admin.client().cat_indices(Some("restore_drill-*")).await.unwrap();
    assert!(left.is_empty(), "drill indices left: {:?}", left.iter().map(|i| &i.name).collect::<Vec<_>>());
    let live = admin.client().cat_indices(Some("logs-*")).await.unwrap();
    assert_eq!(live.len(), 1, "the live index is untouched");
}

/// Cancels the drill's token as soon as a step whose description starts with `at` starts.
struct CancelAt {
    at: &'static str,
    token: tokio_util::sync::CancellationToken,
}

impl lifeboat_ops::dr::DrProgress for CancelAt {
    fn step_started(&self, _: usize, _: usize, description: &str) {
        if description.starts_with(self.at) {
            self.token.cancel();
        }
    }
    fn step_finished(&self, _: &lifeboat_ops::dr::StepReport) {}
    fn note(&self, _: &str) {}
}

#[tokio::test]
async fn a_cancelled_drill_stops_its_running_step_and_still_removes_its_scratch_targets() {
    let site = Site::new().await;
    let scenario = "[scenarios.slow]\n[[scenarios.slow.steps]]\naction = \"restore\"\nplan = \"files\"\n\
                    target = \"/srv/restore\"\n[[scenarios.slow.steps]]\naction = \"hook\"\n\
                    command = [\"sleep\", \"600\"]\ndrill = true\n";
    let mut env = site.env(&format!("{}{scenario}", files_plan(&site, "")), system_clock(), None);
    site.backup(&env, "files").await;
    let token = tokio_util::sync::CancellationToken::new();
    env.cancel = token.clone();
    let progress = CancelAt { at: "run sleep", token };
    let report = drill::run(&env, &DrillSubject::Scenario("slow".into()), &progress).await.unwrap();
    assert!(!report.passed);
    assert!(report.failure.as_deref().unwrap().contains("cancelled"), "{:?}", report.failure);
    let actions: Vec<(&str, StepOutcome)> = report.steps.iter().map(|s| (s.action.as_str(), s.outcome)).collect();
    assert_eq!(
        actions,
        [
            ("restore", StepOutcome::Passed),
            ("verify", StepOutcome::Passed),
            ("hook", StepOutcome::Failed),
            ("cleanup", StepOutcome::Passed)
        ]
    );
    assert!(report.scratch.iter().all(|s| s.cleaned) && !report.scratch.is_empty(), "{:?}", report.scratch);
    assert_eq!(std::fs::read_dir(site.path("scratch")).unwrap().count(), 0, "the scratch directory is left");
}
