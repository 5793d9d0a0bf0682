//! Planning a time-range restore: choose from the catalog the newest successful snapshot of every
//! matching index that overlaps the range, skip indices an earlier restore holds, and check the
//! target cluster has room (counting what restores in progress have yet to copy).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{EsError, Remedy, Result, exact_bytes};
use crate::manager::EsManager;
use crate::model::names::{matches_any, validate_index_name};
use crate::model::{
    CatalogEntry, DiskUsage, PlannedGroup, PlannedIndex, RestorePlan, RestoreRequest, RestoreState, Scope,
    SkippedIndex, SnapshotState,
};

/// Plans a restore from the catalog: the newest successful snapshot of every index matching the
/// pattern whose time range overlaps the request, minus indices restored earlier; checks that
/// the target cluster has room. Sends no restore request.
pub(crate) async fn plan(es: &EsManager, request: &RestoreRequest) -> Result<RestorePlan> {
    request.validate()?;
    es.scope().check_pattern(&request.pattern, "restore")?;
    let state = es.store().load(&es.state_key()).await?;
    let others = es.store().tenants().await?;

    // Newest successful snapshot per matching index.
    let mut chosen: BTreeMap<String, &CatalogEntry> = BTreeMap::new();
    let mut unknown_range = BTreeSet::new();
    for e in &state.catalog {
        if e.snapshot_state != SnapshotState::Success || !matches_any(&request.pattern, &e.index) {
            continue;
        }
        match &e.time_range {
            None if !request.include_untimed => {
                unknown_range.insert(e.index.clone());
                continue;
            }
            None => {}
            Some(r) if !r.overlaps(&request.range) => continue,
            Some(_) => {}
        }
        es.scope().check_index(&e.index, "restore")?;
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
            detail: if unknown_range.is_empty() {
                String::new()
            } else {
                format!("; {} matching index(es) have no known time range", unknown_range.len())
            },
            remedy: unknown_range.is_empty().then_some(Remedy::ScanCatalog),
        });
    }

    // Which targets exist already, and which of them an earlier live restore of ours holds.
    let existing: BTreeSet<String> =
        es.client().cat_indices(Some(&format!("{}*", request.prefix))).await?.into_iter().map(|i| i.name).collect();
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
        validate_index_name(&target)?;
        es.scope().check_restore_target(&target, &others)?;
        if existing.contains(&target) {
            match held.get(&target) {
                Some(id) => {
                    skipped.push(SkippedIndex { source: index.clone(), target, restore_id: id.clone() });
                    continue;
                }
                None => {
                    return Err(EsError::Conflict {
                        what: format!("restore target [{target}]"),
                        reason: "an index with this name exists and was not restored by lifeboat in this scope".into(),
                        remedy: Some(Remedy::ChoosePrefix),
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
            reason: format!("the catalog has no store size for [{}]", missing.source),
            remedy: Some(Remedy::ScanRepositoryCatalog),
        });
    }
    let total_bytes: u64 = all.iter().filter_map(|i| i.store_bytes).sum();
    let total_docs = all.iter().map(|i| i.expected_docs).sum::<Option<u64>>();
    let (disk, in_flight_bytes) = if all.is_empty() {
        (DiskUsage::default(), 0)
    } else {
        (es.client().disk_usage().await?, in_flight_restore_bytes(es).await?)
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
async fn in_flight_restore_bytes(es: &EsManager) -> Result<u64> {
    let mut keys = vec![Scope::Admin.state_key()];
    for t in es.store().tenants().await? {
        keys.push(Scope::Tenant(t).state_key());
    }
    let mut running = vec![];
    for k in keys {
        let st = es.store().load(&k).await?;
        running.extend(
            st.restores.into_values().filter(|r| matches!(r.state, RestoreState::Pending | RestoreState::Running)),
        );
    }
    if running.is_empty() {
        return Ok(0);
    }
    let uuid = es.client().info().await?.cluster_uuid;
    running.retain(|r| r.cluster_uuid == uuid);
    let prefixes: BTreeSet<&str> = running.iter().map(|r| r.prefix.as_str()).collect();
    let mut existing = BTreeSet::new();
    for p in prefixes {
        existing.extend(es.client().cat_indices(Some(&format!("{p}*"))).await?.into_iter().map(|i| i.name));
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
        for (index, shards) in es.client().recovery(chunk).await? {
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
    tracing::debug!(needed = %exact_bytes(plan.total_bytes), "capacity check passed");
    Ok(())
}
