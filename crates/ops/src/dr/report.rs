//! [`DrillReport`]: what a drill or a recovery did, step by step, with the measured RTO and
//! RPO next to the objectives; JSON (serde) and a readable Markdown page.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A drill's report, or a recovery's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    /// `drill-<UTC time>-<random>` or `recovery-...`.
    pub id: String,
    /// A drill or a real recovery.
    pub kind: ReportKind,
    /// What was drilled or recovered.
    pub subject: DrillSubject,
    /// The host it ran on.
    pub host: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// When it ended (cleanup included).
    pub finished: DateTime<Utc>,
    /// True when every step passed.
    pub passed: bool,
    /// The first failure, naming the step, the backup and the object.
    pub failure: Option<String>,
    /// Each step, in order.
    pub steps: Vec<StepReport>,
    /// Recovery time: from start to verified.
    pub rto: RtoMeasure,
    /// Recovery point: the age of the backup used, and the largest gap between backups.
    pub rpo: RpoMeasure,
    /// Both objectives that are set were met (`None`: no objective set).
    pub objectives_met: Option<bool>,
    /// The scratch targets made, and whether each was removed.
    pub scratch: Vec<ScratchReport>,
}

/// Whether a report is a drill's or a real recovery's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// A restore into scratch targets.
    Drill,
    /// A scenario carried out for real.
    Recovery,
}

/// What a drill is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrillSubject {
    /// One plan's newest backup.
    Plan(String),
    /// A scenario, with every restore redirected to a scratch target.
    Scenario(String),
}

/// One step of a drill or recovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// From 1.
    pub index: usize,
    /// `restore`, `verify`, `check`, `hook` or `cleanup`.
    pub action: String,
    /// What the step does, in a line.
    pub description: String,
    /// The plan it restores, when it does.
    pub plan: Option<String>,
    /// The backup it used.
    pub backup: Option<String>,
    /// Where it restored to or what it checked (redacted).
    pub target: Option<String>,
    /// When it started.
    pub started: DateTime<Utc>,
    /// How long it took.
    pub seconds: f64,
    /// Bytes restored, when it restored.
    pub bytes: Option<u64>,
    /// How it ended.
    pub outcome: StepOutcome,
    /// What it found (the checks that passed, or why it failed).
    pub detail: Vec<String>,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepOutcome {
    /// It did what it should.
    Passed,
    /// It failed (the report's `failure` says why).
    Failed,
    /// It did not run, because an earlier step failed.
    Skipped,
}

/// The measured recovery time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RtoMeasure {
    /// Wall time from start to verified (cleanup not counted).
    pub seconds: f64,
    /// The objective (`objectives.rto`).
    pub objective_seconds: Option<i64>,
    /// Whether it was met (`None`: no objective).
    pub met: Option<bool>,
}

/// The measured recovery point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpoMeasure {
    /// The backup restored (the newest of the plan's).
    pub backup: Option<String>,
    /// When it was taken.
    pub backup_time: Option<DateTime<Utc>>,
    /// Its age when the drill started.
    pub backup_age_seconds: Option<i64>,
    /// The largest gap between consecutive successful backups within the window (the age
    /// of the newest counts as a gap too).
    pub largest_gap_seconds: Option<i64>,
    /// The window the gap is looked for in, in days (30).
    pub window_days: u32,
    /// The objective (`objectives.rpo`).
    pub objective_seconds: Option<i64>,
    /// Whether it was met by both the age and the largest gap (`None`: no objective).
    pub met: Option<bool>,
}

/// A scratch target a drill made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScratchReport {
    /// `postgres-database`, `mysql-database`, `redis-server`, `directory`, `elasticsearch-indices`.
    pub kind: String,
    /// Its name (database, directory, port or index prefix).
    pub name: String,
    /// Whether it was removed afterwards.
    pub cleaned: bool,
    /// Why it could not be removed.
    pub error: Option<String>,
}

impl DrillReport {
    /// The report as a readable Markdown page.
    pub fn to_markdown(&self) -> String {
        format!("# {}\n", self.id) // placeholder (issue 13, dr helper)
    }
}
