//! Helpers shared by the fuzz targets and the seed generator: a fixed keyring, and a
//! "forger" that turns fuzz bytes into an object sealed with that keyring's keys, so that
//! the fuzzer reaches the code behind authentication (framing, the STREAM counter and
//! final flag, zstd decoding and size checks) instead of stopping at the first tag.

use lifeboat_crypto::{
    Audience, Compression, FixedHeader, Identity, Keyring, MIN_SEGMENT, ObjectHeader, ObjectKind, SecretKey, Slot,
    aead_seal,
};

/// Id of the fixed master key.
pub const MASTER_ID: [u8; 8] = [0x11; 8];
/// The fixed master key.
pub const MASTER: [u8; 32] = [0x22; 32];
/// The fixed recipient identity.
pub const IDENTITY: &str = "lbsk13333333333333333333333333333333333333333333333333333333333333333";
/// The fixed data key of forged objects.
pub const DEK: [u8; 32] = [0x44; 32];
/// The object id of forged objects.
pub const OBJECT_ID: [u8; 16] = [0x55; 16];
/// The nonce prefix of forged objects.
pub const NONCE_PREFIX: [u8; 7] = [0x66; 7];
/// Segment size of forged objects: the smallest allowed, so small inputs span segments.
pub const SEGMENT: usize = MIN_SEGMENT as usize;
/// Plaintext limit passed to `open_bytes`.
pub const MAX_PLAIN: usize = 16 * SEGMENT;

/// The keyring every target opens with: the master key and the identity.
pub fn keyring() -> Keyring {
    let mut keyring = Keyring::new();
    keyring.add_master(MASTER_ID, SecretKey::from_bytes(MASTER));
    keyring.add_identity(Identity::parse(IDENTITY).expect("fixed identity"));
    keyring
}

/// Segment flags in a forge spec.
pub mod flag {
    /// Seal with the final-segment bit.
    pub const LAST: u8 = 1;
    /// Seal with the wrong counter (index + 1): a reordered segment.
    pub const SKIP: u8 = 2;
    /// Compress the body with zstd before sealing (else the body is sealed as is).
    pub const COMPRESS: u8 = 4;
    /// Repeat the body to exactly one segment of plaintext before anything else.
    pub const FILL: u8 = 8;
    /// With `COMPRESS`: the body is two zstd frames (its two halves), which a reader rejects.
    pub const TWO_FRAMES: u8 = 16;
    /// With `COMPRESS`: a skippable zstd frame precedes the body's frame, which a reader rejects.
    pub const SKIPPABLE: u8 = 32;
}

/// Object-level options (first byte of a forge spec).
pub mod option {
    /// zstd compression in the header (else none).
    pub const ZSTD: u8 = 1;
    /// Wrap the data key for the identity (X25519) instead of the master key.
    pub const RECIPIENT: u8 = 2;
}

/// A forged object and what a correct reader must do with it.
pub struct Forged {
    /// The object bytes.
    pub object: Vec<u8>,
    /// The header written.
    pub header: ObjectHeader,
    /// `Some(plaintext)` when the object is well formed and must open to exactly this;
    /// `None` when it must be rejected, or when the forger cannot tell (raw zstd bodies).
    pub expected: Option<Vec<u8>>,
    /// True when the object must be rejected (wrong counter or final flag, sizes ...).
    pub must_fail: bool,
}

/// Turns `spec` into an object: `options (u8)` then records `flags (u8) || len (u16le) || body`.
pub fn forge(spec: &[u8]) -> Forged {
    let (&options, mut rest) = spec.split_first().unwrap_or((&0, &[]));
    let compression = if options & option::ZSTD != 0 { Compression::Zstd } else { Compression::None };
    let dek = SecretKey::from_bytes(DEK);
    let mut fixed = FixedHeader::new(ObjectKind::Manifest, compression, MIN_SEGMENT, OBJECT_ID, &dek).expect("header");
    fixed.nonce_prefix = NONCE_PREFIX;
    let aad = fixed.encode();
    let slot = if options & option::RECIPIENT != 0 {
        let public = Identity::parse(IDENTITY).expect("fixed identity").public();
        let recipients = [public];
        Audience { master: None, recipients: &recipients }.slots(&fixed, &dek).expect("recipient slot").remove(0)
    } else {
        let wrap = SecretKey::from_bytes(MASTER).derive(b"", "lifeboat/v1/master-wrap");
        let nonce = [0x77; 12];
        Slot::Master { key_id: MASTER_ID, nonce, wrapped: aead_seal(&wrap, &nonce, &aad, dek.expose()) }
    };
    let header = ObjectHeader { fixed, slots: vec![slot] };
    // Segments are bound to the fixed header and the slot section (format version 2).
    let segment_aad = header.segment_aad();
    let payload = dek.derive(&OBJECT_ID, "lifeboat/v1/payload");

    let mut object = header.encode();
    let mut plain = Vec::new();
    // Whether the reader's behaviour is fully predictable, and whether it must fail.
    let (mut known, mut must_fail) = (true, false);
    let mut segments = 0usize;
    let mut saw_last_early = false;
    while let Some((&flags, after)) = rest.split_first() {
        let Some(len) = after.get(..2) else { break };
        let len = (u16::from_le_bytes([len[0], len[1]]) as usize).min(after.len() - 2);
        let mut body = after[2..2 + len].to_vec();
        rest = &after[2 + len..];
        if flags & flag::FILL != 0 && !body.is_empty() {
            body = body.iter().copied().cycle().take(SEGMENT).collect();
        }
        let chunk = body.clone();
        match compression {
            Compression::None => {}
            Compression::Zstd if flags & flag::COMPRESS != 0 => {
                body = if flags & flag::TWO_FRAMES != 0 {
                    let (a, b) = body.split_at(body.len() / 2);
                    must_fail = true;
                    [zstd::bulk::compress(a, 1).expect("zstd"), zstd::bulk::compress(b, 1).expect("zstd")].concat()
                } else {
                    zstd::bulk::compress(&body, 1).expect("zstd")
                };
                if flags & flag::SKIPPABLE != 0 {
                    // Magic 0x184D2A50, a 4-byte length, then that many ignored bytes.
                    must_fail = true;
                    body = [&0x184D_2A50u32.to_le_bytes()[..], &3u32.to_le_bytes(), b"abc", &body].concat();
                }
            }
            // A raw body: zstd may or may not decode it; the forger does not predict that.
            Compression::Zstd => known = false,
        }
        let index = segments as u32 + u32::from(flags & flag::SKIP != 0);
        let last = flags & flag::LAST != 0;
        let mut nonce = [0u8; 12];
        nonce[..7].copy_from_slice(&NONCE_PREFIX);
        nonce[7..11].copy_from_slice(&index.to_be_bytes());
        nonce[11] = u8::from(last);
        let sealed = aead_seal(&payload, &nonce, &segment_aad, &body);
        object.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        object.extend_from_slice(&sealed);

        must_fail |= flags & flag::SKIP != 0 || saw_last_early;
        saw_last_early |= last;
        if chunk.len() > SEGMENT {
            must_fail = true;
        }
        plain.extend_from_slice(&chunk);
        segments += 1;
        // Remember the final record's shape for the checks below.
        if rest.len() < 3 {
            let index = segments - 1;
            must_fail |= !last || (index > 0 && chunk.is_empty());
        } else {
            must_fail |= chunk.len() != SEGMENT;
        }
    }
    if segments == 0 {
        must_fail = true;
    }
    must_fail |= plain.len() > MAX_PLAIN;
    let expected = (known && !must_fail).then_some(plain);
    Forged { object, header, expected, must_fail: known && must_fail }
}
