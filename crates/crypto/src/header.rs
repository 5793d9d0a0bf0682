//! The object header: 72 fixed bytes bound into every AEAD operation, then key slots.
//! Byte layout in docs/FORMAT.md, section 3.

use crate::CryptoError;
use crate::keys::{NONCE_LEN, SecretKey, random_bytes};

/// ASCII magic at the start of every object.
pub const MAGIC: &[u8; 8] = b"LIFEBOAT";
/// The object format version this crate writes. Version 2 binds the slot section into every
/// segment's associated data (FORMAT.md 3.3), so a changed, dropped or added key slot is
/// detected by whoever opens the object through any slot.
pub const FORMAT_VERSION: u8 = 2;
/// The older object format version this crate still reads: its slot section is not
/// authenticated (segments are bound to the fixed header alone).
pub const LEGACY_FORMAT_VERSION: u8 = 1;
/// Length of the fixed header.
pub const FIXED_LEN: usize = 72;
/// Smallest allowed segment size.
pub const MIN_SEGMENT: u32 = 4096;
/// Largest allowed segment size.
pub const MAX_SEGMENT: u32 = 16 * 1024 * 1024;
/// Default segment size: 1 MiB.
pub const DEFAULT_SEGMENT: u32 = 1024 * 1024;
/// Length of the nonce prefix.
pub const NONCE_PREFIX_LEN: usize = 7;

/// Which kind of object a header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// Backup data; its key lives in the manifest.
    Data = 1,
    /// A backup manifest; its key is wrapped in the header's slots.
    Manifest = 2,
    /// A format v3 dedup domain's secret (`domains/<id>`); its key is wrapped in the
    /// header's slots, like a manifest's.
    Domain = 3,
}

/// How each segment's plaintext is encoded before sealing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    None = 0,
    /// One zstd frame per segment.
    Zstd = 1,
}

/// The first 72 bytes of an object. They are the associated data of every AEAD
/// operation on the object, so changing any of them makes every segment fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedHeader {
    /// Object format version ([`FORMAT_VERSION`] for new objects, or [`LEGACY_FORMAT_VERSION`]).
    pub version: u8,
    /// Data or manifest.
    pub kind: ObjectKind,
    /// Segment encoding.
    pub compression: Compression,
    /// Plaintext bytes per (non-final) segment.
    pub segment_size: u32,
    /// Unique id of the object.
    pub object_id: [u8; 16],
    /// Random per-object nonce prefix.
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
    /// HKDF commitment to the object's data key.
    pub commitment: [u8; 32],
}

impl FixedHeader {
    /// A header for a new object keyed by `dek`.
    pub fn new(
        kind: ObjectKind,
        compression: Compression,
        segment_size: u32,
        object_id: [u8; 16],
        dek: &SecretKey,
    ) -> Result<Self, CryptoError> {
        check_segment_size(segment_size)?;
        Ok(Self {
            version: FORMAT_VERSION,
            kind,
            compression,
            segment_size,
            object_id,
            nonce_prefix: random_bytes()?,
            commitment: commitment(&object_id, dek),
        })
    }

    /// The 72 bytes.
    pub fn encode(&self) -> [u8; FIXED_LEN] {
        let mut out = [0u8; FIXED_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8] = self.version;
        out[9] = self.kind as u8;
        out[10] = self.compression as u8;
        out[12..16].copy_from_slice(&self.segment_size.to_le_bytes());
        out[16..32].copy_from_slice(&self.object_id);
        out[32..39].copy_from_slice(&self.nonce_prefix);
        out[40..72].copy_from_slice(&self.commitment);
        out
    }

    /// Parses and validates the 72 bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, CryptoError> {
        let bad = |m: &str| Err(CryptoError::BadHeader(m.to_owned()));
        let Some(Ok(bytes)) = bytes.get(..FIXED_LEN).map(<[u8; FIXED_LEN]>::try_from) else {
            return bad("shorter than the 72-byte fixed header");
        };
        if bytes[..8] != MAGIC[..] {
            return bad("wrong magic (not a Lifeboat object)");
        }
        let version = bytes[8];
        if version != FORMAT_VERSION && version != LEGACY_FORMAT_VERSION {
            return Err(CryptoError::BadHeader(format!("unsupported format version {version}")));
        }
        let kind = match bytes[9] {
            1 => ObjectKind::Data,
            2 => ObjectKind::Manifest,
            3 => ObjectKind::Domain,
            k => return Err(CryptoError::BadHeader(format!("unknown object kind {k}"))),
        };
        let compression = match bytes[10] {
            0 => Compression::None,
            1 => Compression::Zstd,
            c => return Err(CryptoError::BadHeader(format!("unknown compression {c}"))),
        };
        if bytes[11] != 0 || bytes[39] != 0 {
            return bad("reserved bytes are not zero");
        }
        let segment_size = u32::from_le_bytes(array(&bytes, 12)?);
        check_segment_size(segment_size)?;
        Ok(Self {
            version,
            kind,
            compression,
            segment_size,
            object_id: array(&bytes, 16)?,
            nonce_prefix: array(&bytes, 32)?,
            commitment: array(&bytes, 40)?,
        })
    }

    /// Checks that `dek` is the key this header was made for.
    pub fn check_key(&self, dek: &SecretKey) -> Result<(), CryptoError> {
        if crate::keys::ct_eq(&commitment(&self.object_id, dek), &self.commitment) {
            Ok(())
        } else {
            Err(CryptoError::KeyMismatch)
        }
    }

    /// The key that seals this object's segments.
    pub fn payload_key(&self, dek: &SecretKey) -> SecretKey {
        dek.derive(&self.object_id, "lifeboat/v1/payload")
    }

    /// Largest `sealed_len` a reader accepts for this segment size.
    pub fn max_sealed_len(&self) -> usize {
        max_sealed_len(self.segment_size)
    }
}

/// Largest sealed segment for a segment size (FORMAT.md 3.3).
pub fn max_sealed_len(segment_size: u32) -> usize {
    let s = segment_size as usize;
    s + s / 128 + 4096 + 16
}

/// The `N` bytes of `bytes` at `at`, or a header error when they are not there (never a panic
/// on bytes from storage).
fn array<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], CryptoError> {
    bytes
        .get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CryptoError::BadHeader(format!("header ends before byte {}", at + N)))
}

fn commitment(object_id: &[u8; 16], dek: &SecretKey) -> [u8; 32] {
    *dek.derive(object_id, "lifeboat/v1/commitment").expose()
}

fn check_segment_size(size: u32) -> Result<(), CryptoError> {
    if (MIN_SEGMENT..=MAX_SEGMENT).contains(&size) {
        Ok(())
    } else {
        Err(CryptoError::BadHeader(format!("segment size {size} outside {MIN_SEGMENT}..={MAX_SEGMENT}")))
    }
}

/// One key slot: the object's data key wrapped for somebody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Wrapped under a repository master key.
    Master {
        /// Which master key.
        key_id: [u8; 8],
        /// AEAD nonce.
        nonce: [u8; NONCE_LEN],
        /// The sealed data key (48 bytes).
        wrapped: Vec<u8>,
    },
    /// Wrapped for an X25519 recipient.
    Recipient {
        /// First 8 bytes of SHA-256 of the recipient's public key.
        recipient_id: [u8; 8],
        /// The sender's one-time public key.
        ephemeral_public: [u8; 32],
        /// AEAD nonce.
        nonce: [u8; NONCE_LEN],
        /// The sealed data key (48 bytes).
        wrapped: Vec<u8>,
    },
    /// A slot type this version does not know; kept so rewriting preserves it.
    Unknown {
        /// The type byte.
        kind: u8,
        /// The body.
        body: Vec<u8>,
    },
}

impl Slot {
    fn encode_into(&self, out: &mut Vec<u8>) {
        let (kind, body): (u8, Vec<u8>) = match self {
            Slot::Master { key_id, nonce, wrapped } => (1, [&key_id[..], &nonce[..], wrapped].concat()),
            Slot::Recipient { recipient_id, ephemeral_public, nonce, wrapped } => {
                (2, [&recipient_id[..], &ephemeral_public[..], &nonce[..], wrapped].concat())
            }
            Slot::Unknown { kind, body } => (*kind, body.clone()),
        };
        out.push(kind);
        out.extend_from_slice(&(body.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
    }

    fn parse(kind: u8, body: &[u8]) -> Result<Slot, CryptoError> {
        let bad = |m: String| Err(CryptoError::BadHeader(m));
        match kind {
            1 => {
                if body.len() != 68 {
                    return bad(format!("master-key slot of {} bytes, expected 68", body.len()));
                }
                Ok(Slot::Master {
                    key_id: array(body, 0)?,
                    nonce: array(body, 8)?,
                    wrapped: body.get(20..).unwrap_or_default().to_vec(),
                })
            }
            2 => {
                if body.len() != 100 {
                    return bad(format!("recipient slot of {} bytes, expected 100", body.len()));
                }
                Ok(Slot::Recipient {
                    recipient_id: array(body, 0)?,
                    ephemeral_public: array(body, 8)?,
                    nonce: array(body, 40)?,
                    wrapped: body.get(52..).unwrap_or_default().to_vec(),
                })
            }
            other => Ok(Slot::Unknown { kind: other, body: body.to_vec() }),
        }
    }
}

/// A whole object header: fixed part plus slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHeader {
    /// The fixed, authenticated part.
    pub fixed: FixedHeader,
    /// Key slots (empty for data objects).
    pub slots: Vec<Slot>,
}

/// The most slots a header may carry (bounds what a hostile header can make us parse).
pub const MAX_SLOTS: usize = 1024;

impl ObjectHeader {
    /// The header's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + 2 + self.slots.len() * 103);
        out.extend_from_slice(&self.fixed.encode());
        self.encode_slots_into(&mut out);
        out
    }

    fn encode_slots_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.slots.len() as u16).to_le_bytes());
        for slot in &self.slots {
            slot.encode_into(out);
        }
    }

    /// The associated data of every segment (FORMAT.md 3.3): in format version 2 the fixed
    /// header followed by SHA-256 of the slot section (`slot_count` and every slot, as
    /// stored), so that nobody can change, drop or add a slot unnoticed; in version 1 the
    /// fixed header alone. (Slots themselves are bound to the fixed header only: a slot
    /// cannot cover the section it is part of.)
    pub fn segment_aad(&self) -> Vec<u8> {
        let fixed = self.fixed.encode();
        if self.fixed.version == LEGACY_FORMAT_VERSION {
            return fixed.to_vec();
        }
        let mut slots = Vec::with_capacity(2 + self.slots.len() * 103);
        self.encode_slots_into(&mut slots);
        let hash = ring::digest::digest(&ring::digest::SHA256, &slots);
        [&fixed[..], hash.as_ref()].concat()
    }

    /// Parses a header from the start of `bytes`. Returns `Ok(None)` when more bytes are
    /// needed, otherwise the header and how many bytes it used.
    pub fn parse(bytes: &[u8]) -> Result<Option<(ObjectHeader, usize)>, CryptoError> {
        if bytes.len() < FIXED_LEN {
            // Fail early on a wrong magic, so a non-object is named as such at once.
            if !MAGIC.starts_with(bytes.get(..8).unwrap_or(bytes)) {
                return Err(CryptoError::BadHeader("wrong magic (not a Lifeboat object)".into()));
            }
            return Ok(None);
        }
        let fixed = FixedHeader::parse(bytes)?;
        let mut pos = FIXED_LEN;
        let Some(&[lo, hi]) = bytes.get(pos..pos + 2) else { return Ok(None) };
        let count = u16::from_le_bytes([lo, hi]) as usize;
        if count > MAX_SLOTS {
            return Err(CryptoError::BadHeader(format!("{count} key slots (at most {MAX_SLOTS})")));
        }
        pos += 2;
        let mut slots = Vec::with_capacity(count);
        for _ in 0..count {
            let Some(&[kind, lo, hi]) = bytes.get(pos..pos + 3) else { return Ok(None) };
            let len = u16::from_le_bytes([lo, hi]) as usize;
            pos += 3;
            let Some(body) = bytes.get(pos..pos + len) else { return Ok(None) };
            slots.push(Slot::parse(kind, body)?);
            pos += len;
        }
        Ok(Some((ObjectHeader { fixed, slots }, pos)))
    }
}

/// Reads the header of a complete object held in memory.
pub fn parse_complete_header(bytes: &[u8]) -> Result<(ObjectHeader, usize), CryptoError> {
    ObjectHeader::parse(bytes)?.ok_or_else(|| CryptoError::BadHeader("object ends inside its header".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ObjectHeader {
        let dek = SecretKey::generate().unwrap();
        let fixed = FixedHeader::new(ObjectKind::Manifest, Compression::Zstd, DEFAULT_SEGMENT, [9; 16], &dek).unwrap();
        ObjectHeader {
            fixed,
            slots: vec![
                Slot::Master { key_id: [1; 8], nonce: [2; 12], wrapped: vec![3; 48] },
                Slot::Recipient {
                    recipient_id: [4; 8],
                    ephemeral_public: [5; 32],
                    nonce: [6; 12],
                    wrapped: vec![7; 48],
                },
                Slot::Unknown { kind: 200, body: vec![1, 2, 3] },
            ],
        }
    }

    #[test]
    fn roundtrip() {
        let h = header();
        let bytes = h.encode();
        let (parsed, used) = parse_complete_header(&bytes).unwrap();
        assert_eq!(parsed, h);
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn incremental_parse_asks_for_more() {
        let bytes = header().encode();
        for cut in 0..bytes.len() {
            assert!(ObjectHeader::parse(&bytes[..cut]).unwrap().is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn rejects_bad_fields() {
        let good = header().encode();
        for (offset, value, needle) in [
            (0, b'X', "magic"),
            (8, 3, "version"),
            (8, 0, "version"),
            (9, 9, "kind"),
            (10, 7, "compression"),
            (11, 1, "reserved"),
            (39, 1, "reserved"),
            (15, 0xff, "segment size"),
        ] {
            let mut b = good.clone();
            b[offset] = value;
            let err = parse_complete_header(&b).unwrap_err().to_string();
            assert!(err.contains(needle), "offset {offset}: {err}");
        }
    }

    #[test]
    fn segment_aad_binds_the_slot_section_from_version_2() {
        let h = header();
        let aad = h.segment_aad();
        assert_eq!(aad.len(), FIXED_LEN + 32);
        assert_eq!(aad[..FIXED_LEN], h.fixed.encode());
        // Any change to any slot, or to the slot list, changes the associated data.
        let mut changed = h.clone();
        if let Slot::Master { key_id, .. } = &mut changed.slots[0] {
            key_id[0] ^= 1;
        }
        assert_ne!(changed.segment_aad(), aad);
        let mut dropped = h.clone();
        dropped.slots.remove(1);
        assert_ne!(dropped.segment_aad(), aad);
        // A version 1 object is bound to its fixed header alone.
        let mut legacy = h.clone();
        legacy.fixed.version = LEGACY_FORMAT_VERSION;
        assert_eq!(legacy.segment_aad(), legacy.fixed.encode());
        let (parsed, _) = parse_complete_header(&legacy.encode()).unwrap();
        assert_eq!(parsed.fixed.version, LEGACY_FORMAT_VERSION);
    }

    #[test]
    fn commitment_detects_wrong_key() {
        let dek = SecretKey::generate().unwrap();
        let fixed = FixedHeader::new(ObjectKind::Data, Compression::None, MIN_SEGMENT, [1; 16], &dek).unwrap();
        fixed.check_key(&dek).unwrap();
        assert!(matches!(fixed.check_key(&SecretKey::generate().unwrap()), Err(CryptoError::KeyMismatch)));
    }
}
