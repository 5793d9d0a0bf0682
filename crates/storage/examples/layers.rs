//! Stacks the storage layers over a local directory: tenant isolation, retries, a
//! bandwidth limit and metrics, then shows what each one does.
//!
//! ```text
//! cargo run -p lifeboat-storage --example layers
//! ```

use std::time::Instant;

use bytes::Bytes;
use lifeboat_storage::layer::{MetricsLayer, RateLimitLayer, RetryLayer, TenantLayer};
use lifeboat_storage::{FsStorage, Storage, StorageExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lifeboat_storage::StorageError> {
    let dir = std::env::temp_dir().join(format!("lifeboat-layers-example-{}", std::process::id()));
    let backend = FsStorage::new(&dir);
    // 1 MiB/s upload limit, unlimited download.
    let store = TenantLayer::new(
        MetricsLayer::new(RetryLayer::new(RateLimitLayer::new(backend, Some(1 << 20), None)), "fs"),
        "acme",
    )?;
    println!("storage: {}", store.location());

    let start = Instant::now();
    store.put_bytes("backups/one", Bytes::from(vec![0u8; 2 << 20])).await?;
    println!("wrote 2 MiB at <= 1 MiB/s in {:.1} s", start.elapsed().as_secs_f64());

    for key in ["../other-tenant/config", "%2e%2e/x", "/etc/passwd"] {
        match store.get(key, None).await {
            Err(e) => println!("refused {key:?}: {e}"),
            Ok(_) => println!("UNEXPECTED: {key:?} was readable"),
        }
    }
    for meta in store.list_all("").await? {
        println!("acme sees {} ({} bytes)", meta.key, meta.size);
    }
    println!("on disk under {}", dir.join("tenants/acme").display());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
