//! Opening the repository the global flags name: its storage stack, the credential and
//! the open options.

use std::sync::Arc;

use anyhow::{Context, Result};
use lifeboat_ops::credentials::{self, CredentialError, CredentialSource, OpenSettings};
use lifeboat_repo::{CacheDir, Credential, Repository};
use lifeboat_storage::StorageBuilder;

use crate::flags::Global;
use crate::secrets::SecretSource;

/// The removals of the locks this process dropped (a failed or cancelled command): every
/// repository the CLI opens hands them here, and `main` waits for them before exiting.
pub static LOCK_RELEASES: std::sync::LazyLock<lifeboat_repo::LockReleases> = std::sync::LazyLock::new(Default::default);

/// The repository URL, which every command but `retention` and `es` needs.
pub fn repo_url(global: &Global) -> Result<String> {
    global.repo.clone().context("no repository given: pass --repo URL or set LIFEBOAT_REPO")
}

/// Opens a storage URL with the layers every repository gets, in lifeboat-storage's order:
/// retries on transient failures (remote backends only), the bandwidth limits, and the
/// tenant prefix when one is given.
pub fn storage(url: &str, global: &Global) -> Result<Arc<dyn lifeboat_storage::Storage>> {
    Ok(StorageBuilder::new(url)
        .limits(global.limit_upload, global.limit_download)
        .maybe_tenant(global.tenant.as_deref())
        .build()?)
}

/// The credential for the main repository: the flags' files, then `$LIFEBOAT_PASSWORD`,
/// then write-only recipients, then a prompt (the order is lifeboat-ops').
pub fn credential(global: &Global) -> Result<Credential> {
    let source = CredentialSource {
        key_file: global.key_file.clone(),
        identity_file: global.identity_file.clone(),
        password_file: global.password_file.clone(),
        recipients: global.recipients.clone(),
    };
    let mut password = SecretSource { file: None, env: "LIFEBOAT_PASSWORD", prompt: "repository password" };
    match credentials::resolve(&source, &mut password) {
        Ok(credential) => Ok(credential),
        // The flag's name is the hint a CLI user needs.
        Err(CredentialError::BadRecipient { source, .. }) => Err(anyhow::Error::new(source).context("--recipient")),
        Err(CredentialError::NoPassword) => Err(anyhow::anyhow!(
            "no repository password given: set $LIFEBOAT_PASSWORD_FILE, $LIFEBOAT_PASSWORD_COMMAND or $LIFEBOAT_PASSWORD \
             (no terminal to ask on)"
        )),
        Err(e) => Err(e.into()),
    }
}

/// The known-state store, the rollback override and the writer key, from the flags.
pub fn open_settings(global: &Global) -> OpenSettings {
    OpenSettings {
        state_dir: global.state_dir.clone(),
        writer_key_file: global.writer_key_file.clone(),
        accept_config_rollback: global.accept_config_rollback,
        trust_new_signers: global.trust_new_signers,
    }
}

/// The open options of the repository the flags name.
pub fn open_options(global: &Global) -> Result<lifeboat_repo::OpenOptions> {
    Ok(with_process(open_settings(global).open_options()?, global))
}

/// The open options of a copy's destination (see lifeboat-ops: no writer key).
pub fn copy_destination_options(global: &Global) -> Result<lifeboat_repo::OpenOptions> {
    Ok(with_process(open_settings(global).copy_destination_options()?, global))
}

/// Dropped locks of every repository opened are settled by `main` before exiting, and
/// every repository caches where the flags say.
fn with_process(options: lifeboat_repo::OpenOptions, global: &Global) -> lifeboat_repo::OpenOptions {
    let cache = match (&global.cache_dir, global.no_cache) {
        (_, true) => CacheDir::Off,
        (Some(dir), false) => CacheDir::At(dir.clone()),
        (None, false) => CacheDir::UserCache,
    };
    lifeboat_repo::OpenOptions { releases: LOCK_RELEASES.clone(), cache, ..options }
}

/// Opens the repository the flags name.
pub async fn open_repo(global: &Global) -> Result<Repository> {
    let url = repo_url(global)?;
    let mut repo = Repository::open_with(storage(&url, global)?, credential(global)?, open_options(global)?).await?;
    if let Some(p) = global.parallelism {
        repo.set_parallelism(p);
    }
    Ok(repo)
}

/// Opens the primary repository of a plan of the config file: its URL with the storage
/// layers of the flags, unlocked by the plan's key file or password reference, else as the
/// flags would (`$LIFEBOAT_PASSWORD`, then a prompt).
pub async fn open_plan_repo(global: &Global, plan: &lifeboat_ops::plans::ResolvedPlan) -> Result<Repository> {
    let url = plan
        .config
        .repository
        .clone()
        .with_context(|| format!("plan {:?} in {} has no repository", plan.name, plan.origin))?;
    let mut fallback = SecretSource { file: None, env: "LIFEBOAT_PASSWORD", prompt: "repository password" };
    let credential = lifeboat_ops::run::plan_credential(plan, &mut fallback)?;
    let mut repo = Repository::open_with(storage(&url, global)?, credential, open_options(global)?).await?;
    if let Some(p) = global.parallelism {
        repo.set_parallelism(p);
    }
    Ok(repo)
}

/// Opens a `copy-to` destination of a plan: its URL with the flags' storage layers, unlocked
/// by its own password reference or the primary's, with the options of a copy's destination.
pub async fn open_copy_destination(
    global: &Global,
    plan: &lifeboat_ops::plans::ResolvedPlan,
    copy: &lifeboat_ops::config::CopyTo,
) -> Result<Repository> {
    let mut fallback = SecretSource { file: None, env: "LIFEBOAT_PASSWORD", prompt: "repository password" };
    let credential = lifeboat_ops::run::copy_credential(plan, copy, &mut fallback)?;
    let url = &copy.repository;
    Repository::open_with(storage(url, global)?, credential, copy_destination_options(global)?)
        .await
        .with_context(|| format!("opening copy-to destination {}", lifeboat_storage::redact_url(url)))
}
