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

mod args;
mod catalog;
mod connect;
mod policy;
mod render;
mod repo;
mod restore;
mod slm;
mod snapshot;
mod tenant;

use std::process::ExitCode;

use anyhow::Result;

pub use args::EsCommand;

/// Runs a `lifeboat es` command.
pub async fn run(cmd: EsCommand) -> Result<ExitCode> {
    match cmd {
        EsCommand::Repo(a) => repo::run(a).await,
        EsCommand::Snapshot(a) => snapshot::run(a).await,
        EsCommand::Policy(a) => policy::run(a).await,
        EsCommand::Slm(a) => slm::run(a).await,
        EsCommand::Catalog(a) => catalog::run(a).await,
        EsCommand::Restore(a) => restore::run(a).await,
        EsCommand::Tenant(a) => tenant::run(a).await,
    }
}
