//! [`TenantState`]: everything persisted for one tenant (or the admin scope), the document a
//! state store's file holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::catalog::CatalogEntry;
use crate::model::policy::SnapshotPolicy;
use crate::model::restore::RestoreRecord;

const FORMAT_VERSION: u32 = 1;

/// Everything persisted for one tenant (or the admin scope).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TenantState {
    /// File format version.
    pub version: u32,
    /// Snapshot policies by name.
    #[serde(default)]
    pub policies: BTreeMap<String, SnapshotPolicy>,
    /// Which index lives in which snapshot.
    #[serde(default)]
    pub catalog: Vec<CatalogEntry>,
    /// Restores by id.
    #[serde(default)]
    pub restores: BTreeMap<String, RestoreRecord>,
}

impl Default for TenantState {
    fn default() -> Self {
        TenantState { version: FORMAT_VERSION, policies: BTreeMap::new(), catalog: vec![], restores: BTreeMap::new() }
    }
}
