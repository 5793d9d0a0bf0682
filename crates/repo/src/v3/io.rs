//! Reading whole objects and listings of the storage, with errors that name the object
//! and the operation (shared by the store, prune, repair and verify).

// StoreError carries the storage's error by value (see pack.rs); results of it are large.
#![allow(clippy::result_large_err)]

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use lifeboat_storage::{ObjectMeta, Storage, StorageExt};

use super::error::StoreError;

/// Reads `range` of the object `key` whole into memory.
pub(crate) async fn read_range(
    storage: &dyn Storage,
    operation: &'static str,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> Result<Bytes, StoreError> {
    let wrap = |source| StoreError::Storage { operation, key: key.to_owned(), source };
    let mut stream = storage.get(key, range).await.map_err(wrap)?;
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk.map_err(wrap)?);
    }
    Ok(buf.freeze())
}

/// Lists every object under `prefix` (sorted by key).
pub(crate) async fn list_prefix(
    storage: &dyn Storage,
    operation: &'static str,
    prefix: &str,
) -> Result<Vec<ObjectMeta>, StoreError> {
    storage.list_all(prefix).await.map_err(|source| StoreError::Storage { operation, key: prefix.into(), source })
}
