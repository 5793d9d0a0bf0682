//! [`RepositorySpec`]: a repository to register (`fs` or `s3`), and its wire definition for a scope
//! (a tenant's data goes under `tenants/{org}/{namespace}`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{EsError, Result};
use crate::model::repository::RepositoryDefinition;
use crate::model::tenant::{Scope, Tenant};

/// A repository to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RepositorySpec {
    /// A shared filesystem; `location` must be listed under `path.repo` on every node.
    Fs {
        /// Directory (absolute, or relative to the first `path.repo`).
        location: String,
        /// Register read-only (for a second cluster that only restores).
        #[serde(default)]
        readonly: bool,
        /// Compress metadata files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        compress: Option<bool>,
    },
    /// S3 or an S3-compatible store (MinIO, Ceph RGW).
    S3 {
        /// Bucket.
        bucket: String,
        /// Endpoint, e.g. `minio.local:9000` (also settable as the client's `endpoint`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// Path-style access (needed by MinIO without virtual hosts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path_style_access: Option<bool>,
        /// The `s3.client.<name>` credentials/client settings to use on the nodes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
        /// Prefix inside the bucket. For a tenant it is placed under `tenants/{org}/{namespace}`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_path: Option<String>,
        /// Register read-only.
        #[serde(default)]
        readonly: bool,
        /// Compress metadata files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        compress: Option<bool>,
    },
}

fn join_path(a: &str, b: &str) -> String {
    let a = a.trim_end_matches('/');
    let b = b.trim_matches('/');
    if a.is_empty() {
        b.to_string()
    } else if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}/{b}")
    }
}

impl RepositorySpec {
    /// The same repository registered read-only.
    pub fn readonly(mut self) -> Self {
        match &mut self {
            RepositorySpec::Fs { readonly, .. } | RepositorySpec::S3 { readonly, .. } => *readonly = true,
        }
        self
    }

    /// Builds the wire definition, placing the data under the tenant's path when `scope` is a tenant.
    pub fn to_definition(&self, scope: &Scope) -> Result<RepositoryDefinition> {
        let mut settings = BTreeMap::new();
        let tenant_path = scope.tenant().map(Tenant::base_path);
        let repo_type = match self {
            RepositorySpec::Fs { location, readonly, compress } => {
                if location.trim().is_empty() {
                    return Err(EsError::invalid("fs repository location", location, "must not be empty"));
                }
                if location.split('/').any(|c| c == "..") {
                    return Err(EsError::invalid("fs repository location", location, "must not contain '..'"));
                }
                let loc = match &tenant_path {
                    Some(tp) if !location.trim_end_matches('/').ends_with(tp.as_str()) => join_path(location, tp),
                    _ => location.clone(),
                };
                settings.insert("location".into(), Value::String(loc));
                if *readonly {
                    settings.insert("readonly".into(), Value::Bool(true));
                }
                if let Some(c) = compress {
                    settings.insert("compress".into(), Value::Bool(*c));
                }
                "fs"
            }
            RepositorySpec::S3 { bucket, endpoint, path_style_access, client, base_path, readonly, compress } => {
                if bucket.trim().is_empty() {
                    return Err(EsError::invalid("s3 bucket", bucket, "must not be empty"));
                }
                let bp = base_path.clone().unwrap_or_default();
                if bp.split('/').any(|c| c == "..") {
                    return Err(EsError::invalid("s3 base_path", bp, "must not contain '..'"));
                }
                let bp = match &tenant_path {
                    Some(tp) if !bp.trim_matches('/').starts_with(tp.as_str()) => join_path(tp, &bp),
                    _ => bp.trim_matches('/').to_string(),
                };
                settings.insert("bucket".into(), Value::String(bucket.clone()));
                if !bp.is_empty() {
                    settings.insert("base_path".into(), Value::String(bp));
                }
                if let Some(e) = endpoint {
                    settings.insert("endpoint".into(), Value::String(e.clone()));
                }
                if let Some(p) = path_style_access {
                    settings.insert("path_style_access".into(), Value::Bool(*p));
                }
                if let Some(c) = client {
                    settings.insert("client".into(), Value::String(c.clone()));
                }
                if *readonly {
                    settings.insert("readonly".into(), Value::Bool(true));
                }
                if let Some(c) = compress {
                    settings.insert("compress".into(), Value::Bool(*c));
                }
                "s3"
            }
        };
        Ok(RepositoryDefinition { repo_type: repo_type.to_string(), settings })
    }
}
