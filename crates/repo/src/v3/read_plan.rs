//! Reads planned by pack: a run of neighbouring blobs of one pack is read with one range
//! request and split, so that restoring many small files costs a few large sequential reads
//! instead of one request per chunk.

// StoreError carries the storage's error by value (see pack.rs).
#![allow(clippy::result_large_err)]

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use super::error::StoreError;
use super::pack::{PackEntry, PackId, open_blob};
use super::store::ChunkStore;

/// Most bytes reserved up front for one read (a forged index cannot make a reader reserve
/// gigabytes; a longer read still grows as the bytes arrive).
const MAX_CAPACITY: u64 = 64 << 20;

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
        let wrap = |source| StoreError::Storage { operation: "read pack", key: key.clone(), source };
        let mut stream = storage.get(&key, Some(span.clone())).await.map_err(wrap)?;
        // Sized once (the span is at most a few MiB): growing by doubling would hold twice
        // the run in memory, for each run in flight.
        let mut buf = BytesMut::with_capacity((span.end - span.start).min(MAX_CAPACITY) as usize);
        while let Some(chunk) = stream.next().await {
            buf.extend_from_slice(&chunk.map_err(wrap)?);
        }
        let bytes = buf.freeze();
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
