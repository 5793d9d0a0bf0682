//! Elasticsearch SLM (snapshot lifecycle management) policies: `PUT`/`GET /_slm/policy/{id}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The `config` block of an SLM policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlmConfig {
    /// Index patterns (string or list on the wire; we always send a list).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "string_or_list")]
    pub indices: Option<Vec<String>>,
    /// Ignore missing indices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_unavailable: Option<bool>,
    /// Include the cluster state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_global_state: Option<bool>,
    /// Allow partial snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<bool>,
    /// Snapshot metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, Value>>,
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.split(',').map(|p| p.trim().to_string()).collect()),
        Some(Value::Array(a)) => Some(a.into_iter().filter_map(|x| x.as_str().map(str::to_string)).collect()),
        Some(_) => None,
    })
}

/// The `retention` block of an SLM policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlmRetention {
    /// Delete snapshots older than this (e.g. `30d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_after: Option<String>,
    /// Keep at least this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    /// Keep at most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
}

/// An Elasticsearch SLM policy definition (`PUT /_slm/policy/{id}` body).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlmPolicy {
    /// Snapshot name, usually date math such as `<daily-snap-{now/d}>`.
    pub name: String,
    /// Cron schedule, e.g. `0 30 1 * * ?`.
    pub schedule: String,
    /// Repository.
    pub repository: String,
    /// Snapshot configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<SlmConfig>,
    /// Retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<SlmRetention>,
}

/// Last success/failure of an SLM policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlmInvocation {
    /// Snapshot name.
    #[serde(default)]
    pub snapshot_name: String,
    /// Time (epoch millis).
    #[serde(default)]
    pub time: i64,
}

/// An SLM policy as returned by `GET /_slm/policy/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlmPolicyInfo {
    /// Policy id.
    #[serde(default)]
    pub id: String,
    /// Version.
    #[serde(default)]
    pub version: u64,
    /// Modification time (epoch millis).
    #[serde(default)]
    pub modified_date_millis: i64,
    /// Definition.
    pub policy: SlmPolicy,
    /// Last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<SlmInvocation>,
    /// Last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<SlmInvocation>,
    /// Next execution (epoch millis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_execution_millis: Option<i64>,
}
