//! `[plans.NAME]`: one plan, and its tables (copies, prune, verify, objectives, drill).

use std::path::PathBuf;

use lifeboat_retention::Policy;
use serde::Deserialize;

use super::secret::SecretRef;
use super::source::SourceConfig;
use crate::schedule::{ScheduleError, ScheduleSpec, ScheduleTable, Span};

/// One plan: what it backs up ([`source`](Self::source)), where to, when, what it keeps.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PlanConfig {
    /// The primary repository's URL (required).
    #[serde(default)]
    pub repository: Option<String>,
    /// A file whose first line is the primary repository's password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The environment variable holding the primary repository's password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A key file that unlocks the primary repository (instead of a password).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// What the plan backs up (required).
    #[serde(default)]
    pub source: Option<SourceConfig>,
    /// Further repositories every backup is copied to (the off-site leg of 3-2-1).
    #[serde(default)]
    pub copy_to: Vec<CopyTo>,
    /// When the plan runs (unscheduled: only when run by hand).
    #[serde(default)]
    pub schedule: Option<ScheduleTable>,
    /// Tags added to every backup of the plan.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Which backups to keep (default: 7 daily, 4 weekly, 12 monthly).
    #[serde(default = "Policy::plan_default")]
    pub retention: Policy,
    /// Apply [`retention`](Self::retention) after each successful backup (default true).
    #[serde(default = "yes")]
    pub forget_after_backup: bool,
    /// When to delete data no backup references any more.
    #[serde(default)]
    pub prune: Option<PruneConfig>,
    /// When to check the backups.
    #[serde(default)]
    pub verify: Option<VerifyConfig>,
    /// The recovery objectives the plan is held to.
    #[serde(default)]
    pub objectives: Option<Objectives>,
    /// The plan's alert thresholds and rules switched off (`[plans.NAME.alerts]`).
    #[serde(default)]
    pub alerts: super::alerts::PlanAlerts,
    /// The plan's restore drill (`[plans.NAME.drill]`).
    #[serde(default)]
    pub drill: PlanDrill,
}

fn yes() -> bool {
    true
}

impl PlanConfig {
    /// The primary repository's password reference.
    pub fn password(&self) -> SecretRef {
        SecretRef::new(self.password_file.clone(), self.password_env.clone())
    }

    /// The names of every environment variable this plan takes a secret from (its
    /// repository's, its source's, its copies'): what a child process it starts must not see.
    pub fn secret_variables(&self) -> Vec<String> {
        let mut names: Vec<String> = self.password_env.iter().cloned().collect();
        if let Some(source) = &self.source {
            names.extend(source.password().env);
            if let SourceConfig::Elasticsearch(es) = source {
                names.extend(es.api_key_env.clone());
            }
        }
        names.extend(self.copy_to.iter().filter_map(|c| c.password_env.clone()));
        names
    }

    /// The checked schedule, `Ok(None)` when the plan has none. A loaded [`Config`]
    /// has been checked already, so this does not fail for one.
    ///
    /// [`Config`]: super::Config
    pub fn schedule_spec(&self) -> Result<Option<ScheduleSpec>, ScheduleError> {
        checked(self.schedule.as_ref())
    }
}

/// A [`ScheduleTable`] checked into a [`ScheduleSpec`].
pub(crate) fn checked(table: Option<&ScheduleTable>) -> Result<Option<ScheduleSpec>, ScheduleError> {
    table.cloned().map(ScheduleSpec::from_table).transpose()
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
    /// The password file of `server` (default: `[drills]`'s, else the plan's source password).
    pub password_file: Option<PathBuf>,
    /// The environment variable holding `server`'s password.
    pub password_env: Option<String>,
}

impl PlanDrill {
    /// `server`'s password reference.
    pub fn password(&self) -> SecretRef {
        SecretRef::new(self.password_file.clone(), self.password_env.clone())
    }
}

/// `[[plans.NAME.copy-to]]`: a repository the plan's backups are copied to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CopyTo {
    /// The destination repository's URL.
    pub repository: String,
    /// A file whose first line is the destination's password (default: the primary's).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The environment variable holding the destination's password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Copy right after each successful backup (default: true when no schedule is given).
    #[serde(default)]
    pub after_backup: Option<bool>,
    /// Copy on this schedule instead (or as well, with `after-backup = true`).
    #[serde(default)]
    pub schedule: Option<ScheduleTable>,
}

impl CopyTo {
    /// Whether the copy runs after each backup: as configured, else when it has no schedule.
    pub fn runs_after_backup(&self) -> bool {
        self.after_backup.unwrap_or(self.schedule.is_none())
    }

    /// The destination's password reference (none: the primary's password is used).
    pub fn password(&self) -> SecretRef {
        SecretRef::new(self.password_file.clone(), self.password_env.clone())
    }
}

/// `[plans.NAME.prune]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PruneConfig {
    /// When to prune the plan's repository.
    pub schedule: ScheduleTable,
}

/// `[plans.NAME.verify]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VerifyConfig {
    /// When to run the quick check (objects present, sizes and digests as recorded).
    #[serde(default)]
    pub quick: Option<ScheduleTable>,
    /// When to run the deep check (decrypt, decompress, compare plaintext digests).
    #[serde(default)]
    pub deep: Option<ScheduleTable>,
    /// The share of backups each deep check reads, chosen at random (0 < f <= 1; default 1).
    #[serde(default)]
    pub deep_fraction: Option<f64>,
}

/// `[plans.NAME.objectives]`: elapsed time, in the schedule's units (`s`, `m` = minutes, `h`,
/// `d`, `w`): an objective is a length of time on the clock (a Redis RPO of `15m`), never a
/// calendar span, so restic's calendar durations (where `m` means months) do not fit it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Objectives {
    /// Recovery point objective: the newest backup may be at most this old.
    #[serde(default, deserialize_with = "rpo")]
    pub rpo: Option<Span>,
    /// Recovery time objective: a restore must finish within this long.
    #[serde(default, deserialize_with = "rto")]
    pub rto: Option<Span>,
}

fn rpo<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Span>, D::Error> {
    objective("objectives.rpo", d)
}

fn rto<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Span>, D::Error> {
    objective("objectives.rto", d)
}

fn objective<'de, D: serde::Deserializer<'de>>(field: &'static str, d: D) -> Result<Option<Span>, D::Error> {
    let text = String::deserialize(d)?;
    Span::parse(field, &text).map(Some).map_err(serde::de::Error::custom)
}
