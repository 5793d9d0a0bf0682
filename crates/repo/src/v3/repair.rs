//! `repair index`: rebuilds a domain's index from its packs alone (docs/FORMAT.md 11.3:
//! a pack's sealed directory makes it self-describing).
//!
//! Each pack costs three range reads (header, tail, directory), not a download; a pack with
//! key slots (a write-only host's domain) one more for the slots, and only a handle holding
//! a recipient's identity can read its directory. The new
//! index object lists every readable pack of the domain and supersedes every index object
//! of the domain that was listed; those are deleted after it is stored (11.4's order).

// StoreError carries the storage's error by value: it is the error type of the BlobStore
// trait that trees and streams share, and boxing its source would change that API.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use lifeboat_storage::Storage;

use super::cache::IndexCache;
use super::domain::DomainKeys;
use super::error::StoreError;
use super::index::{INDEX_PREFIX, IndexId, IndexObject, index_domain};
use super::pack::{
    HEADER_LEN, PACK_MAGIC, PACKS_PREFIX, PackEntry, PackId, TAIL_LEN, open_directory, parse_header,
    parse_header_start, parse_tail,
};
use super::store::{list_prefix, read_range, store_index};

/// What [`repair_index`] did.
#[derive(Debug, Default)]
pub struct RepairReport {
    /// Packs of the domain whose directories were read.
    pub packs: usize,
    /// Blobs they hold.
    pub blobs: usize,
    /// Packs of other domains, left alone.
    pub other_domains: usize,
    /// Objects under `packs/` that could not be read, with the reason (left in place).
    pub damaged: Vec<(String, String)>,
    /// The index object written.
    pub index: Option<IndexId>,
    /// The index objects it superseded, deleted.
    pub superseded: Vec<IndexId>,
}

/// Rebuilds the index of domain `keys` from the packs in `storage`; `cache`, when given,
/// receives the new object and forgets the superseded ones.
pub async fn repair_index(
    storage: &Arc<dyn Storage>,
    keys: &Arc<DomainKeys>,
    cache: Option<&IndexCache>,
) -> Result<RepairReport, StoreError> {
    let mut report = RepairReport::default();
    let listing = list_prefix(storage.as_ref(), "list packs", PACKS_PREFIX).await?;
    let mut packs = Vec::new();
    for meta in listing {
        let Some(pack) = PackId::from_key(&meta.key) else {
            report.damaged.push((meta.key, "not a pack key (packs/<xx>/<32 hex>)".into()));
            continue;
        };
        match read_directory(storage.as_ref(), keys, pack, meta.size).await {
            Ok(Some(entries)) => {
                report.blobs += entries.len();
                packs.push((pack, entries));
            }
            Ok(None) => report.other_domains += 1,
            // A pack this handle cannot unwrap (a write-only host repairing its own domain)
            // is not damage: listing it as such would supersede the index that names it.
            Err(e @ (StoreError::Storage { .. } | StoreError::NoPackKey { .. })) => return Err(e),
            Err(e) => report.damaged.push((meta.key, e.to_string())),
        }
    }
    report.packs = packs.len();
    let superseded = domain_indexes(storage.as_ref(), keys).await?;
    let object = IndexObject { id: IndexId::generate()?, supersedes: superseded.clone(), packs };
    let id = object.id;
    store_index(storage, keys, cache, object).await?;
    report.index = Some(id);
    for old in superseded {
        let key = old.key();
        match storage.delete(&key).await {
            Ok(()) => {}
            // A locked backup's index object (FORMAT.md 11.5) stays until its retention
            // ends: it names only packs retained as long, all of which the new one names.
            Err(lifeboat_storage::StorageError::Retained { .. }) => continue,
            Err(source) => return Err(StoreError::Storage { operation: "delete index", key, source }),
        }
        if let Some(cache) = cache {
            // Only a stale file if this fails: the store forgets unlisted copies at open.
            let _ = cache.remove(old);
        }
        report.superseded.push(old);
    }
    Ok(report)
}

/// The directory of one pack of `size` bytes, by range reads; `None` when the pack
/// belongs to another domain.
pub(crate) async fn read_directory(
    storage: &dyn Storage,
    keys: &DomainKeys,
    pack: PackId,
    size: u64,
) -> Result<Option<Vec<PackEntry>>, StoreError> {
    let key = pack.key();
    if size < (HEADER_LEN + TAIL_LEN) as u64 {
        return Err(StoreError::Corrupt { what: format!("pack {key}"), reason: format!("truncated ({size} bytes)") });
    }
    let header = read_range(storage, "read pack header", &key, Some(0..HEADER_LEN as u64)).await?;
    if header.starts_with(PACK_MAGIC) && header.get(8..16).is_some_and(|domain| domain != keys.id()) {
        return Ok(None);
    }
    let header_len = parse_header_start(keys, pack, &header)?;
    // A write-only host's pack: its key is in the slots after the fixed part (its
    // directory is sealed with that key too).
    let header = match header_len > HEADER_LEN as u64 {
        true => read_range(storage, "read pack key slots", &key, Some(0..header_len.min(size))).await?,
        false => header,
    };
    parse_header(keys, pack, &header)?;
    let tail_start = size.saturating_sub(TAIL_LEN as u64).max(header_len);
    let tail = read_range(storage, "read pack tail", &key, Some(tail_start..size)).await?;
    let dir_range = parse_tail(pack, size, header_len, &tail)?;
    let dir = read_range(storage, "read pack directory", &key, Some(dir_range.clone())).await?;
    open_directory(keys, pack, header_len, dir_range, &dir).map(Some)
}

/// The index objects of the domain now listed (their first 16 bytes name the domain).
async fn domain_indexes(storage: &dyn Storage, keys: &DomainKeys) -> Result<Vec<IndexId>, StoreError> {
    let listing = list_prefix(storage, "list index", INDEX_PREFIX).await?;
    let mut ours = Vec::new();
    for meta in listing {
        let Some(id) = IndexId::from_key(&meta.key) else { continue };
        let head = read_range(storage, "read index header", &meta.key, Some(0..16.min(meta.size))).await?;
        // A damaged header is superseded too: the new object lists every pack it could.
        if index_domain(&head).is_none_or(|domain| domain == keys.id()) {
            ours.push(id);
        }
    }
    Ok(ours)
}
