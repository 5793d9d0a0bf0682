//! Elasticsearch plans (lifeboat_ops::run::run_es_plan) against the Elasticsearch test double:
//! a week under an injected clock (one snapshot a simulated day, the plan's retention
//! expiring them by those days), credentials by reference (never in an error), a registered
//! policy, a partial snapshot, and the wrong kind of plan.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Duration, TimeZone, Utc};
use lifeboat_es::{ClusterConfig, EsClient, EsManager, RepositorySpec, Scope, SnapshotPolicy, StateStore};
use lifeboat_es_double::{DoubleAuth, DoubleConfig, EsDouble, IndexSeed};
use lifeboat_ops::Config;
use lifeboat_ops::plans::ResolvedPlan;
use lifeboat_ops::run::{RunError, RunRequest, run_es_plan};
use lifeboat_storage::clock::Clock;

/// A clock the test moves.
#[derive(Debug)]
struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn plan(text: &str) -> ResolvedPlan {
    let config = Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    ResolvedPlan {
        name: "logs".into(),
        origin: "test.toml".into(),
        config: config.plan("logs", "test.toml").unwrap().clone(),
    }
}

/// The `[plans.logs]` table of a plan on `url`, its Elasticsearch state in `state`, with
/// `extra` lines in the plan table and `source` lines in the source table.
fn es_plan(url: &str, state: &Path, extra: &str, source: &str) -> ResolvedPlan {
    plan(&format!(
        "[plans.logs]\nschedule = {{ cron = \"0 2 * * *\", timezone = \"UTC\" }}\n{extra}\n\
         [plans.logs.source]\nkind = \"elasticsearch\"\nurl = \"{url}\"\nrepository = \"backups\"\n\
         policy = \"nightly\"\nstate-dir = \"{}\"\n{source}\n",
        state.display()
    ))
}

/// A double with an `fs` repository `backups` and an index `logs-2026.03.01`; `client` as
/// the test reaches it (with the double's credentials).
async fn double_with(auth: Option<DoubleAuth>, client: ClusterConfig) -> (EsDouble, EsManager, tempfile::TempDir) {
    let d = EsDouble::start_with(DoubleConfig { auth, ..Default::default() }).await.unwrap();
    d.create_index("logs-2026.03.01", IndexSeed::daily("2026-03-01", 20));
    let state = tempfile::tempdir().unwrap();
    let client = ClusterConfig { url: d.url().parse().unwrap(), ..client };
    let admin = EsManager::new(EsClient::new(&client).unwrap(), StateStore::new(state.path()), Scope::Admin);
    let spec = RepositorySpec::Fs { location: "/mnt/backups/es-plan".into(), readonly: false, compress: None };
    admin.repositories().create("backups", &spec, true).await.unwrap();
    (d, admin, state)
}

async fn double() -> (EsDouble, EsManager, tempfile::TempDir) {
    double_with(None, ClusterConfig::new("http://127.0.0.1:1").unwrap()).await
}

async fn snapshot_names(admin: &EsManager) -> Vec<String> {
    let mut names: Vec<String> =
        admin.snapshots().list("backups").await.unwrap().into_iter().map(|s| s.snapshot).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_simulated_week_takes_one_snapshot_a_day_and_keeps_the_plans_retention() {
    let (d, admin, state) = double().await;
    let logs = es_plan(&d.url(), state.path(), "retention = { keep-daily = 3 }", "indices = \"logs-*\"");
    let day0 = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
    let clock = ManualClock(Mutex::new(day0));
    let request = RunRequest { clock: Some(&clock), ..Default::default() };
    let name = |day: i64| format!("nightly-{}", (day0 + Duration::days(day)).format("%Y.%m.%d"));
    for day in 0..7 {
        clock.set(day0 + Duration::days(day));
        let report = run_es_plan(&logs, &request).await.unwrap_or_else(|e| panic!("day {day}: {e}"));
        assert_eq!(report.plan, "logs");
        assert_eq!(report.policy, "nightly");
        assert_eq!(report.snapshot, name(day), "named for the clock's day");
        assert_eq!(report.state, "SUCCESS");
        assert!(!report.already_existed);
        assert_eq!(report.indices, vec!["logs-2026.03.01".to_string()]);
        assert_eq!(report.started_at, day0 + Duration::days(day));
        let expect_deleted: Vec<String> = if day >= 3 { vec![name(day - 3)] } else { vec![] };
        assert_eq!(report.deleted, expect_deleted, "day {day}");
        let expect_kept: Vec<String> = ((day - 2).max(0)..=day).map(name).collect();
        let mut kept = report.kept.clone();
        kept.sort();
        assert_eq!(kept, expect_kept, "day {day}");
        assert_eq!(snapshot_names(&admin).await, expect_kept, "day {day}: the cluster holds what the report says");
    }
    // A second run on the same (simulated) day checks today's snapshot again.
    let again = run_es_plan(&logs, &request).await.unwrap();
    assert!(again.already_existed && again.deleted.is_empty(), "{again:?}");
    // The snapshots are dated by the injected clock, and the policy was registered from the config.
    let last = admin.client().get_snapshot("backups", &name(6)).await.unwrap();
    assert_eq!(last.taken_at(), Some(day0 + Duration::days(6)));
    let policy = admin.policies().get("nightly").await.unwrap();
    assert_eq!((policy.indices.as_str(), policy.repository.as_str()), ("logs-*", "backups"));
    assert_eq!(policy.schedule, "0 2 * * *");
    // The catalog records the snapshots kept.
    assert!(!admin.catalog().list().await.unwrap().is_empty());

    // forget-after-backup = false deletes nothing, however old.
    let no_forget = es_plan(
        &d.url(),
        state.path(),
        "retention = { keep-last = 1 }\nforget-after-backup = false",
        "indices = \"logs-*\"",
    );
    clock.set(day0 + Duration::days(30));
    let report = run_es_plan(&no_forget, &request).await.unwrap();
    assert!(report.deleted.is_empty(), "{report:?}");
    assert_eq!(report.kept.len(), 4, "{report:?}");
}

#[tokio::test]
async fn credentials_come_from_their_references_and_never_reach_an_error() {
    let secret = "right-es-secret";
    let auth = DoubleAuth::Basic { username: "lifeboat".into(), password: secret.into() };
    let admin_auth = lifeboat_es::Auth::Basic { username: "lifeboat".into(), password: secret.into() };
    let (d, _admin, state) =
        double_with(Some(auth), ClusterConfig::new("http://127.0.0.1:1").unwrap().with_auth(admin_auth)).await;
    let dir = tempfile::tempdir().unwrap();
    let right = dir.path().join("es.pw");
    std::fs::write(&right, format!("{secret}\n")).unwrap();
    let wrong = dir.path().join("wrong.pw");
    std::fs::write(&wrong, "wrong-es-secret\n").unwrap();
    let with_file = |file: &Path| {
        es_plan(
            &d.url(),
            state.path(),
            "",
            &format!("indices = \"logs-*\"\nusername = \"lifeboat\"\npassword-file = \"{}\"", file.display()),
        )
    };
    let report = run_es_plan(&with_file(&right), &RunRequest::default()).await.unwrap();
    assert_eq!(report.snapshot, format!("nightly-{}", Utc::now().format("%Y.%m.%d")));

    let err = run_es_plan(&with_file(&wrong), &RunRequest::default()).await.unwrap_err();
    assert!(
        matches!(&err, RunError::Elasticsearch { source, .. } if source.kind() == lifeboat_es::ErrorKind::Unauthorized),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.starts_with("plan \"logs\": "), "{text}");
    assert!(!text.contains("wrong-es-secret") && !text.contains(secret), "{text}");

    let missing = dir.path().join("missing.pw");
    let err = run_es_plan(&with_file(&missing), &RunRequest::default()).await.unwrap_err();
    assert!(matches!(err, RunError::Secret { key: "source.password-file", .. }), "{err:?}");
    assert!(err.to_string().contains("missing.pw"), "{err}");

    // No credentials at all: the cluster refuses, and says so.
    let none = es_plan(&d.url(), state.path(), "", "indices = \"logs-*\"");
    let err = run_es_plan(&none, &RunRequest::default()).await.unwrap_err();
    assert!(err.to_string().contains("missing authentication credentials"), "{err}");
}

#[tokio::test]
async fn an_api_key_file_authenticates() {
    let auth = DoubleAuth::ApiKey { id: "kid".into(), key: "ksecret".into() };
    let admin_auth = lifeboat_es::Auth::ApiKey("kid:ksecret".into());
    let (d, _admin, state) =
        double_with(Some(auth), ClusterConfig::new("http://127.0.0.1:1").unwrap().with_auth(admin_auth)).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("es.key");
    std::fs::write(&key, "a2lkOmtzZWNyZXQ=\n").unwrap();
    let logs =
        es_plan(&d.url(), state.path(), "", &format!("indices = \"logs-*\"\napi-key-file = \"{}\"", key.display()));
    let report = run_es_plan(&logs, &RunRequest::default()).await.unwrap();
    assert_eq!(report.state, "SUCCESS");
}

#[tokio::test]
async fn without_indices_the_policy_must_be_registered_for_the_plans_repository() {
    let (d, admin, state) = double().await;
    let logs = es_plan(&d.url(), state.path(), "", "");
    let err = run_es_plan(&logs, &RunRequest::default()).await.unwrap_err();
    assert!(matches!(err, RunError::Elasticsearch { .. }), "{err:?}");
    assert!(err.to_string().contains("nightly"), "{err}");

    let spec = RepositorySpec::Fs { location: "/mnt/backups/other".into(), readonly: false, compress: None };
    admin.repositories().create("other", &spec, true).await.unwrap();
    admin.policies().add(SnapshotPolicy::new("nightly", "logs-*", "other", "@daily", 7).unwrap()).await.unwrap();
    let err = run_es_plan(&logs, &RunRequest::default()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("[other]") && text.contains("[backups]"), "{text}");

    admin.policies().add(SnapshotPolicy::new("nightly", "logs-*", "backups", "@daily", 7).unwrap()).await.unwrap();
    let report = run_es_plan(&logs, &RunRequest::default()).await.unwrap();
    assert_eq!(report.repository, "backups");
    // The registered policy stays as it was registered.
    assert_eq!(admin.policies().get("nightly").await.unwrap().snapshot_days, 7);
}

#[tokio::test]
async fn a_partial_snapshot_fails_the_run_naming_the_shard() {
    let (d, admin, state) = double().await;
    d.inject_snapshot_shard_failure("logs-2026.03.01", 1);
    let logs = es_plan(&d.url(), state.path(), "", "indices = \"logs-*\"");
    let err = run_es_plan(&logs, &RunRequest::default()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RunError::Elasticsearch { .. }), "{err:?}");
    assert!(text.contains("PARTIAL") && text.contains("logs-2026.03.01"), "{text}");
    assert!(admin.catalog().list().await.unwrap().is_empty(), "nothing catalogued");
}

#[tokio::test]
async fn a_plan_of_another_kind_is_not_run_in_a_cluster() {
    let files = plan("[plans.logs]\nrepository = \"/unused\"\nsource = { kind = \"files\", paths = [\"/srv\"] }\n");
    // Spawned, as a scheduler runs it: the run's future is Send.
    let spawned = files.clone();
    let err =
        tokio::spawn(async move { run_es_plan(&spawned, &RunRequest::default()).await }).await.unwrap().unwrap_err();
    assert!(matches!(err, RunError::NotInCluster { kind: "files", .. }), "{err:?}");
    assert!(lifeboat_ops::run::runs_in_cluster(&plan(
        "[plans.logs]\nsource = { kind = \"elasticsearch\", url = \"https://es:9200\", repository = \"r\", policy = \"p\" }\n"
    )));
    assert!(!lifeboat_ops::run::runs_in_cluster(&files));
}
