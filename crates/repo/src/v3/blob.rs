//! Blob ids, kinds, and the store interface that trees and streams are written through.

// StoreError carries the storage's error by value (see pack.rs); results of it are large.
#![allow(clippy::result_large_err)]

use std::future::Future;

use bytes::Bytes;

use super::error::StoreError;
use super::index::BlobLocation;
use super::pack::{PackEntry, PackId};

/// A blob's id: keyed BLAKE3 of its plaintext under the domain's id key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// Lowercase hex, 64 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase hex digits; anything else is `None`.
    pub fn from_hex(text: &str) -> Option<BlobId> {
        if text.len() != 64 || text.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut id = [0u8; 32];
        hex::decode_to_slice(text, &mut id).ok()?;
        Some(BlobId(id))
    }
}

impl std::fmt::Debug for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobId({})", &self.to_hex()[..16])
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for BlobId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for BlobId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        BlobId::from_hex(&text).ok_or_else(|| serde::de::Error::custom("a blob id is 64 lowercase hex digits"))
    }
}

/// What a blob holds. Stored in the pack's blob directory, one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// A chunk of file or stream content.
    Data = 1,
    /// A directory listing (docs/FORMAT.md 11.6).
    Tree = 2,
}

impl BlobKind {
    /// The byte stored for this kind.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind of a stored byte; `None` for an unknown one.
    pub fn from_code(code: u8) -> Option<BlobKind> {
        match code {
            1 => Some(BlobKind::Data),
            2 => Some(BlobKind::Tree),
            _ => None,
        }
    }
}

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
