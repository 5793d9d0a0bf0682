//! Errors of the crypto layer.

/// Why sealing, opening or parsing failed. Messages never contain key material. Cheap to
/// clone, so a pipeline can hand the same error to its stream and to its completion.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CryptoError {
    /// The bytes are not a Lifeboat object header, or one this version cannot read.
    #[error("not a valid Lifeboat object header: {0}")]
    BadHeader(String),
    /// No key slot of the object could be opened with the keys at hand.
    #[error(
        "no key slot of the object opens with the given key (wrong key, or the object was written for other recipients)"
    )]
    NoMatchingSlot,
    /// A key slot addressed to a key this reader holds (or, for master-key slots, any slot
    /// when the reader holds master keys) does not open: the header was damaged or forged.
    /// Unlike [`CryptoError::NoMatchingSlot`] this is never "written for someone else".
    #[error("{kind} slot {id} does not open ({reason})")]
    DamagedSlot {
        /// `master-key` or `recipient`.
        kind: &'static str,
        /// The slot's key id or recipient id (hex).
        id: String,
        /// Why it cannot be opened.
        reason: &'static str,
    },
    /// An opened object differs from what its manifest recorded (sizes or digests).
    #[error("does not match its manifest: {0}")]
    RecordMismatch(String),
    /// A data key does not match the header's key commitment.
    #[error("the data key does not belong to this object (key commitment mismatch: wrong key or swapped object)")]
    KeyMismatch,
    /// A segment failed authentication: tampering, corruption, reordering or splicing.
    #[error(
        "segment {index} failed authentication (corrupted, tampered with, reordered, from another object, or the \
         header's key slots were changed)"
    )]
    SegmentAuth {
        /// Zero-based segment index.
        index: u64,
    },
    /// The framing of segments is broken.
    #[error("segment {index} is malformed: {reason}")]
    SegmentFrame {
        /// Zero-based segment index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The stream ended before its final segment.
    #[error("object is truncated: it ends after {segments} segments without the final one")]
    Truncated {
        /// Segments read before the end.
        segments: u64,
    },
    /// Bytes follow the final segment.
    #[error("unexpected bytes after the final segment")]
    TrailingData,
    /// Decompression failed.
    #[error("segment {index} does not decompress: {reason}")]
    Decompress {
        /// Zero-based segment index.
        index: u64,
        /// What the decompressor said.
        reason: String,
    },
    /// A password or key file did not open any slot.
    #[error("wrong password or key file: no key slot of the repository opens with it")]
    WrongPassword,
    /// A key or parameter in text form could not be parsed.
    #[error("invalid {what}: {reason}")]
    InvalidKey {
        /// Which kind of key.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The key-derivation parameters are out of range.
    #[error("invalid key-derivation parameters: {0}")]
    Kdf(String),
    /// Reading the plaintext source failed.
    #[error("reading the source: {0}")]
    Source(#[source] std::sync::Arc<std::io::Error>),
    /// The object's header names another object than the one expected.
    #[error("object id {found} does not match the expected {expected} (object swapped or misplaced)")]
    ObjectIdMismatch {
        /// Id in the header.
        found: String,
        /// Id the caller expected.
        expected: String,
    },
    /// The stream of object bytes failed (storage error, network ...).
    #[error("reading the object: {0}")]
    Input(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
    /// The consumer of a pipeline went away.
    #[error("the pipeline was cancelled")]
    Cancelled,
    /// The operating system's random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A worker task stopped unexpectedly.
    #[error("a pipeline worker failed: {0}")]
    Worker(String),
}
