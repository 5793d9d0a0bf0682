//! Time-range restores: plan from the catalog, check capacity, restore under a prefix without
//! blocking, track progress, expire.
//!
//! Progress of a restored index comes from three declared APIs: `_cat/indices` (document count),
//! `_cluster/health?level=shards` (per-shard health) and `/{index}/_recovery` (per-shard stage of
//! the `SNAPSHOT` recovery). Elasticsearch recovers only a few primaries per node at once
//! (`cluster.routing.allocation.node_initial_primaries_recoveries`, default 4); the others wait
//! unassigned with no recovery state, and their shard health stays yellow. Such a queued primary is
//! in progress. A primary has failed only when it is unassigned and red: Elasticsearch turns an
//! inactive restored primary red once its allocation failed (and drops its recovery state) or the
//! allocation deciders refuse it. A restore is `Succeeded` only when every shard of every index is
//! done and none failed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::CatalogEntry;
use crate::client::RestoreBody;
use crate::error::{EsError, Result, human_bytes};
use crate::manager::EsManager;
use crate::models::{DiskUsage, SnapshotState};
use crate::names::{matches_any, validate_index_pattern, validate_restore_prefix};
use crate::time::TimeRange;

/// Default prefix of restored indices.
pub const DEFAULT_PREFIX: &str = "restore_";
/// Default disk usage limit (fraction of total) after a restore.
pub const DEFAULT_MAX_DISK_USAGE: f64 = 0.85;

/// What to restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// Comma-separated index patterns.
    pub pattern: String,
    /// The time range the indices must overlap.
    pub range: TimeRange,
    /// Prefix of the restored index names.
    pub prefix: String,
    /// How long the restored indices are kept (`None`: until deleted by hand).
    #[serde(default, with = "opt_duration_secs")]
    pub expire_after: Option<Duration>,
    /// Refuse when disk usage after the restore would exceed this fraction (0 < x ≤ 1).
    pub max_disk_usage: f64,
}

mod opt_duration_secs {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.num_seconds()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?.map(Duration::seconds))
    }
}

impl RestoreRequest {
    /// A request with the default prefix, no expiry and the default disk limit.
    pub fn new(pattern: &str, range: TimeRange) -> Self {
        RestoreRequest {
            pattern: pattern.to_string(),
            range,
            prefix: DEFAULT_PREFIX.to_string(),
            expire_after: None,
            max_disk_usage: DEFAULT_MAX_DISK_USAGE,
        }
    }

    /// Validates the request.
    pub fn validate(&self) -> Result<()> {
        validate_index_pattern(&self.pattern)?;
        validate_restore_prefix(&self.prefix)?;
        if !(self.max_disk_usage > 0.0 && self.max_disk_usage <= 1.0) {
            return Err(EsError::invalid(
                "max disk usage",
                self.max_disk_usage.to_string(),
                "must be a fraction in (0, 1], e.g. 0.85",
            ));
        }
        if self.expire_after.is_some_and(|d| d <= Duration::zero()) {
            return Err(EsError::invalid("expire-after", "0", "must be positive"));
        }
        Ok(())
    }
}

/// One index to restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedIndex {
    /// Index name in the snapshot.
    pub source: String,
    /// Name after the restore (`prefix + source`).
    pub target: String,
    /// Documents according to the catalog.
    pub expected_docs: Option<u64>,
    /// Store size according to the catalog.
    pub store_bytes: Option<u64>,
    /// Time range according to the catalog.
    pub time_range: Option<TimeRange>,
}

/// Indices restored together from one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedGroup {
    /// Repository.
    pub repository: String,
    /// Snapshot.
    pub snapshot: String,
    /// Indices.
    pub indices: Vec<PlannedIndex>,
}

/// An index that is not restored again because an earlier restore already did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedIndex {
    /// Source index.
    pub source: String,
    /// Restored name.
    pub target: String,
    /// The restore that holds it.
    pub restore_id: String,
}

/// A restore plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestorePlan {
    /// The request.
    pub request: RestoreRequest,
    /// Groups to restore, one per snapshot.
    pub groups: Vec<PlannedGroup>,
    /// Indices already restored.
    pub skipped: Vec<SkippedIndex>,
    /// Catalogued indices matching the pattern whose time range is unknown (not restored).
    pub unknown_range: Vec<String>,
    /// Total bytes to restore.
    pub total_bytes: u64,
    /// Total documents to restore, when every count is known.
    pub total_docs: Option<u64>,
    /// Disk usage of the target cluster before the restore.
    pub disk: DiskUsage,
    /// Bytes Lifeboat's restores still running on the cluster have yet to copy: `disk.used` barely
    /// shows a restore that is still copying, so the capacity check adds these.
    #[serde(default)]
    pub in_flight_bytes: u64,
}

impl RestorePlan {
    /// Number of indices to restore.
    pub fn index_count(&self) -> usize {
        self.groups.iter().map(|g| g.indices.len()).sum()
    }
}

/// State of a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreState {
    /// Recorded, restore requests not all sent yet.
    Pending,
    /// Shards still recovering.
    Running,
    /// Every shard recovered, none failed.
    Succeeded,
    /// A shard failed, an index is missing or a restore request was refused.
    Failed,
    /// The restored indices were deleted.
    Deleted,
}

impl std::fmt::Display for RestoreState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RestoreState::Pending => "pending",
            RestoreState::Running => "running",
            RestoreState::Succeeded => "succeeded",
            RestoreState::Failed => "failed",
            RestoreState::Deleted => "deleted",
        })
    }
}

/// A restored index in a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreIndexRecord {
    /// Source index.
    pub source: String,
    /// Restored name.
    pub target: String,
    /// Documents according to the catalog.
    pub expected_docs: Option<u64>,
    /// Bytes according to the catalog.
    pub store_bytes: Option<u64>,
}

/// One snapshot's part of a restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreGroupRecord {
    /// Repository.
    pub repository: String,
    /// Snapshot.
    pub snapshot: String,
    /// Indices.
    pub indices: Vec<RestoreIndexRecord>,
    /// True once Elasticsearch accepted the restore request.
    pub started: bool,
    /// Why the restore request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Progress of one restored index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexProgress {
    /// Restored name.
    pub target: String,
    /// Primary shards.
    pub shards_total: u32,
    /// Primaries fully recovered.
    pub shards_done: u32,
    /// Primaries that failed.
    pub shards_failed: u32,
    /// Primaries waiting for a recovery slot (unassigned, no recovery state yet): in progress.
    #[serde(default)]
    pub shards_queued: u32,
    /// Documents visible now.
    pub docs: u64,
    /// Documents expected from the catalog.
    pub expected_docs: Option<u64>,
    /// Bytes recovered so far.
    pub bytes_recovered: u64,
    /// Bytes to recover.
    pub bytes_total: u64,
    /// What is wrong, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Progress of a restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreProgress {
    /// Documents visible in the restored indices.
    pub docs_recovered: u64,
    /// Documents expected (catalog), when every count is known.
    pub docs_expected: Option<u64>,
    /// Primary shards in total.
    pub shards_total: u32,
    /// Primaries recovered.
    pub shards_done: u32,
    /// Primaries failed.
    pub shards_failed: u32,
    /// Per index.
    pub indices: Vec<IndexProgress>,
    /// Warnings that do not fail the restore (e.g. document count differs from the catalog because
    /// the index was written to while it was snapshotted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// When this was measured.
    pub checked_at: DateTime<Utc>,
}

/// A restore, persisted in the state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// Id (`r<timestamp>-<random>`).
    pub id: String,
    /// Tenant (or `admin`).
    pub tenant: String,
    /// UUID of the cluster the indices were restored into.
    pub cluster_uuid: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the restored indices may be dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Pattern requested.
    pub pattern: String,
    /// Range requested.
    pub range: TimeRange,
    /// Prefix used.
    pub prefix: String,
    /// Groups.
    pub groups: Vec<RestoreGroupRecord>,
    /// Indices skipped because another restore holds them.
    #[serde(default)]
    pub skipped: Vec<SkippedIndex>,
    /// Current state.
    pub state: RestoreState,
    /// Last measured progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RestoreProgress>,
    /// When the restored indices were deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl RestoreRecord {
    /// Every restored index name of the groups that were started.
    pub fn targets(&self) -> Vec<String> {
        self.groups.iter().filter(|g| g.started).flat_map(|g| g.indices.iter().map(|i| i.target.clone())).collect()
    }

    /// True when the record is past its expiry at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

fn new_restore_id(now: DateTime<Utc>) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(now.timestamp_nanos_opt().unwrap_or_default() as u128);
    h.write_u32(std::process::id());
    format!("r{}-{:06x}", now.format("%Y%m%d%H%M%S"), h.finish() & 0xff_ffff)
}

/// Escapes a literal for a Java regex replacement string (`$` and `\`).
fn java_replacement_literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('$', "\\$")
}

impl EsManager {
    /// Plans a restore from the catalog: the newest successful snapshot of every index matching the
    /// pattern whose time range overlaps the request, minus indices restored earlier; checks that
    /// the target cluster has room. Sends no restore request.
    pub async fn plan_restore(&self, request: &RestoreRequest) -> Result<RestorePlan> {
        request.validate()?;
        self.scope().check_pattern(&request.pattern, "restore")?;
        let state = self.store().load(&self.state_key()).await?;
        let others = self.store().tenants().await?;

        // Newest successful snapshot per matching index.
        let mut chosen: BTreeMap<String, &CatalogEntry> = BTreeMap::new();
        let mut unknown_range = BTreeSet::new();
        for e in &state.catalog {
            if e.snapshot_state != SnapshotState::Success || !matches_any(&request.pattern, &e.index) {
                continue;
            }
            match &e.time_range {
                None => {
                    unknown_range.insert(e.index.clone());
                    continue;
                }
                Some(r) if !r.overlaps(&request.range) => continue,
                Some(_) => {}
            }
            self.scope().check_index(&e.index, "restore")?;
            let newer = chosen.get(&e.index).is_none_or(|c| c.snapshot_start < e.snapshot_start);
            if newer {
                chosen.insert(e.index.clone(), e);
            }
        }
        for idx in chosen.keys() {
            unknown_range.remove(idx);
        }
        if chosen.is_empty() {
            return Err(EsError::NotFound {
                what: "catalogued index matching",
                name: format!("{} in {}", request.pattern, request.range),
                hint: if unknown_range.is_empty() {
                    "; run `lifeboat es catalog scan` or a policy first".to_string()
                } else {
                    format!("; {} matching index(es) have no known time range", unknown_range.len())
                },
            });
        }

        // Which targets exist already, and which of them an earlier live restore of ours holds.
        let existing: BTreeSet<String> = self
            .client()
            .cat_indices(Some(&format!("{}*", request.prefix)))
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect();
        let held: BTreeMap<String, String> = state
            .restores
            .values()
            .filter(|r| r.state != RestoreState::Deleted)
            .flat_map(|r| r.targets().into_iter().map(move |t| (t, r.id.clone())))
            .collect();

        let mut groups: BTreeMap<(String, String), PlannedGroup> = BTreeMap::new();
        let mut skipped = Vec::new();
        for (index, e) in &chosen {
            let target = format!("{}{}", request.prefix, index);
            crate::names::validate_index_name(&target)?;
            self.scope().check_restore_target(&target, &others)?;
            if existing.contains(&target) {
                match held.get(&target) {
                    Some(id) => {
                        skipped.push(SkippedIndex { source: index.clone(), target, restore_id: id.clone() });
                        continue;
                    }
                    None => {
                        return Err(EsError::Conflict {
                            what: format!("restore target [{target}]"),
                            reason: "an index with this name exists and was not restored by lifeboat in this \
                                     scope; choose another --prefix"
                                .into(),
                        });
                    }
                }
            }
            groups
                .entry((e.repository.clone(), e.snapshot.clone()))
                .or_insert_with(|| PlannedGroup {
                    repository: e.repository.clone(),
                    snapshot: e.snapshot.clone(),
                    indices: vec![],
                })
                .indices
                .push(PlannedIndex {
                    source: index.clone(),
                    target,
                    expected_docs: e.doc_count,
                    store_bytes: e.store_bytes,
                    time_range: e.time_range,
                });
        }
        let groups: Vec<PlannedGroup> = groups.into_values().collect();
        let all: Vec<&PlannedIndex> = groups.iter().flat_map(|g| g.indices.iter()).collect();
        if let Some(missing) = all.iter().find(|i| i.store_bytes.is_none()) {
            return Err(EsError::Conflict {
                what: "capacity check".into(),
                reason: format!(
                    "the catalog has no store size for [{}]; run `lifeboat es catalog scan` for its repository",
                    missing.source
                ),
            });
        }
        let total_bytes: u64 = all.iter().filter_map(|i| i.store_bytes).sum();
        let total_docs = all.iter().map(|i| i.expected_docs).sum::<Option<u64>>();
        let (disk, in_flight_bytes) = if all.is_empty() {
            (DiskUsage::default(), 0)
        } else {
            (self.client().disk_usage().await?, self.in_flight_restore_bytes().await?)
        };
        let plan = RestorePlan {
            request: request.clone(),
            groups,
            skipped,
            unknown_range: unknown_range.into_iter().collect(),
            total_bytes,
            total_docs,
            disk,
            in_flight_bytes,
        };
        if plan.index_count() > 0 {
            check_capacity(&plan)?;
        }
        Ok(plan)
    }

    /// Bytes that Lifeboat's restores still pending or running on this cluster, in every scope (the
    /// disk is shared), have yet to copy: for each restored index its catalogued size minus what
    /// its primaries recovered so far; the whole size for a group whose restore request is not sent
    /// yet. Indices deleted meanwhile count nothing.
    async fn in_flight_restore_bytes(&self) -> Result<u64> {
        let mut keys = vec![crate::tenant::Scope::Admin.state_key()];
        for t in self.store().tenants().await? {
            keys.push(crate::tenant::Scope::Tenant(t).state_key());
        }
        let mut running = vec![];
        for k in keys {
            let st = self.store().load(&k).await?;
            running.extend(
                st.restores.into_values().filter(|r| matches!(r.state, RestoreState::Pending | RestoreState::Running)),
            );
        }
        if running.is_empty() {
            return Ok(0);
        }
        let uuid = self.client().info().await?.cluster_uuid;
        running.retain(|r| r.cluster_uuid == uuid);
        let prefixes: BTreeSet<&str> = running.iter().map(|r| r.prefix.as_str()).collect();
        let mut existing = BTreeSet::new();
        for p in prefixes {
            existing.extend(self.client().cat_indices(Some(&format!("{p}*"))).await?.into_iter().map(|i| i.name));
        }
        let started: Vec<String> = running
            .iter()
            .flat_map(|r| r.targets())
            .filter(|t| existing.contains(t))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut recovered: BTreeMap<String, u64> = BTreeMap::new();
        for chunk in started.chunks(50) {
            for (index, shards) in self.client().recovery(chunk).await? {
                // A finished primary counts whole, even if its recovery record no longer says how
                // much came from the snapshot.
                let bytes = shards
                    .iter()
                    .filter(|s| s.primary)
                    .map(|s| {
                        let size = &s.index.size;
                        if s.stage == "DONE" {
                            size.total_in_bytes.max(size.recovered_in_bytes)
                        } else {
                            size.recovered_in_bytes
                        }
                    })
                    .fold(0u64, u64::saturating_add);
                recovered.insert(index, bytes);
            }
        }
        let mut total = 0u64;
        for r in &running {
            for g in r.groups.iter().filter(|g| g.error.is_none()) {
                for i in &g.indices {
                    let size = i.store_bytes.unwrap_or(0);
                    // Sizes come from the state file: never overflow on a bad one.
                    if !g.started {
                        total = total.saturating_add(size);
                    } else if existing.contains(&i.target) {
                        let done = recovered.get(&i.target).copied().unwrap_or(0);
                        total = total.saturating_add(size.saturating_sub(done));
                    }
                }
            }
        }
        Ok(total)
    }

    /// Plans and starts a restore (see [`EsManager::plan_restore`]). The record is persisted before
    /// the first restore request and after each one, so it survives a crash or restart.
    pub async fn start_restore(&self, request: &RestoreRequest) -> Result<(RestorePlan, RestoreRecord)> {
        let plan = self.plan_restore(request).await?;
        if plan.groups.is_empty() {
            let ids: BTreeSet<&str> = plan.skipped.iter().map(|s| s.restore_id.as_str()).collect();
            return Err(EsError::Conflict {
                what: format!("restore of {} in {}", request.pattern, request.range),
                reason: format!("every matching index is already restored (restore {ids:?})"),
            });
        }
        for g in &plan.groups {
            self.owned_repository(&g.repository, "restore from").await.map_err(|e| match e {
                EsError::RepositoryMissing { repository, op } => EsError::NotFound {
                    what: "repository",
                    name: repository,
                    hint: format!(
                        "; it is not registered on the target cluster ({op}); register it read-only with \
                         `lifeboat es repo create --readonly`"
                    ),
                },
                other => other,
            })?;
        }
        let cluster = self.client().info().await?;
        let now = self.now();
        let mut record = RestoreRecord {
            id: new_restore_id(now),
            tenant: self.scope().name(),
            cluster_uuid: cluster.cluster_uuid,
            created_at: now,
            expires_at: request.expire_after.map(|d| now + d),
            pattern: request.pattern.clone(),
            range: request.range,
            prefix: request.prefix.clone(),
            groups: plan
                .groups
                .iter()
                .map(|g| RestoreGroupRecord {
                    repository: g.repository.clone(),
                    snapshot: g.snapshot.clone(),
                    indices: g
                        .indices
                        .iter()
                        .map(|i| RestoreIndexRecord {
                            source: i.source.clone(),
                            target: i.target.clone(),
                            expected_docs: i.expected_docs,
                            store_bytes: i.store_bytes,
                        })
                        .collect(),
                    started: false,
                    error: None,
                })
                .collect(),
            skipped: plan.skipped.clone(),
            state: RestoreState::Pending,
            progress: None,
            deleted_at: None,
        };
        self.save_record(&record).await?;
        let replacement = format!("{}$1", java_replacement_literal(&request.prefix));
        for i in 0..record.groups.len() {
            let g = &record.groups[i];
            let body = RestoreBody {
                indices: g.indices.iter().map(|x| x.source.as_str()).collect::<Vec<_>>().join(","),
                ignore_unavailable: false,
                include_global_state: false,
                rename_pattern: Some("(.+)".into()),
                rename_replacement: Some(replacement.clone()),
                include_aliases: false,
                index_settings: BTreeMap::new(),
            };
            let result = self.client().restore_snapshot(&g.repository, &g.snapshot, &body).await;
            let g = &mut record.groups[i];
            match result {
                Ok(()) => g.started = true,
                Err(e) => g.error = Some(e.to_string()),
            }
            self.save_record(&record).await?;
        }
        record.state =
            if record.groups.iter().any(|g| g.error.is_some()) { RestoreState::Failed } else { RestoreState::Running };
        self.save_record(&record).await?;
        Ok((plan, record))
    }

    async fn save_record(&self, record: &RestoreRecord) -> Result<()> {
        let r = record.clone();
        self.store()
            .update(&self.state_key(), move |st| {
                st.restores.insert(r.id.clone(), r);
                Ok(())
            })
            .await
    }

    async fn load_record(&self, id: &str) -> Result<RestoreRecord> {
        let st = self.store().load(&self.state_key()).await?;
        st.restores.get(id).cloned().ok_or_else(|| EsError::NotFound {
            what: "restore",
            name: id.to_string(),
            hint: "; see `lifeboat es restore list`".into(),
        })
    }

    async fn check_same_cluster(&self, record: &RestoreRecord) -> Result<()> {
        let info = self.client().info().await?;
        if info.cluster_uuid != record.cluster_uuid {
            return Err(EsError::Conflict {
                what: format!("restore {}", record.id),
                reason: format!(
                    "it was made on cluster {} but {} is cluster {}",
                    record.cluster_uuid,
                    self.client().url(),
                    info.cluster_uuid
                ),
            });
        }
        Ok(())
    }

    /// Restores of the scope, newest first, as last recorded (no cluster calls).
    pub async fn list_restores(&self) -> Result<Vec<RestoreRecord>> {
        let mut v: Vec<RestoreRecord> = self.store().load(&self.state_key()).await?.restores.into_values().collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(v)
    }

    /// Measures the progress of a restore, updates its state and stores it.
    pub async fn restore_status(&self, id: &str) -> Result<RestoreRecord> {
        let mut record = self.load_record(id).await?;
        if record.state == RestoreState::Deleted {
            return Ok(record);
        }
        self.check_same_cluster(&record).await?;
        let progress = self.measure(&record).await?;
        let group_failed = record.groups.iter().any(|g| g.error.is_some());
        let pending = progress.shards_total.saturating_sub(progress.shards_done + progress.shards_failed);
        let missing = progress.indices.iter().any(|i| i.problem.as_deref().is_some_and(|p| p.starts_with("missing")));
        record.state = if pending > 0 && !missing {
            RestoreState::Running
        } else if group_failed || progress.shards_failed > 0 || missing || record.groups.iter().any(|g| !g.started) {
            RestoreState::Failed
        } else {
            RestoreState::Succeeded
        };
        record.progress = Some(progress);
        let r = record.clone();
        self.store()
            .update(&self.state_key(), move |st| {
                // Do not resurrect a record deleted meanwhile.
                if st.restores.get(&r.id).is_some_and(|x| x.state != RestoreState::Deleted) {
                    st.restores.insert(r.id.clone(), r);
                }
                Ok(())
            })
            .await?;
        Ok(record)
    }

    async fn measure(&self, record: &RestoreRecord) -> Result<RestoreProgress> {
        let targets = record.targets();
        let live: BTreeMap<String, crate::models::IndexSummary> = self
            .client()
            .cat_indices(Some(&format!("{}*", record.prefix)))
            .await?
            .into_iter()
            .filter(|i| targets.contains(&i.name))
            .map(|i| (i.name.clone(), i))
            .collect();
        let present: Vec<String> = live.keys().cloned().collect();
        let (health, recovery) = if present.is_empty() {
            (Default::default(), BTreeMap::new())
        } else {
            (self.client().health_of(&present).await?, self.client().recovery(&present).await?)
        };
        let mut out = RestoreProgress {
            docs_recovered: 0,
            docs_expected: Some(0),
            shards_total: 0,
            shards_done: 0,
            shards_failed: 0,
            indices: vec![],
            warnings: vec![],
            checked_at: self.now(),
        };
        for g in record.groups.iter().filter(|g| g.started) {
            for i in &g.indices {
                out.docs_expected = match (out.docs_expected, i.expected_docs) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
                let Some(summary) = live.get(&i.target) else {
                    out.indices.push(IndexProgress {
                        target: i.target.clone(),
                        shards_total: 0,
                        shards_done: 0,
                        shards_failed: 0,
                        shards_queued: 0,
                        docs: 0,
                        expected_docs: i.expected_docs,
                        bytes_recovered: 0,
                        bytes_total: 0,
                        problem: Some("missing: the index does not exist on the cluster".into()),
                    });
                    continue;
                };
                let h = health.indices.get(&i.target).cloned().unwrap_or_default();
                let total = if h.number_of_shards > 0 { h.number_of_shards } else { summary.primaries.unwrap_or(0) };
                let shards: Vec<&crate::models::ShardRecovery> =
                    recovery.get(&i.target).map(|v| v.iter().filter(|s| s.primary).collect()).unwrap_or_default();
                let done = shards.iter().filter(|s| s.stage == "DONE").count() as u32;
                let recovering: BTreeSet<u32> = shards.iter().map(|s| s.id).collect();
                let failed = failed_primaries(&h, &recovering, total);
                let queued = total.saturating_sub(recovering.len() as u32 + failed);
                let docs = summary.docs_count.unwrap_or(0);
                let problem = if failed > 0 {
                    Some(format!(
                        "{failed} primary shard(s) failed to restore (unassigned with shard health red: the \
                         allocation failed or the cluster refuses it; index health {})",
                        h.status
                    ))
                } else {
                    None
                };
                if failed == 0
                    && done == total
                    && total > 0
                    && let Some(exp) = i.expected_docs.filter(|e| *e != docs)
                {
                    out.warnings.push(format!(
                        "[{}] has {docs} documents, the catalog recorded {exp} at snapshot time",
                        i.target
                    ));
                }
                out.docs_recovered += docs;
                out.shards_total += total;
                out.shards_done += done;
                out.shards_failed += failed;
                out.indices.push(IndexProgress {
                    target: i.target.clone(),
                    shards_total: total,
                    shards_done: done,
                    shards_failed: failed,
                    shards_queued: queued,
                    docs,
                    expected_docs: i.expected_docs,
                    bytes_recovered: shards.iter().map(|s| s.index.size.recovered_in_bytes).sum(),
                    bytes_total: shards.iter().map(|s| s.index.size.total_in_bytes).sum(),
                    problem,
                });
            }
        }
        Ok(out)
    }

    /// Polls a restore until it is no longer running (or `timeout` passes), calling `on_progress`
    /// after each measurement.
    pub async fn wait_restore(
        &self,
        id: &str,
        timeout: std::time::Duration,
        mut on_progress: impl FnMut(&RestoreRecord),
    ) -> Result<RestoreRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.restore_status(id).await?;
            on_progress(&r);
            if !matches!(r.state, RestoreState::Running | RestoreState::Pending) {
                return Ok(r);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EsError::Timeout { op: format!("restore {id}"), seconds: timeout.as_secs() });
            }
            tokio::time::sleep(self.poll_interval()).await;
        }
    }

    /// Deletes the indices a restore created and marks it deleted.
    pub async fn delete_restore(&self, id: &str) -> Result<RestoreRecord> {
        let mut record = self.load_record(id).await?;
        if record.state == RestoreState::Deleted {
            return Ok(record);
        }
        self.check_same_cluster(&record).await?;
        let others = self.store().tenants().await?;
        let targets = record.targets();
        for t in &targets {
            self.scope().check_restore_target(t, &others)?;
            if !t.starts_with(&record.prefix) {
                return Err(EsError::Conflict {
                    what: format!("restore {id}"),
                    reason: format!("[{t}] does not carry the restore prefix; refusing to delete it"),
                });
            }
        }
        let existing: BTreeSet<String> = self
            .client()
            .cat_indices(Some(&format!("{}*", record.prefix)))
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect();
        let to_delete: Vec<String> = targets.into_iter().filter(|t| existing.contains(t)).collect();
        // Delete in batches to keep URLs short.
        for chunk in to_delete.chunks(50) {
            self.client().delete_indices(chunk).await?;
        }
        record.state = RestoreState::Deleted;
        record.deleted_at = Some(self.now());
        self.save_record(&record).await?;
        Ok(record)
    }

    /// Deletes every restore past its expiry. Returns the deleted records and the failures.
    pub async fn clean_expired(&self) -> Result<(Vec<RestoreRecord>, Vec<(String, EsError)>)> {
        let now = self.now();
        let mut done = vec![];
        let mut failed = vec![];
        for r in self.list_restores().await? {
            if r.state != RestoreState::Deleted && r.is_expired(now) {
                match self.delete_restore(&r.id).await {
                    Ok(rec) => done.push(rec),
                    Err(e) => failed.push((r.id.clone(), e)),
                }
            }
        }
        Ok((done, failed))
    }
}

/// Primaries of an index that failed to restore: unassigned (no recovery state) with shard health
/// red. Elasticsearch keeps an inactive restored primary yellow while it waits for a recovery slot
/// (`node_initial_primaries_recoveries` throttles them) or recovers, and turns it red only once an
/// allocation failed or the deciders refuse it; so queued is never counted as failed. Without the
/// shard level (an old or unusual cluster), an index that is red with nothing initializing counts
/// its primaries without a recovery state as failed.
fn failed_primaries(h: &crate::models::IndexHealth, recovering: &BTreeSet<u32>, total: u32) -> u32 {
    if h.shards.is_empty() {
        let without_state = total.saturating_sub(recovering.len() as u32);
        return if h.status == "red" && h.initializing_shards == 0 { without_state } else { 0 };
    }
    h.shards
        .iter()
        .filter(|(id, sh)| {
            let id: Option<u32> = id.parse().ok();
            sh.status == "red"
                && !sh.primary_active
                && sh.initializing_shards == 0
                && id.is_some_and(|id| !recovering.contains(&id))
        })
        .count() as u32
}

fn check_capacity(plan: &RestorePlan) -> Result<()> {
    let d = plan.disk;
    let limit = plan.request.max_disk_usage;
    let coming = plan.total_bytes.saturating_add(plan.in_flight_bytes);
    let after = d.used as f64 + coming as f64;
    if coming > d.available || after > limit * d.total as f64 {
        return Err(EsError::InsufficientDisk {
            what: format!("{} index(es) matching {}", plan.index_count(), plan.request.pattern),
            needed: plan.total_bytes,
            in_flight: plan.in_flight_bytes,
            used: d.used,
            total: d.total,
            available: d.available,
            limit,
        });
    }
    tracing::debug!(needed = %human_bytes(plan.total_bytes), "capacity check passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_escapes_java_specials() {
        assert_eq!(java_replacement_literal("restore_"), "restore_");
        assert_eq!(java_replacement_literal("r$x"), "r\\$x");
    }

    #[test]
    fn request_validation() {
        let range = TimeRange::new(Utc::now() - Duration::days(1), Utc::now()).unwrap();
        let mut r = RestoreRequest::new("logs-*", range);
        assert!(r.validate().is_ok());
        r.max_disk_usage = 1.5;
        assert!(r.validate().is_err());
        r.max_disk_usage = 0.85;
        r.prefix = "".into();
        assert!(r.validate().is_err());
        r.prefix = "Restore_".into();
        assert!(r.validate().is_err());
    }

    #[test]
    fn ids_are_distinct() {
        let now = Utc::now();
        let a = new_restore_id(now);
        let b = new_restore_id(now);
        assert!(a.starts_with('r'));
        assert_ne!(a, b);
    }
}
