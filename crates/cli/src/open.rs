//! Opening the repository the global flags name: its storage stack, the credential and
//! the open options.

use std::sync::Arc;

use anyhow::{Context, Result};
use lifeboat_crypto::{Identity, RecipientPublicKey};
use lifeboat_repo::{Credential, Repository};

use crate::flags::Global;
use crate::secrets::SecretSource;

pub fn repo_url(global: &Global) -> Result<String> {
    global.repo.clone().context("no repository given: pass --repo URL or set LIFEBOAT_REPO")
}

/// Opens a storage URL with the layers every repository gets: retries with backoff on
/// transient failures (remote backends only), the bandwidth limits, and the tenant prefix
/// when one is given.
pub fn storage(url: &str, global: &Global) -> Result<Arc<dyn lifeboat_storage::Storage>> {
    use lifeboat_storage::layer::{RateLimitLayer, RetryLayer, TenantLayer};
    let opened = lifeboat_storage::open_url(url)?;
    let base: Arc<dyn lifeboat_storage::Storage> =
        if lifeboat_storage::StorageUrl::parse(url)?.is_remote() { Arc::new(RetryLayer::new(opened)) } else { opened };
    let limited = RateLimitLayer::new(base, global.limit_upload, global.limit_download);
    Ok(match &global.tenant {
        Some(tenant) => Arc::new(TenantLayer::new(limited, tenant)?),
        None => Arc::new(limited),
    })
}

/// The credential for the main repository, from the flags and environment.
pub fn credential(global: &Global) -> Result<Credential> {
    if let Some(path) = &global.key_file {
        let content = std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
        return Ok(Credential::KeyFile(zeroize::Zeroizing::new(content)));
    }
    if let Some(path) = &global.identity_file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("cannot read identity file {}", path.display()))?,
        );
        let identity = Identity::parse(&text).with_context(|| format!("identity file {}", path.display()))?;
        return Ok(Credential::Identity(Arc::new(identity)));
    }
    let source =
        SecretSource { file: global.password_file.clone(), env: "LIFEBOAT_PASSWORD", prompt: "repository password" };
    if global.password_file.is_none()
        && std::env::var_os("LIFEBOAT_PASSWORD").is_none()
        && !global.recipients.is_empty()
    {
        let recipients = global
            .recipients
            .iter()
            .map(|r| RecipientPublicKey::parse(r))
            .collect::<Result<Vec<_>, _>>()
            .context("--recipient")?;
        return Ok(Credential::WriteOnly(recipients));
    }
    Ok(Credential::Password(source.read()?))
}

/// The known-state store, the rollback override and the writer key, from the flags.
pub fn open_options(global: &Global) -> Result<lifeboat_repo::OpenOptions> {
    let state_dir = global.state_dir.clone().or_else(lifeboat_repo::FileStateStore::default_dir);
    if state_dir.is_none() {
        tracing::info!("no state directory (set LIFEBOAT_STATE_DIR or HOME): config rollbacks cannot be detected");
    }
    let writer_key = match &global.writer_key_file {
        Some(path) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read writer key file {}", path.display()))?,
            );
            let key = lifeboat_crypto::WriterKey::parse(&text)
                .with_context(|| format!("writer key file {}", path.display()))?;
            Some(Arc::new(key))
        }
        None => None,
    };
    Ok(lifeboat_repo::OpenOptions {
        state: state_dir.map(|d| Arc::new(lifeboat_repo::FileStateStore::new(d)) as _),
        accept_config_rollback: global.accept_config_rollback,
        trust_new_signers: global.trust_new_signers,
        writer_key,
    })
}

pub async fn open_repo(global: &Global) -> Result<Repository> {
    let url = repo_url(global)?;
    let mut repo = Repository::open_with(storage(&url, global)?, credential(global)?, open_options(global)?).await?;
    if let Some(p) = global.parallelism {
        repo.set_parallelism(p);
    }
    Ok(repo)
}
