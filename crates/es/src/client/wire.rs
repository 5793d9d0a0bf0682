//! Raw response bodies as Elasticsearch sends them, decoded here and turned into the public
//! [`crate::model`] types; nothing outside the client sees them.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::model::{IndexSummary, NodeDisk, ShardRecovery, SnapshotInfo, SnapshotStatus, parse_cat_bytes};

/// The body of `GET /_snapshot/{repository}`: repository name → definition.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RepositoryDef {
    #[serde(rename = "type")]
    pub repo_type: String,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
}

/// `GET /_snapshot/{repo}/{snapshots}` response body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SnapshotList {
    #[serde(default)]
    pub snapshots: Vec<SnapshotInfo>,
    /// Per-repository failures of a multi-repository listing (8.x).
    #[serde(default)]
    pub failures: Option<BTreeMap<String, Value>>,
}

/// `PUT /_snapshot/{repo}/{snapshot}` response body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CreateSnapshotResponse {
    #[serde(default)]
    pub snapshot: Option<SnapshotInfo>,
    #[serde(default)]
    pub accepted: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SnapshotStatusList {
    #[serde(default)]
    pub snapshots: Vec<SnapshotStatus>,
}

/// `POST /_snapshot/{repo}/{snap}/_restore` response body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RestoreResponse {
    #[serde(default)]
    pub accepted: Option<bool>,
    #[serde(default)]
    pub snapshot: Option<Value>,
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    // `_cat` JSON values are strings, or null when unknown; be lenient about numbers.
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

/// A raw row of `_cat/indices?format=json`.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct CatIndexRow {
    #[serde(default, deserialize_with = "opt_string")]
    pub health: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub index: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub uuid: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub pri: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub rep: Option<String>,
    #[serde(default, rename = "docs.count", deserialize_with = "opt_string")]
    pub docs_count: Option<String>,
    #[serde(default, rename = "store.size", deserialize_with = "opt_string")]
    pub store_size: Option<String>,
    #[serde(default, rename = "pri.store.size", deserialize_with = "opt_string")]
    pub pri_store_size: Option<String>,
}

impl CatIndexRow {
    pub(crate) fn into_summary(self) -> Option<IndexSummary> {
        Some(IndexSummary {
            name: self.index?.trim().to_string(),
            health: self.health,
            status: self.status,
            uuid: self.uuid.map(|u| u.trim().to_string()),
            primaries: self.pri.and_then(|p| p.trim().parse().ok()),
            replicas: self.rep.and_then(|p| p.trim().parse().ok()),
            docs_count: self.docs_count.and_then(|p| p.trim().parse().ok()),
            store_bytes: self.store_size.as_deref().and_then(parse_cat_bytes),
            pri_store_bytes: self.pri_store_size.as_deref().and_then(parse_cat_bytes),
        })
    }
}

/// A raw row of `_cat/allocation?format=json`.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct CatAllocationRow {
    #[serde(default, rename = "disk.used", deserialize_with = "opt_string")]
    pub disk_used: Option<String>,
    #[serde(default, rename = "disk.avail", deserialize_with = "opt_string")]
    pub disk_avail: Option<String>,
    #[serde(default, rename = "disk.total", deserialize_with = "opt_string")]
    pub disk_total: Option<String>,
    #[serde(default, rename = "disk.indices", deserialize_with = "opt_string")]
    pub disk_indices: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub node: Option<String>,
}

impl CatAllocationRow {
    /// Rows without disk values (the `UNASSIGNED` pseudo-node) yield `None`.
    pub(crate) fn into_node(self) -> Option<NodeDisk> {
        let node = self.node?;
        Some(NodeDisk {
            used: parse_cat_bytes(self.disk_used.as_deref()?)?,
            available: parse_cat_bytes(self.disk_avail.as_deref()?)?,
            total: parse_cat_bytes(self.disk_total.as_deref()?)?,
            indices: self.disk_indices.as_deref().and_then(parse_cat_bytes),
            node,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IndexRecovery {
    #[serde(default)]
    pub shards: Vec<ShardRecovery>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CountResponse {
    pub count: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SlmExecuteResponse {
    pub snapshot_name: String,
}

/// The Elasticsearch error envelope: `{"error": {...}, "status": N}` or `{"error": "text", "status": N}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorEnvelope {
    pub error: Value,
}

impl ErrorEnvelope {
    /// (type, reason) of the error, including the first `caused_by` reason when present.
    pub(crate) fn type_and_reason(&self) -> (String, String) {
        match &self.error {
            Value::String(s) => ("error".to_string(), s.clone()),
            Value::Object(o) => {
                let ty = o.get("type").and_then(Value::as_str).unwrap_or("error").to_string();
                let mut reason = o.get("reason").and_then(Value::as_str).unwrap_or("").to_string();
                if let Some(cause) = o.get("caused_by").and_then(Value::as_object) {
                    let cty = cause.get("type").and_then(Value::as_str).unwrap_or("");
                    let creason = cause.get("reason").and_then(Value::as_str).unwrap_or("");
                    reason = format!("{reason} (caused by {cty}: {creason})");
                }
                (ty, reason)
            }
            other => ("error".to_string(), other.to_string()),
        }
    }
}
