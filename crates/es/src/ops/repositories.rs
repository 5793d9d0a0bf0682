//! Snapshot repositories: register (`fs`, `s3` with a per-tenant `base_path`), change settings, list,
//! verify and unregister, each checked against the manager's scope.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{EsError, Result};
use crate::manager::EsManager;
use crate::model::names::validate_repository_name;
use crate::model::{RepositoryDefinition, RepositoryInfo, RepositorySpec, VerifyResponse};

/// The repositories of a manager's scope (see [`EsManager::repositories`]).
#[derive(Debug, Clone, Copy)]
pub struct Repositories<'a> {
    es: &'a EsManager,
}

impl EsManager {
    /// Snapshot repositories: register, change, list, verify, unregister.
    pub fn repositories(&self) -> Repositories<'_> {
        Repositories { es: self }
    }
}

impl Repositories<'_> {
    /// Fetches a repository and checks it belongs to the scope.
    pub async fn owned(&self, name: &str, action: &str) -> Result<RepositoryInfo> {
        validate_repository_name(name)?;
        let repo = self.es.client().get_repository(name).await?;
        self.es.scope().check_repository(&repo, action)?;
        Ok(repo)
    }

    /// Registers a repository (replacing an existing registration of the same name that belongs to
    /// the scope). With `verify`, Elasticsearch checks every node can write to it.
    pub async fn create(&self, name: &str, spec: &RepositorySpec, verify: bool) -> Result<RepositoryInfo> {
        validate_repository_name(name)?;
        let def = spec.to_definition(self.es.scope())?;
        if self.es.scope().tenant().is_some() {
            match self.es.client().get_repository(name).await {
                Ok(existing) => self.es.scope().check_repository(&existing, "replace")?,
                Err(EsError::RepositoryMissing { .. }) => {}
                Err(e) => return Err(e),
            }
            let probe = RepositoryInfo {
                name: name.to_string(),
                repo_type: def.repo_type.clone(),
                uuid: None,
                settings: def.settings.clone(),
            };
            self.es.scope().check_repository(&probe, "register")?;
        }
        self.es.client().put_repository(name, &def, verify).await?;
        self.es.client().get_repository(name).await
    }

    /// Changes settings of a registered repository; `None` removes a setting. The type cannot change.
    pub async fn update_settings(
        &self,
        name: &str,
        changes: &BTreeMap<String, Option<String>>,
        verify: bool,
    ) -> Result<RepositoryInfo> {
        let mut repo = self.owned(name, "modify").await?;
        for (k, v) in changes {
            if k.trim().is_empty() {
                return Err(EsError::invalid("repository setting", k, "the key must not be empty"));
            }
            match v {
                Some(v) => repo.settings.insert(k.clone(), Value::String(v.clone())),
                None => repo.settings.remove(k),
            };
        }
        self.es.scope().check_repository(&repo, "modify")?;
        let def = RepositoryDefinition { repo_type: repo.repo_type.clone(), settings: repo.settings.clone() };
        self.es.client().put_repository(name, &def, verify).await?;
        self.es.client().get_repository(name).await
    }

    /// Repositories visible to the scope.
    pub async fn list(&self) -> Result<Vec<RepositoryInfo>> {
        let all = self.es.client().get_repositories(None).await?;
        Ok(all.into_iter().filter(|r| self.es.scope().check_repository(r, "list").is_ok()).collect())
    }

    /// Verifies a repository on every node.
    pub async fn verify(&self, name: &str) -> Result<VerifyResponse> {
        self.owned(name, "verify").await?;
        self.es.client().verify_repository(name).await
    }

    /// Unregisters a repository (the stored snapshots stay in the bucket/directory).
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.owned(name, "delete").await?;
        self.es.client().delete_repository(name).await
    }
}
