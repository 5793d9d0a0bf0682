//! The storage contract on the backends and layers that need no server.

mod common;

use std::sync::Arc;

use common::{Suite, conformance};
use lifeboat_storage::layer::{MetricsLayer, RateLimitLayer, RetryLayer, TenantLayer};
use lifeboat_storage::{FsStorage, MemoryStorage, open_url};

#[tokio::test]
async fn fs_backend() {
    let dir = tempfile::tempdir().unwrap();
    conformance(Arc::new(FsStorage::new(dir.path().join("repo"))), Suite::default()).await;
}

#[tokio::test]
async fn memory_backend() {
    conformance(Arc::new(MemoryStorage::new()), Suite::default()).await;
}

#[tokio::test]
async fn every_layer_stacked_on_fs() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FsStorage::new(dir.path());
    let stacked = TenantLayer::new(
        MetricsLayer::new(RetryLayer::new(RateLimitLayer::new(fs, Some(1 << 30), Some(1 << 30))), "fs"),
        "acme",
    )
    .unwrap();
    conformance(Arc::new(stacked), Suite::default()).await;
    // Everything went under the tenant's prefix and was cleaned up there.
    let left: Vec<_> = walk(dir.path());
    assert!(left.iter().all(|p| p.starts_with(dir.path().join("tenants/acme"))), "{left:?}");
}

#[tokio::test]
async fn two_tenants_on_one_memory_store() {
    let shared = MemoryStorage::new();
    let other = TenantLayer::new(shared.clone(), "acme2").unwrap();
    lifeboat_storage::StorageExt::put_bytes(&other, "config", bytes::Bytes::from_static(b"x")).await.unwrap();
    // acme's run starts from an empty view although acme2 has objects.
    conformance(Arc::new(TenantLayer::new(shared.clone(), "acme").unwrap()), Suite::default()).await;
    assert_eq!(lifeboat_storage::StorageExt::list_all(&shared, "").await.unwrap().len(), 1);
}

#[tokio::test]
async fn open_url_file_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("r").display());
    conformance(open_url(&url).unwrap(), Suite::default()).await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
