//! Disaster recovery's tables: `[drills]` (where drills restore to, and when),
//! `[plans.NAME.drill]` (one plan's drill), and `[scenarios.NAME]` (a recovery runbook as
//! ordered steps). docs/CONFIG.md documents every key.
//!
//! Placeholder shapes (issue 13): the dr helper owns this file and fills it in.

use std::path::PathBuf;

use serde::Deserialize;

use super::plan::Objectives;
use crate::schedule::ScheduleTable;

/// `[drills]`: defaults for every plan's restore drill.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DrillSettings {
    /// When lifeboatd drills each plan that has no schedule of its own (default weekly).
    pub schedule: Option<ScheduleTable>,
    /// A designated PostgreSQL server for scratch databases (default: the plan's own server).
    pub postgres_server: Option<String>,
    /// A designated MySQL/MariaDB server for scratch databases (default: the plan's own).
    pub mysql_server: Option<String>,
    /// A designated, empty Redis drill instance (default: Lifeboat starts a `redis-server`).
    pub redis_server: Option<String>,
    /// The `redis-server` program to start (default: found on `PATH`).
    pub redis_binary: Option<PathBuf>,
    /// Where scratch directories are made (default: the system's temporary directory).
    pub scratch_dir: Option<PathBuf>,
}

/// `[plans.NAME.drill]`: this plan's drill.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct PlanDrill {
    /// `false`: lifeboatd never drills this plan on a schedule (it can still be drilled by hand).
    pub enabled: Option<bool>,
    /// When lifeboatd drills the plan (default: `[drills] schedule`, else weekly).
    pub schedule: Option<ScheduleTable>,
    /// The server scratch databases are made on (default: `[drills]`, else the plan's own).
    pub server: Option<String>,
}

/// `[scenarios.NAME]`: a recovery runbook.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScenarioConfig {
    /// What failure this scenario recovers from.
    #[serde(default)]
    pub description: Option<String>,
    /// The objectives the whole scenario is held to.
    #[serde(default)]
    pub objectives: Option<Objectives>,
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<toml::Value>,
}
