//! `lifeboat-es`: Elasticsearch snapshot repositories, snapshot policies, a snapshot catalog and
//! time-range restores.
//!
//! Log and monitoring platforms keep months of daily indices. They snapshot them to S3/MinIO or a
//! shared filesystem, drop the live indices after a few days, and restore a time range on demand
//! under a prefix, for a limited time. This crate does that on top of the official `elasticsearch`
//! crate, which is alpha: it is kept behind our own typed API ([`EsClient`]) and our own serde
//! models ([`model`]), so it can be swapped without touching callers. It works with Elasticsearch
//! 7.10+, 8.x and 9.x (OpenSearch where the APIs match) and only uses the APIs declared in the REST
//! contract kept in `shared/es-rest-api-spec`.
//!
//! * [`EsManager`] is the entry point, with one handle per job ([`ops`]): `repositories()` (`fs`,
//!   `s3` with a per-tenant `base_path`), `snapshots()`, `policies()` ([`SnapshotPolicy`] runs with
//!   retention), `slm()` (Elasticsearch SLM policies), `catalog()` and `restores()`, all checked
//!   against the caller's [`Scope`] (admin or a [`Tenant`]).
//! * [`model`] holds the data (wire models and the records Lifeboat keeps) and imports nothing else
//!   of the crate.
//! * State (policies, catalog, restore records) is a JSON file per tenant in a [`StateStore`],
//!   written atomically.
//! * The wire-level Elasticsearch test double lives in its own crate, `lifeboat-es-double`
//!   (`publish = false`), so it shares no code with what it tests.
//!
//! ```no_run
//! # async fn demo() -> lifeboat_es::Result<()> {
//! use lifeboat_es::{ClusterConfig, EsClient, EsManager, RestoreRequest, Scope, StateStore, TimeRange, parse_instant};
//! let client = EsClient::new(&ClusterConfig::from_env(None, None)?)?;
//! let es = EsManager::new(client, StateStore::new(StateStore::default_dir()?), Scope::Admin);
//! let range = TimeRange::new(parse_instant("2024-05-01", false)?, parse_instant("2024-05-03", true)?)?;
//! let (plan, record) = es.restores().start(&RestoreRequest::new("logs-*", range)).await?;
//! println!("restoring {} indices as restore {}", plan.index_count(), record.id);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod error;
pub mod manager;
pub mod model;
pub mod ops;
pub mod store;

pub use client::EsClient;
pub use config::{Auth, ClusterConfig};
pub use error::{ErrorKind, EsError, FailedShard, Remedy, Result};
pub use lifeboat_storage::clock::{Clock, SystemClock};
pub use manager::{EsManager, RetryConfig};
pub use model::{
    CatalogEntry, CreateOutcome, NamePattern, PolicyRetention, PolicyRunReport, RepositoryDefinition, RepositorySpec,
    RestorePlan, RestoreRecord, RestoreRequest, RestoreState, ScanReport, Scope, SnapshotPolicy, TakenSnapshot, Tenant,
    TimeRange, TimeSource, parse_duration, parse_instant,
};
pub use ops::{Catalog, Policies, Repositories, Restores, Slm, Snapshots};
pub use store::StateStore;
