//! Repository format v3: content-defined chunks stored once (docs/FORMAT.md section 11).
//!
//! Data is cut by a keyed content-defined chunker ([`lifeboat_chunker`]) into *blobs*
//! named by a keyed BLAKE3 hash ([`BlobId`]); blobs are compressed, sealed and gathered
//! into *packs*; write-once *index* objects say which pack holds which blob; directories
//! are *tree* blobs, so an unchanged subtree is one id. Each writer seals with the keys of
//! its *dedup domain* ([`DomainKeys`]).

mod blob;
mod cache;
mod check;
mod condemned;
pub(crate) mod copy;
mod domain;
mod error;
pub mod gc;
mod id;
mod import;
mod index;
mod io;
mod migrate;
mod pack;
mod prune;
mod read_plan;
mod reading;
mod repair;
mod store;

pub mod archiver;
pub mod restorer;
mod snapshot;
pub(crate) mod stream;
pub mod tree;

pub use blob::BlobStore;
pub use cache::IndexCache;
pub use check::{DataCheck, DataSubset, V3Check, V3Verified};
pub use condemned::{PRUNE_PREFIX, PruneRecord, RecordId};
pub use domain::{DOMAIN_SECRET_LEN, DomainId, DomainKeys};
pub use error::StoreError;
pub use id::{BlobId, BlobKind};
pub use index::{BlobLocation, INDEX_PREFIX, Index, IndexId, IndexObject};
pub use migrate::MigrateReport;
pub use pack::{
    BlobCompression, EncodedBlob, FinishedPack, PACKS_PREFIX, PackEntry, PackId, PackReader, PackWriter,
    TARGET_PACK_SIZE, encode_blob, open_blob,
};
pub use prune::V3PruneCounts;
pub(crate) use prune::V3PruneOptions;
pub use repair::{RepairReport, repair_index};
pub use snapshot::{DATA_FORMAT_MEMBER, DOMAINS_PREFIX, MANIFEST_VERSION_V3, v3_root};
pub use store::{ChunkStore, StoreOptions};
