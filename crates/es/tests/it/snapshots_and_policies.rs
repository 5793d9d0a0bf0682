//! Snapshots, lifeboat policies (PARTIAL handling, retention, blocked deletes) and SLM.

use std::time::Duration;

use crate::common::*;
use chrono::{Duration as CDuration, Utc};
use lifeboat_es::model::{SlmConfig, SlmPolicy, SlmRetention, SnapshotState};
use lifeboat_es::{EsError, PolicyRetention, RetryConfig, SnapshotPolicy, TimeSource};
use lifeboat_es_double::{IndexSeed, TestCluster};

fn day_pattern() -> TimeSource {
    TimeSource::IndexName { pattern: "*logs-{YYYY.MM.DD}".into() }
}

#[tokio::test]
async fn snapshot_create_list_delete_updates_the_catalog() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        let repo = c.name("snaps");
        es.repositories().create(&repo, &fs_repo(&c, "snaps"), true).await.unwrap();
        let a = c.name("logs-2024.05.01");
        let b = c.name("logs-2024.05.02");
        c.seed_index(&a, IndexSeed::daily("2024-05-01", 40)).await;
        c.seed_index(&b, IndexSeed::daily("2024-05-02", 25)).await;

        let taken = es.snapshots().create(&repo, "manual-1", &c.name("logs-*"), Some(day_pattern())).await.unwrap();
        assert_eq!(taken.info.state, SnapshotState::Success);
        let mut indices = taken.info.indices.clone();
        indices.sort();
        assert_eq!(indices, vec![a.clone(), b.clone()]);
        assert_eq!(taken.catalogued, 2);

        let listed = es.snapshots().list(&repo).await.unwrap();
        assert_eq!(listed.iter().map(|s| s.snapshot.as_str()).collect::<Vec<_>>(), vec!["manual-1"]);

        let catalog = es.catalog().list().await.unwrap();
        let ea = catalog.iter().find(|e| e.index == a).expect("index a catalogued");
        assert_eq!(ea.doc_count, Some(40));
        assert!(ea.store_bytes.unwrap() > 0);
        let r = ea.time_range.unwrap();
        assert_eq!(r.start.to_rfc3339(), "2024-05-01T00:00:00+00:00");
        assert_eq!(r.end.to_rfc3339(), "2024-05-02T00:00:00+00:00");

        // A duplicate manual snapshot is an error, not silently reused.
        let err = es.snapshots().create(&repo, "manual-1", &c.name("logs-*"), None).await.unwrap_err();
        assert_eq!(err.es_error_type(), Some("invalid_snapshot_name_exception"), "{err:?}");

        es.snapshots().delete(&repo, "manual-1").await.unwrap();
        assert!(es.snapshots().list(&repo).await.unwrap().is_empty());
        assert!(es.catalog().list().await.unwrap().is_empty(), "deleted snapshots leave the catalog");
        let err = es.snapshots().delete(&repo, "manual-1").await.unwrap_err();
        assert!(matches!(err, EsError::SnapshotMissing { .. }), "{err:?}");
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn policy_run_snapshots_today_and_reuses_it_on_a_second_run() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        let repo = c.name("policy");
        es.repositories().create(&repo, &fs_repo(&c, "policy"), true).await.unwrap();
        c.seed_index(&c.name("logs-2024.05.01"), IndexSeed::daily("2024-05-01", 10)).await;
        let pname = c.name("nightly");
        let policy = SnapshotPolicy::new(&pname, &c.name("logs-*"), &repo, "0 30 1 * * ?", 7)
            .unwrap()
            .with_time_source(day_pattern())
            .unwrap();
        es.policies().add(policy.clone()).await.unwrap();
        assert_eq!(es.policies().list().await.unwrap(), vec![policy.clone()]);

        let report = es.policies().run(&pname).await.unwrap();
        assert!(report.is_success(), "{report:?}");
        assert!(!report.already_existed);
        assert_eq!(report.snapshot, policy.snapshot_name_for(Utc::now().date_naive()), "named for today");
        assert_eq!(report.catalogued, 1);
        assert!(report.deleted.is_empty());

        let again = es.policies().run(&pname).await.unwrap();
        assert!(again.already_existed, "{again:?}");
        assert_eq!(again.snapshot, report.snapshot);
        assert_eq!(es.snapshots().list(&repo).await.unwrap().len(), 1);

        // Thirty days later by the manager's clock: that day's snapshot, named and dated by the
        // clock, and the first one (30 days old, 7 kept) deleted.
        let at = Utc::now() + CDuration::days(30);
        let later = manager(&c, &state).with_clock(clock_at(at));
        let r = later.policies().run(&pname).await.unwrap();
        assert_eq!(r.snapshot, policy.snapshot_name_for(at.date_naive()));
        assert!(!r.already_existed, "{r:?}");
        assert_eq!(r.deleted, vec![report.snapshot.clone()]);
        assert_eq!(r.kept, vec![r.snapshot.clone()]);
        // Only expired snapshots remain elsewhere: the newest successful one stays however old.
        let much_later = manager(&c, &state).with_clock(clock_at(at + CDuration::days(365)));
        let r2 = much_later.policies().run_with(&pname, &PolicyRetention::PolicyDays).await.unwrap();
        assert_eq!(r2.deleted, vec![r.snapshot.clone()], "{r2:?}");

        es.policies().remove(&pname).await.unwrap();
        assert!(matches!(es.policies().run(&pname).await.unwrap_err(), EsError::NotFound { .. }));
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn retention_deletes_expired_policy_snapshots_only() {
    let c = TestCluster::double().await;
    let d = c.as_double().unwrap();
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    es.repositories().create("repo", &fs_repo(&c, "ret"), true).await.unwrap();
    d.create_index("logs-2024.05.01", IndexSeed::daily("2024-05-01", 10));
    let now = Utc::now();
    for days in [10, 9, 8, 2] {
        let t = now - CDuration::days(days);
        d.seed_snapshot("repo", &format!("nightly-{}", t.format("%Y.%m.%d")), t, &["logs-2024.05.01"]).unwrap();
    }
    // Not this policy's: another policy's and a manual snapshot, both old.
    d.seed_snapshot("repo", "nightly-extra-2020.01.01", now - CDuration::days(400), &["logs-2024.05.01"]).unwrap();
    d.seed_snapshot("repo", "manual", now - CDuration::days(400), &["logs-2024.05.01"]).unwrap();
    es.policies().add(SnapshotPolicy::new("nightly", "logs-*", "repo", "@daily", 5).unwrap()).await.unwrap();
    let report = es.policies().run("nightly").await.unwrap();
    assert!(report.is_success(), "{report:?}");
    let expected: Vec<String> =
        [10, 9, 8].iter().map(|d| format!("nightly-{}", (now - CDuration::days(*d)).format("%Y.%m.%d"))).collect();
    assert_eq!(report.deleted, expected);
    let left: Vec<String> = es.snapshots().list("repo").await.unwrap().into_iter().map(|s| s.snapshot).collect();
    assert!(left.contains(&"nightly-extra-2020.01.01".to_string()) && left.contains(&"manual".to_string()));
    assert!(left.contains(&report.snapshot));
    assert_eq!(left.len(), 4, "{left:?}");

    // snapshot_days = 0 keeps everything.
    es.policies().add(SnapshotPolicy::new("nightly", "logs-*", "repo", "@daily", 0).unwrap()).await.unwrap();
    let far = manager(&c, &state).with_clock(clock_at(now + CDuration::days(3650)));
    assert!(far.policies().run("nightly").await.unwrap().deleted.is_empty());
    assert_spec_clean(&c);
}

#[tokio::test]
async fn partial_snapshot_fails_the_run_and_lists_the_failed_shards() {
    let c = TestCluster::double().await;
    let d = c.as_double().unwrap();
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    es.repositories().create("repo", &fs_repo(&c, "partial"), true).await.unwrap();
    d.create_index("logs-2024.05.01", IndexSeed::daily("2024-05-01", 10));
    d.create_index("logs-2024.05.02", IndexSeed::daily("2024-05-02", 10));
    let old = Utc::now() - CDuration::days(30);
    d.seed_snapshot("repo", &format!("nightly-{}", old.format("%Y.%m.%d")), old, &["logs-2024.05.01"]).unwrap();
    d.seed_snapshot("repo", "nightly-2000.01.01", old - CDuration::days(1), &["logs-2024.05.01"]).unwrap();
    d.inject_snapshot_shard_failure("logs-2024.05.02", 1);
    es.policies().add(SnapshotPolicy::new("nightly", "logs-*", "repo", "@daily", 3).unwrap()).await.unwrap();

    let err = es.policies().run("nightly").await.unwrap_err();
    match &err {
        EsError::SnapshotFailed { state, failures, .. } => {
            assert_eq!(state, "PARTIAL");
            assert_eq!(failures.len(), 1);
            assert_eq!((failures[0].index.as_str(), failures[0].shard_id), ("logs-2024.05.02", 1));
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("PARTIAL") && text.contains("[logs-2024.05.02][1]"), "{text}");
    // Elasticsearch answered 200: PARTIAL is not an HTTP error.
    let create = c.requests().into_iter().find(|r| r.api.as_deref() == Some("snapshot.create")).unwrap();
    assert_eq!(create.status, 200);
    // Nothing catalogued, nothing deleted when the snapshot failed.
    assert!(es.catalog().list().await.unwrap().is_empty());
    assert_eq!(es.snapshots().list("repo").await.unwrap().len(), 3);
    assert_spec_clean(&c);
}

#[tokio::test]
async fn deletes_blocked_by_a_running_snapshot_are_retried() {
    let c = TestCluster::double().await;
    let d = c.as_double().unwrap();
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    es.repositories().create("repo", &fs_repo(&c, "blocked"), true).await.unwrap();
    d.create_index("logs-2024.05.01", IndexSeed::daily("2024-05-01", 10));
    let old = Utc::now() - CDuration::days(20);
    d.seed_snapshot("repo", &format!("nightly-{}", old.format("%Y.%m.%d")), old, &["logs-2024.05.01"]).unwrap();
    es.policies().add(SnapshotPolicy::new("nightly", "logs-*", "repo", "@daily", 7).unwrap()).await.unwrap();
    d.start_blocking_snapshot("repo", "someone-elses", Duration::from_millis(700)).unwrap();

    let report = es.policies().run("nightly").await.unwrap();
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.deleted.len(), 1);
    let deletes: Vec<u16> =
        c.requests().iter().filter(|r| r.api.as_deref() == Some("snapshot.delete")).map(|r| r.status).collect();
    assert!(deletes.len() >= 2 && deletes[0] == 503 && *deletes.last().unwrap() == 200, "{deletes:?}");

    // When the block outlasts the retries, the run reports the failure.
    let old = Utc::now() - CDuration::days(21);
    d.seed_snapshot("repo", &format!("nightly-{}", old.format("%Y.%m.%d")), old, &["logs-2024.05.01"]).unwrap();
    d.start_blocking_snapshot("repo", "long-running", Duration::from_secs(60)).unwrap();
    let impatient = manager(&c, &state).with_retry(RetryConfig {
        attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
    });
    let report = impatient.policies().run("nightly").await.unwrap();
    assert!(!report.is_success());
    assert_eq!(report.delete_failures.len(), 1);
    assert!(report.delete_failures[0].error.contains("concurrent_snapshot_execution_exception"), "{report:?}");
    assert_spec_clean(&c);
}

#[tokio::test]
async fn policy_on_a_readonly_repository_is_refused() {
    let c = TestCluster::double().await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    es.repositories().create("ro", &fs_repo(&c, "ro").readonly(), true).await.unwrap();
    c.as_double().unwrap().create_index("logs-1", IndexSeed::daily("2024-05-01", 1));
    es.policies().add(SnapshotPolicy::new("p", "logs-*", "ro", "@daily", 1).unwrap()).await.unwrap();
    let err = es.policies().run("p").await.unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    // And the cluster itself refuses snapshots into it.
    let err = es.snapshots().create("ro", "x", "logs-*", None).await.unwrap_err();
    assert_eq!(err.es_error_type(), Some("repository_exception"), "{err:?}");
}

#[tokio::test]
async fn policy_with_no_matching_index_is_an_error() {
    let c = TestCluster::double().await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    es.repositories().create("repo", &fs_repo(&c, "empty"), true).await.unwrap();
    es.policies().add(SnapshotPolicy::new("p", "nothing-*", "repo", "@daily", 1).unwrap()).await.unwrap();
    let err = es.policies().run("p").await.unwrap_err();
    assert!(err.to_string().contains("nothing-*"), "{err}");
    let err =
        es.policies().add(SnapshotPolicy::new("q", "x-*", "missing-repo", "@daily", 1).unwrap()).await.unwrap_err();
    assert!(matches!(err, EsError::RepositoryMissing { .. }), "{err:?}");
}

#[tokio::test]
async fn slm_policies_round_trip() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        let repo = c.name("slm");
        es.repositories().create(&repo, &fs_repo(&c, "slm"), true).await.unwrap();
        c.seed_index(&c.name("slm-data"), IndexSeed::daily("2024-05-01", 5)).await;
        let id = c.name("daily-snapshots");
        let policy = SlmPolicy {
            name: "<daily-snap-{now/d}>".into(),
            schedule: "0 30 1 * * ?".into(),
            repository: repo.clone(),
            config: Some(SlmConfig {
                indices: Some(vec![c.name("slm-*")]),
                ignore_unavailable: Some(false),
                include_global_state: Some(false),
                ..Default::default()
            }),
            retention: Some(SlmRetention { expire_after: Some("30d".into()), min_count: Some(5), max_count: Some(50) }),
        };
        es.slm().put(&id, &policy).await.unwrap();
        let got = es.slm().get(Some(&id)).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, id);
        assert_eq!(got[0].policy.repository, repo);
        assert_eq!(got[0].policy.retention, policy.retention);
        let snap = es.slm().execute(&id).await.unwrap();
        assert!(snap.starts_with("daily-snap-"), "{snap}");
        let taken = es.client().get_snapshot(&repo, &snap).await;
        assert!(taken.is_ok(), "the executed SLM snapshot exists: {taken:?}");
        es.slm().delete(&id).await.unwrap();
        let err = es.slm().get(Some(&id)).await.unwrap_err();
        assert!(matches!(err, EsError::NotFound { what: "SLM policy", .. }), "{err:?}");
        let err = es.slm().execute(&id).await.unwrap_err();
        assert!(matches!(err, EsError::NotFound { .. }), "{err:?}");
        // Give an SLM snapshot time to finish before cleanup deletes it.
        let _ = es.snapshots().wait(&repo, &snap).await;
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}
