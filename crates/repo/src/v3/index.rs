//! Index objects, `index/<index_id>`, and the in-memory index loaded from them
//! (docs/FORMAT.md 11.4).
//!
//! ```text
//! index_object = "LBINDX03" || domain_id (8) || index_id (16) || nonce (12)
//!                || AES-GCM(IK, nonce, body, aad = index_object[0..32])
//! IK           = HKDF(salt = index_id, ikm = seal_key, "lifeboat/v3/index")
//! body         = supersedes_count (u32le) || index_id (16) * supersedes_count
//!                || pack_count (u32le) || pack * pack_count
//! pack         = pack_id (16) || entry_count (u32le) || entry * entry_count   (entries as in 11.3)
//! ```

// StoreError carries the storage's error by value: it is the error type of the BlobStore
// trait that trees and streams share, and boxing its source would change that API.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use lifeboat_crypto::{aead_open, aead_seal, random_bytes};

use super::domain::{DomainId, DomainKeys};
use super::error::StoreError;
use super::pack::{BlobCompression, ENTRY_LEN, PackEntry, PackId, object_id};
use super::{BlobId, BlobKind};

/// First bytes of every index object.
pub const INDEX_MAGIC: &[u8; 8] = b"LBINDX03";
/// Prefix of the index objects' storage keys.
pub const INDEX_PREFIX: &str = "index/";
/// Bytes before the sealed body: magic, domain id, index id, nonce.
pub const INDEX_HEADER_LEN: usize = 44;

object_id!(
    /// An index object's id: 16 random bytes, also its storage key's name.
    IndexId,
    "index"
);

impl IndexId {
    /// The object's storage key, `index/<32 hex>`.
    pub fn key(&self) -> String {
        format!("{INDEX_PREFIX}{}", self.to_hex())
    }

    /// The id in a key written by [`key`](Self::key); `None` for any other key.
    pub fn from_key(key: &str) -> Option<IndexId> {
        IndexId::from_hex(key.strip_prefix(INDEX_PREFIX)?)
    }
}

/// The domain an index object (or its first 16 bytes) belongs to; `None` when the bytes
/// do not start like an index object.
pub fn index_domain(bytes: &[u8]) -> Option<DomainId> {
    if bytes.get(..8)? != INDEX_MAGIC {
        return None;
    }
    bytes.get(8..16)?.try_into().ok()
}

/// One index object's content: packs and their entries, and the objects it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexObject {
    /// Its id.
    pub id: IndexId,
    /// Index objects whose packs this one also lists (compaction, repair); they may be
    /// deleted once this one is stored.
    pub supersedes: Vec<IndexId>,
    /// Packs and the blobs each holds.
    pub packs: Vec<(PackId, Vec<PackEntry>)>,
}

fn index_aad(domain: DomainId, id: IndexId) -> [u8; 32] {
    let mut aad = [0u8; 32];
    aad[..8].copy_from_slice(INDEX_MAGIC);
    aad[8..16].copy_from_slice(&domain);
    aad[16..].copy_from_slice(&id.0);
    aad
}

impl IndexObject {
    /// Encodes and seals the object under its key `IK`.
    pub fn seal(&self, keys: &DomainKeys) -> Result<Vec<u8>, StoreError> {
        let count = |n: usize, what: &str| {
            u32::try_from(n).map_err(|_| StoreError::Internal {
                operation: "write index",
                reason: format!("index {}: too many {what}", self.id),
            })
        };
        let entries: usize = self.packs.iter().map(|(_, e)| e.len()).sum();
        let mut body = Vec::with_capacity(8 + self.supersedes.len() * 16 + self.packs.len() * 20 + entries * ENTRY_LEN);
        body.extend_from_slice(&count(self.supersedes.len(), "superseded indexes")?.to_le_bytes());
        for old in &self.supersedes {
            body.extend_from_slice(&old.0);
        }
        body.extend_from_slice(&count(self.packs.len(), "packs")?.to_le_bytes());
        for (pack, entries) in &self.packs {
            body.extend_from_slice(&pack.0);
            body.extend_from_slice(&count(entries.len(), "entries")?.to_le_bytes());
            for entry in entries {
                entry.encode(&mut body);
            }
        }
        let nonce: [u8; 12] =
            random_bytes().map_err(|e| StoreError::Internal { operation: "write index", reason: e.to_string() })?;
        let aad = index_aad(keys.id(), self.id);
        let key = keys.seal_key().derive(&self.id.0, "lifeboat/v3/index");
        let sealed = aead_seal(&key, &nonce, &aad, &body);
        Ok([&aad[..], &nonce, &sealed].concat())
    }

    /// Opens and parses the stored object `id` of the domain `keys`. Never panics and
    /// never allocates more than the object's size on forged bytes.
    pub fn open(keys: &DomainKeys, id: IndexId, bytes: &[u8]) -> Result<IndexObject, StoreError> {
        let what = || format!("index object {}", id.key());
        let fail = |reason: String| StoreError::Corrupt { what: what(), reason };
        let header = bytes.get(..INDEX_HEADER_LEN).ok_or_else(|| fail("shorter than its header".into()))?;
        let aad = index_aad(keys.id(), id);
        if index_domain(header).is_none() {
            return Err(fail("no index magic (LBINDX03)".into()));
        }
        if header[..32] != aad {
            return Err(fail("its header names another domain or index id".into()));
        }
        let nonce: &[u8; 12] = header[32..].try_into().map_err(|_| fail("short nonce".into()))?;
        let key = keys.seal_key().derive(&id.0, "lifeboat/v3/index");
        let body = aead_open(&key, nonce, &aad, &bytes[INDEX_HEADER_LEN..])
            .ok_or_else(|| fail("authentication failed (damaged, truncated or forged)".into()))?;
        parse_body(id, &body).map_err(fail)
    }
}

/// Reads the plaintext body; every count is checked against the bytes left before use.
fn parse_body(id: IndexId, body: &[u8]) -> Result<IndexObject, String> {
    let mut reader = Reader(body);
    let superseded = reader.count(16)?;
    let mut supersedes = Vec::with_capacity(superseded);
    for _ in 0..superseded {
        supersedes.push(IndexId(reader.array()?));
    }
    let pack_count = reader.count(20)?;
    let mut packs = Vec::with_capacity(pack_count);
    for _ in 0..pack_count {
        let pack = PackId(reader.array()?);
        let n = reader.count(ENTRY_LEN)?;
        let entries = (0..n)
            .map(|_| PackEntry::decode(reader.take(ENTRY_LEN)?).map_err(|e| format!("pack {pack}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        packs.push((pack, entries));
    }
    if !reader.0.is_empty() {
        return Err(format!("{} bytes follow the last pack", reader.0.len()));
    }
    Ok(IndexObject { id, supersedes, packs })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated body".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        self.take(N)?.try_into().map_err(|_| "truncated body".to_owned())
    }

    /// A u32le count of items of at least `item_len` bytes each, refused when the rest of
    /// the body cannot hold them (so a forged count allocates nothing).
    fn count(&mut self, item_len: usize) -> Result<usize, String> {
        let n = u32::from_le_bytes(self.array()?) as usize;
        if n.saturating_mul(item_len) > self.0.len() {
            return Err(format!("a count of {n} does not fit the {} bytes left", self.0.len()));
        }
        Ok(n)
    }
}

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    /// The pack holding it.
    pub pack: PackId,
    /// Its directory entry.
    pub entry: PackEntry,
}

/// An entry in memory without its id: 24 bytes (8 offset, 4 pack number, 4 + 4 lengths,
/// 1 kind, 1 compression, 2 padding).
#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: u64,
    pack: u32,
    sealed_len: u32,
    plain_len: u32,
    kind: BlobKind,
    compression: BlobCompression,
}

// The memory figures below are promises: keep them true at compile time.
const _: () = assert!(std::mem::size_of::<Slot>() == 24);
const _: () = assert!(std::mem::size_of::<(BlobId, Slot)>() == 56);

/// Which pack holds which blob, for one domain: what dedup and reads look up.
///
/// Memory: the loaded entries are one sorted vector of `(BlobId, Slot)`, **56 bytes per
/// entry** (32-byte id, 24-byte slot), so about **56 MB per million chunks** (one million
/// chunks is about 1 TiB at the chunker's 1 MiB average), plus 16 bytes per pack. Entries
/// added since the last [`compact`](Self::compact) live in a hash map at about twice that
/// until they are merged (the store merges on every flush).
#[derive(Debug, Default)]
pub struct Index {
    packs: Vec<PackId>,
    pack_numbers: HashMap<PackId, u32>,
    sorted: Vec<(BlobId, Slot)>,
    recent: HashMap<BlobId, Slot>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        Index::default()
    }

    /// Adds the entries of every pack of `object`.
    pub fn add_object(&mut self, object: &IndexObject) {
        for (pack, entries) in &object.packs {
            self.add_pack(*pack, entries);
        }
    }

    /// Adds the entries of one pack. A blob already known keeps its first location (two
    /// writers may store the same blob twice; either copy serves).
    pub fn add_pack(&mut self, pack: PackId, entries: &[PackEntry]) {
        let number = match self.pack_numbers.get(&pack) {
            Some(n) => *n,
            None => {
                // More than 2^32 packs (128 PiB) cannot happen; saturate rather than wrap.
                let n = u32::try_from(self.packs.len()).unwrap_or(u32::MAX);
                self.packs.push(pack);
                self.pack_numbers.insert(pack, n);
                n
            }
        };
        for entry in entries {
            if self.lookup(&entry.id).is_some() {
                continue;
            }
            let slot = Slot {
                offset: entry.offset,
                pack: number,
                sealed_len: entry.sealed_len,
                plain_len: entry.plain_len,
                kind: entry.kind,
                compression: entry.compression,
            };
            self.recent.insert(entry.id, slot);
        }
    }

    /// Merges recent additions into the sorted table (cheaper memory, same answers).
    pub fn compact(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        self.sorted.extend(self.recent.drain());
        self.sorted.sort_unstable_by_key(|(id, _)| *id);
        self.sorted.shrink_to_fit();
    }

    fn lookup(&self, id: &BlobId) -> Option<&Slot> {
        match self.sorted.binary_search_by_key(id, |(key, _)| *key) {
            Ok(at) => Some(&self.sorted[at].1),
            Err(_) => self.recent.get(id),
        }
    }

    /// Whether the blob is in the index.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.lookup(id).is_some()
    }

    /// Where the blob is stored.
    pub fn get(&self, id: &BlobId) -> Option<BlobLocation> {
        let slot = self.lookup(id)?;
        let pack = *self.packs.get(slot.pack as usize)?;
        let entry = PackEntry {
            id: *id,
            kind: slot.kind,
            compression: slot.compression,
            offset: slot.offset,
            sealed_len: slot.sealed_len,
            plain_len: slot.plain_len,
        };
        Some(BlobLocation { pack, entry })
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    /// Whether no blob is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of packs.
    pub fn pack_count(&self) -> usize {
        self.packs.len()
    }
}
