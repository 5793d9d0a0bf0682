//! `lifeboat es ...`: Elasticsearch repositories, snapshots, policies, SLM, the catalog, time-range
//! restores and tenants. A thin layer over `lifeboat-es`.
//!
//! Connection: `--es-url` or `LIFEBOAT_ES_URL`; credentials from `LIFEBOAT_ES_USERNAME` /
//! `LIFEBOAT_ES_PASSWORD` or `LIFEBOAT_ES_API_KEY`; a CA file from `--ca-file` or
//! `LIFEBOAT_ES_CA_FILE`. State (policies, catalog, restore records) lives in `--state-dir`,
//! `LIFEBOAT_STATE_DIR` or `~/.local/state/lifeboat/es`. `--tenant org/namespace` (or
//! `LIFEBOAT_ES_TENANT`) restricts every command to that tenant. `--json` prints listings as JSON.
//!
//! Exit status: 0 on success; 1 when a command fails, when a policy run could not delete every
//! expired snapshot, or when a restore is (or ends) `failed`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use lifeboat_es::error::human_bytes;
use lifeboat_es::model::{DEFAULT_MAX_DISK_USAGE, DEFAULT_PREFIX};
use lifeboat_es::model::{SlmConfig, SlmPolicy, SlmRetention};
use lifeboat_es::{
    ClusterConfig, EsClient, EsManager, RepositorySpec, RestoreRecord, RestoreRequest, RestoreState, SnapshotPolicy,
    StateStore, Tenant, TimeRange, TimeSource, parse_duration, parse_instant,
};

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
    global: EsGlobal,
    #[command(subcommand)]
    cmd: RepoCmd,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum RepoType {
    Fs,
    S3,
}

#[derive(Subcommand, Debug)]
enum RepoCmd {
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
    global: EsGlobal,
    #[command(subcommand)]
    cmd: SnapshotCmd,
}

/// Where index time ranges come from.
#[derive(Args, Debug, Clone, Default)]
struct TimeSourceArgs {
    /// Index-name pattern locating the date, e.g. 'v2_{table}_{YYYYMMDD}_{n}'
    #[arg(long, conflicts_with = "time_field")]
    time_pattern: Option<String>,
    /// Date field whose min/max give the time range, e.g. @timestamp
    #[arg(long)]
    time_field: Option<String>,
}

impl TimeSourceArgs {
    fn source(&self) -> Option<TimeSource> {
        match (&self.time_pattern, &self.time_field) {
            (Some(p), _) => Some(TimeSource::IndexName { pattern: p.clone() }),
            (None, Some(f)) => Some(TimeSource::Field { field: f.clone() }),
            _ => None,
        }
    }
}

#[derive(Subcommand, Debug)]
enum SnapshotCmd {
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
    global: EsGlobal,
    #[command(subcommand)]
    cmd: PolicyCmd,
}

#[derive(Subcommand, Debug)]
enum PolicyCmd {
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
    global: EsGlobal,
    #[command(subcommand)]
    cmd: SlmCmd,
}

#[derive(Subcommand, Debug)]
enum SlmCmd {
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
    global: EsGlobal,
    #[command(subcommand)]
    cmd: CatalogCmd,
}

#[derive(Subcommand, Debug)]
enum CatalogCmd {
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
    global: EsGlobal,
    #[command(subcommand)]
    cmd: Option<RestoreCmd>,
    #[command(flatten)]
    start: RestoreStart,
}

#[derive(Args, Debug)]
struct RestoreStart {
    /// Index patterns (comma-separated)
    #[arg(long)]
    pattern: Option<String>,
    /// Start of the time range (2024-05-01, 2024-05-01T10:00, RFC 3339)
    #[arg(long)]
    from: Option<String>,
    /// End of the time range; a bare date includes that whole day
    #[arg(long)]
    to: Option<String>,
    /// Prefix of the restored index names
    #[arg(long, default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// Drop the restored indices after this long (e.g. 7d); `restore clean-expired` does it
    #[arg(long)]
    expire_after: Option<String>,
    /// Refuse when disk usage after the restore would exceed this fraction
    #[arg(long, default_value_t = DEFAULT_MAX_DISK_USAGE)]
    max_disk_usage: f64,
    /// Only print the plan
    #[arg(long)]
    dry_run: bool,
    /// Wait until the restore finishes, printing progress
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this long (e.g. 2h)
    #[arg(long, default_value = "6h")]
    wait_timeout: String,
}

#[derive(Subcommand, Debug)]
enum RestoreCmd {
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
    global: EsGlobal,
    #[command(subcommand)]
    cmd: TenantCmd,
}

#[derive(Subcommand, Debug)]
enum TenantCmd {
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

fn store(g: &EsGlobal) -> Result<StateStore> {
    let dir = match &g.state_dir {
        Some(d) => d.clone(),
        None => StateStore::default_dir()?,
    };
    Ok(StateStore::new(dir))
}

async fn connect(g: &EsGlobal) -> Result<EsManager> {
    let cfg = ClusterConfig::from_env(g.es_url.as_deref(), g.ca_file.clone())?;
    let client = EsClient::new(&cfg)?;
    Ok(EsManager::for_tenant(client, store(g)?, g.tenant.as_deref()).await?)
}

/// Prints a serialisable value as pretty JSON (a macro, so this module needs no direct serde dependency).
macro_rules! print_json {
    ($v:expr) => {
        println!("{}", serde_json::to_string_pretty(&$v)?)
    };
}

/// Prints rows as aligned columns.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect::<Vec<_>>().join("  ")
    };
    println!("{}", line(headers.iter().map(|h| h.to_string()).collect()).trim_end());
    for r in rows {
        println!("{}", line(r).trim_end());
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

/// Runs a `lifeboat es` command.
pub async fn run(cmd: EsCommand) -> Result<ExitCode> {
    match cmd {
        EsCommand::Repo(a) => repo(a).await,
        EsCommand::Snapshot(a) => snapshot(a).await,
        EsCommand::Policy(a) => policy(a).await,
        EsCommand::Slm(a) => slm(a).await,
        EsCommand::Catalog(a) => catalog(a).await,
        EsCommand::Restore(a) => restore(a).await,
        EsCommand::Tenant(a) => tenant(a).await,
    }
}

async fn repo(a: RepoArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        RepoCmd::Create {
            name,
            repo_type,
            location,
            bucket,
            endpoint,
            path_style_access,
            client,
            base_path,
            readonly,
            compress,
            no_verify,
        } => {
            let spec = match repo_type {
                RepoType::Fs => {
                    if bucket.is_some() || endpoint.is_some() || client.is_some() || base_path.is_some() {
                        bail!("--bucket, --endpoint, --client and --base-path are for --type s3");
                    }
                    RepositorySpec::Fs {
                        location: location.context("--type fs needs --location")?,
                        readonly,
                        compress: compress.then_some(true),
                    }
                }
                RepoType::S3 => {
                    if location.is_some() {
                        bail!("--location is for --type fs; use --bucket and --base-path");
                    }
                    RepositorySpec::S3 {
                        bucket: bucket.context("--type s3 needs --bucket")?,
                        endpoint,
                        path_style_access: path_style_access.then_some(true),
                        client,
                        base_path,
                        readonly,
                        compress: compress.then_some(true),
                    }
                }
            };
            let info = es.repositories().create(&name, &spec, !no_verify).await?;
            if g.json {
                print_json!(info);
            } else {
                println!("registered repository {} ({})", info.name, info.repo_type);
            }
        }
        RepoCmd::List => {
            let repos = es.repositories().list().await?;
            if g.json {
                print_json!(repos);
            } else {
                table(
                    &["NAME", "TYPE", "READONLY", "LOCATION"],
                    repos
                        .iter()
                        .map(|r| {
                            let loc = match r.repo_type.as_str() {
                                "s3" => format!(
                                    "s3://{}/{}",
                                    r.setting("bucket").unwrap_or_default(),
                                    r.setting("base_path").unwrap_or_default()
                                ),
                                _ => r.setting("location").unwrap_or_default(),
                            };
                            vec![r.name.clone(), r.repo_type.clone(), r.readonly().to_string(), loc]
                        })
                        .collect(),
                );
            }
        }
        RepoCmd::Verify { name } => {
            let v = es.repositories().verify(&name).await?;
            if g.json {
                print_json!(v);
            } else {
                println!("repository {name} verified by {} node(s)", v.nodes.len());
            }
        }
        RepoCmd::Set { name, settings, unset, no_verify } => {
            let mut changes: BTreeMap<String, Option<String>> = BTreeMap::new();
            for kv in settings {
                let (k, v) = kv.split_once('=').with_context(|| format!("setting {kv:?} is not KEY=VALUE"))?;
                changes.insert(k.trim().to_string(), Some(v.to_string()));
            }
            for k in unset {
                changes.insert(k, None);
            }
            if changes.is_empty() {
                bail!("nothing to change: give KEY=VALUE settings or --unset KEY");
            }
            let info = es.repositories().update_settings(&name, &changes, !no_verify).await?;
            if g.json {
                print_json!(info);
            } else {
                println!("updated repository {name}");
            }
        }
        RepoCmd::Delete { name } => {
            es.repositories().delete(&name).await?;
            if !g.json {
                println!("unregistered repository {name} (its data was not deleted)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn snapshot(a: SnapshotArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        SnapshotCmd::Create { repo, name, indices, no_wait, time } => {
            if no_wait {
                es.snapshots().start(&repo, &name, &indices).await?;
                if !g.json {
                    println!("snapshot {repo}:{name} started");
                }
            } else {
                let taken = es.snapshots().create(&repo, &name, &indices, time.source()).await?;
                if g.json {
                    print_json!(taken.info);
                } else {
                    println!(
                        "snapshot {repo}:{} {} with {} index(es), {} catalogued",
                        taken.info.snapshot,
                        taken.info.state,
                        taken.info.indices.len(),
                        taken.catalogued
                    );
                }
            }
        }
        SnapshotCmd::List { repo } => {
            let snaps = es.snapshots().list(&repo).await?;
            if g.json {
                print_json!(snaps);
            } else {
                table(
                    &["SNAPSHOT", "STATE", "START", "INDICES", "FAILED SHARDS"],
                    snaps
                        .iter()
                        .map(|s| {
                            vec![
                                s.snapshot.clone(),
                                s.state.to_string(),
                                opt(s.start_time().map(|t| t.format("%Y-%m-%dT%H:%M:%SZ"))),
                                s.indices.len().to_string(),
                                opt(s.shards.as_ref().map(|c| c.failed)),
                            ]
                        })
                        .collect(),
                );
            }
        }
        SnapshotCmd::Delete { repo, name } => {
            es.snapshots().delete(&repo, &name).await?;
            if !g.json {
                println!("deleted snapshot {repo}:{name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn policy(a: PolicyArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        PolicyCmd::Add { name, indices, repo, schedule, snapshot_days, time } => {
            let mut p = SnapshotPolicy::new(&name, &indices, &repo, &schedule, snapshot_days)?;
            if let Some(ts) = time.source() {
                p = p.with_time_source(ts)?;
            }
            es.policies().add(p.clone()).await?;
            if g.json {
                print_json!(p);
            } else {
                println!("policy {name} saved");
            }
        }
        PolicyCmd::List => {
            let list = es.policies().list().await?;
            if g.json {
                print_json!(list);
            } else {
                table(
                    &["NAME", "INDICES", "REPOSITORY", "SCHEDULE", "KEEP DAYS"],
                    list.iter()
                        .map(|p| {
                            vec![
                                p.name.clone(),
                                p.indices.clone(),
                                p.repository.clone(),
                                p.schedule.clone(),
                                if p.snapshot_days == 0 { "forever".into() } else { p.snapshot_days.to_string() },
                            ]
                        })
                        .collect(),
                );
            }
        }
        PolicyCmd::Remove { name } => {
            es.policies().remove(&name).await?;
            if !g.json {
                println!("policy {name} removed (its snapshots stay)");
            }
        }
        PolicyCmd::Run { name } => {
            let report = es.policies().run(&name).await?;
            if g.json {
                print_json!(report);
            } else {
                println!(
                    "snapshot {}:{} {}{} ({} index(es), {} catalogued)",
                    report.repository,
                    report.snapshot,
                    report.state,
                    if report.already_existed { " (taken earlier today)" } else { "" },
                    report.indices.len(),
                    report.catalogued
                );
                for d in &report.deleted {
                    println!("deleted expired snapshot {d}");
                }
                for f in &report.delete_failures {
                    eprintln!("could not delete expired snapshot {}: {}", f.snapshot, f.error);
                }
            }
            if !report.is_success() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn slm(a: SlmArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        SlmCmd::Put { id, name, schedule, repo, indices, expire_after, min_count, max_count } => {
            let retention = if expire_after.is_some() || min_count.is_some() || max_count.is_some() {
                if let Some(e) = &expire_after {
                    parse_duration(e)?;
                }
                Some(SlmRetention { expire_after, min_count, max_count })
            } else {
                None
            };
            let policy = SlmPolicy {
                name,
                schedule,
                repository: repo,
                config: Some(SlmConfig {
                    indices: Some(indices.split(',').map(|s| s.trim().to_string()).collect()),
                    include_global_state: Some(false),
                    ..Default::default()
                }),
                retention,
            };
            es.slm().put(&id, &policy).await?;
            if !g.json {
                println!("SLM policy {id} saved");
            }
        }
        SlmCmd::Get { id } => {
            let list = es.slm().get(id.as_deref()).await?;
            if g.json {
                print_json!(list);
            } else {
                table(
                    &["ID", "SNAPSHOT NAME", "SCHEDULE", "REPOSITORY", "LAST SUCCESS"],
                    list.iter()
                        .map(|p| {
                            vec![
                                p.id.clone(),
                                p.policy.name.clone(),
                                p.policy.schedule.clone(),
                                p.policy.repository.clone(),
                                opt(p.last_success.as_ref().map(|s| s.snapshot_name.clone())),
                            ]
                        })
                        .collect(),
                );
            }
        }
        SlmCmd::Delete { id } => {
            es.slm().delete(&id).await?;
            if !g.json {
                println!("SLM policy {id} deleted");
            }
        }
        SlmCmd::Execute { id } => {
            let snap = es.slm().execute(&id).await?;
            if g.json {
                print_json!(serde_json::json!({ "snapshot_name": snap }));
            } else {
                println!("SLM policy {id} started snapshot {snap}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn catalog(a: CatalogArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        CatalogCmd::Scan { repo, time } => {
            let report = es.catalog().scan(&repo, time.source()).await?;
            if g.json {
                print_json!(report);
            } else {
                println!(
                    "{} snapshot(s) catalogued ({} entries), {} dropped, {} skipped (not SUCCESS)",
                    report.added_snapshots.len(),
                    report.added_entries,
                    report.removed_snapshots.len(),
                    report.skipped_snapshots.len()
                );
                if !report.indices_without_range.is_empty() {
                    eprintln!("no time range for: {}", report.indices_without_range.join(", "));
                }
            }
        }
        CatalogCmd::List { index } => {
            let entries: Vec<_> = es
                .catalog()
                .list()
                .await?
                .into_iter()
                .filter(|e| index.as_deref().is_none_or(|p| lifeboat_es::model::names::matches_any(p, &e.index)))
                .collect();
            if g.json {
                print_json!(entries);
            } else {
                table(
                    &["INDEX", "REPOSITORY", "SNAPSHOT", "DOCS", "BYTES", "FROM", "TO"],
                    entries
                        .iter()
                        .map(|e| {
                            vec![
                                e.index.clone(),
                                e.repository.clone(),
                                e.snapshot.clone(),
                                opt(e.doc_count),
                                opt(e.store_bytes),
                                opt(e.time_range.map(|r| r.start.format("%Y-%m-%dT%H:%M:%SZ"))),
                                opt(e.time_range.map(|r| r.end.format("%Y-%m-%dT%H:%M:%SZ"))),
                            ]
                        })
                        .collect(),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_line(r: &RestoreRecord) -> String {
    match &r.progress {
        Some(p) => format!(
            "restore {}: {}, shards {}/{} done, {} failed, docs {}/{}",
            r.id,
            r.state,
            p.shards_done,
            p.shards_total,
            p.shards_failed,
            p.docs_recovered,
            opt(p.docs_expected)
        ),
        None => format!("restore {}: {}", r.id, r.state),
    }
}

fn restore_exit(r: &RestoreRecord) -> ExitCode {
    if r.state == RestoreState::Failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

async fn restore(a: RestoreArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        Some(RestoreCmd::Status { id }) => {
            let r = es.restores().status(&id).await?;
            if g.json {
                print_json!(r);
            } else {
                println!("{}", progress_line(&r));
                if let Some(p) = &r.progress {
                    for i in &p.indices {
                        println!(
                            "  {}: shards {}/{} done, {} waiting for a recovery slot, {} failed, docs {}/{}{}",
                            i.target,
                            i.shards_done,
                            i.shards_total,
                            i.shards_queued,
                            i.shards_failed,
                            i.docs,
                            opt(i.expected_docs),
                            i.problem.as_deref().map(|p| format!(" - {p}")).unwrap_or_default()
                        );
                    }
                    for w in &p.warnings {
                        println!("  warning: {w}");
                    }
                }
                for gr in r.groups.iter().filter(|g| g.error.is_some()) {
                    println!("  restore from {}:{} failed: {}", gr.repository, gr.snapshot, opt(gr.error.clone()));
                }
            }
            Ok(restore_exit(&r))
        }
        Some(RestoreCmd::List) => {
            let list = es.restores().list().await?;
            if g.json {
                print_json!(list);
            } else {
                table(
                    &["ID", "STATE", "PATTERN", "FROM", "TO", "INDICES", "EXPIRES"],
                    list.iter()
                        .map(|r| {
                            vec![
                                r.id.clone(),
                                r.state.to_string(),
                                r.pattern.clone(),
                                r.range.start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                                r.range.end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                                r.targets().len().to_string(),
                                opt(r.expires_at.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ"))),
                            ]
                        })
                        .collect(),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(RestoreCmd::Delete { id }) => {
            let r = es.restores().delete(&id).await?;
            if g.json {
                print_json!(r);
            } else {
                println!("restore {id}: deleted {} index(es)", r.targets().len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(RestoreCmd::CleanExpired) => {
            let (done, failed) = es.restores().clean_expired().await?;
            if g.json {
                let failed: Vec<_> =
                    failed.iter().map(|(id, e)| serde_json::json!({"id": id, "error": e.to_string()})).collect();
                print_json!(serde_json::json!({"deleted": done, "failed": failed}));
            } else {
                for r in &done {
                    println!("restore {}: expired, deleted {} index(es)", r.id, r.targets().len());
                }
                for (id, e) in &failed {
                    eprintln!("restore {id}: could not delete: {e}");
                }
                if done.is_empty() && failed.is_empty() {
                    println!("no expired restore");
                }
            }
            Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        None => start_restore(&es, g, a.start).await,
    }
}

async fn start_restore(es: &EsManager, g: &EsGlobal, s: RestoreStart) -> Result<ExitCode> {
    let pattern = s.pattern.context("--pattern is required (or use: status, list, delete, clean-expired)")?;
    let from = parse_instant(&s.from.context("--from is required")?, false)?;
    let to = parse_instant(&s.to.context("--to is required")?, true)?;
    let mut req = RestoreRequest::new(&pattern, TimeRange::new(from, to)?);
    req.prefix = s.prefix;
    req.max_disk_usage = s.max_disk_usage;
    req.expire_after = s.expire_after.as_deref().map(parse_duration).transpose()?;
    let wait_timeout: Duration = parse_duration(&s.wait_timeout)?.to_std().context("--wait-timeout")?;
    if s.dry_run {
        let plan = es.restores().plan(&req).await?;
        if g.json {
            print_json!(plan);
        } else {
            for gr in &plan.groups {
                println!("from {}:{}", gr.repository, gr.snapshot);
                for i in &gr.indices {
                    println!(
                        "  {} -> {} ({} docs, {})",
                        i.source,
                        i.target,
                        opt(i.expected_docs),
                        i.store_bytes.map(human_bytes).unwrap_or_else(|| "size unknown".into())
                    );
                }
            }
            for sk in &plan.skipped {
                println!("skip {} (already restored as {} by {})", sk.source, sk.target, sk.restore_id);
            }
            println!(
                "{} index(es), {}; cluster disk: {} used of {}, {} available, {} still to come from restores in \
                 progress; limit {:.0}%",
                plan.index_count(),
                human_bytes(plan.total_bytes),
                human_bytes(plan.disk.used),
                human_bytes(plan.disk.total),
                human_bytes(plan.disk.available),
                human_bytes(plan.in_flight_bytes),
                plan.request.max_disk_usage * 100.0
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (plan, record) = es.restores().start(&req).await?;
    if !g.json {
        println!(
            "restore {} started: {} index(es) from {} snapshot(s)",
            record.id,
            plan.index_count(),
            plan.groups.len()
        );
        for sk in &plan.skipped {
            println!("skip {} (already restored by {})", sk.source, sk.restore_id);
        }
    }
    let record = if s.wait {
        let quiet = g.json;
        es.restores()
            .wait(&record.id, wait_timeout, |r| {
                if !quiet {
                    eprintln!("{}", progress_line(r));
                }
            })
            .await?
    } else {
        record
    };
    if g.json {
        print_json!(record);
    } else if s.wait {
        println!("{}", progress_line(&record));
    }
    Ok(restore_exit(&record))
}

async fn tenant(a: TenantArgs) -> Result<ExitCode> {
    let g = &a.global;
    let store = store(g)?;
    match a.cmd {
        TenantCmd::Add { id, index_prefixes } => {
            let t = Tenant::new(&id, index_prefixes)?;
            store.register_tenant(t.clone()).await?;
            if g.json {
                print_json!(t);
            } else {
                println!("tenant {} registered; repositories go under {}", t.id(), t.base_path());
            }
        }
        TenantCmd::List => {
            let list = store.tenants().await?;
            if g.json {
                print_json!(list);
            } else {
                table(
                    &["TENANT", "INDEX PREFIXES", "BASE PATH"],
                    list.iter().map(|t| vec![t.id(), t.index_prefixes.join(","), t.base_path()]).collect(),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
