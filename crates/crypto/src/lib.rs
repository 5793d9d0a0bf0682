//! # lifeboat-crypto
//!
//! The bytes of a Lifeboat object and the streaming pipeline that produces and reads them
//! (the normative description is `docs/FORMAT.md`):
//!
//! - every object has a fresh random data key (DEK); manifests carry it wrapped in header
//!   *slots* for the repository master key and/or X25519 [recipients](RecipientPublicKey);
//!   data objects' keys live inside the (encrypted) manifest;
//! - the plaintext is cut into segments, each compressed with zstd and sealed with
//!   AES-256-GCM (ring) in a STREAM construction: the nonce holds a segment counter and a
//!   final-segment flag, the 72-byte fixed header is the associated data. Truncation,
//!   reordering, splicing between objects and header tampering all fail authentication;
//! - [`seal_data_stream`] and [`open_data_stream`] run segments on every core with bounded
//!   memory and keep their order;
//! - master keys are unlocked by a password (Argon2id, [`password_kek`]) or a key file
//!   ([`keyfile_kek`]). Secret types zeroize on drop and never print themselves.
//!
//! ```
//! use lifeboat_crypto::{open_data_stream, seal_data_stream, PipelineOptions};
//! use futures::StreamExt;
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), lifeboat_crypto::CryptoError> {
//! let plaintext = vec![42u8; 3_000_000];
//! // The reader is moved onto the pipeline's own task, so it is owned ('static).
//! let reader = std::io::Cursor::new(plaintext.clone());
//! let (running, object_id, dek) = seal_data_stream(reader, PipelineOptions::default())?;
//! let (mut stream, done) = running.into_parts();
//! let mut object = Vec::new();
//! while let Some(bytes) = stream.next().await {
//!     object.extend_from_slice(&bytes?);
//! }
//! let sealed = done.finish().await?;
//! assert_eq!(sealed.plain_size, 3_000_000);
//!
//! let input = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(object))]);
//! let (mut plain, done) = open_data_stream(input, object_id, dek, 2).into_parts();
//! let mut restored = Vec::new();
//! while let Some(bytes) = plain.next().await {
//!     restored.extend_from_slice(&bytes?);
//! }
//! assert_eq!(done.finish().await?.plain_blake3, sealed.plain_blake3);
//! assert_eq!(restored, plaintext);
//! # Ok(())
//! # }
//! ```

mod digest;
mod envelope;
mod error;
mod header;
mod kdf;
mod keys;
mod pipeline;
mod recipient;
mod segment;
mod signing;

pub use envelope::{Audience, Keyring};
pub use error::CryptoError;
pub use header::{
    Compression, DEFAULT_SEGMENT, FIXED_LEN, FORMAT_VERSION, FixedHeader, LEGACY_FORMAT_VERSION, MAX_SEGMENT,
    MIN_SEGMENT, ObjectHeader, ObjectKind, Slot, max_sealed_len, parse_complete_header,
};
pub use kdf::{
    Argon2Params, MAX_ARGON2_ITERATIONS, MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PARALLELISM, MIN_ARGON2_ITERATIONS,
    MIN_ARGON2_MEMORY_KIB, keyfile_kek, password_kek,
};
pub use keys::{SecretKey, aead_open, aead_seal, ct_eq, hkdf32, random_bytes, random_fill, unwrap_key, wrap_key};
pub use pipeline::{
    Completion, ObjectDigests, OpenOptions, PipelineOptions, PipelineStream, Running, digest_stream, open_bytes,
    open_data_stream, open_data_stream_with, reseal_for, seal_bytes, seal_bytes_signed, seal_data_stream, seal_stream,
};
pub use recipient::{Identity, RecipientPublicKey, WrappedForRecipient};
pub use segment::SegmentCipher;
pub use signing::{SIGNATURE_SLOT, WriterKey, WriterPublicKey, manifest_signature_message, verify_signature};
