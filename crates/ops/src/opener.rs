//! [`RepoOpener`]: how the service opens the repositories of its plans, and
//! [`DefaultOpener`], what lifeboatd uses: lifeboat-storage's [`StorageBuilder`] stack, the
//! plan's own credential reference (never a prompt: a plan without one fails, saying so) and
//! the service's clock, so that backups and locks are dated by it.

use std::sync::Arc;

use futures::future::BoxFuture;
use lifeboat_repo::{Credential, Repository};
use lifeboat_storage::clock::Clock;
use lifeboat_storage::layer::RetryPolicy;
use lifeboat_storage::{Storage, StorageBuilder, redact_url};

use crate::config::CopyTo;
use crate::credentials::{CredentialError, OpenSettings};
use crate::plans::ResolvedPlan;
use crate::run::{RunError, copy_credential, plan_credential};

/// Which repository of a plan to open.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Its primary repository.
    Primary,
    /// One of its `copy-to` destinations.
    Copy(&'a CopyTo),
}

impl Target<'_> {
    /// The URL of this target of `plan` (`None`: the plan has no primary repository).
    pub fn url(&self, plan: &ResolvedPlan) -> Option<String> {
        match self {
            Target::Primary => plan.config.repository.clone(),
            Target::Copy(copy) => Some(copy.repository.clone()),
        }
    }
}

/// Why a repository could not be opened. Names the plan and the (redacted) repository.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The plan gives no key file or password reference: lifeboatd has no one to ask.
    #[error(
        "plan {plan:?}: repository {repository} needs a credential: set key-file, password-file or password-env \
         (lifeboatd cannot prompt)"
    )]
    NoCredential {
        /// The plan.
        plan: String,
        /// The repository (redacted).
        repository: String,
    },
    /// The plan has no primary repository (an Elasticsearch plan).
    #[error("plan {plan:?} has no repository")]
    NoRepository {
        /// The plan.
        plan: String,
    },
    /// The credential reference could not be read.
    #[error(transparent)]
    Credential(RunError),
    /// The storage stack could not be built.
    #[error("plan {plan:?}: repository {repository}: {source}")]
    Storage {
        /// The plan.
        plan: String,
        /// The repository (redacted).
        repository: String,
        /// Why.
        #[source]
        source: lifeboat_storage::StorageError,
    },
    /// A worker failed.
    #[error("{0}")]
    Internal(String),
    /// The repository refused to open.
    #[error("plan {plan:?}: opening repository {repository}: {source}")]
    Repo {
        /// The plan.
        plan: String,
        /// The repository (redacted).
        repository: String,
        /// Why.
        #[source]
        source: lifeboat_repo::RepoError,
    },
}

/// Opens the repositories of a plan. lifeboatd uses [`DefaultOpener`]; a program embedding
/// the service may bring its own (other storage layers, a secret store).
pub trait RepoOpener: Send + Sync + std::fmt::Debug {
    /// Opens `target` of `plan`, its locks and manifests dated by `clock`.
    fn open<'a>(
        &'a self,
        plan: &'a ResolvedPlan,
        target: Target<'a>,
        clock: Arc<dyn Clock>,
    ) -> BoxFuture<'a, Result<Repository, OpenError>>;
}

/// A last storage layer a program puts on every repository it opens (metrics, a test's
/// simulated time line), given the service's clock.
pub type StorageHook = Arc<dyn Fn(Arc<dyn Storage>, &Arc<dyn Clock>) -> Arc<dyn Storage> + Send + Sync>;

/// The opener lifeboatd uses.
#[derive(Clone, Default)]
pub struct DefaultOpener {
    /// The known-state directory, writer key and trust overrides.
    pub settings: OpenSettings,
    /// The storage retries of remote repositories (`None`: lifeboat-storage's default).
    pub retry: Option<RetryPolicy>,
    /// A layer put on top of the [`StorageBuilder`] stack (`None`: none).
    pub layer: Option<StorageHook>,
}

impl std::fmt::Debug for DefaultOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultOpener")
            .field("settings", &self.settings)
            .field("retry", &self.retry)
            .field("layer", &self.layer.as_ref().map(|_| "..."))
            .finish()
    }
}

impl RepoOpener for DefaultOpener {
    fn open<'a>(
        &'a self,
        plan: &'a ResolvedPlan,
        target: Target<'a>,
        clock: Arc<dyn Clock>,
    ) -> BoxFuture<'a, Result<Repository, OpenError>> {
        Box::pin(self.open_now(plan, target, clock))
    }
}

impl DefaultOpener {
    async fn open_now(
        &self,
        plan: &ResolvedPlan,
        target: Target<'_>,
        clock: Arc<dyn Clock>,
    ) -> Result<Repository, OpenError> {
        let url = target.url(plan).ok_or_else(|| OpenError::NoRepository { plan: plan.name.clone() })?;
        let repository = redact_url(&url);
        let credential = credential(plan, target, &repository).await?;
        let mut builder = StorageBuilder::new(url.clone());
        if let Some(retry) = self.retry {
            builder = builder.retry_policy(retry);
        }
        let storage = builder.build().map_err(|source| OpenError::Storage {
            plan: plan.name.clone(),
            repository: repository.clone(),
            source,
        })?;
        let storage = match &self.layer {
            Some(layer) => layer(storage, &clock),
            None => storage,
        };
        let options = match target {
            Target::Primary => self.settings.open_options(),
            Target::Copy(_) => self.settings.copy_destination_options(),
        }
        .map_err(|source| OpenError::Credential(RunError::Credential { plan: plan.name.clone(), source }))?;
        let options = lifeboat_repo::OpenOptions { clock: Some(clock), ..options };
        Repository::open_with(storage, credential, options).await.map_err(|source| OpenError::Repo {
            plan: plan.name.clone(),
            repository,
            source,
        })
    }
}

/// The plan's credential for `target`, read on a blocking thread (files), never prompted.
async fn credential(plan: &ResolvedPlan, target: Target<'_>, repository: &str) -> Result<Credential, OpenError> {
    let plan_owned = plan.clone();
    let copy = match target {
        Target::Primary => None,
        Target::Copy(copy) => Some(copy.clone()),
    };
    let read = tokio::task::spawn_blocking(move || {
        let mut none = crate::credentials::GivenPassword(None);
        match &copy {
            None => plan_credential(&plan_owned, &mut none),
            Some(copy) => copy_credential(&plan_owned, copy, &mut none),
        }
    })
    .await
    .map_err(|e| OpenError::Internal(format!("plan {:?}: the credential worker failed: {e}", plan.name)))?;
    read.map_err(|e| match e {
        RunError::Credential { source: CredentialError::NoPassword, .. } => {
            OpenError::NoCredential { plan: plan.name.clone(), repository: repository.to_owned() }
        }
        other => OpenError::Credential(other),
    })
}
