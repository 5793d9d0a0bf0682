//! One segment: compress, seal, frame; and the reverse. Synchronous and CPU-bound: the
//! pipeline runs these on blocking threads.

use bytes::Bytes;
use ring::aead::{Aad, LessSafeKey, Nonce};
use zeroize::Zeroize;

use crate::CryptoError;
use crate::header::{Compression, NONCE_PREFIX_LEN, ObjectHeader, ObjectKind};
use crate::keys::{NONCE_LEN, SecretKey, TAG_LEN, less_safe_key};

/// Everything needed to seal or open the segments of one object. Cheap to share.
pub struct SegmentCipher {
    key: LessSafeKey,
    /// The segments' associated data (fixed header, and from version 2 the slot section's hash).
    aad: Vec<u8>,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    compression: Compression,
    segment_size: usize,
    max_sealed: usize,
    /// Whether plaintext is secret beyond the data itself (manifests hold data keys): then
    /// intermediate buffers are wiped before they are freed.
    wipe: bool,
}

impl std::fmt::Debug for SegmentCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentCipher").field("segment_size", &self.segment_size).finish_non_exhaustive()
    }
}

impl SegmentCipher {
    /// A cipher for the object `header` describes (fixed header and slots: both are bound
    /// into every segment), keyed by its data key. Fails when the key does not match the
    /// header's commitment.
    pub fn new(header: &ObjectHeader, dek: &SecretKey) -> Result<Self, CryptoError> {
        let fixed = &header.fixed;
        fixed.check_key(dek)?;
        Ok(Self {
            key: less_safe_key(&fixed.payload_key(dek)),
            aad: header.segment_aad(),
            nonce_prefix: fixed.nonce_prefix,
            compression: fixed.compression,
            segment_size: fixed.segment_size as usize,
            max_sealed: fixed.max_sealed_len(),
            wipe: fixed.kind != ObjectKind::Data,
        })
    }

    /// Plaintext bytes per non-final segment.
    pub fn segment_size(&self) -> usize {
        self.segment_size
    }

    fn nonce(&self, index: u64, last: bool) -> Result<[u8; NONCE_LEN], CryptoError> {
        let counter = u32::try_from(index)
            .map_err(|_| CryptoError::SegmentFrame { index, reason: "more than 2^32 segments in one object".into() })?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        nonce[NONCE_PREFIX_LEN..11].copy_from_slice(&counter.to_be_bytes());
        nonce[11] = u8::from(last);
        Ok(nonce)
    }

    /// Compresses (at `level`) and seals chunk `index`, returning the framed segment:
    /// `sealed_len (u32le) || ciphertext || tag`.
    pub fn seal(&self, index: u64, last: bool, chunk: &[u8], level: i32) -> Result<Vec<u8>, CryptoError> {
        debug_assert!(chunk.len() <= self.segment_size);
        let nonce = self.nonce(index, last)?;
        let mut out = Vec::with_capacity(4 + zstd::zstd_safe::compress_bound(chunk.len()) + TAG_LEN);
        out.extend_from_slice(&[0; 4]);
        match self.compression {
            Compression::None => out.extend_from_slice(chunk),
            Compression::Zstd => {
                // Compress straight into the spare capacity behind the length field (a
                // cursor at 4): no zero-filling, no copy.
                let mut cursor = std::io::Cursor::new(out);
                cursor.set_position(4);
                with_compressor(level, |c| c.compress_to_buffer(chunk, &mut cursor))
                    .map_err(|e| CryptoError::Worker(format!("zstd level {level}: {e}")))?;
                out = cursor.into_inner();
            }
        }
        self.seal_framed(nonce, out)
    }

    /// Seals `body` as segment `index` exactly as given, without compressing it, and returns
    /// the framed segment. For writers (and tests) that encode bodies themselves: a reader
    /// still requires what FORMAT.md 3.3 says a body is.
    pub fn seal_encoded(&self, index: u64, last: bool, body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = self.nonce(index, last)?;
        let mut out = Vec::with_capacity(4 + body.len() + TAG_LEN);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(body);
        self.seal_framed(nonce, out)
    }

    /// Encrypts `out[4..]` in place (no copy of the body), appends the tag and fills in the
    /// length field `out[..4]`.
    fn seal_framed(&self, nonce: [u8; NONCE_LEN], mut out: Vec<u8>) -> Result<Vec<u8>, CryptoError> {
        let body = out.get_mut(4..).ok_or_else(|| CryptoError::Worker("segment without a length field".into()))?;
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&self.aad[..]), body)
            .map_err(|_| CryptoError::Worker("AES-GCM seal failed".into()))?;
        out.extend_from_slice(tag.as_ref());
        let len = u32::try_from(out.len() - 4).map_err(|_| CryptoError::Worker("segment too large".into()))?;
        out[..4].copy_from_slice(&len.to_le_bytes());
        Ok(out)
    }

    /// Checks a frame's declared length before its bytes are read.
    pub fn check_sealed_len(&self, index: u64, len: usize) -> Result<(), CryptoError> {
        if len < TAG_LEN || len > self.max_sealed {
            return Err(CryptoError::SegmentFrame {
                index,
                reason: format!("sealed length {len} outside {TAG_LEN}..={}", self.max_sealed),
            });
        }
        Ok(())
    }

    /// Opens segment `index`, which the caller expects to be the final one or not, and
    /// decompresses it. A segment that opens only with the other flag is reported as
    /// truncation (final expected) or trailing data (final found early).
    pub fn open(&self, index: u64, expect_last: bool, sealed: &[u8]) -> Result<Bytes, CryptoError> {
        self.check_sealed_len(index, sealed.len())?;
        let body = match self.try_open(index, expect_last, sealed, &self.aad)? {
            Some(body) => body,
            None => {
                // Only to name the failure (FORMAT.md 3.3): a segment that opens with the other
                // final flag is never accepted.
                return Err(match self.try_open(index, !expect_last, sealed, &self.aad)? {
                    Some(_) if expect_last => CryptoError::Truncated { segments: index + 1 },
                    Some(_) => CryptoError::TrailingData,
                    None => CryptoError::SegmentAuth { index },
                });
            }
        };
        let chunk = match self.compression {
            Compression::None if !self.wipe => Bytes::from(body),
            Compression::None => {
                let chunk = Bytes::copy_from_slice(&body);
                wipe(body);
                chunk
            }
            Compression::Zstd => {
                let mut out = Vec::with_capacity(self.segment_size);
                let result = one_standard_frame(&body).and_then(|()| {
                    with_decompressor(|d| d.decompress_to_buffer(&body[..], &mut out)).map_err(|e| e.to_string())
                });
                if self.wipe {
                    wipe(body);
                }
                result.map_err(|reason| CryptoError::Decompress { index, reason })?;
                Bytes::from(out)
            }
        };
        if chunk.len() > self.segment_size || (!expect_last && chunk.len() != self.segment_size) {
            return Err(CryptoError::SegmentFrame {
                index,
                reason: format!("holds {} plaintext bytes, segment size is {}", chunk.len(), self.segment_size),
            });
        }
        if expect_last && index > 0 && chunk.is_empty() {
            return Err(CryptoError::SegmentFrame { index, reason: "empty final segment after data".into() });
        }
        Ok(chunk)
    }

    /// Decrypts a copy of `sealed` (kept intact for a retry with the other final flag).
    fn try_open(&self, index: u64, last: bool, sealed: &[u8], aad: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        let nonce = self.nonce(index, last)?;
        let mut buf = sealed.to_vec();
        let opened = self.key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf);
        Ok(match opened {
            Ok(plain) => {
                let n = plain.len();
                buf.truncate(n);
                Some(buf)
            }
            Err(_) => None,
        })
    }
}

/// Magic number of a standard zstd frame (RFC 8878 3.1.1), as stored (little-endian).
const ZSTD_MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();

/// Checks that `body` is exactly one standard zstd frame without a dictionary (FORMAT.md
/// 3.3). zstd itself would decode a concatenation of frames, skippable frames included, as
/// one stream. Reads only frame and block headers: no second decompression.
fn one_standard_frame(body: &[u8]) -> Result<(), String> {
    if body.get(..4) != Some(&ZSTD_MAGIC[..]) {
        return Err("the body is not a standard zstd frame (skippable or unknown frame)".into());
    }
    let size = zstd::zstd_safe::find_frame_compressed_size(body)
        .map_err(|code| format!("malformed zstd frame: {}", zstd::zstd_safe::get_error_name(code)))?;
    if size != body.len() {
        return Err(format!(
            "{} bytes follow the zstd frame (a segment holds exactly one frame)",
            body.len().saturating_sub(size)
        ));
    }
    if zstd::zstd_safe::get_dict_id_from_frame(body).is_some() {
        return Err("the zstd frame needs a dictionary".into());
    }
    Ok(())
}

fn wipe(mut buf: Vec<u8>) {
    buf.zeroize();
}

thread_local! {
    // zstd contexts are costly to create (allocations sized for the level), so each
    // worker thread keeps one of each for its lifetime.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn with_compressor<T>(
    level: i32,
    f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        let (_, compressor) = slot.as_mut().expect("just set");
        f(compressor)
    })
}

fn with_decompressor<T>(
    f: impl FnOnce(&mut zstd::bulk::Decompressor<'static>) -> std::io::Result<T>,
) -> std::io::Result<T> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        f(slot.as_mut().expect("just set"))
    })
}
