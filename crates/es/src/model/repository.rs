//! Snapshot repositories as registered on the cluster (`GET /_snapshot/{repository}`), the
//! definition a registration sends, and the answer of a verification.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A snapshot repository as returned by `GET /_snapshot/{repository}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepositoryInfo {
    /// Repository name.
    pub name: String,
    /// Repository type (`fs`, `s3`, ...).
    #[serde(rename = "type")]
    pub repo_type: String,
    /// Repository UUID (ES 7.12+ may report `_na_` until first write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Settings. Elasticsearch returns every setting value as a string.
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
}

impl RepositoryInfo {
    /// A setting as a string (strings, booleans and numbers are accepted).
    pub fn setting(&self, key: &str) -> Option<String> {
        match self.settings.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// True when the repository is registered read-only.
    pub fn readonly(&self) -> bool {
        self.setting("readonly").is_some_and(|v| v == "true")
    }
}

/// What a repository registration sends: a type and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepositoryDefinition {
    /// Repository type: `fs` or `s3` (others are passed through).
    #[serde(rename = "type")]
    pub repo_type: String,
    /// Settings.
    pub settings: BTreeMap<String, Value>,
}

/// `POST /_snapshot/{repo}/_verify` response body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VerifyResponse {
    /// Nodes that verified the repository: node id → node info.
    #[serde(default)]
    pub nodes: BTreeMap<String, VerifiedNode>,
}

/// A node that verified a repository.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VerifiedNode {
    /// Node name.
    #[serde(default)]
    pub name: String,
}
