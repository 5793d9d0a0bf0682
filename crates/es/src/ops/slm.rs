//! Elasticsearch SLM policies: put, get, delete, execute, each checked against the manager's scope
//! (a tenant's policy must name its indices and snapshot into one of its repositories).

use crate::error::{EsError, Result};
use crate::manager::EsManager;
use crate::model::names::{validate_index_pattern, validate_policy_name};
use crate::model::policy::validate_schedule;
use crate::model::{SlmPolicy, SlmPolicyInfo};

/// The Elasticsearch SLM policies visible to a manager's scope (see [`EsManager::slm`]).
#[derive(Debug, Clone, Copy)]
pub struct Slm<'a> {
    es: &'a EsManager,
}

impl EsManager {
    /// Elasticsearch SLM policies: put, get, delete, execute.
    pub fn slm(&self) -> Slm<'_> {
        Slm { es: self }
    }
}

impl Slm<'_> {
    async fn check_policy(&self, policy: &SlmPolicy, action: &str) -> Result<()> {
        if let Some(indices) = policy.config.as_ref().and_then(|c| c.indices.as_ref()) {
            for p in indices {
                validate_index_pattern(p)?;
                self.es.scope().check_pattern(p, action)?;
            }
        } else if self.es.scope().tenant().is_some() {
            return Err(EsError::TenantViolation {
                tenant: self.es.scope().name(),
                action: format!("{action} SLM policy"),
                reason: "a tenant's SLM policy must list its indices".into(),
            });
        }
        self.es.repositories().owned(&policy.repository, action).await.map(|_| ())
    }

    async fn check_existing(&self, id: &str, action: &str) -> Result<Option<SlmPolicyInfo>> {
        match self.es.client().slm_get(Some(id)).await {
            Ok(mut list) => match list.pop() {
                Some(p) => {
                    self.check_policy(&p.policy, action).await?;
                    Ok(Some(p))
                }
                None => Ok(None),
            },
            Err(EsError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates or replaces an Elasticsearch SLM policy.
    pub async fn put(&self, id: &str, policy: &SlmPolicy) -> Result<()> {
        validate_policy_name(id)?;
        validate_schedule(&policy.schedule)?;
        if policy.name.trim().is_empty() {
            return Err(EsError::invalid("SLM snapshot name", &policy.name, "must not be empty"));
        }
        self.check_policy(policy, "schedule snapshots with").await?;
        self.check_existing(id, "replace").await?;
        self.es.client().slm_put(id, policy).await
    }

    /// SLM policies visible to the scope (all of them, or one by id).
    pub async fn get(&self, id: Option<&str>) -> Result<Vec<SlmPolicyInfo>> {
        let list = self.es.client().slm_get(id).await?;
        let mut out = Vec::new();
        for p in list {
            if self.es.scope().tenant().is_none() || self.check_policy(&p.policy, "read").await.is_ok() {
                out.push(p);
            } else if id.is_some() {
                self.check_policy(&p.policy, "read").await?;
            }
        }
        Ok(out)
    }

    /// Deletes an SLM policy.
    pub async fn delete(&self, id: &str) -> Result<()> {
        if self.check_existing(id, "delete").await?.is_none() {
            return Err(EsError::NotFound { what: "SLM policy", name: id.into(), detail: String::new(), remedy: None });
        }
        self.es.client().slm_delete(id).await
    }

    /// Runs an SLM policy now; returns the snapshot name.
    pub async fn execute(&self, id: &str) -> Result<String> {
        if self.check_existing(id, "execute").await?.is_none() {
            return Err(EsError::NotFound { what: "SLM policy", name: id.into(), detail: String::new(), remedy: None });
        }
        self.es.client().slm_execute(id).await
    }
}
