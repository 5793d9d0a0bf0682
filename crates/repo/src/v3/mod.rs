//! Repository format v3: content-defined chunks stored once (docs/FORMAT.md section 11).
//!
//! Data is cut by a keyed content-defined chunker ([`lifeboat_chunker`]) into *blobs*
//! named by a keyed BLAKE3 hash ([`BlobId`]); blobs are compressed, sealed and gathered
//! into *packs*; write-once *index* objects say which pack holds which blob; directories
//! are *tree* blobs, so an unchanged subtree is one id. Each writer seals with the keys of
//! its *dedup domain* ([`DomainKeys`]).
//!
//! This module is the format only: it names nothing of the repository above it but its
//! error type, its lock lease and the files filter. Backups, restores, copies, prune and
//! verify of v3 data live beside the format 2 code they extend (`backup/files_v3.rs`,
//! `copy/packs.rs`, `prune/packs.rs`, `verify/packs.rs` and so on).

pub(crate) mod blob;
pub(crate) mod cache;
pub(crate) mod condemned;
pub(crate) mod domain;
pub(crate) mod error;
pub mod gc;
pub(crate) mod id;
pub(crate) mod index;
pub(crate) mod io;
pub(crate) mod pack;
pub(crate) mod read_plan;
pub(crate) mod reading;
pub(crate) mod repair;
pub(crate) mod retention;
pub(crate) mod store;

pub mod archiver;
pub mod restorer;
pub mod tree;

pub use blob::BlobStore;
pub use cache::IndexCache;
pub use condemned::{PRUNE_PREFIX, PruneRecord, RecordId};
pub use domain::{DOMAIN_SECRET_LEN, DomainId, DomainKeys};
pub use error::StoreError;
pub(crate) use error::store_error;
pub use id::{BlobId, BlobKind};
pub use index::{BlobLocation, INDEX_PREFIX, Index, IndexId, IndexObject};
pub use pack::{
    BlobCompression, EncodedBlob, FinishedPack, PACKS_PREFIX, PackEntry, PackId, PackReader, PackWriter,
    TARGET_PACK_SIZE, encode_blob, open_blob,
};
pub use repair::{RepairReport, repair_index};
pub use store::{ChunkStore, StoreOptions};
pub(crate) use tree::tree_error;
