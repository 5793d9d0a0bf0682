//! The arguments of `lifeboat es ...` (clap definitions only; the handlers beside this file run
//! them).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use lifeboat_es::TimeSource;
use lifeboat_es::model::{DEFAULT_MAX_DISK_USAGE, DEFAULT_PREFIX};

/// Options shared by every `lifeboat es` command.
#[derive(Args, Debug, Clone)]
pub struct EsGlobal {
    /// Cluster URL, e.g. https://es.example:9200
    #[arg(long, env = "LIFEBOAT_ES_URL", global = true)]
    pub es_url: Option<String>,
    /// PEM file with the CA certificate(s) to trust
    #[arg(long, env = "LIFEBOAT_ES_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Act as this tenant (org/namespace); its indices and repository paths only
    #[arg(long, env = "LIFEBOAT_ES_TENANT", global = true)]
    pub tenant: Option<String>,
    /// State directory (policies, catalog, restore records)
    #[arg(long, env = "LIFEBOAT_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Print machine-readable JSON
    #[arg(long, global = true)]
    pub json: bool,
}

/// `lifeboat es` subcommands.
#[derive(Subcommand, Debug)]
pub enum EsCommand {
    /// Snapshot repositories: create, list, verify, set, delete
    Repo(RepoArgs),
    /// Snapshots: create, list, delete
    Snapshot(SnapshotArgs),
    /// Lifeboat snapshot policies: add, list, remove, run
    Policy(PolicyArgs),
    /// Elasticsearch SLM policies: put, get, delete, execute
    Slm(SlmArgs),
    /// The snapshot catalog: scan, list
    Catalog(CatalogArgs),
    /// Restore a time range (or: status, list, delete, clean-expired)
    Restore(RestoreArgs),
    /// Tenants: add, list
    Tenant(TenantArgs),
}

/// `lifeboat es repo`.
#[derive(Args, Debug)]
pub struct RepoArgs {
    #[command(flatten)]
    pub(super) global: EsGlobal,
    #[command(subcommand)]
    pub(super) cmd: RepoCmd,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RepoType {
    Fs,
    S3,
}

#[derive(Subcommand, Debug)]
pub(super) enum RepoCmd {
    /// Register a repository (fs: --location; s3: --bucket)
    Create {
        /// Repository name
        name: String,
        /// Repository type
        #[arg(long = "type", value_enum)]
        repo_type: RepoType,
        /// fs: directory listed in path.repo
        #[arg(long)]
        location: Option<String>,
        /// s3: bucket
        #[arg(long)]
        bucket: Option<String>,
        /// s3: endpoint (e.g. minio.local:9000)
        #[arg(long)]
        endpoint: Option<String>,
        /// s3: path-style access (MinIO)
        #[arg(long)]
        path_style_access: bool,
        /// s3: the s3.client.<name> to use
        #[arg(long)]
        client: Option<String>,
        /// s3: prefix in the bucket (a tenant's is placed under tenants/{org}/{namespace})
        #[arg(long)]
        base_path: Option<String>,
        /// Register read-only (a second cluster that only restores)
        #[arg(long)]
        readonly: bool,
        /// Compress metadata files
        #[arg(long)]
        compress: bool,
        /// Do not ask the cluster to verify the repository
        #[arg(long)]
        no_verify: bool,
    },
    /// List repositories
    List,
    /// Verify a repository on every node
    Verify {
        /// Repository name
        name: String,
    },
    /// Change settings: KEY=VALUE to set, --unset KEY to remove
    Set {
        /// Repository name
        name: String,
        /// Settings to set
        #[arg(value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Settings to remove
        #[arg(long)]
        unset: Vec<String>,
        /// Do not verify after the change
        #[arg(long)]
        no_verify: bool,
    },
    /// Unregister a repository (its data stays in storage)
    Delete {
        /// Repository name
        name: String,
    },
}

/// `lifeboat es snapshot`.
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub(super) global: EsGlobal,
    #[command(subcommand)]
    pub(super) cmd: SnapshotCmd,
}

/// Where index time ranges come from.
#[derive(Args, Debug, Clone, Default)]
pub(super) struct TimeSourceArgs {
    /// Index-name pattern locating the date, e.g. 'v2_{table}_{YYYYMMDD}_{n}'
    #[arg(long, conflicts_with = "time_field")]
    pub(super) time_pattern: Option<String>,
    /// Date field whose min/max give the time range, e.g. @timestamp
    #[arg(long)]
    pub(super) time_field: Option<String>,
}

impl TimeSourceArgs {
    pub(super) fn source(&self) -> Option<TimeSource> {
        match (&self.time_pattern, &self.time_field) {
            (Some(p), _) => Some(TimeSource::IndexName { pattern: p.clone() }),
            (None, Some(f)) => Some(TimeSource::Field { field: f.clone() }),
            _ => None,
        }
    }
}

#[derive(Subcommand, Debug)]
pub(super) enum SnapshotCmd {
    /// Take a snapshot and wait for it (PARTIAL/FAILED fail)
    Create {
        /// Repository
        #[arg(long)]
        repo: String,
        /// Snapshot name
        name: String,
        /// Index patterns (comma-separated)
        #[arg(long)]
        indices: String,
        /// Start it and return without waiting (not catalogued; run `catalog scan` later)
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        time: TimeSourceArgs,
    },
    /// List the snapshots of a repository
    List {
        /// Repository
        #[arg(long)]
        repo: String,
    },
    /// Delete a snapshot (retried while a running snapshot blocks it)
    Delete {
        /// Repository
        #[arg(long)]
        repo: String,
        /// Snapshot name
        name: String,
    },
}

/// `lifeboat es policy`.
#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(flatten)]
    pub(super) global: EsGlobal,
    #[command(subcommand)]
    pub(super) cmd: PolicyCmd,
}

#[derive(Subcommand, Debug)]
pub(super) enum PolicyCmd {
    /// Add or replace a policy
    Add {
        /// Policy name (also the snapshot name prefix)
        name: String,
        /// Index patterns (comma-separated)
        #[arg(long)]
        indices: String,
        /// Target repository
        #[arg(long)]
        repo: String,
        /// Cron schedule, e.g. '0 30 1 * * ?' or @daily
        #[arg(long, default_value = "@daily")]
        schedule: String,
        /// Keep snapshots this many days (0 = forever)
        #[arg(long)]
        snapshot_days: u32,
        #[command(flatten)]
        time: TimeSourceArgs,
    },
    /// List policies
    List,
    /// Remove a policy (its snapshots stay)
    Remove {
        /// Policy name
        name: String,
    },
    /// Take today's snapshot, wait, catalog it, apply retention
    Run {
        /// Policy name
        name: String,
    },
}

/// `lifeboat es slm`.
#[derive(Args, Debug)]
pub struct SlmArgs {
    #[command(flatten)]
    pub(super) global: EsGlobal,
    #[command(subcommand)]
    pub(super) cmd: SlmCmd,
}

#[derive(Subcommand, Debug)]
pub(super) enum SlmCmd {
    /// Create or replace an SLM policy
    Put {
        /// Policy id
        id: String,
        /// Snapshot name (date math), e.g. '<daily-snap-{now/d}>'
        #[arg(long)]
        name: String,
        /// Cron schedule, e.g. '0 30 1 * * ?'
        #[arg(long)]
        schedule: String,
        /// Repository
        #[arg(long)]
        repo: String,
        /// Index patterns (comma-separated)
        #[arg(long)]
        indices: String,
        /// Retention: delete snapshots older than this (e.g. 30d)
        #[arg(long)]
        expire_after: Option<String>,
        /// Retention: keep at least this many
        #[arg(long)]
        min_count: Option<u32>,
        /// Retention: keep at most this many
        #[arg(long)]
        max_count: Option<u32>,
    },
    /// Show SLM policies
    Get {
        /// Policy id (all when omitted)
        id: Option<String>,
    },
    /// Delete an SLM policy
    Delete {
        /// Policy id
        id: String,
    },
    /// Run an SLM policy now
    Execute {
        /// Policy id
        id: String,
    },
}

/// `lifeboat es catalog`.
#[derive(Args, Debug)]
pub struct CatalogArgs {
    #[command(flatten)]
    pub(super) global: EsGlobal,
    #[command(subcommand)]
    pub(super) cmd: CatalogCmd,
}

#[derive(Subcommand, Debug)]
pub(super) enum CatalogCmd {
    /// Catalogue the repository's snapshots not yet known; drop deleted ones
    Scan {
        /// Repository
        #[arg(long)]
        repo: String,
        #[command(flatten)]
        time: TimeSourceArgs,
    },
    /// List catalogue entries
    List {
        /// Only indices matching this pattern
        #[arg(long)]
        index: Option<String>,
    },
}

/// `lifeboat es restore`: without a subcommand, starts a time-range restore.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub(super) global: EsGlobal,
    #[command(subcommand)]
    pub(super) cmd: Option<RestoreCmd>,
    #[command(flatten)]
    pub(super) start: RestoreStart,
}

#[derive(Args, Debug)]
pub(super) struct RestoreStart {
    /// Index patterns (comma-separated)
    #[arg(long)]
    pub(super) pattern: Option<String>,
    /// Start of the time range (2024-05-01, 2024-05-01T10:00, RFC 3339)
    #[arg(long)]
    pub(super) from: Option<String>,
    /// End of the time range; a bare date includes that whole day
    #[arg(long)]
    pub(super) to: Option<String>,
    /// Prefix of the restored index names
    #[arg(long, default_value = DEFAULT_PREFIX)]
    pub(super) prefix: String,
    /// Drop the restored indices after this long (e.g. 7d); `restore clean-expired` does it
    #[arg(long)]
    pub(super) expire_after: Option<String>,
    /// Refuse when disk usage after the restore would exceed this fraction
    #[arg(long, default_value_t = DEFAULT_MAX_DISK_USAGE)]
    pub(super) max_disk_usage: f64,
    /// Only print the plan
    #[arg(long)]
    pub(super) dry_run: bool,
    /// Wait until the restore finishes, printing progress
    #[arg(long)]
    pub(super) wait: bool,
    /// Give up waiting after this long (e.g. 2h)
    #[arg(long, default_value = "6h")]
    pub(super) wait_timeout: String,
}

#[derive(Subcommand, Debug)]
pub(super) enum RestoreCmd {
    /// Measure and show the progress of a restore
    Status {
        /// Restore id
        id: String,
    },
    /// List restores (as last recorded)
    List,
    /// Delete the indices a restore created
    Delete {
        /// Restore id
        id: String,
    },
    /// Delete every restore past its expiry
    CleanExpired,
}

/// `lifeboat es tenant`.
#[derive(Args, Debug)]
pub struct TenantArgs {
    #[command(flatten)]
    pub(super) global: EsGlobal,
    #[command(subcommand)]
    pub(super) cmd: TenantCmd,
}

#[derive(Subcommand, Debug)]
pub(super) enum TenantCmd {
    /// Register a tenant and the index prefixes it owns
    Add {
        /// org/namespace
        id: String,
        /// Index-name prefix the tenant owns (repeatable)
        #[arg(long = "index-prefix", required = true)]
        index_prefixes: Vec<String>,
    },
    /// List tenants
    List,
}
