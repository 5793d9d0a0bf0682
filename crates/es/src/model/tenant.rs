//! Tenants: who may touch which indices and repository paths.
//!
//! A tenant is `org/namespace` plus the index-name prefixes it owns. Its repositories must store
//! data under `tenants/{org}/{namespace}` (the S3 `base_path`, or the last components of an `fs`
//! `location`), and every index it snapshots, restores or deletes must carry one of its prefixes.
//! Prefixes of different tenants never overlap, so one tenant cannot reach another's data. The
//! admin scope (no tenant) is unrestricted.

use serde::{Deserialize, Serialize};

use crate::error::{EsError, Result};
use crate::model::names::validate_index_name;
use crate::model::repository::RepositoryInfo;

/// A registered tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Organisation.
    pub org: String,
    /// Namespace inside the organisation.
    pub namespace: String,
    /// Index-name prefixes this tenant owns (e.g. `acme-prod-`).
    pub index_prefixes: Vec<String>,
}

fn validate_segment(what: &'static str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(EsError::invalid(what, s, "use 1-63 lowercase letters, digits or '-', not starting with '-'"))
    }
}

impl Tenant {
    /// Builds and validates a tenant from `org/namespace` and its prefixes.
    pub fn new(id: &str, index_prefixes: Vec<String>) -> Result<Self> {
        let (org, namespace) = parse_tenant_id(id)?;
        if index_prefixes.is_empty() {
            return Err(EsError::invalid("tenant index prefixes", "", "a tenant needs at least one index prefix"));
        }
        for p in &index_prefixes {
            if p.contains('*') {
                return Err(EsError::invalid("tenant index prefix", p, "must be literal (no '*')"));
            }
            validate_index_name(&format!("{p}x")).map_err(|e| match e {
                EsError::InvalidInput { reason, .. } => EsError::invalid("tenant index prefix", p, reason),
                other => other,
            })?;
            if p.len() < 2 {
                return Err(EsError::invalid("tenant index prefix", p, "must be at least 2 characters"));
            }
        }
        Ok(Tenant { org, namespace, index_prefixes })
    }

    /// `org/namespace`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.org, self.namespace)
    }

    /// The storage path every repository of this tenant lives under: `tenants/{org}/{namespace}`.
    pub fn base_path(&self) -> String {
        format!("tenants/{}/{}", self.org, self.namespace)
    }

    /// True when one of this tenant's prefixes overlaps one of `other`'s.
    pub fn overlaps(&self, other: &Tenant) -> bool {
        self.index_prefixes
            .iter()
            .any(|a| other.index_prefixes.iter().any(|b| a.starts_with(b.as_str()) || b.starts_with(a.as_str())))
    }

    /// True when the index carries one of this tenant's prefixes.
    pub fn owns_index(&self, index: &str) -> bool {
        self.index_prefixes.iter().any(|p| index.starts_with(p.as_str()))
    }
}

/// Splits `org/namespace`.
pub fn parse_tenant_id(id: &str) -> Result<(String, String)> {
    let (org, ns) = id.split_once('/').ok_or_else(|| EsError::invalid("tenant", id, "use the form org/namespace"))?;
    validate_segment("tenant organisation", org)?;
    validate_segment("tenant namespace", ns)?;
    Ok((org.to_string(), ns.to_string()))
}

/// Who is acting: the unrestricted admin, or a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// No tenant: every repository and index.
    Admin,
    /// A tenant, restricted to its prefixes and repository paths.
    Tenant(Tenant),
}

impl Scope {
    /// The key under which this scope's state is stored.
    pub fn state_key(&self) -> String {
        match self {
            Scope::Admin => "_admin".to_string(),
            Scope::Tenant(t) => format!("tenant__{}__{}", t.org, t.namespace),
        }
    }

    /// A display name.
    pub fn name(&self) -> String {
        match self {
            Scope::Admin => "admin".to_string(),
            Scope::Tenant(t) => t.id(),
        }
    }

    /// The tenant, if any.
    pub fn tenant(&self) -> Option<&Tenant> {
        match self {
            Scope::Admin => None,
            Scope::Tenant(t) => Some(t),
        }
    }

    fn violation(&self, action: impl Into<String>, reason: impl Into<String>) -> EsError {
        EsError::TenantViolation { tenant: self.name(), action: action.into(), reason: reason.into() }
    }

    /// Checks that an index belongs to this scope.
    pub fn check_index(&self, index: &str, action: &str) -> Result<()> {
        match self {
            Scope::Tenant(t) if !t.owns_index(index) => Err(self.violation(
                format!("{action} index [{index}]"),
                format!("its name does not start with one of the tenant's prefixes {:?}", t.index_prefixes),
            )),
            _ => Ok(()),
        }
    }

    /// Checks that every element of a comma-separated index pattern stays within this scope: each
    /// must start with one of the tenant's literal prefixes (so wildcards cannot escape it).
    pub fn check_pattern(&self, pattern: &str, action: &str) -> Result<()> {
        let Scope::Tenant(t) = self else { return Ok(()) };
        for part in pattern.split(',') {
            let part = part.trim();
            let literal = part.split('*').next().unwrap_or("");
            if !t.index_prefixes.iter().any(|p| literal.starts_with(p.as_str())) {
                return Err(self.violation(
                    format!("{action} indices [{pattern}]"),
                    format!("[{part}] does not start with one of the tenant's prefixes {:?}", t.index_prefixes),
                ));
            }
        }
        Ok(())
    }

    /// Checks that a repository stores its data under this tenant's path.
    pub fn check_repository(&self, repo: &RepositoryInfo, action: &str) -> Result<()> {
        let Scope::Tenant(t) = self else { return Ok(()) };
        let want = ["tenants", t.org.as_str(), t.namespace.as_str()];
        let ok = match repo.repo_type.as_str() {
            "s3" => repo.setting("base_path").is_some_and(|bp| {
                let comps = path_components(&bp);
                comps.as_ref().is_some_and(|c| c.len() >= 3 && c[..3] == want)
            }),
            "fs" => repo
                .setting("location")
                .is_some_and(|loc| path_components(&loc).is_some_and(|c| c.windows(3).any(|w| w == want))),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(self.violation(
                format!("{action} repository [{}]", repo.name),
                format!("its data is not stored under {} (type {})", t.base_path(), repo.repo_type),
            ))
        }
    }

    /// Checks that a restored index name does not fall under another tenant's prefixes.
    pub fn check_restore_target(&self, target: &str, others: &[Tenant]) -> Result<()> {
        for o in others {
            if Some(o) != self.tenant() && o.owns_index(target) {
                return Err(self.violation(
                    format!("restore into [{target}]"),
                    format!("the name falls under tenant {}'s prefixes; choose another prefix", o.id()),
                ));
            }
        }
        Ok(())
    }
}

/// Splits a path into components; `None` when it contains `..`.
fn path_components(p: &str) -> Option<Vec<&str>> {
    let comps: Vec<&str> = p.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if comps.contains(&"..") { None } else { Some(comps) }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn repo(ty: &str, key: &str, val: &str) -> RepositoryInfo {
        let mut settings = BTreeMap::new();
        settings.insert(key.to_string(), serde_json::Value::String(val.to_string()));
        RepositoryInfo { name: "r".into(), repo_type: ty.into(), uuid: None, settings }
    }

    #[test]
    fn tenant_scope_checks() {
        let t = Tenant::new("acme/prod", vec!["acme-prod-".into()]).unwrap();
        let s = Scope::Tenant(t.clone());
        assert!(s.check_index("acme-prod-logs", "x").is_ok());
        assert!(s.check_index("other-logs", "x").is_err());
        assert!(s.check_pattern("acme-prod-*", "x").is_ok());
        assert!(s.check_pattern("acme-*", "x").is_err());
        assert!(s.check_pattern("acme-prod-*,*", "x").is_err());
        assert!(s.check_repository(&repo("s3", "base_path", "tenants/acme/prod"), "x").is_ok());
        assert!(s.check_repository(&repo("s3", "base_path", "/tenants/acme/prod/daily"), "x").is_ok());
        assert!(s.check_repository(&repo("s3", "base_path", "tenants/acme/dev"), "x").is_err());
        assert!(s.check_repository(&repo("s3", "base_path", "tenants/acme/prod/../dev"), "x").is_err());
        assert!(s.check_repository(&repo("fs", "location", "/mnt/b/tenants/acme/prod"), "x").is_ok());
        assert!(s.check_repository(&repo("fs", "location", "/mnt/b/tenants/acme"), "x").is_err());
        assert!(s.check_repository(&repo("url", "url", "http://x/tenants/acme/prod"), "x").is_err());
        assert!(Scope::Admin.check_pattern("*", "x").is_ok());
        let other = Tenant::new("beta/prod", vec!["beta-".into()]).unwrap();
        assert!(s.check_restore_target("beta-restored", std::slice::from_ref(&other)).is_err());
        assert!(s.check_restore_target("acme-prod-r-x", &[other, t]).is_ok());
    }

    #[test]
    fn tenant_validation() {
        assert!(Tenant::new("acme", vec!["a-".into()]).is_err());
        assert!(Tenant::new("Acme/prod", vec!["a-".into()]).is_err());
        assert!(Tenant::new("acme/prod", vec![]).is_err());
        assert!(Tenant::new("acme/prod", vec!["a*".into()]).is_err());
        let a = Tenant::new("a/x", vec!["ab-".into()]).unwrap();
        let b = Tenant::new("b/x", vec!["ab-c".into()]).unwrap();
        let c = Tenant::new("c/x", vec!["ac-".into()]).unwrap();
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
    }
}
