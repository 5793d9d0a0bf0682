//! # Lifeboat
//!
//! Backup and disaster recovery as a library. This facade re-exports the crates of the
//! workspace so that an embedder needs one dependency:
//!
//! - [`storage`]: the [`Storage`](storage::Storage) trait, its backends and layers;
//! - [`crypto`]: keys, the object format and the streaming compress-and-seal pipeline;
//! - [`repo`]: the self-describing repository: init, backup, list, verify, restore, copy.
//!
//! See `examples/` for runnable programs and `docs/FORMAT.md` for the bytes on disk.

pub use lifeboat_crypto as crypto;
pub use lifeboat_repo as repo;
pub use lifeboat_storage as storage;
