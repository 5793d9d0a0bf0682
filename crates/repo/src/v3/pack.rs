//! Packs: many sealed blobs in one storage object, with a sealed directory that makes the
//! pack self-describing (docs/FORMAT.md 11.3).
//!
//! ```text
//! pack      = header || blob* || directory || dir_len (u32le) || "LBPKEND3"
//! header    = "LBPACK03" || domain_id (8) || pack_id (16) || slot_count (u16le) || slot*
//! slot      = 2 (u8) || 100 (u16le) || recipient_id (8) || ephemeral_public (32) || nonce (12) || wrapped (48)
//! blob      = nonce (12) || AES-GCM(PK, nonce, body, aad = header[0..32] || blob_id || kind)
//! directory = nonce (12) || AES-GCM(PK, nonce, entries, aad = header[0..32] || "directory")
//! entry     = blob_id (32) || kind (1) || compression (1) || offset (u64le) || sealed_len (u32le) || plain_len (u32le)
//! ```
//!
//! `offset` is where the blob's nonce starts, `sealed_len` covers nonce, ciphertext and tag.
//! Without slots `PK` derives from the domain's `seal_key` ([`pack_key`]); with slots (a
//! write-only host's domain) `PK` is random and each slot wraps it for one recipient, as a
//! section 3.2 type-2 slot does with `aad = header[0..32]`, so only an identity opens it.
//! Parsing never trusts a length before checking it against the bytes at hand, so forged
//! or truncated packs give errors, never panics or huge allocations.

// StoreError carries the storage's error by value: it is the error type of the BlobStore
// trait that trees and streams share, and boxing its source would change that API.
#![allow(clippy::result_large_err)]

use std::ops::Range;

use bytes::Bytes;
use lifeboat_crypto::{RecipientPublicKey, SecretKey, aead_open, aead_seal, random_bytes};

use super::domain::{DomainId, DomainKeys};
use super::error::StoreError;
use super::{BlobId, BlobKind};

/// First bytes of every pack.
pub const PACK_MAGIC: &[u8; 8] = b"LBPACK03";
/// Last bytes of every pack.
pub const PACK_TRAILER: &[u8; 8] = b"LBPKEND3";
/// Prefix of the packs' storage keys.
pub const PACKS_PREFIX: &str = "packs/";
/// Size at which a writer closes a pack (32 MiB): few objects and requests per TiB, yet a
/// lost upload costs little to redo.
pub const TARGET_PACK_SIZE: usize = 32 << 20;
/// Bytes of one directory (and index) entry.
pub const ENTRY_LEN: usize = 32 + 1 + 1 + 8 + 4 + 4;
/// Bytes of the header without slots: magic, domain id, pack id, slot count.
pub const HEADER_LEN: usize = 34;
/// Bytes after the directory: its length and the trailer.
pub const TAIL_LEN: usize = 12;
/// Slot type of a recipient slot (FORMAT.md 3.2), the only one a pack header holds.
const RECIPIENT_SLOT: u8 = 2;
/// Bytes of a recipient slot's body.
const RECIPIENT_BODY_LEN: usize = 100;
/// Bytes of one slot in a pack header: type, body length, body.
pub const SLOT_LEN: usize = 3 + RECIPIENT_BODY_LEN;
/// The most slots a pack header may have: one per recipient, and a config lists at most 64.
pub const MAX_PACK_SLOTS: usize = 64;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The smallest sealed blob or directory: a nonce and a tag around nothing.
const MIN_SEALED: usize = NONCE_LEN + TAG_LEN;
/// Magic, domain id and pack id: the prefix of every AEAD's associated data.
const AAD_PREFIX_LEN: usize = 32;

/// Defines a 16-byte random object id with hex forms.
macro_rules! object_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Result<$name, StoreError> {
                random_bytes()
                    .map($name)
                    .map_err(|e| StoreError::Internal { operation: concat!("new ", $what, " id"), reason: e.to_string() })
            }

            /// Lowercase hex, 32 digits.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses 32 lowercase hex digits; anything else is `None`.
            pub fn from_hex(text: &str) -> Option<$name> {
                if text.len() != 32 || text.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return None;
                }
                let mut id = [0u8; 16];
                hex::decode_to_slice(text, &mut id).ok()?;
                Some($name(id))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}
pub(crate) use object_id;

object_id!(
    /// A pack's id: 16 random bytes, also in its storage key.
    PackId,
    "pack"
);

impl PackId {
    /// The pack's storage key, `packs/<xx>/<32 hex>`.
    pub fn key(&self) -> String {
        let hex = self.to_hex();
        format!("{PACKS_PREFIX}{}/{hex}", &hex[..2])
    }

    /// The id in a storage key written by [`key`](Self::key); `None` for any other key.
    pub fn from_key(key: &str) -> Option<PackId> {
        let rest = key.strip_prefix(PACKS_PREFIX)?;
        let (fan, name) = rest.split_once('/')?;
        let id = PackId::from_hex(name)?;
        (fan.as_bytes() == &name.as_bytes()[..2]).then_some(id)
    }
}

/// How a blob's body is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobCompression {
    /// The chunk itself (compression would not have shrunk it).
    None = 0,
    /// One zstd frame of the chunk.
    Zstd = 1,
}

impl BlobCompression {
    /// The byte stored for this compression.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The compression of a stored byte; `None` for an unknown one.
    pub fn from_code(code: u8) -> Option<BlobCompression> {
        match code {
            0 => Some(BlobCompression::None),
            1 => Some(BlobCompression::Zstd),
            _ => None,
        }
    }
}

/// One blob of a pack, as its directory (and an index object) describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    /// The blob's id.
    pub id: BlobId,
    /// What it holds.
    pub kind: BlobKind,
    /// How its body is stored.
    pub compression: BlobCompression,
    /// Where its nonce starts in the pack.
    pub offset: u64,
    /// Bytes of nonce, ciphertext and tag.
    pub sealed_len: u32,
    /// Bytes of plaintext.
    pub plain_len: u32,
}

impl PackEntry {
    /// Appends the entry's [`ENTRY_LEN`] bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.0);
        out.push(self.kind.code());
        out.push(self.compression.code());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.sealed_len.to_le_bytes());
        out.extend_from_slice(&self.plain_len.to_le_bytes());
    }

    /// Reads one entry from exactly [`ENTRY_LEN`] bytes; the reason when they are no entry.
    pub fn decode(bytes: &[u8]) -> Result<PackEntry, String> {
        let bytes: &[u8; ENTRY_LEN] =
            bytes.try_into().map_err(|_| format!("an entry is {ENTRY_LEN} bytes, not {}", bytes.len()))?;
        let (id, rest) = bytes.split_at(32);
        let id = BlobId(id.try_into().map_err(|_| "short blob id".to_owned())?);
        let kind = BlobKind::from_code(rest[0]).ok_or_else(|| format!("blob {id}: unknown kind {}", rest[0]))?;
        let compression =
            BlobCompression::from_code(rest[1]).ok_or_else(|| format!("blob {id}: unknown compression {}", rest[1]))?;
        let word = |at: usize, len: usize| -> u64 {
            rest[at..at + len].iter().rev().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        };
        let entry = PackEntry {
            id,
            kind,
            compression,
            offset: word(2, 8),
            sealed_len: word(10, 4) as u32,
            plain_len: word(14, 4) as u32,
        };
        if (entry.sealed_len as usize) < MIN_SEALED {
            return Err(format!("blob {id}: sealed length {} is below {MIN_SEALED}", entry.sealed_len));
        }
        Ok(entry)
    }

    /// The byte range of the sealed blob in its pack (saturating: checked on parse).
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset.saturating_add(u64::from(self.sealed_len))
    }
}

/// The key of one pack of a domain whose secret the writer holds:
/// `HKDF(salt = pack_id, ikm = seal_key, "lifeboat/v3/pack")`.
pub fn pack_key(keys: &DomainKeys, pack: PackId) -> SecretKey {
    keys.seal_key().derive(&pack.0, "lifeboat/v3/pack")
}

/// `header[0..32]`: magic, domain id and pack id, the prefix of every AEAD's associated data.
fn aad_prefix(domain: DomainId, pack: PackId) -> [u8; AAD_PREFIX_LEN] {
    let mut out = [0u8; AAD_PREFIX_LEN];
    out[..8].copy_from_slice(PACK_MAGIC);
    out[8..16].copy_from_slice(&domain);
    out[16..].copy_from_slice(&pack.0);
    out
}

fn blob_aad(prefix: &[u8; AAD_PREFIX_LEN], id: &BlobId, kind: BlobKind) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX_LEN + 33);
    aad.extend_from_slice(prefix);
    aad.extend_from_slice(&id.0);
    aad.push(kind.code());
    aad
}

fn directory_aad(prefix: &[u8; AAD_PREFIX_LEN]) -> Vec<u8> {
    [&prefix[..], b"directory"].concat()
}

fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into(), reason: reason.into() }
}

fn nonce() -> Result<[u8; NONCE_LEN], StoreError> {
    random_bytes().map_err(|e| StoreError::Internal { operation: "new nonce", reason: e.to_string() })
}

/// A blob's body before sealing: compressed or not, and its plaintext length. Encoding is
/// the costly part of adding a blob, so writers do it off the pack's lock.
#[derive(Debug)]
pub struct EncodedBlob {
    compression: BlobCompression,
    body: Vec<u8>,
    plain_len: u32,
}

impl EncodedBlob {
    /// Bytes of the body (what sealing adds 28 bytes to).
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// How the body is stored.
    pub fn compression(&self) -> BlobCompression {
        self.compression
    }
}

/// A zstd compression context and the buffer it compresses into, for one level.
struct Compressing {
    level: i32,
    context: zstd::bulk::Compressor<'static>,
    scratch: Vec<u8>,
}

/// Contexts not in use. A context is costly to create (allocations sized for the level)
/// and its scratch buffer holds up to a chunk, so they are reused; they live in one pool,
/// not one per thread, because blobs are compressed on the runtime's blocking threads,
/// dozens of which exist (listings, reads) while only a few compress at once: per-thread
/// contexts raised a first backup's peak RSS from 184 to 337 MiB.
static COMPRESSING: std::sync::Mutex<Vec<Compressing>> = std::sync::Mutex::new(Vec::new());

/// Contexts kept in the pool at most (more only while that many compress at once).
const COMPRESSING_KEPT: usize = 4;

/// Calls `f` with a context for `level` from the pool (or a new one), and returns the
/// context to the pool afterwards.
fn with_compressor<T>(level: i32, f: impl FnOnce(&mut Compressing) -> T) -> std::io::Result<T> {
    let pooled = {
        let mut pool = COMPRESSING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pool.iter().position(|c| c.level == level).map(|at| pool.swap_remove(at))
    };
    let mut compressing = match pooled {
        Some(compressing) => compressing,
        None => Compressing { level, context: zstd::bulk::Compressor::new(level)?, scratch: Vec::new() },
    };
    let out = f(&mut compressing);
    let mut pool = COMPRESSING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if pool.len() < COMPRESSING_KEPT {
        pool.push(compressing);
    }
    Ok(out)
}

thread_local! {
    // Likewise a decompression context: creating one per blob (zstd::bulk::decompress) was
    // a tenth of a restore's CPU time.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Decompresses one zstd frame of at most `capacity` bytes with this thread's context.
fn zstd_decompress(body: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let decompressor = match &mut *slot {
            Some(decompressor) => decompressor,
            empty @ None => empty.insert(zstd::bulk::Decompressor::new()?),
        };
        decompressor.decompress(body, capacity)
    })
}

fn zstd_compress(plaintext: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    with_compressor(level, |c| c.context.compress(plaintext))?
}

/// Compresses `plaintext` with zstd at `level` (0: never), keeping the chunk itself when
/// compression does not shrink it.
pub fn encode_blob(plaintext: &[u8], level: i32) -> Result<EncodedBlob, StoreError> {
    let plain_len = plain_len(plaintext)?;
    if level != 0 {
        let compressed = zstd_compress(plaintext, level)
            .map_err(|e| StoreError::Internal { operation: "compress blob", reason: e.to_string() })?;
        if compressed.len() < plaintext.len() {
            return Ok(EncodedBlob { compression: BlobCompression::Zstd, body: compressed, plain_len });
        }
    }
    Ok(EncodedBlob { compression: BlobCompression::None, body: plaintext.to_vec(), plain_len })
}

/// The length of a blob's plaintext as its entry stores it.
fn plain_len(plaintext: &[u8]) -> Result<u32, StoreError> {
    u32::try_from(plaintext.len()).map_err(|_| StoreError::Internal {
        operation: "encode blob",
        reason: format!("{} bytes is more than a blob can hold (4 GiB)", plaintext.len()),
    })
}

/// Compresses `plaintext` (zstd `level`, 0: never) into this thread's scratch buffer and
/// calls `f` with the body to seal: the compressed bytes when they are shorter, else the
/// plaintext itself (not copied).
fn with_body<T>(plaintext: &[u8], level: i32, f: impl FnOnce(BlobCompression, &[u8]) -> T) -> Result<T, StoreError> {
    if level == 0 {
        return Ok(f(BlobCompression::None, plaintext));
    }
    // The pooled context's scratch buffer is reused, so a blob costs no allocation (nor
    // fresh pages to clear) for its compressed copy.
    let done = with_compressor(level, |c| {
        c.scratch.clear();
        c.scratch.reserve(zstd::zstd_safe::compress_bound(plaintext.len()));
        let compressed = c.context.compress_to_buffer(plaintext, &mut c.scratch);
        let compressed =
            compressed.map_err(|e| StoreError::Internal { operation: "compress blob", reason: e.to_string() })?;
        Ok(if compressed < plaintext.len() {
            f(BlobCompression::Zstd, &c.scratch[..compressed])
        } else {
            f(BlobCompression::None, plaintext)
        })
    });
    done.map_err(|e| StoreError::Internal { operation: "compress blob", reason: e.to_string() })?
}

/// What sealing a blob for one pack takes: its id, key and associated-data prefix. Taken
/// from the open [`PackWriter`] ([`PackWriter::sealer`]) so that blobs are compressed and
/// sealed on several threads while only the append to the pack is serial.
#[derive(Clone)]
pub struct PackSealer {
    id: PackId,
    prefix: [u8; AAD_PREFIX_LEN],
    key: SecretKey,
}

impl std::fmt::Debug for PackSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackSealer").field("pack", &self.id).finish_non_exhaustive()
    }
}

impl PackSealer {
    /// The pack the blobs it seals belong in (their associated data names it).
    pub fn pack(&self) -> PackId {
        self.id
    }

    /// Compresses (zstd `level`, 0: never) and seals one blob whose id the caller computed.
    pub fn seal(&self, id: BlobId, kind: BlobKind, plaintext: &[u8], level: i32) -> Result<SealedBlob, StoreError> {
        let plain_len = plain_len(plaintext)?;
        let nonce = nonce()?;
        let aad = blob_aad(&self.prefix, &id, kind);
        let (compression, sealed) =
            with_body(plaintext, level, |compression, body| (compression, aead_seal(&self.key, &nonce, &aad, body)))?;
        self.sealed(id, kind, compression, plain_len, nonce, sealed)
    }

    /// Seals a blob encoded by [`encode_blob`].
    pub fn seal_encoded(&self, id: BlobId, kind: BlobKind, blob: &EncodedBlob) -> Result<SealedBlob, StoreError> {
        let nonce = nonce()?;
        let sealed = aead_seal(&self.key, &nonce, &blob_aad(&self.prefix, &id, kind), &blob.body);
        self.sealed(id, kind, blob.compression, blob.plain_len, nonce, sealed)
    }

    fn sealed(
        &self,
        id: BlobId,
        kind: BlobKind,
        compression: BlobCompression,
        plain_len: u32,
        nonce: [u8; NONCE_LEN],
        sealed: Vec<u8>,
    ) -> Result<SealedBlob, StoreError> {
        let sealed_len = u32::try_from(NONCE_LEN + sealed.len()).map_err(|_| StoreError::Internal {
            operation: "add blob to pack",
            reason: format!("blob {id} is too large for a pack entry"),
        })?;
        Ok(SealedBlob { pack: self.id, id, kind, compression, plain_len, sealed_len, nonce, sealed })
    }
}

/// One blob sealed for one pack (nonce, ciphertext and tag), to append to that pack only.
#[derive(Debug)]
pub struct SealedBlob {
    pack: PackId,
    id: BlobId,
    kind: BlobKind,
    compression: BlobCompression,
    plain_len: u32,
    sealed_len: u32,
    nonce: [u8; NONCE_LEN],
    sealed: Vec<u8>,
}

impl SealedBlob {
    /// The pack it was sealed for.
    pub fn pack(&self) -> PackId {
        self.pack
    }

    /// The blob's id.
    pub fn id(&self) -> BlobId {
        self.id
    }

    /// What it holds.
    pub fn kind(&self) -> BlobKind {
        self.kind
    }
}

/// A finished pack: its bytes, ready to store under [`PackId::key`], and its directory.
#[derive(Debug, Clone)]
pub struct FinishedPack {
    /// The pack's id.
    pub id: PackId,
    /// Every byte of the pack.
    pub bytes: Bytes,
    /// Its blobs, in the order they are stored.
    pub entries: Vec<PackEntry>,
}

/// The capacity a pack's buffer is given once: the target, and room for the blob that
/// crosses it (a chunk is at most 4 MiB by default) and the directory, so that it never
/// grows (a grown buffer is copied, and its new pages cleared by the kernel).
pub fn pack_capacity(target: usize) -> usize {
    let target = target.min(TARGET_PACK_SIZE);
    target + target.min(5 << 20)
}

/// Builds one pack in memory: header, then each blob sealed as it is added, then on
/// [`finish`](Self::finish) the sealed directory and trailer.
///
/// In a domain whose readers hold its secret (the main domain) `PK` derives from
/// `seal_key` and the header has no slots; in a write-only domain
/// ([`DomainKeys::seals_for_recipients`]) `PK` is random and wrapped for each recipient in
/// a type-2 slot (FORMAT.md 11.2, 11.3).
pub struct PackWriter {
    seal: PackSealer,
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
    target: usize,
}

impl std::fmt::Debug for PackWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackWriter")
            .field("id", &self.seal.id)
            .field("len", &self.buf.len())
            .field("blobs", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl PackWriter {
    /// A new, empty pack of the domain `keys` with a random id, closed at `target` bytes
    /// ([`TARGET_PACK_SIZE`] normally).
    pub fn new(keys: &DomainKeys, target: usize) -> Result<PackWriter, StoreError> {
        PackWriter::new_in(keys, target, Vec::new())
    }

    /// Like [`new`](Self::new), in `buf` (cleared): the buffer of a pack stored earlier,
    /// reused so that its pages are not allocated and cleared again.
    pub fn new_in(keys: &DomainKeys, target: usize, mut buf: Vec<u8>) -> Result<PackWriter, StoreError> {
        let id = PackId::generate()?;
        let prefix = aad_prefix(keys.id(), id);
        buf.clear();
        buf.reserve(pack_capacity(target));
        buf.extend_from_slice(&prefix);
        let key = if keys.seals_for_recipients() {
            let key = SecretKey::generate()
                .map_err(|e| StoreError::Internal { operation: "new pack key", reason: e.to_string() })?;
            write_slots(&mut buf, keys.recipients(), &key, &prefix, id)?;
            // This handle may read back what it wrote (a tree it composes the root from);
            // the key lives in memory only, so a later session cannot.
            keys.remember_pack_key(id.0, key.clone());
            key
        } else {
            buf.extend_from_slice(&0u16.to_le_bytes());
            pack_key(keys, id)
        };
        Ok(PackWriter { seal: PackSealer { id, prefix, key }, buf, entries: Vec::new(), target })
    }

    /// The pack's id.
    pub fn id(&self) -> PackId {
        self.seal.id
    }

    /// What sealing a blob for this pack takes, to seal away from the writer.
    pub fn sealer(&self) -> PackSealer {
        self.seal.clone()
    }

    /// Bytes written so far (without the directory still to come).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no blob was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the pack reached its target size and should be finished.
    pub fn is_full(&self) -> bool {
        self.buf.len() >= self.target
    }

    /// The blobs added so far.
    pub fn entries(&self) -> &[PackEntry] {
        &self.entries
    }

    /// Compresses (zstd `level`) and adds one blob whose id the caller computed.
    pub fn add(&mut self, id: BlobId, kind: BlobKind, plaintext: &[u8], level: i32) -> Result<(), StoreError> {
        let sealed = self.seal.seal(id, kind, plaintext, level)?;
        self.append(sealed)
    }

    /// Seals and adds a blob encoded by [`encode_blob`].
    pub fn add_encoded(&mut self, id: BlobId, kind: BlobKind, blob: EncodedBlob) -> Result<(), StoreError> {
        let sealed = self.seal.seal_encoded(id, kind, &blob)?;
        self.append(sealed)
    }

    /// Appends a blob sealed for this pack; one sealed for another pack is refused (its
    /// associated data names that pack, so it would never open here).
    pub fn append(&mut self, blob: SealedBlob) -> Result<(), StoreError> {
        if blob.pack != self.seal.id {
            return Err(StoreError::Internal {
                operation: "add blob to pack",
                reason: format!("blob {} was sealed for pack {}, not {}", blob.id, blob.pack, self.seal.id),
            });
        }
        let offset = self.buf.len() as u64;
        self.buf.extend_from_slice(&blob.nonce);
        self.buf.extend_from_slice(&blob.sealed);
        self.entries.push(PackEntry {
            id: blob.id,
            kind: blob.kind,
            compression: blob.compression,
            offset,
            sealed_len: blob.sealed_len,
            plain_len: blob.plain_len,
        });
        Ok(())
    }

    /// Reads back a blob added to this unfinished pack (a reader may ask for a blob before
    /// its pack is stored); `None` when the pack does not hold it.
    pub fn read_blob(&self, keys: &DomainKeys, id: &BlobId) -> Option<Result<Bytes, StoreError>> {
        let entry = self.entries.iter().find(|e| e.id == *id)?;
        let record = self.buf.get(entry.offset as usize..entry.range().end as usize)?;
        let seal = &self.seal;
        Some(open_record(keys, &seal.key, &seal.prefix, seal.id, entry, record))
    }

    /// Seals the directory and appends it and the trailer.
    pub fn finish(self) -> Result<FinishedPack, StoreError> {
        let PackWriter { seal: PackSealer { id, prefix, key }, mut buf, entries, .. } = self;
        let mut plain = Vec::with_capacity(entries.len() * ENTRY_LEN);
        for entry in &entries {
            entry.encode(&mut plain);
        }
        let nonce = nonce()?;
        let sealed = aead_seal(&key, &nonce, &directory_aad(&prefix), &plain);
        let dir_len = u32::try_from(NONCE_LEN + sealed.len()).map_err(|_| StoreError::Internal {
            operation: "finish pack",
            reason: format!("pack {id}: directory too large"),
        })?;
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(&sealed);
        buf.extend_from_slice(&dir_len.to_le_bytes());
        buf.extend_from_slice(PACK_TRAILER);
        Ok(FinishedPack { id, bytes: Bytes::from(buf), entries })
    }
}

/// Appends `slot_count` and one recipient slot per recipient wrapping `key`.
fn write_slots(
    buf: &mut Vec<u8>,
    recipients: &[RecipientPublicKey],
    key: &SecretKey,
    prefix: &[u8; AAD_PREFIX_LEN],
    pack: PackId,
) -> Result<(), StoreError> {
    let count = u16::try_from(recipients.len()).ok().filter(|n| usize::from(*n) <= MAX_PACK_SLOTS);
    let count = count.ok_or_else(|| StoreError::Internal {
        operation: "new pack",
        reason: format!("pack {pack}: {} recipients, at most {MAX_PACK_SLOTS}", recipients.len()),
    })?;
    buf.extend_from_slice(&count.to_le_bytes());
    for recipient in recipients {
        let wrapped = recipient.wrap(key, prefix).map_err(|e| StoreError::Internal {
            operation: "wrap pack key",
            reason: format!("pack {pack}, recipient {recipient}: {e}"),
        })?;
        buf.push(RECIPIENT_SLOT);
        buf.extend_from_slice(&(RECIPIENT_BODY_LEN as u16).to_le_bytes());
        buf.extend_from_slice(&recipient.id());
        buf.extend_from_slice(&wrapped.ephemeral_public);
        buf.extend_from_slice(&wrapped.nonce);
        buf.extend_from_slice(&wrapped.wrapped);
    }
    Ok(())
}

/// Checks the first [`HEADER_LEN`] bytes of a pack: magic, the expected domain and pack id,
/// at most [`MAX_PACK_SLOTS`] slots. Returns the whole header's length (where the first
/// blob starts): the slots follow, [`SLOT_LEN`] bytes each.
pub fn parse_header_start(keys: &DomainKeys, pack: PackId, bytes: &[u8]) -> Result<u64, StoreError> {
    let what = || format!("pack {}", pack.key());
    let header = bytes.get(..HEADER_LEN).ok_or_else(|| corrupt(what(), "shorter than a pack header"))?;
    if &header[..8] != PACK_MAGIC {
        return Err(corrupt(what(), "no pack magic (LBPACK03)"));
    }
    if header[8..16] != keys.id() {
        return Err(corrupt(
            what(),
            format!("written in domain {}, not {}", hex::encode(&header[8..16]), hex::encode(keys.id())),
        ));
    }
    if header[16..32] != pack.0 {
        return Err(corrupt(what(), format!("its header names pack {}", hex::encode(&header[16..32]))));
    }
    let slots = usize::from(u16::from_le_bytes([header[32], header[33]]));
    if slots > MAX_PACK_SLOTS {
        return Err(corrupt(what(), format!("{slots} key slots (at most {MAX_PACK_SLOTS})")));
    }
    Ok((HEADER_LEN + slots * SLOT_LEN) as u64)
}

/// Checks a pack's whole header (`bytes` holds at least all of it) and makes the pack's key
/// known to `keys`: derived from `seal_key` without slots, else unwrapped from the slot of
/// an identity `keys` holds. Returns the header's length (where the first blob starts).
pub fn parse_header(keys: &DomainKeys, pack: PackId, bytes: &[u8]) -> Result<u64, StoreError> {
    let len = parse_header_start(keys, pack, bytes)?;
    if len == HEADER_LEN as u64 {
        if !keys.identities().is_empty() {
            // A reader that reads headers remembers that this pack needs no slot.
            keys.remember_pack_key(pack.0, pack_key(keys, pack));
        }
        return Ok(len);
    }
    let what = || format!("pack {}", pack.key());
    let slots = bytes.get(HEADER_LEN..len as usize).ok_or_else(|| corrupt(what(), "ends inside its key slots"))?;
    if keys.known_pack_key(&pack.0).is_some() {
        return Ok(len);
    }
    let key = unwrap_slots(keys, pack, slots)?;
    keys.remember_pack_key(pack.0, key);
    Ok(len)
}

/// The pack key from the first slot addressed to an identity of `keys`. A slot addressed
/// to one that does not open is damage; no slot addressed to any is [`StoreError::NoPackKey`].
fn unwrap_slots(keys: &DomainKeys, pack: PackId, slots: &[u8]) -> Result<SecretKey, StoreError> {
    let prefix = aad_prefix(keys.id(), pack);
    let mut addressed_to = Vec::new();
    for slot in slots.chunks_exact(SLOT_LEN) {
        let (kind, len, body) = (slot[0], u16::from_le_bytes([slot[1], slot[2]]), &slot[3..]);
        if kind != RECIPIENT_SLOT || usize::from(len) != RECIPIENT_BODY_LEN {
            return Err(corrupt(
                format!("pack {}", pack.key()),
                format!("a key slot of type {kind} and {len} bytes (a pack holds recipient slots only)"),
            ));
        }
        let (id, rest) = body.split_at(8);
        let (ephemeral, rest) = rest.split_at(32);
        let (nonce, wrapped) = rest.split_at(12);
        addressed_to.push(hex::encode(id));
        let (Ok(ephemeral), Ok(nonce)) = (<[u8; 32]>::try_from(ephemeral), <[u8; 12]>::try_from(nonce)) else {
            continue;
        };
        if let Some(identity) = keys.identities().iter().find(|i| i.public().id() == id) {
            return identity.unwrap(&ephemeral, &nonce, wrapped, &prefix).ok_or_else(|| {
                corrupt(
                    format!("pack {}", pack.key()),
                    format!("recipient slot {} does not open (damaged or forged)", hex::encode(id)),
                )
            });
        }
    }
    Err(StoreError::NoPackKey {
        pack: pack.key(),
        reason: format!(
            "its key is wrapped for recipients {} only, and this handle holds none of their identities \
             (a write-only host cannot read the packs it wrote; restore with a recipient's identity)",
            addressed_to.join(", ")
        ),
    })
}

/// Whether `keys` must read the header of `pack` (with [`read_pack_header`]) before
/// opening a blob or the directory in it: a reader holding identities, the first time.
pub fn needs_header(keys: &DomainKeys, pack: PackId) -> bool {
    !keys.identities().is_empty() && keys.known_pack_key(&pack.0).is_none()
}

/// Reads and checks the header of `pack` through `fetch` (a range read of the pack: the
/// first [`HEADER_LEN`] bytes, then the slots when there are any) and makes its key known
/// to `keys`. Returns the header's length.
pub async fn read_pack_header<F, Fut>(keys: &DomainKeys, pack: PackId, fetch: F) -> Result<u64, StoreError>
where
    F: Fn(Range<u64>) -> Fut,
    Fut: std::future::Future<Output = Result<Bytes, StoreError>>,
{
    let start = fetch(0..HEADER_LEN as u64).await?;
    let len = parse_header_start(keys, pack, &start)?;
    if len == HEADER_LEN as u64 {
        return parse_header(keys, pack, &start);
    }
    parse_header(keys, pack, &fetch(0..len).await?)
}

/// The key of `pack` for reading: one this handle wrote or unwrapped, else the one derived
/// from `seal_key` in a domain whose packs have no slots.
fn reading_key(keys: &DomainKeys, pack: PackId) -> Result<SecretKey, StoreError> {
    if let Some(key) = keys.known_pack_key(&pack.0) {
        return Ok(key);
    }
    if keys.seals_for_recipients() {
        return Err(StoreError::NoPackKey {
            pack: pack.key(),
            reason: "this write-only host sealed it for the repository's recipients in an earlier session and \
                     cannot read it back (restore with a recipient's identity)"
                .into(),
        });
    }
    if !keys.identities().is_empty() {
        return Err(StoreError::Internal {
            operation: "open pack",
            reason: format!("pack {}: its header was not read before its contents", pack.key()),
        });
    }
    Ok(pack_key(keys, pack))
}

/// The byte range of the directory, from the pack's length and its last [`TAIL_LEN`] bytes.
pub fn parse_tail(pack: PackId, pack_len: u64, header_len: u64, tail: &[u8]) -> Result<Range<u64>, StoreError> {
    let what = || format!("pack {}", pack.key());
    if tail.len() != TAIL_LEN || pack_len < header_len + (MIN_SEALED + TAIL_LEN) as u64 {
        return Err(corrupt(what(), format!("truncated ({pack_len} bytes)")));
    }
    if &tail[4..] != PACK_TRAILER {
        return Err(corrupt(what(), "no pack trailer (LBPKEND3): truncated or not a pack"));
    }
    let dir_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let end = pack_len - TAIL_LEN as u64;
    let start = end
        .checked_sub(dir_len)
        .filter(|start| *start >= header_len && dir_len >= MIN_SEALED as u64)
        .ok_or_else(|| corrupt(what(), format!("directory length {dir_len} does not fit the pack")))?;
    Ok(start..end)
}

/// Opens the sealed directory (`dir`, the bytes of `dir_range`) and checks every entry:
/// inside the pack between header and directory, no two overlapping.
pub fn open_directory(
    keys: &DomainKeys,
    pack: PackId,
    header_len: u64,
    dir_range: Range<u64>,
    dir: &[u8],
) -> Result<Vec<PackEntry>, StoreError> {
    let what = || format!("directory of pack {}", pack.key());
    let (nonce, sealed) =
        dir.split_first_chunk::<NONCE_LEN>().ok_or_else(|| corrupt(what(), "shorter than a nonce"))?;
    let prefix = aad_prefix(keys.id(), pack);
    let plain = aead_open(&reading_key(keys, pack)?, nonce, &directory_aad(&prefix), sealed)
        .ok_or_else(|| corrupt(what(), "authentication failed (damaged, forged or another key)"))?;
    if plain.len() % ENTRY_LEN != 0 {
        return Err(corrupt(what(), format!("{} bytes is no whole number of entries", plain.len())));
    }
    let entries = plain.chunks_exact(ENTRY_LEN).map(PackEntry::decode).collect::<Result<Vec<_>, _>>();
    let entries = entries.map_err(|reason| corrupt(what(), reason))?;
    check_ranges(&entries, header_len..dir_range.start).map_err(|reason| corrupt(what(), reason))?;
    Ok(entries)
}

/// Every entry inside `space`, and no two overlapping.
fn check_ranges(entries: &[PackEntry], space: Range<u64>) -> Result<(), String> {
    let mut ranges: Vec<(Range<u64>, BlobId)> = Vec::with_capacity(entries.len());
    for entry in entries {
        let end = entry.offset.checked_add(u64::from(entry.sealed_len));
        match end {
            Some(end) if entry.offset >= space.start && end <= space.end => ranges.push((entry.offset..end, entry.id)),
            _ => {
                return Err(format!(
                    "blob {} at {}+{} lies outside the blob area {}..{}",
                    entry.id, entry.offset, entry.sealed_len, space.start, space.end
                ));
            }
        }
    }
    ranges.sort_unstable_by_key(|(range, _)| range.start);
    for pair in ranges.windows(2) {
        if pair[1].0.start < pair[0].0.end {
            return Err(format!("blobs {} and {} overlap", pair[0].1, pair[1].1));
        }
    }
    Ok(())
}

/// Opens one sealed blob read from its pack (the `entry.sealed_len` bytes at
/// `entry.offset`): authenticates, decompresses, and checks that its keyed hash is its id.
/// Errors name the pack and the blob.
///
/// A pack with slots needs its key known first: written by this handle, or unwrapped by
/// [`read_pack_header`] (see [`needs_header`]).
pub fn open_blob(keys: &DomainKeys, pack: PackId, entry: &PackEntry, record: &[u8]) -> Result<Bytes, StoreError> {
    open_record(keys, &reading_key(keys, pack)?, &aad_prefix(keys.id(), pack), pack, entry, record)
}

fn open_record(
    keys: &DomainKeys,
    key: &SecretKey,
    prefix: &[u8; AAD_PREFIX_LEN],
    pack: PackId,
    entry: &PackEntry,
    record: &[u8],
) -> Result<Bytes, StoreError> {
    let fail = |reason: String| corrupt(format!("blob {} in pack {}", entry.id, pack.key()), reason);
    if record.len() != entry.sealed_len as usize {
        return Err(fail(format!("read {} bytes, the index says {}", record.len(), entry.sealed_len)));
    }
    let (nonce, sealed) = record.split_first_chunk::<NONCE_LEN>().ok_or_else(|| fail("no nonce".into()))?;
    let mut body = aead_open(key, nonce, &blob_aad(prefix, &entry.id, entry.kind), sealed)
        .ok_or_else(|| fail("authentication failed (damaged or forged)".into()))?;
    let plain = match entry.compression {
        BlobCompression::None => std::mem::take(&mut *body),
        BlobCompression::Zstd => {
            zstd_decompress(&body, entry.plain_len as usize).map_err(|e| fail(format!("zstd: {e}")))?
        }
    };
    if plain.len() != entry.plain_len as usize {
        return Err(fail(format!("holds {} bytes, its entry says {}", plain.len(), entry.plain_len)));
    }
    if keys.blob_id(&plain) != entry.id {
        return Err(fail("its keyed hash is not its id".into()));
    }
    Ok(Bytes::from(plain))
}

/// A whole pack parsed from its bytes: header, directory and entries checked.
pub struct PackReader {
    id: PackId,
    bytes: Bytes,
    entries: Vec<PackEntry>,
}

impl std::fmt::Debug for PackReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackReader").field("id", &self.id).field("blobs", &self.entries.len()).finish()
    }
}

impl PackReader {
    /// Parses and checks the pack `id` of the domain `keys` from all of its bytes.
    pub fn parse(keys: &DomainKeys, id: PackId, bytes: Bytes) -> Result<PackReader, StoreError> {
        let header_len = parse_header(keys, id, &bytes)?;
        let tail = bytes.len().checked_sub(TAIL_LEN).and_then(|at| bytes.get(at..)).unwrap_or(&[]);
        let dir_range = parse_tail(id, bytes.len() as u64, header_len, tail)?;
        let dir = bytes
            .get(dir_range.start as usize..dir_range.end as usize)
            .ok_or_else(|| corrupt(format!("pack {}", id.key()), "directory outside the pack"))?;
        let entries = open_directory(keys, id, header_len, dir_range.clone(), dir)?;
        Ok(PackReader { id, bytes, entries })
    }

    /// The pack's id.
    pub fn id(&self) -> PackId {
        self.id
    }

    /// Its blobs, as its directory lists them.
    pub fn entries(&self) -> &[PackEntry] {
        &self.entries
    }

    /// Reads, authenticates and decompresses the blob `id`.
    pub fn read_blob(&self, keys: &DomainKeys, id: &BlobId) -> Result<Bytes, StoreError> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.id == *id)
            .ok_or_else(|| corrupt(format!("pack {}", self.id.key()), format!("holds no blob {id}")))?;
        // Checked on parse: the range lies inside the pack.
        let record = self.bytes.get(entry.offset as usize..entry.range().end as usize).unwrap_or(&[]);
        open_blob(keys, self.id, entry, record)
    }
}
