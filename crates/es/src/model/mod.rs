//! The data of `lifeboat-es`: our own serde models of the Elasticsearch requests and responses we
//! use, and the records Lifeboat keeps (policies, the catalog, restores, tenants).
//!
//! Nothing here talks to a cluster or a disk, and nothing here imports the rest of the crate (only
//! [`crate::error`]), so the operations (the `ops` module) and the state store can both use it
//! without depending on each other.
//!
//! The official `elasticsearch` crate is alpha and returns untyped JSON; these models are the stable
//! surface callers see. They are lenient where versions differ (7.10 omits `repository` in snapshot
//! listings, 8.x adds `total`/`remaining`, `_cat` values are strings and may be `null`), and strict
//! where a wrong value would be dangerous (snapshot `state`).

pub mod catalog;
pub mod cluster;
pub mod index;
pub mod names;
pub mod policy;
pub mod repository;
pub mod repository_spec;
pub mod restore;
pub mod slm;
pub mod snapshot;
pub mod state;
pub mod tenant;
pub mod time;
pub mod time_source;

pub use catalog::{CatalogEntry, ScanReport};
pub use cluster::{ClusterHealth, ClusterInfo, DiskUsage, IndexHealth, NodeDisk, ShardHealth, VersionInfo};
pub use index::{IndexSummary, RecoveryIndex, RecoverySize, RecoverySource, ShardRecovery, parse_cat_bytes};
pub use policy::{DeleteFailure, PolicyRetention, PolicyRunReport, SnapshotPolicy};
pub use repository::{RepositoryDefinition, RepositoryInfo, VerifiedNode, VerifyResponse};
pub use repository_spec::RepositorySpec;
pub use restore::{
    DEFAULT_MAX_DISK_USAGE, DEFAULT_PREFIX, IndexProgress, PlannedGroup, PlannedIndex, RestoreBody, RestoreGroupRecord,
    RestoreIndexRecord, RestorePlan, RestoreProgress, RestoreRecord, RestoreRequest, RestoreState, SkippedIndex,
};
pub use slm::{SlmConfig, SlmInvocation, SlmPolicy, SlmPolicyInfo, SlmRetention};
pub use snapshot::{
    CreateOutcome, CreateSnapshotBody, FileStats, IndexSnapshotStatus, META_TAKEN_AT, ShardCounts, SnapshotInfo,
    SnapshotShardFailure, SnapshotState, SnapshotStats, SnapshotStatus, TakenSnapshot,
};
pub use state::TenantState;
pub use tenant::{Scope, Tenant};
pub use time::{TimeRange, parse_duration, parse_instant};
pub use time_source::{NamePattern, TimeSource};
