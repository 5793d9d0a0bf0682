//! `[scenarios.NAME]` carried out: [`plan`] says what each step would do (`--dry-run`),
//! [`run`] does it, stopping at the first failed step.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{DrEnv, DrError, DrProgress, DrillReport};

/// What a scenario would do, step by step (nothing changed).
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryPlan {
    /// The scenario.
    pub scenario: String,
    /// Its description.
    pub description: Option<String>,
    /// When the plan was made.
    pub generated_at: DateTime<Utc>,
    /// Each step.
    pub steps: Vec<PlannedStep>,
}

/// One step of a [`RecoveryPlan`].
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// From 1.
    pub index: usize,
    /// `restore`, `check` or `hook`.
    pub action: String,
    /// What it does, in a line.
    pub description: String,
    /// The plan it restores.
    pub plan: Option<String>,
    /// The backup it will use.
    pub backup: Option<String>,
    /// When that backup was taken.
    pub backup_time: Option<DateTime<Utc>>,
    /// Why that backup (`latest of plan db`, `newest before ...`, `asked for by id`).
    pub why: Option<String>,
    /// Its size.
    pub size_bytes: Option<u64>,
    /// How long the last drill of the plan took to restore it.
    pub last_drill_seconds: Option<f64>,
    /// What it will overwrite (redacted target, and whether it holds data now).
    pub overwrites: Option<String>,
}

/// Plans scenario `name` (what `--dry-run` prints). Nothing is changed.
pub async fn plan(env: &DrEnv, name: &str) -> Result<RecoveryPlan, DrError> {
    let _ = env;
    Err(DrError::Invalid { subject: name.into(), reason: "recovery is not built yet".into() })
}

/// Carries out `plan`, stopping at the first failed step; the report says what was done.
pub async fn run(env: &DrEnv, plan: &RecoveryPlan, progress: &dyn DrProgress) -> Result<DrillReport, DrError> {
    let _ = (env, progress);
    Err(DrError::Invalid { subject: plan.scenario.clone(), reason: "recovery is not built yet".into() })
}
