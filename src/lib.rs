//! # Lifeboat
//!
//! Backup and disaster recovery as a library. This facade re-exports the crates of the
//! workspace so that an embedder needs one dependency:
//!
//! - [`storage`]: the [`Storage`](storage::Storage) trait, its backends, its layers and the
//!   [`StorageBuilder`](storage::StorageBuilder) that stacks them in the CLI's order;
//! - [`crypto`]: keys, the object format and the streaming compress-and-seal pipeline;
//! - [`repo`]: the self-describing repository: init, backup, list, verify, restore, copy;
//! - [`dump`]: streaming dumps and restores of PostgreSQL, MySQL/MariaDB and Redis;
//! - [`retention`]: the pure retention engine (which backups a policy keeps, and why);
//! - [`ops`]: what a frontend does (credentials, plans, backups of databases), as library calls;
//! - [`es`] (default feature `es`): Elasticsearch snapshot repositories, policies and restores.
//!
//! Storage backends beyond the local filesystem are features of this crate too: `s3`,
//! `webdav`, `sftp`, `cos`, `obs`, `oss`, `gcs`, `azblob`.
//!
//! A repository on a tenant's prefix of a storage, one backup and its restore:
//!
//! ```
//! use lifeboat::repo::{BackupRequest, Credential, InitOptions, Repository};
//! use lifeboat::storage::StorageBuilder;
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A URL names the backend (`/srv/backups`, `s3://bucket/prefix?...` with feature `s3`).
//! let storage = StorageBuilder::new("memory://").tenant("acme").limits(Some(64 << 20), None).build()?;
//!
//! let mut options = InitOptions::default();
//! options.kdf = lifeboat::crypto::Argon2Params::MINIMUM; // cheap for the example; keep the default in production
//! let repo = Repository::init(storage.clone(), Credential::password("correct horse"), options).await?;
//! let request = BackupRequest { name: "notes".into(), ..Default::default() };
//! let manifest = repo.backup_stream(&b"hello, lifeboat"[..], request).await?;
//!
//! let repo = Repository::open(storage, Credential::password("correct horse")).await?;
//! let found = repo.resolve("latest", None).await?;
//! let mut restored = Vec::new();
//! repo.restore_to_writer(&found, None, &mut restored).await?;
//! assert_eq!((found.id, restored), (manifest.id, b"hello, lifeboat".to_vec()));
//! # Ok(())
//! # }
//! ```
//!
//! See `docs/FORMAT.md` for the bytes on disk.

pub use lifeboat_crypto as crypto;
pub use lifeboat_dump as dump;
#[cfg(feature = "es")]
pub use lifeboat_es as es;
pub use lifeboat_ops as ops;
pub use lifeboat_repo as repo;
pub use lifeboat_retention as retention;
pub use lifeboat_storage as storage;
