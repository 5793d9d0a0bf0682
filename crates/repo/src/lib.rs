//! # lifeboat-repo
//!
//! A self-describing, encrypted backup repository on any [`Storage`](lifeboat_storage::Storage).
//! With nothing but the storage and a key, an operator can list and restore everything:
//!
//! - `config` holds the repository id, defaults, and the master key wrapped in *slots*
//!   (passwords through Argon2id, key files) plus authenticated X25519 recipients;
//! - each backup is an encrypted [`Manifest`] at `backups/<id>`, written only after all of
//!   its data objects, so an interrupted backup is never listed;
//! - data objects at `data/xx/<id>` are zstd-compressed AES-256-GCM segment streams whose
//!   keys live in the manifest.
//!
//! Operations: [`Repository::init`], [`Repository::open`], [`Repository::backup_stream`],
//! [`Repository::backup_files`], [`Repository::list`], [`Repository::resolve`],
//! [`Repository::verify`], [`Repository::restore_to_writer`], [`Repository::restore_to_dir`],
//! [`Repository::copy_to`], and key management ([`Repository::add_slot`],
//! [`Repository::change_credential`], [`Repository::rotate_master_key`],
//! [`Repository::add_recipient`]).
//!
//! Records: [`Repository::put_record`], [`Repository::list_records`] and
//! [`Repository::get_record`] keep small sealed, signed objects at `records/<kind>/<name>`
//! (lifeboatd's audit heads); prune, forget, verify and copy leave them alone.
//!
//! For frontends (the CLI, a service): [`Repository::list_backups`] and
//! [`Repository::verify_backups`] return typed results that sort out manifests sealed for
//! others from damaged ones; [`BackupView`] is what may be shown of a backup (no data keys);
//! [`RepoError::kind`] classifies a failure ([`ErrorKind`], e.g. for an HTTP status), and
//! messages carry no frontend advice; [`OpenOptions`] injects the clock and the
//! [`LockReleases`] that a long-running owner settles.
//!
//! ```
//! use std::sync::Arc;
//! use lifeboat_repo::{BackupRequest, Credential, InitOptions, Repository};
//! use lifeboat_storage::MemoryStorage;
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), lifeboat_repo::RepoError> {
//! let storage = Arc::new(MemoryStorage::new());
//! let mut options = InitOptions::default();
//! options.kdf = lifeboat_crypto::Argon2Params::MINIMUM; // cheap for the example; keep the default in production
//! let repo = Repository::init(storage.clone(), Credential::password("correct horse"), options).await?;
//! let request = BackupRequest { name: "notes".into(), ..Default::default() };
//! let manifest = repo.backup_stream(&b"hello, lifeboat"[..], request).await?;
//!
//! let repo = Repository::open(storage, Credential::password("correct horse")).await?;
//! let found = repo.resolve("latest", None).await?;
//! let mut restored = Vec::new();
//! repo.restore_to_writer(&found, None, &mut restored).await?;
//! assert_eq!(found.id, manifest.id);
//! assert_eq!(restored, b"hello, lifeboat");
//! # Ok(())
//! # }
//! ```

mod backup;
mod catalog;
mod config;
mod copy;
mod credential;
mod domains;
mod error;
mod host;
mod keys;
mod kind;
mod layout;
mod lock;
mod manifest;
mod migrate;
mod progress;
mod prune;
mod records;
mod release;
mod repository;
mod restore;
mod state;
mod tarscan;
mod tree;
pub mod v3;
mod verify;
mod view;

pub use backup::{BackupRequest, BackupWriter};
pub use catalog::{BackupListing, LatestScope};
pub use config::DATA_FORMAT_MEMBER;
pub use config::{
    CONFIG_VERSION, ConfigFile, Kdf, MAX_KEY_SLOTS, MAX_RECIPIENTS, MAX_WRITERS, RecipientEntry, RetiredKey, SlotEntry,
    SlotKind, WriterEntry, master_key_id,
};
pub use copy::{CopyFailure, CopyReport};
pub use credential::Credential;
pub use domains::DOMAINS_PREFIX;
pub use error::{ErrorKind, RepoError, Result};
pub use host::hostname;
pub use keys::{RecipientAdded, RotationReport};
pub use kind::BackupKind;
pub use layout::{BACKUPS_PREFIX, CONFIG_KEY, DATA_PREFIX, MAX_MANIFEST, RECORDS_PREFIX, data_key};
pub use lock::{
    LOCK_TTL, LOCKS_PREFIX, Lease, ListedLock, Lock, LockInfo, LockKind, LockOwner, LockState, MAX_CLOCK_SKEW,
    RESERVE_KEY, list_locks, remove_locks, storage_time,
};
pub use manifest::{MANIFEST_VERSION, MANIFEST_VERSION_V3, Manifest, ObjectRecord, v3_root};
pub use migrate::MigrateReport;
pub use progress::{Progress, ProgressSnapshot};
pub use prune::{DomainRole, PruneOptions, PruneReport, SkippedDomain, V3DomainPrune, V3PruneCounts};
pub use records::{MAX_RECORD, record_key, record_object_id};
pub use release::LockReleases;
pub use repository::{CacheDir, InitOptions, OpenOptions, Repository, read_config};
pub use restore::{DamagedSegment, LostEntry, SalvageReport};
pub use state::{FileStateStore, KnownState, KnownStateStore};
pub use tree::{
    FilesFilter, FilterError, PathPatterns, RestoreOptions, RestoreReport, TreeFilter, TreeSummary,
    settle_restore_cleanup, source_paths, spawn_tree_producer,
};
pub use verify::{Damage, DataCheck, DataSubset, V3Check, V3Verified, VerifyOutcome, VerifyReport};
pub use view::{BackupSummary, BackupView, ObjectView};
