//! The catalog and time-range restores: planning, capacity, skipping, progress, failures, expiry,
//! persistence across restarts, a read-only repository on a second cluster, versions.

use std::time::Duration;

use crate::common::*;
use chrono::{Duration as CDuration, Utc};
use lifeboat_es::model::RestoreBody;
use lifeboat_es::{
    EsError, Remedy, RepositorySpec, RestoreRequest, RestoreState, SnapshotPolicy, TimeRange, TimeSource, parse_instant,
};
use lifeboat_es_double::{DoubleConfig, IndexSeed, TestCluster};

fn range(from: &str, to: &str) -> TimeRange {
    TimeRange::new(parse_instant(from, false).unwrap(), parse_instant(to, true).unwrap()).unwrap()
}

/// Seeds three daily indices, snapshots them with a policy, and drops the live indices.
async fn snapshot_three_days(c: &TestCluster, es: &lifeboat_es::EsManager) -> (String, Vec<String>) {
    let days = ["2024-05-01", "2024-05-02", "2024-05-03"];
    let seeds = days.iter().enumerate().map(|(i, d)| (*d, IndexSeed::daily(d, 30 + i * 10))).collect();
    snapshot_days(c, es, "restore", seeds).await
}

/// Documents become visible only as shards recover: progress reads the document count after the
/// recovery state, so a shard that finishes between the two reads is never DONE with its
/// documents uncounted (a finished restore once reported 0 of 40 documents on a loaded machine,
/// when the count was read first).
#[tokio::test]
async fn progress_counts_documents_after_reading_the_recovery_state() {
    let c = TestCluster::double().await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    snapshot_three_days(&c, &es).await;
    let req = RestoreRequest::new(&c.name("logs-*"), range("2024-05-02T06:00", "2024-05-02"));
    let (_, record) = es.restores().start(&req).await.unwrap();
    let done = es.restores().wait(&record.id, Duration::from_secs(60), |_| {}).await.unwrap();
    assert_eq!(done.state, RestoreState::Succeeded, "{done:?}");
    let requests = c.requests();
    let api = |r: &lifeboat_es_double::RecordedRequest, name: &str| r.api.as_deref() == Some(name);
    let last_recovery =
        requests.iter().rposition(|r| api(r, "indices.recovery")).expect("progress reads the recovery state");
    assert!(
        requests[last_recovery..].iter().any(|r| api(r, "cat.indices")),
        "the document count must be read after the recovery state: {:?}",
        requests.iter().map(|r| r.api.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn time_range_restore_end_to_end() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        let (_repo, names) = snapshot_three_days(&c, &es).await;

        // Only May 2nd overlaps.
        let mut req = RestoreRequest::new(&c.name("logs-*"), range("2024-05-02T06:00", "2024-05-02"));
        req.expire_after = Some(CDuration::days(7));
        let plan = es.restores().plan(&req).await.unwrap();
        assert_eq!(plan.index_count(), 1);
        assert_eq!(plan.groups[0].indices[0].source, names[1]);
        assert_eq!(plan.groups[0].indices[0].target, format!("restore_{}", names[1]));
        assert_eq!(plan.total_docs, Some(40));
        assert!(plan.total_bytes > 0 && plan.disk.total > 0);

        let (_, record) = es.restores().start(&req).await.unwrap();
        assert!(matches!(record.state, RestoreState::Running | RestoreState::Succeeded), "{record:?}");
        assert!(record.expires_at.unwrap() > Utc::now() + CDuration::days(6));
        let done = es.restores().wait(&record.id, Duration::from_secs(60), |_| {}).await.unwrap();
        assert_eq!(done.state, RestoreState::Succeeded, "{done:?}");
        let p = done.progress.clone().unwrap();
        assert_eq!((p.docs_recovered, p.docs_expected), (40, Some(40)));
        assert_eq!(p.shards_failed, 0);
        assert_eq!(p.shards_done, p.shards_total);

        // Restoring the same range again: nothing new.
        let err = es.restores().start(&req).await.unwrap_err();
        assert!(err.to_string().contains("already restored") && err.to_string().contains(&record.id), "{err}");

        // A wider range skips the restored index and restores the other two, grouped by snapshot.
        let wide = RestoreRequest::new(&c.name("logs-*"), range("2024-05-01", "2024-05-03"));
        let (plan2, rec2) = es.restores().start(&wide).await.unwrap();
        assert_eq!(plan2.skipped.len(), 1);
        assert_eq!(plan2.skipped[0].restore_id, record.id);
        assert_eq!(plan2.groups.len(), 1, "all three indices live in one snapshot");
        assert_eq!(plan2.index_count(), 2);
        assert!(rec2.expires_at.is_none());

        // Records survive a restart: a new manager over the same state directory.
        let restarted = manager(&c, &state);
        let listed = restarted.restores().list().await.unwrap();
        assert_eq!(listed.len(), 2);
        let done2 = restarted.restores().wait(&rec2.id, Duration::from_secs(60), |_| {}).await.unwrap();
        assert_eq!(done2.state, RestoreState::Succeeded, "{done2:?}");
        assert_eq!(done2.progress.unwrap().docs_recovered, 30 + 50);

        // Expiry: in 8 days only the first restore is past its time.
        let later = manager(&c, &state).with_clock(clock_at(Utc::now() + CDuration::days(8)));
        let (cleaned, failed) = later.restores().clean_expired().await.unwrap();
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(cleaned.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![record.id.clone()]);
        let live = es.client().cat_indices(Some("restore_*")).await.unwrap();
        assert!(!live.iter().any(|i| i.name == format!("restore_{}", names[1])), "{live:?}");
        assert_eq!(es.restores().status(&record.id).await.unwrap().state, RestoreState::Deleted);

        // Deleting the other restore by id drops its indices.
        let deleted = es.restores().delete(&rec2.id).await.unwrap();
        assert_eq!(deleted.state, RestoreState::Deleted);
        let live = es.client().cat_indices(Some(&format!("restore_{}", c.name("logs-*")))).await.unwrap();
        assert!(live.is_empty(), "{live:?}");
        assert!(matches!(es.restores().delete("r-nope").await.unwrap_err(), EsError::NotFound { .. }));
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn capacity_check_refuses_with_the_numbers() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        snapshot_three_days(&c, &es).await;
        let mut req = RestoreRequest::new(&c.name("logs-*"), range("2024-05-01", "2024-05-03"));
        req.max_disk_usage = 0.000_001;
        let err = es.restores().start(&req).await.unwrap_err();
        match &err {
            EsError::InsufficientDisk { needed, total, used, .. } => {
                assert!(*needed > 0 && *total > 0 && *used > 0);
            }
            other => panic!("[{}] unexpected {other:?}", c.kind()),
        }
        let text = err.to_string();
        assert!(text.contains("not enough disk") && text.contains("exceeds the limit of 0.0%"), "{text}");
        assert!(
            !c.requests().iter().any(|r| r.api.as_deref() == Some("snapshot.restore")),
            "no restore may start when the capacity check fails"
        );
        assert!(es.restores().list().await.unwrap().is_empty(), "nothing half-written");
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn full_disk_is_refused_at_the_default_limit() {
    let c = TestCluster::double().await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    snapshot_three_days(&c, &es).await;
    c.as_double().unwrap().fill_disk();
    let req = RestoreRequest::new("logs-*", range("2024-05-01", "2024-05-03"));
    let err = es.restores().start(&req).await.unwrap_err();
    assert!(matches!(err, EsError::InsufficientDisk { limit, .. } if limit == 0.85), "{err:?}");
    assert!(err.to_string().contains("97.0%") || err.to_string().contains("97"), "{err}");
}

#[tokio::test]
async fn a_failed_shard_never_reports_success() {
    let c =
        TestCluster::double_with(DoubleConfig { shard_restore_time: Duration::from_millis(100), ..Default::default() })
            .await;
    let d = c.as_double().unwrap();
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    snapshot_three_days(&c, &es).await;
    d.inject_restore_shard_failure("logs-2024.05.02", 1);
    let req = RestoreRequest::new("logs-*", range("2024-05-01", "2024-05-03"));
    let (_, record) = es.restores().start(&req).await.unwrap();
    let mut seen = vec![];
    let done = es.restores().wait(&record.id, Duration::from_secs(30), |r| seen.push(r.state)).await.unwrap();
    assert!(!seen.contains(&RestoreState::Succeeded), "{seen:?}");
    assert_eq!(done.state, RestoreState::Failed);
    let p = done.progress.unwrap();
    assert_eq!(p.shards_failed, 1);
    let bad = p.indices.iter().find(|i| i.target == "restore_logs-2024.05.02").unwrap();
    assert!(bad.problem.as_deref().unwrap().contains("failed to restore"), "{bad:?}");
    assert!(p.docs_recovered < p.docs_expected.unwrap(), "{p:?}");
    assert_spec_clean(&c);
}

#[tokio::test]
async fn restore_onto_an_open_index_fails_like_elasticsearch() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        let repo = c.name("open-repo");
        es.repositories().create(&repo, &fs_repo(&c, "open"), true).await.unwrap();
        let idx = c.name("live-index");
        c.seed_index(&idx, IndexSeed::daily("2024-05-01", 3)).await;
        es.snapshots().create(&repo, "s1", &idx, None).await.unwrap();
        let body = RestoreBody { indices: idx.clone(), ..Default::default() };
        let err = es.client().restore_snapshot(&repo, "s1", &body).await.unwrap_err();
        match &err {
            EsError::Api { status: 500, error_type, reason, .. } => {
                assert_eq!(error_type, "snapshot_restore_exception");
                assert!(reason.contains("an open index with same name already exists"), "{reason}");
            }
            other => panic!("[{}] unexpected {other:?}", c.kind()),
        }
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn an_existing_index_not_restored_by_us_is_a_conflict() {
    let c = TestCluster::double().await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    snapshot_three_days(&c, &es).await;
    c.as_double().unwrap().create_index("restore_logs-2024.05.02", IndexSeed::daily("2024-05-02", 1));
    let err = es.restores().plan(&RestoreRequest::new("logs-*", range("2024-05-02", "2024-05-02"))).await.unwrap_err();
    assert!(matches!(err, EsError::Conflict { remedy: Some(Remedy::ChoosePrefix), .. }), "{err}");
}

#[tokio::test]
async fn catalog_time_ranges_from_a_time_field() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        let repo = c.name("field-repo");
        es.repositories().create(&repo, &fs_repo(&c, "field"), true).await.unwrap();
        let idx = c.name("events-a");
        let start = parse_instant("2024-03-10T08:00:00Z", false).unwrap().timestamp_millis();
        let mut seed = IndexSeed::daily("2024-03-10", 0);
        seed.timestamps = vec![start + 5_000, start, start + 3_600_123, start + 42];
        c.seed_index(&idx, seed).await;
        es.snapshots().create(&repo, "ev-1", &idx, None).await.unwrap();

        // Scan catalogues the snapshot again? No: it is already known. Use a fresh state directory.
        let state2 = tempfile::tempdir().unwrap();
        let scanner = manager(&c, &state2);
        let report =
            scanner.catalog().scan(&repo, Some(TimeSource::Field { field: "@timestamp".into() })).await.unwrap();
        assert_eq!(report.added_snapshots, vec!["ev-1".to_string()]);
        let entries = scanner.catalog().list().await.unwrap();
        assert_eq!(entries.len(), 1);
        let r = entries[0].time_range.unwrap();
        assert_eq!(r.start.timestamp_millis(), start);
        assert_eq!(r.end.timestamp_millis(), start + 3_600_124, "end is the max + 1 ms");
        assert_eq!(entries[0].doc_count, Some(4));
        assert!(entries[0].store_bytes.unwrap() > 0, "size from the snapshot status API");

        // The catalog persists: planning needs no snapshot listing.
        let before = c.requests().iter().filter(|r| r.api.as_deref() == Some("snapshot.get")).count();
        c.drop_index(&idx).await;
        let plan = manager(&c, &state2)
            .restores()
            .plan(&RestoreRequest::new(&idx, range("2024-03-10", "2024-03-10")))
            .await
            .unwrap();
        assert_eq!(plan.index_count(), 1);
        let after = c.requests().iter().filter(|r| r.api.as_deref() == Some("snapshot.get")).count();
        assert_eq!(before, after, "planning must not re-scan snapshots");

        // Deleted snapshots are dropped by the next scan.
        es.snapshots().delete(&repo, "ev-1").await.unwrap();
        let report = scanner.catalog().scan(&repo, None).await.unwrap();
        assert_eq!(report.removed_snapshots, vec!["ev-1".to_string()]);
        assert!(scanner.catalog().list().await.unwrap().is_empty());
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn readonly_repository_on_a_second_cluster_restores() {
    let first = TestCluster::double().await;
    let d1 = first.as_double().unwrap();
    let second = TestCluster::double_with(DoubleConfig { blob_store: d1.blob_store(), ..Default::default() }).await;
    let state = tempfile::tempdir().unwrap();
    let es1 = manager(&first, &state);
    snapshot_three_days(&first, &es1).await;

    // Same catalog (state directory), another cluster with the repository registered read-only.
    let es2 = manager(&second, &state);
    let spec = RepositorySpec::Fs { location: first.fs_location("restore"), readonly: true, compress: None };
    es2.repositories().create("restore-repo", &spec, true).await.unwrap();
    let (_, rec) =
        es2.restores().start(&RestoreRequest::new("logs-*", range("2024-05-03", "2024-05-03"))).await.unwrap();
    let done = es2.restores().wait(&rec.id, Duration::from_secs(30), |_| {}).await.unwrap();
    assert_eq!(done.state, RestoreState::Succeeded);
    assert_eq!(second.as_double().unwrap().index_names(), vec!["restore_logs-2024.05.03".to_string()]);
    assert!(d1.index_names().is_empty(), "nothing restored on the first cluster");
    // The second cluster cannot write into it.
    second.as_double().unwrap().create_index("logs-x", IndexSeed::daily("2024-05-09", 1));
    let err = es2.snapshots().create("restore-repo", "nope", "logs-*", None).await.unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    // A restore record belongs to its cluster.
    let err = es1.restores().status(&rec.id).await.unwrap_err();
    assert!(err.to_string().contains("was made on cluster"), "{err}");
    assert_spec_clean(&second);
}

#[tokio::test]
async fn works_with_7_10_8_19_and_9_1() {
    for version in ["7.10.0", "8.19.0", "9.1.0"] {
        let c = TestCluster::double_with(DoubleConfig { version: version.into(), ..Default::default() }).await;
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        assert_eq!(es.client().info().await.unwrap().version.number, version);
        snapshot_three_days(&c, &es).await;
        let (_, rec) =
            es.restores().start(&RestoreRequest::new("logs-*", range("2024-05-01", "2024-05-03"))).await.unwrap();
        let done = es.restores().wait(&rec.id, Duration::from_secs(30), |_| {}).await.unwrap();
        assert_eq!(done.state, RestoreState::Succeeded, "{version}: {done:?}");
        assert_eq!(done.progress.unwrap().docs_recovered, 30 + 40 + 50, "{version}");
        assert_spec_clean(&c);
    }
}

#[tokio::test]
async fn planning_errors_are_clear() {
    let c = TestCluster::double().await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    let err = es.restores().plan(&RestoreRequest::new("logs-*", range("2024-05-01", "2024-05-03"))).await.unwrap_err();
    assert_eq!(err.remedy(), Some(Remedy::ScanCatalog), "{err}");
    let mut bad = RestoreRequest::new("logs-*", range("2024-05-01", "2024-05-03"));
    bad.max_disk_usage = 0.0;
    assert!(es.restores().plan(&bad).await.unwrap_err().to_string().contains("max disk usage"));
    bad.max_disk_usage = 0.85;
    bad.prefix = "".into();
    assert!(es.restores().plan(&bad).await.unwrap_err().to_string().contains("restore prefix"));
    let err = es.restores().status("r-missing").await.unwrap_err();
    assert!(err.to_string().contains("restore \"r-missing\" not found"), "{err}");
    assert_eq!(err.remedy(), Some(Remedy::ListRestores), "{err}");
}

/// Seeds one daily index per `(day, seed)`, snapshots them with a policy into repository
/// `<sub>-repo` (so the catalog knows their time ranges and sizes), and drops the live indices.
async fn snapshot_days(
    c: &TestCluster,
    es: &lifeboat_es::EsManager,
    sub: &str,
    days: Vec<(&str, IndexSeed)>,
) -> (String, Vec<String>) {
    let repo = c.name(&format!("{sub}-repo"));
    es.repositories().create(&repo, &fs_repo(c, sub), true).await.unwrap();
    let mut names = vec![];
    for (d, seed) in days {
        let name = c.name(&format!("logs-{}", d.replace('-', ".")));
        c.seed_index(&name, seed).await;
        names.push(name);
    }
    let policy = SnapshotPolicy::new(&c.name("nightly"), &c.name("logs-*"), &repo, "@daily", 30)
        .unwrap()
        .with_time_source(TimeSource::IndexName { pattern: "*logs-{YYYY.MM.DD}".into() })
        .unwrap();
    es.policies().add(policy.clone()).await.unwrap();
    let report = es.policies().run(&policy.name).await.unwrap();
    assert_eq!(report.catalogued, names.len(), "{report:?}");
    for n in &names {
        c.drop_index(n).await;
    }
    (repo, names)
}

/// Daily index seeds: `(day, primaries, documents)`.
fn seeds(days: &[(&'static str, u32, usize)]) -> Vec<(&'static str, IndexSeed)> {
    days.iter()
        .map(|(day, primaries, docs)| {
            let mut s = IndexSeed::daily(day, *docs);
            s.shards = *primaries;
            (*day, s)
        })
        .collect()
}

/// Elasticsearch recovers at most 4 primaries per node at once; the others wait unassigned (yellow,
/// no recovery state). Those are in progress, not failed, and a second restore started while the
/// first one runs is tracked to completion as well.
#[tokio::test]
async fn queued_primaries_are_in_progress_and_back_to_back_restores_both_succeed() {
    let c = TestCluster::double_with(DoubleConfig {
        shard_restore_time: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    let days = seeds(&[("2024-05-01", 3, 30), ("2024-05-02", 3, 40), ("2024-05-03", 3, 50)]);
    snapshot_days(&c, &es, "days", days).await;
    // 6 primaries: 4 recover, 2 wait.
    let (_, first) =
        es.restores().start(&RestoreRequest::new("logs-*", range("2024-05-01", "2024-05-02"))).await.unwrap();
    // 3 more primaries, all waiting behind the first restore.
    let (_, second) =
        es.restores().start(&RestoreRequest::new("logs-*", range("2024-05-03", "2024-05-03"))).await.unwrap();
    let now = es.restores().status(&second.id).await.unwrap();
    assert_eq!(now.state, RestoreState::Running, "queued is not failed: {now:?}");
    let p = now.progress.clone().unwrap();
    assert_eq!((p.shards_total, p.shards_done, p.shards_failed), (3, 0, 0), "{p:?}");
    assert_eq!(p.indices[0].shards_queued, 3, "{p:?}");
    assert!(p.indices[0].problem.is_none(), "{p:?}");
    let now = es.restores().status(&first.id).await.unwrap();
    assert_eq!(now.state, RestoreState::Running, "{now:?}");
    assert_eq!(now.progress.unwrap().shards_failed, 0);

    let mut seen = vec![];
    let done2 = es.restores().wait(&second.id, Duration::from_secs(60), |r| seen.push(r.state)).await.unwrap();
    let done1 = es.restores().wait(&first.id, Duration::from_secs(60), |r| seen.push(r.state)).await.unwrap();
    assert!(!seen.contains(&RestoreState::Failed), "{seen:?}");
    assert_eq!(done1.state, RestoreState::Succeeded, "{done1:?}");
    assert_eq!(done2.state, RestoreState::Succeeded, "{done2:?}");
    assert_eq!(done1.progress.unwrap().docs_recovered, 30 + 40);
    assert_eq!(done2.progress.unwrap().docs_recovered, 50);
    assert_spec_clean(&c);
}

/// `disk.used` barely shows a restore that is still copying; the capacity check adds the bytes
/// Lifeboat's running restores have yet to copy, so two restores that together exceed
/// `max_disk_usage` are not both admitted.
#[tokio::test]
async fn a_second_restore_is_refused_while_the_first_still_copies() {
    const MIB: u64 = 1024 * 1024;
    let c = TestCluster::double_with(DoubleConfig {
        disk_total: 10 * MIB,
        disk_used: 5 * MIB,
        shard_restore_time: Duration::from_secs(20),
        ..Default::default()
    })
    .await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    // Two indices of 2 MiB each: 5 + 2 fits under 85% of 10 MiB, 5 + 2 + 2 does not.
    snapshot_days(&c, &es, "days", seeds(&[("2024-05-01", 2, 4096), ("2024-05-02", 2, 4096)])).await;
    let (plan, first) =
        es.restores().start(&RestoreRequest::new("logs-*", range("2024-05-01", "2024-05-01"))).await.unwrap();
    assert_eq!(plan.in_flight_bytes, 0);
    let disk = es.client().disk_usage().await.unwrap();
    assert!(disk.used < 5 * MIB + MIB / 2, "the copying restore barely shows in disk.used: {disk:?}");

    let second = RestoreRequest::new("logs-*", range("2024-05-02", "2024-05-02"));
    let err = es.restores().start(&second).await.unwrap_err();
    match &err {
        EsError::InsufficientDisk { in_flight, needed, .. } => {
            assert!(*in_flight > 3 * MIB / 2 && *in_flight <= plan.total_bytes, "{err:?}");
            assert_eq!(*needed, plan.total_bytes);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("still to come from restores in progress"), "{err}");
    let restores = c.requests().iter().filter(|r| r.api.as_deref() == Some("snapshot.restore")).count();
    assert_eq!(restores, 1, "the second restore must not be sent");

    // Once the first restore is gone, the second fits.
    es.restores().delete(&first.id).await.unwrap();
    let (plan, _) = es.restores().start(&second).await.unwrap();
    assert_eq!(plan.in_flight_bytes, 0);
    assert_spec_clean(&c);
}
