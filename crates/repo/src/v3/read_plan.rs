//! Reads planned by pack: a run of neighbouring blobs of one pack is read with one range
//! request and split, so that restoring many small files costs a few large sequential reads
//! instead of one request per chunk.

// StoreError carries the storage's error by value (see pack.rs).
#![allow(clippy::result_large_err)]

use bytes::Bytes;

use super::error::StoreError;
use super::pack::{PackEntry, PackId, open_blob};
use super::store::{ChunkStore, read_range};

impl ChunkStore {
    /// Reads the blobs `entries` of `pack` (sorted by offset) with one range request
    /// covering them all, then opens each (authenticated, decompressed, checked against its
    /// id) on a blocking thread. Entries must lie in the pack in order without overlapping;
    /// a list that does not is refused, never read out of bounds.
    pub(crate) async fn read_run(
        &self,
        pack: PackId,
        entries: Vec<PackEntry>,
    ) -> Result<Vec<Result<Bytes, StoreError>>, StoreError> {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else { return Ok(Vec::new()) };
        let span = first.offset..last.range().end;
        let ordered = entries.windows(2).all(|pair| pair[0].range().end <= pair[1].offset);
        if !ordered || span.start >= span.end {
            return Err(StoreError::Internal {
                operation: "read blobs of a pack",
                reason: format!("pack {pack}: the blobs asked for are not in order"),
            });
        }
        self.ensure_pack_key(pack).await?;
        let key = pack.key();
        let (storage, _) = self.read_parts(&first.id);
        let bytes = read_range(storage.as_ref(), "read pack", &key, Some(span.clone())).await?;
        let keys = self.clone();
        tokio::task::spawn_blocking(move || {
            entries
                .iter()
                .map(|entry| {
                    let start = (entry.offset - span.start) as usize;
                    let end = (entry.range().end - span.start) as usize;
                    // A short read (a truncated pack) gives a short record, which open_blob refuses.
                    let record = bytes.get(start.min(bytes.len())..end.min(bytes.len())).unwrap_or(&[]);
                    open_blob(keys.keys(), pack, entry, record)
                })
                .collect()
        })
        .await
        .map_err(|e| StoreError::Internal { operation: "open blobs", reason: e.to_string() })
    }
}
