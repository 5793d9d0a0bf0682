//! What a cluster says about itself: `GET /` (name, UUID, version), `_cluster/health` and the data
//! nodes' disks from `_cat/allocation`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /` — basic cluster information.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterInfo {
    /// Node name.
    #[serde(default)]
    pub name: String,
    /// Cluster name.
    #[serde(default)]
    pub cluster_name: String,
    /// Cluster UUID.
    #[serde(default)]
    pub cluster_uuid: String,
    /// Version block.
    pub version: VersionInfo,
}

/// The `version` block of `GET /`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionInfo {
    /// Version number, e.g. `8.19.0`.
    pub number: String,
    /// `default`, `serverless` (Elasticsearch only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_flavor: Option<String>,
    /// `opensearch` on OpenSearch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
}

impl ClusterInfo {
    /// Major version number (0 when unparsable).
    pub fn major_version(&self) -> u32 {
        self.version.number.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0)
    }

    /// True for OpenSearch clusters.
    pub fn is_opensearch(&self) -> bool {
        self.version.distribution.as_deref() == Some("opensearch")
    }
}

/// Disk usage of one data node (from `_cat/allocation`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeDisk {
    /// Node name.
    pub node: String,
    /// Bytes used on the node's data path(s).
    pub used: u64,
    /// Bytes available.
    pub available: u64,
    /// Total bytes.
    pub total: u64,
    /// Bytes used by indices.
    pub indices: Option<u64>,
}

/// Cluster-wide disk totals over data nodes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiskUsage {
    /// Bytes used.
    pub used: u64,
    /// Bytes available.
    pub available: u64,
    /// Total bytes.
    pub total: u64,
}

impl DiskUsage {
    /// Sums node disks.
    pub fn from_nodes(nodes: &[NodeDisk]) -> Self {
        nodes.iter().fold(DiskUsage::default(), |acc, n| DiskUsage {
            used: acc.used + n.used,
            available: acc.available + n.available,
            total: acc.total + n.total,
        })
    }
}

/// Per-index block of `_cluster/health?level=indices`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IndexHealth {
    /// `green`, `yellow`, `red`.
    #[serde(default)]
    pub status: String,
    /// Primary shard count.
    #[serde(default)]
    pub number_of_shards: u32,
    /// Replica count.
    #[serde(default)]
    pub number_of_replicas: u32,
    /// Active primaries.
    #[serde(default)]
    pub active_primary_shards: u32,
    /// Active shards.
    #[serde(default)]
    pub active_shards: u32,
    /// Initializing shards.
    #[serde(default)]
    pub initializing_shards: u32,
    /// Unassigned shards.
    #[serde(default)]
    pub unassigned_shards: u32,
    /// Per shard number (with `level=shards`).
    #[serde(default)]
    pub shards: BTreeMap<String, ShardHealth>,
}

/// Per-shard block of `_cluster/health?level=shards` (a primary and its replicas).
///
/// An inactive primary is `yellow` while it waits for or runs its first recovery from a snapshot
/// (or an empty store) and `red` once an allocation of it failed or the allocation deciders refuse
/// it (Elasticsearch's `ClusterShardHealth.getInactivePrimaryHealth`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ShardHealth {
    /// `green`, `yellow`, `red`.
    #[serde(default)]
    pub status: String,
    /// Whether the primary is started.
    #[serde(default)]
    pub primary_active: bool,
    /// Active copies.
    #[serde(default)]
    pub active_shards: u32,
    /// Initializing copies.
    #[serde(default)]
    pub initializing_shards: u32,
    /// Unassigned copies.
    #[serde(default)]
    pub unassigned_shards: u32,
}

/// `GET /_cluster/health` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterHealth {
    /// Cluster name.
    #[serde(default)]
    pub cluster_name: String,
    /// Status.
    #[serde(default)]
    pub status: String,
    /// Whether the request timed out.
    #[serde(default)]
    pub timed_out: bool,
    /// Per index (with `level=indices`).
    #[serde(default)]
    pub indices: BTreeMap<String, IndexHealth>,
}
