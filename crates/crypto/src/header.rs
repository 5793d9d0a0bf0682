//! The object header: 72 fixed bytes bound into every AEAD operation, then key slots.
//! Byte layout in docs/FORMAT.md, section 3.

use crate::CryptoError;
use crate::keys::{NONCE_LEN, SecretKey, random_bytes};

/// ASCII magic at the start of every object.
pub const MAGIC: &[u8; 8] = b"LIFEBOAT";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
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
        out[8] = FORMAT_VERSION;
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
        if bytes.len() < FIXED_LEN {
            return bad("shorter than the 72-byte fixed header");
        }
        if &bytes[..8] != MAGIC {
            return bad("wrong magic (not a Lifeboat object)");
        }
        if bytes[8] != FORMAT_VERSION {
            return Err(CryptoError::BadHeader(format!("unsupported format version {}", bytes[8])));
        }
        let kind = match bytes[9] {
            1 => ObjectKind::Data,
            2 => ObjectKind::Manifest,
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
        let segment_size = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        check_segment_size(segment_size)?;
        Ok(Self {
            kind,
            compression,
            segment_size,
            object_id: bytes[16..32].try_into().expect("16 bytes"),
            nonce_prefix: bytes[32..39].try_into().expect("7 bytes"),
            commitment: bytes[40..72].try_into().expect("32 bytes"),
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
                    key_id: body[..8].try_into().expect("8"),
                    nonce: body[8..20].try_into().expect("12"),
                    wrapped: body[20..].to_vec(),
                })
            }
            2 => {
                if body.len() != 100 {
                    return bad(format!("recipient slot of {} bytes, expected 100", body.len()));
                }
                Ok(Slot::Recipient {
                    recipient_id: body[..8].try_into().expect("8"),
                    ephemeral_public: body[8..40].try_into().expect("32"),
                    nonce: body[40..52].try_into().expect("12"),
                    wrapped: body[52..].to_vec(),
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
        out.extend_from_slice(&(self.slots.len() as u16).to_le_bytes());
        for slot in &self.slots {
            slot.encode_into(&mut out);
        }
        out
    }

    /// Parses a header from the start of `bytes`. Returns `Ok(None)` when more bytes are
    /// needed, otherwise the header and how many bytes it used.
    pub fn parse(bytes: &[u8]) -> Result<Option<(ObjectHeader, usize)>, CryptoError> {
        if bytes.len() < FIXED_LEN {
            // Fail early on a wrong magic, so a non-object is named as such at once.
            let n = bytes.len().min(8);
            if bytes[..n] != MAGIC[..n] {
                return Err(CryptoError::BadHeader("wrong magic (not a Lifeboat object)".into()));
            }
            return Ok(None);
        }
        let fixed = FixedHeader::parse(&bytes[..FIXED_LEN])?;
        let mut pos = FIXED_LEN;
        let Some(count) = bytes.get(pos..pos + 2) else { return Ok(None) };
        let count = u16::from_le_bytes([count[0], count[1]]) as usize;
        if count > MAX_SLOTS {
            return Err(CryptoError::BadHeader(format!("{count} key slots (at most {MAX_SLOTS})")));
        }
        pos += 2;
        let mut slots = Vec::with_capacity(count);
        for _ in 0..count {
            let Some(head) = bytes.get(pos..pos + 3) else { return Ok(None) };
            let (kind, len) = (head[0], u16::from_le_bytes([head[1], head[2]]) as usize);
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
            (8, 2, "version"),
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
    fn commitment_detects_wrong_key() {
        let dek = SecretKey::generate().unwrap();
        let fixed = FixedHeader::new(ObjectKind::Data, Compression::None, MIN_SEGMENT, [1; 16], &dek).unwrap();
        fixed.check_key(&dek).unwrap();
        assert!(matches!(fixed.check_key(&SecretKey::generate().unwrap()), Err(CryptoError::KeyMismatch)));
    }
}
