//! What listings say of a backup (issue 15): files backups record their sources as
//! absolute, canonical paths (`source.paths`, and the name), which a [`LatestScope`]'s
//! `paths` select by; summaries carry `started` / `finished` as views do, in UTC.

use std::path::PathBuf;

use lifeboat_repo::{BackupSummary, BackupView, LatestScope};

use super::*;

fn paths_scope(paths: &[&std::path::Path]) -> LatestScope {
    LatestScope { paths: paths.iter().map(|p| p.to_path_buf()).collect(), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_backups_record_canonical_paths_that_scopes_select_by() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir_all(real.join("one/sub")).unwrap();
    std::fs::create_dir_all(real.join("two")).unwrap();
    std::fs::write(real.join("two/f"), b"f").unwrap();
    std::os::unix::fs::symlink(real.join("one"), real.join("alias")).unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();

    // `..` and a symlinked parent are resolved; the last component is kept as given.
    let one = repo.backup_files(&[real.join("alias/sub/..")], BackupRequest::default()).await.unwrap();
    assert_eq!(one.name, real.join("one").display().to_string());
    assert_eq!(one.source["paths"], serde_json::json!([real.join("one").display().to_string()]));
    assert_eq!(one.paths(), [real.join("one")]);
    let both = repo.backup_files(&[real.join("one"), real.join("two/f")], BackupRequest::default()).await.unwrap();
    assert_eq!(both.paths(), [real.join("one"), real.join("two/f")]);
    let stream = repo.backup_stream(&b"s"[..], request("s")).await.unwrap();
    assert!(stream.paths().is_empty(), "a stream read no path");

    let listing = repo.list_backups().await.unwrap();
    let ids = |scope: &LatestScope| listing.summaries_in(scope).into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(&LatestScope::default()), [one.id.as_str(), both.id.as_str(), stream.id.as_str()]);
    assert_eq!(ids(&paths_scope(&[&real.join("one")])), [one.id.as_str(), both.id.as_str()]);
    assert_eq!(ids(&paths_scope(&[&real.join("one"), &real.join("two/f")])), [both.id.as_str()], "all of them");
    assert_eq!(ids(&paths_scope(&[&real.join("two")])), Vec::<String>::new());
    let scope = paths_scope(&[&real.join("two/f")]);
    assert!(scope.to_string().contains("of path") && scope.to_string().contains("two/f"), "{scope}");
    assert_eq!(repo.resolve_in("latest", &paths_scope(&[&real.join("one")])).await.unwrap().id, both.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_without_recorded_paths_is_matched_by_its_name() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut m = repo.backup_files(&[dir.path().to_path_buf()], BackupRequest::default()).await.unwrap();
    // As written before `source.paths` existed.
    m.source = serde_json::Value::Null;
    assert_eq!(m.paths(), [PathBuf::from(&m.name)]);
    assert!(paths_scope(&[&PathBuf::from(&m.name)]).matches(&m));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_name_their_times_as_views_do_in_utc() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let repo = Repository::init(storage, pw("pw"), cheap()).await.unwrap();
    let mut m = repo.backup_stream(&b"x"[..], request("x")).await.unwrap();
    // A manifest written on a host five and a half hours east of UTC.
    let east = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    m.started = m.started.with_timezone(&east);
    m.finished = m.finished.with_timezone(&east);
    let summary = serde_json::to_value(BackupSummary::from(&m)).unwrap();
    let view = serde_json::to_value(BackupView::from(&m)).unwrap();
    for key in ["started", "finished"] {
        let listed = summary[key].as_str().unwrap_or_else(|| panic!("no {key} in {summary}"));
        let listed = chrono::DateTime::parse_from_rfc3339(listed).unwrap();
        assert_eq!(listed.offset().local_minus_utc(), 0, "{key} = {listed} is not UTC");
        let shown = chrono::DateTime::parse_from_rfc3339(view[key].as_str().unwrap()).unwrap();
        assert_eq!(shown.offset(), &east, "the view keeps the recorded offset");
        assert_eq!(listed, shown, "{key}: the same instant");
    }
    assert_eq!(summary["time"], summary["finished"], "`time` is kept as `finished`");
}
