//! Condemned records (`prune/<id>`, docs/FORMAT.md 11.6): their bytes, and the packs they
//! name, which writers must not deduplicate against. Apart from the prune that writes
//! them, since every store reads them when it opens.

// StoreError carries the storage's error by value (see pack.rs); results of it are large.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use lifeboat_crypto::{aead_open, aead_seal, random_bytes};
use lifeboat_storage::Storage;

use super::domain::{DomainId, DomainKeys};
use super::error::StoreError;
use super::id::BlobId;
use super::io::{list_prefix, read_range};
use super::pack::{PackId, object_id};

/// Prefix of condemned records: `prune/<record id, 32 hex>`.
pub const PRUNE_PREFIX: &str = "prune/";
/// First bytes of every condemned record.
pub const RECORD_MAGIC: &[u8; 8] = b"LBPRUNE3";
/// Magic, domain id, record id, nonce.
const RECORD_HEADER_LEN: usize = 44;

object_id!(
    /// A condemned record's id: 16 random bytes, also its storage key's name.
    RecordId,
    "prune record"
);

impl RecordId {
    /// The record's storage key, `prune/<32 hex>`.
    pub fn key(&self) -> String {
        format!("{PRUNE_PREFIX}{}", self.to_hex())
    }

    /// The id in a key written by [`key`](Self::key); `None` for any other key.
    pub fn from_key(key: &str) -> Option<RecordId> {
        RecordId::from_hex(key.strip_prefix(PRUNE_PREFIX)?)
    }
}

/// A condemned record: when it was written (storage clock) and the packs it condemns, each
/// with every blob it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneRecord {
    /// Its id.
    pub id: RecordId,
    /// When the condemning run wrote it, by the storage's clock.
    pub at: SystemTime,
    /// The condemned packs and their blobs.
    pub packs: BTreeMap<PackId, Vec<BlobId>>,
}

fn record_aad(domain: DomainId, id: RecordId) -> [u8; 32] {
    let mut aad = [0u8; 32];
    aad[..8].copy_from_slice(RECORD_MAGIC);
    aad[8..16].copy_from_slice(&domain);
    aad[16..].copy_from_slice(&id.0);
    aad
}

fn corrupt(id: RecordId, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: format!("condemned record {}", id.key()), reason: reason.into() }
}

impl PruneRecord {
    /// Encodes and seals the record (FORMAT.md 11.6):
    /// `"LBPRUNE3" || domain_id (8) || record_id (16) || nonce (12) || AES-GCM(RK, nonce,
    /// body, aad = record[0..32])`, `RK = HKDF(salt = record_id, ikm = seal_key,
    /// "lifeboat/v3/prune")`, `body = at_ms (i64le) || pack_count (u32le) || (pack_id (16)
    /// || blob_count (u32le) || blob_id (32) * blob_count) * pack_count`.
    pub fn seal(&self, keys: &DomainKeys) -> std::result::Result<Vec<u8>, StoreError> {
        let too_many = || StoreError::Internal { operation: "write prune record", reason: "too many entries".into() };
        let at_ms = match self.at.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).map_err(|_| too_many())?,
            Err(e) => -i64::try_from(e.duration().as_millis()).map_err(|_| too_many())?,
        };
        let mut body = Vec::new();
        body.extend_from_slice(&at_ms.to_le_bytes());
        body.extend_from_slice(&u32::try_from(self.packs.len()).map_err(|_| too_many())?.to_le_bytes());
        for (pack, blobs) in &self.packs {
            body.extend_from_slice(&pack.0);
            body.extend_from_slice(&u32::try_from(blobs.len()).map_err(|_| too_many())?.to_le_bytes());
            for blob in blobs {
                body.extend_from_slice(&blob.0);
            }
        }
        let nonce: [u8; 12] = random_bytes()
            .map_err(|e| StoreError::Internal { operation: "write prune record", reason: e.to_string() })?;
        let aad = record_aad(keys.id(), self.id);
        let key = keys.seal_key().derive(&self.id.0, "lifeboat/v3/prune");
        let sealed = aead_seal(&key, &nonce, &aad, &body);
        Ok([&aad[..], &nonce, &sealed].concat())
    }

    /// Opens the stored record `id`; `Ok(None)` for a record of another domain. Never
    /// panics and allocates no more than the bytes hold on forged input.
    pub fn open(keys: &DomainKeys, id: RecordId, bytes: &[u8]) -> std::result::Result<Option<PruneRecord>, StoreError> {
        let header = bytes.get(..RECORD_HEADER_LEN).ok_or_else(|| corrupt(id, "shorter than its header"))?;
        if &header[..8] != RECORD_MAGIC {
            return Err(corrupt(id, "no record magic (LBPRUNE3)"));
        }
        if header[8..16] != keys.id() {
            return Ok(None);
        }
        let aad = record_aad(keys.id(), id);
        if header[..32] != aad {
            return Err(corrupt(id, "its header names another record id"));
        }
        let nonce: &[u8; 12] = header[32..].try_into().map_err(|_| corrupt(id, "short nonce"))?;
        let key = keys.seal_key().derive(&id.0, "lifeboat/v3/prune");
        let body = aead_open(&key, nonce, &aad, &bytes[RECORD_HEADER_LEN..])
            .ok_or_else(|| corrupt(id, "authentication failed (damaged, truncated or forged)"))?;
        parse_record(id, &body).map(Some).map_err(|reason| corrupt(id, reason))
    }
}

/// Takes `n` bytes from the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
    if rest.len() < n {
        return Err("truncated body".into());
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

/// A u32le count of items of `item_len` bytes each, refused when the rest cannot hold them.
fn count(rest: &mut &[u8], item_len: usize) -> std::result::Result<usize, String> {
    let raw: [u8; 4] = take(rest, 4)?.try_into().map_err(|_| "truncated body".to_owned())?;
    let n = u32::from_le_bytes(raw) as usize;
    if n.saturating_mul(item_len) > rest.len() {
        return Err(format!("a count of {n} does not fit the {} bytes left", rest.len()));
    }
    Ok(n)
}

fn parse_record(id: RecordId, body: &[u8]) -> std::result::Result<PruneRecord, String> {
    let mut rest = body;
    let at_raw: [u8; 8] = take(&mut rest, 8)?.try_into().map_err(|_| "truncated body".to_owned())?;
    let at_ms = i64::from_le_bytes(at_raw);
    let offset = Duration::from_millis(at_ms.unsigned_abs());
    let at = if at_ms >= 0 { SystemTime::UNIX_EPOCH + offset } else { SystemTime::UNIX_EPOCH - offset };
    let mut packs = BTreeMap::new();
    for _ in 0..count(&mut rest, 20)? {
        let pack = PackId(take(&mut rest, 16)?.try_into().map_err(|_| "truncated body".to_owned())?);
        let n = count(&mut rest, 32)?;
        let blobs = (0..n)
            .map(|_| take(&mut rest, 32).and_then(|b| b.try_into().map(BlobId).map_err(|_| "truncated".to_owned())))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        packs.insert(pack, blobs);
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes follow the last pack", rest.len()));
    }
    Ok(PruneRecord { id, at, packs })
}

/// A record as listed: its content and when the storage wrote it.
#[derive(Debug, Clone)]
pub(crate) struct ListedRecord {
    pub(crate) record: PruneRecord,
    /// The later of the time inside and the storage's modification time: a later time
    /// only makes rules (b) and (c) wait longer.
    pub(crate) at: SystemTime,
}

/// Reads every condemned record of domain `keys`. A record that cannot be read fails the
/// whole read: a writer that ignored it could deduplicate against a pack about to go.
pub(crate) async fn read_records(
    storage: &dyn Storage,
    keys: &DomainKeys,
) -> std::result::Result<Vec<ListedRecord>, StoreError> {
    let mut out = Vec::new();
    for meta in list_prefix(storage, "list prune records", PRUNE_PREFIX).await? {
        let Some(id) = RecordId::from_key(&meta.key) else { continue };
        let bytes = match read_range(storage, "read prune record", &meta.key, None).await {
            Ok(bytes) => bytes,
            // Deleted by a prune since the listing: its packs are decided.
            Err(StoreError::Storage { source, .. }) if source.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        if let Some(record) = PruneRecord::open(keys, id, &bytes)? {
            let at = meta.modified.map_or(record.at, |m| m.max(record.at));
            out.push(ListedRecord { record, at });
        }
    }
    Ok(out)
}

/// The packs every condemned record of domain `keys` names: what a writer must not
/// deduplicate against ([`ChunkStore::open`] reads them).
pub(crate) async fn condemned_packs(
    storage: &dyn Storage,
    keys: &DomainKeys,
) -> std::result::Result<BTreeSet<PackId>, StoreError> {
    Ok(read_records(storage, keys).await?.into_iter().flat_map(|r| r.record.packs.into_keys()).collect())
}
