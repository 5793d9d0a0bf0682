//! The store interface that trees and streams are written through.

// StoreError carries the storage's error by value (see pack.rs); results of it are large.
#![allow(clippy::result_large_err)]

use std::future::Future;

use bytes::Bytes;

use super::error::StoreError;
use super::id::{BlobId, BlobKind};
use super::index::BlobLocation;
use super::pack::{PackEntry, PackId};

/// Where a writer puts blobs and a reader gets them: the pack store of a v3 repository, or
/// anything else that keeps the same promises (tests use a map).
///
/// `put_blob` may return before the blob is durable; it is durable (in a pack, and in an
/// index object) once `flush` returned. A manifest may name a blob only after that.
pub trait BlobStore: Send + Sync {
    /// The keyed id of `plaintext` in this store's domain.
    fn blob_id(&self, plaintext: &[u8]) -> BlobId;

    /// The domain's chunker.
    fn chunker(&self) -> &lifeboat_chunker::Chunker;

    /// Whether the blob is known to be stored (in the index or written by this writer).
    fn has_blob(&self, id: &BlobId) -> bool;

    /// Stores `plaintext` as a blob (a no-op when it is already stored) and returns its id.
    fn put_blob(&self, kind: BlobKind, plaintext: Bytes) -> impl Future<Output = Result<BlobId, StoreError>> + Send;

    /// Stores `plaintext` as the blob `id`, which the caller computed with
    /// [`blob_id`](Self::blob_id) (a no-op when it is already stored): a store need not hash
    /// it again. An id that is not the plaintext's keyed hash is a caller's bug; a store
    /// may refuse it (the pack store does in debug builds) or store a blob no reader opens.
    ///
    /// The default puts it with [`put_blob`](Self::put_blob) and refuses a wrong id.
    fn put_blob_with_id(
        &self,
        kind: BlobKind,
        id: BlobId,
        plaintext: Bytes,
    ) -> impl Future<Output = Result<BlobId, StoreError>> + Send {
        async move {
            let stored = self.put_blob(kind, plaintext).await?;
            if stored != id {
                return Err(StoreError::Internal {
                    operation: "store blob",
                    reason: format!("the id {id} given with a blob is not its keyed hash {stored}"),
                });
            }
            Ok(stored)
        }
    }

    /// Reads, authenticates and decompresses one blob.
    fn get_blob(&self, id: &BlobId) -> impl Future<Output = Result<Bytes, StoreError>> + Send;

    /// Makes every blob put so far durable: packs written, then an index object naming them.
    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Where the blob is stored, for readers that plan their reads by pack; `None` when the
    /// store cannot say (a blob not in a stored pack yet, or a store without packs).
    fn blob_location(&self, _id: &BlobId) -> Option<BlobLocation> {
        None
    }

    /// Reads the blobs `entries` of `pack` (as [`blob_location`](Self::blob_location) gave
    /// them, sorted by offset) with as few storage reads as they allow (one for a run of
    /// neighbours), then authenticates, decompresses and checks each against its id. The
    /// outer error is the read's; each blob has its own result, so a damaged one is named.
    ///
    /// The default reads each blob with [`get_blob`](Self::get_blob) and checks its id.
    fn get_pack_run(
        &self,
        _pack: PackId,
        entries: Vec<PackEntry>,
    ) -> impl Future<Output = Result<Vec<Result<Bytes, StoreError>>, StoreError>> + Send {
        async move {
            let mut out = Vec::with_capacity(entries.len());
            for entry in &entries {
                let blob = self.get_blob(&entry.id).await.and_then(|data| {
                    if self.blob_id(&data) == entry.id {
                        Ok(data)
                    } else {
                        Err(StoreError::Corrupt {
                            what: format!("blob {}", entry.id),
                            reason: "does not match its id".into(),
                        })
                    }
                });
                out.push(blob);
            }
            Ok(out)
        }
    }
}
