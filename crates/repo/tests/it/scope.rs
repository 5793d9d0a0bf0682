//! `latest` within a scope (plan, host, tags all-of): the newest backup within it, an id
//! outside it refused, no backup within it named in the error; verify within a scope.

use lifeboat_repo::LatestScope;

use super::*;

fn made(name: &str, plan: &str, host: &str, tags: &[&str]) -> BackupRequest {
    BackupRequest {
        name: name.into(),
        plan: Some(plan.into()),
        host: Some(host.into()),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    }
}

fn scope(plan: Option<&str>, host: Option<&str>, tags: &[&str]) -> LatestScope {
    LatestScope {
        plan: plan.map(str::to_owned),
        host: host.map(str::to_owned),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_is_the_newest_backup_within_the_scope() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let web_a = repo.backup_stream(&b"1"[..], made("1", "web", "a", &["nightly", "eu"])).await.unwrap();
    let web_b = repo.backup_stream(&b"2"[..], made("2", "web", "b", &["nightly"])).await.unwrap();
    let db_a = repo.backup_stream(&b"3"[..], made("3", "db", "a", &["hourly", "eu"])).await.unwrap();

    let latest = |s: LatestScope| {
        let repo = &repo;
        async move { repo.resolve_in("latest", &s).await.map(|m| m.id) }
    };
    assert_eq!(latest(LatestScope::default()).await.unwrap(), db_a.id);
    assert_eq!(latest(scope(Some("web"), None, &[])).await.unwrap(), web_b.id);
    assert_eq!(latest(scope(None, Some("a"), &[])).await.unwrap(), db_a.id);
    assert_eq!(latest(scope(Some("web"), Some("a"), &[])).await.unwrap(), web_a.id);
    assert_eq!(latest(scope(None, None, &["nightly"])).await.unwrap(), web_b.id);
    assert_eq!(latest(scope(None, None, &["eu"])).await.unwrap(), db_a.id);
    assert_eq!(latest(scope(None, None, &["nightly", "eu"])).await.unwrap(), web_a.id, "tags are all-of");
    // The old entry point is a plan scope.
    assert_eq!(repo.resolve("latest", Some("web")).await.unwrap().id, web_b.id);

    let err = latest(scope(Some("web"), Some("c"), &["nightly", "eu"])).await.unwrap_err();
    assert!(matches!(err, RepoError::NoBackupInScope { .. }), "{err:?}");
    assert_eq!(err.to_string(), "no backup of plan \"web\" on host \"c\" with tags \"nightly\", \"eu\"");
    assert_eq!(err.kind(), lifeboat_repo::ErrorKind::NotFound);
    let err = latest(scope(None, None, &["weekly"])).await.unwrap_err();
    assert_eq!(err.to_string(), "no backup with tag \"weekly\"");

    // An id must be within the scope given with it; a prefix too.
    assert_eq!(repo.resolve_in(&web_a.id[..12], &scope(Some("web"), None, &[])).await.unwrap().id, web_a.id);
    let err = repo.resolve_in(&web_a.id, &scope(Some("db"), None, &[])).await.unwrap_err();
    assert!(matches!(err, RepoError::OutOfScope { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("backup {} is not a backup of plan \"db\"", web_a.id));

    // verify: latest within the scope, or every backup within it.
    let one = repo.verify_backups_in(Some("latest"), &scope(None, Some("b"), &[]), false, |_| None).await.unwrap();
    assert_eq!(one.report.backups, 1);
    let eu = repo.verify_backups_in(None, &scope(None, None, &["eu"]), false, |_| None).await.unwrap();
    assert_eq!(eu.report.backups, 2);
    assert!(eu.report.is_ok());
    let none = repo.verify_backups_in(Some("latest"), &scope(Some("nope"), None, &[]), false, |_| None).await;
    assert!(matches!(none, Err(RepoError::NoBackupInScope { .. })), "{none:?}");
}
