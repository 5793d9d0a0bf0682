//! Repository format v3: content-defined chunks stored once (docs/FORMAT.md section 11).
//!
//! Data is cut by a keyed content-defined chunker ([`lifeboat_chunker`]) into *blobs*
//! named by a keyed BLAKE3 hash ([`BlobId`]); blobs are compressed, sealed and gathered
//! into *packs*; write-once *index* objects say which pack holds which blob; directories
//! are *tree* blobs, so an unchanged subtree is one id. Each writer seals with the keys of
//! its *dedup domain* ([`DomainKeys`]).

mod blob;
mod domain;
mod error;

pub mod archiver;
pub mod restorer;
pub mod tree;

pub use blob::{BlobId, BlobKind, BlobStore};
pub use domain::{DOMAIN_SECRET_LEN, DomainId, DomainKeys};
pub use error::StoreError;
