//! Database backups into a format 3 repository (`data_format: 3`): the dump becomes a file
//! node of a v3 root tree, restores into a live server as a format 2 one does, and the next
//! dump of a database that changed a little stores only the chunks around the change.
//!
//! Run `bash scripts/services.sh start` first; a missing service makes these tests fail.

use std::sync::Arc;

use lifeboat_dump::{RestoreOptions, Restorer, Source, SourceOptions};
use lifeboat_ops::{backup_database, restore_database};
use lifeboat_repo::{BackupRequest, Credential, InitOptions, Repository};
use lifeboat_storage::FsStorage;
use lifeboat_testkit::datasets::{pg_dataset, pg_fingerprint};
use lifeboat_testkit::sql::psql;
use lifeboat_testkit::{Cleanup, pg_url, unique, with_path};

use crate::common::cheap_init;

fn request() -> BackupRequest {
    BackupRequest { plan: Some("pg-v3".into()), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_dump_into_a_format_3_repository_restores_and_the_next_one_stores_little() {
    let url = pg_url();
    let (src, dst) = (unique("lbops_pg3_src"), unique("lbops_pg3_dst"));
    let _cleanup = Cleanup::pg(&url, &[&src, &dst]);
    pg_dataset(&url, &src, 100_000);
    let before = pg_fingerprint(&url, &src);
    let dir = tempfile::Builder::new().prefix("lifeboat-ops-v3-").tempdir().unwrap();
    let storage = Arc::new(FsStorage::new(dir.path()));
    let options = InitOptions { data_format: 3, ..cheap_init() };
    let repo = Repository::init(storage, Credential::password("v3 ops test"), options).await.unwrap();

    let source = Source::from_url(&with_path(&url, &src), &SourceOptions::default()).unwrap();
    let first = backup_database(&repo, &source, request()).await.unwrap();
    assert_eq!(first.version, 3, "a v3 repository writes v3 dumps");
    let [record] = first.objects.as_slice() else { panic!("{:?}", first.objects) };
    assert_eq!(record.name, format!("db/{src}.pgdump"));
    assert!(record.is_v3() && record.plain_size > 10_000_000, "{record:?}");
    assert!(dir.path().join("data").read_dir().map_or(true, |mut d| d.next().is_none()), "no v2 object");
    let mut raw = Vec::new();
    repo.restore_to_writer(&first, None, &mut raw).await.unwrap();
    assert!(raw.starts_with(b"PGDMP") && raw.len() as u64 == record.plain_size);

    let restorer =
        Restorer::from_url(&with_path(&url, &dst), &RestoreOptions { create: true, ..Default::default() }).unwrap();
    let reports = restore_database(&repo, &first, &restorer).await.unwrap();
    assert_eq!(reports[0].bytes, record.plain_size);
    assert_eq!(pg_fingerprint(&url, &dst), before);

    // A few rows changed: the next dump shares everything but the chunks around them.
    psql(&url, &src, "UPDATE a_small SET note = 'changed' WHERE id < 5;");
    let second = backup_database(&repo, &source, request()).await.unwrap();
    let (size, new) = (second.objects[0].plain_size, second.stats["bytes_new"]);
    assert!(new < size / 3, "the second dump stored {new} of its {size} bytes: {:?}", second.stats);
    let mut again = Vec::new();
    repo.restore_to_writer(&second, None, &mut again).await.unwrap();
    assert_eq!(again.len() as u64, size);
    let check = repo.verify(&[first, second], true).await.unwrap();
    assert!(check.damage.is_empty(), "{:?}", check.damage);
}
