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

impl DrillSubject {
    /// `plan db` or `scenario database_failure`.
    pub fn describe(&self) -> String {
        match self {
            DrillSubject::Plan(plan) => format!("plan {plan}"),
            DrillSubject::Scenario(scenario) => format!("scenario {scenario}"),
        }
    }
}

impl StepOutcome {
    /// `passed`, `failed` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepOutcome::Passed => "passed",
            StepOutcome::Failed => "failed",
            StepOutcome::Skipped => "skipped",
        }
    }
}

/// `1h 2m 3s`, `4.2s`: a length of time for people.
pub fn human_seconds(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let total = seconds.round() as i64;
    let (d, h, m, s) = (total / 86_400, total % 86_400 / 3600, total % 3600 / 60, total % 60);
    let parts = [(d, "d"), (h, "h"), (m, "m"), (s, "s")];
    let shown: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, u)| format!("{n}{u}")).collect();
    shown.join(" ")
}

fn met(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "no objective",
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

impl DrillReport {
    /// The plans the report restored: a plan drill's plan, every restore step's plan.
    pub fn plans(&self) -> Vec<String> {
        let mut plans: Vec<String> = match &self.subject {
            DrillSubject::Plan(plan) => vec![plan.clone()],
            DrillSubject::Scenario(_) => Vec::new(),
        };
        for plan in self.steps.iter().filter_map(|s| s.plan.as_ref()) {
            if !plans.contains(plan) {
                plans.push(plan.clone());
            }
        }
        plans
    }

    /// The report as it is kept in the state.
    pub fn to_record(&self) -> crate::state::DrillRecord {
        let (plan, scenario) = match &self.subject {
            DrillSubject::Plan(plan) => (Some(plan.clone()), None),
            DrillSubject::Scenario(scenario) => (None, Some(scenario.clone())),
        };
        crate::state::DrillRecord {
            id: self.id.clone(),
            kind: match self.kind {
                ReportKind::Drill => "drill".into(),
                ReportKind::Recovery => "recovery".into(),
            },
            plan,
            scenario,
            started: self.started,
            finished: self.finished,
            passed: self.passed,
            rto_seconds: self.rto.seconds,
            rpo_seconds: self.rpo.backup_age_seconds,
            largest_gap_seconds: self.rpo.largest_gap_seconds,
            objectives_met: self.objectives_met,
            failure: self.failure.clone(),
            report: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The report as a readable Markdown page: the verdict, the objectives next to what was
    /// measured, the steps, the scratch targets and whether each was removed.
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write;
        let mut page = String::new();
        let kind = match self.kind {
            ReportKind::Drill => "Restore drill",
            ReportKind::Recovery => "Recovery",
        };
        let _ = writeln!(
            page,
            "# {kind} of {}: {}\n",
            self.subject.describe(),
            if self.passed { "PASSED" } else { "FAILED" }
        );
        let _ = writeln!(page, "- Report: `{}`", self.id);
        let _ = writeln!(page, "- Host: {}", self.host);
        let _ = writeln!(page, "- Started: {}", self.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let _ = writeln!(page, "- Finished: {}", self.finished.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let verdict = match self.objectives_met {
            Some(true) => "every objective set was met",
            Some(false) => "an objective was **missed**",
            None => "no objective is set",
        };
        let _ = writeln!(page, "- Objectives: {verdict}");
        if let Some(failure) = &self.failure {
            let _ = writeln!(page, "- Failure: {failure}");
        }
        let _ = writeln!(page, "\n## Objectives\n");
        let _ = writeln!(page, "| | Objective | Measured | |\n|---|---|---|---|");
        let objective = |s: Option<i64>| s.map_or("-".to_owned(), |s| human_seconds(s as f64));
        let _ = writeln!(
            page,
            "| RTO (start to verified) | {} | {} | {} |",
            objective(self.rto.objective_seconds),
            human_seconds(self.rto.seconds),
            met(self.rto.met)
        );
        let age = self.rpo.backup_age_seconds.map_or("-".to_owned(), |s| human_seconds(s as f64));
        let gap = self.rpo.largest_gap_seconds.map_or("-".to_owned(), |s| human_seconds(s as f64));
        let _ = writeln!(
            page,
            "| RPO (age of the backup used; largest gap in {} days) | {} | {age}; {gap} | {} |",
            self.rpo.window_days,
            objective(self.rpo.objective_seconds),
            met(self.rpo.met)
        );
        if let (Some(backup), Some(time)) = (&self.rpo.backup, self.rpo.backup_time) {
            let _ = writeln!(
                page,
                "\nBackup used: `{backup}`, taken {}.",
                time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
        }
        let _ = writeln!(page, "\n## Steps\n");
        let _ = writeln!(page, "| # | Action | What | Backup | Target | Time | Bytes | Outcome |");
        let _ = writeln!(page, "|---|---|---|---|---|---|---|---|");
        for step in &self.steps {
            let _ = writeln!(
                page,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                step.index,
                step.action,
                cell(&step.description),
                step.backup.as_deref().map_or("-".into(), |b| format!("`{}`", b.get(..8).unwrap_or(b))),
                step.target.as_deref().map_or("-".into(), cell),
                human_seconds(step.seconds),
                step.bytes.map_or("-".into(), |b| b.to_string()),
                step.outcome.as_str()
            );
        }
        let details: Vec<&StepReport> = self.steps.iter().filter(|s| !s.detail.is_empty()).collect();
        if !details.is_empty() {
            let _ = writeln!(page, "\n## Findings\n");
            for step in details {
                let _ = writeln!(page, "Step {} ({}):\n", step.index, step.action);
                for line in &step.detail {
                    let _ = writeln!(page, "- {line}");
                }
                let _ = writeln!(page);
            }
        }
        let _ = writeln!(page, "\n## Scratch targets\n");
        if self.scratch.is_empty() {
            let _ = writeln!(page, "None were made.");
        } else {
            let _ = writeln!(page, "| Kind | Name | Removed |\n|---|---|---|");
            for s in &self.scratch {
                let removed = match (&s.error, s.cleaned) {
                    (_, true) => "yes".to_owned(),
                    (Some(e), false) => format!("**no**: {}", cell(e)),
                    (None, false) => "**no**".to_owned(),
                };
                let _ = writeln!(page, "| {} | `{}` | {removed} |", s.kind, s.name);
            }
        }
        page
    }
}

/// Keeps `report`: into the state (when the environment has one) and as the records
/// `drill/<id>` (the JSON) and `drill-page/<id>` (the Markdown page) in the primary
/// repository of every plan the report restored (each repository once; Elasticsearch plans
/// have none), sealed and signed like manifests, so the evidence survives the server.
/// Every place is tried; the first failure is returned, naming the repository.
pub async fn keep(env: &super::DrEnv, report: &DrillReport) -> Result<(), super::DrError> {
    let mut first_error: Option<super::DrError> = None;
    if let Some(state) = &env.state {
        let record = report.to_record();
        if let Err(e) = state.call(move |store| store.insert_drill_report(&record)).await {
            first_error.get_or_insert(e.into());
        }
    }
    let body = serde_json::to_vec_pretty(report).map_err(|e| super::DrError::Keep {
        id: report.id.clone(),
        repository: "-".into(),
        reason: format!("the report does not encode as JSON: {e}"),
    })?;
    let page = report.to_markdown();
    let mut seen = std::collections::BTreeSet::new();
    for name in report.plans() {
        let Some(config) = env.config.plans.get(&name) else { continue };
        let Some(url) = config.repository.clone().filter(|u| !u.trim().is_empty()) else { continue };
        if !seen.insert(url.clone()) {
            continue;
        }
        let plan =
            crate::plans::ResolvedPlan { name: name.clone(), origin: env.origin.clone(), config: config.clone() };
        if crate::run::runs_in_cluster(&plan) {
            continue;
        }
        let repository = lifeboat_storage::redact_url(&url);
        let failed =
            |reason: String| super::DrError::Keep { id: report.id.clone(), repository: repository.clone(), reason };
        let kept = match env.opener.open(&plan, crate::opener::Target::Primary, env.clock.clone()).await {
            Ok(repo) => match repo.put_record(RECORD_KIND, &report.id, &body).await {
                Ok(()) => repo
                    .put_record(PAGE_RECORD_KIND, &report.id, page.as_bytes())
                    .await
                    .map_err(|e| failed(e.to_string())),
                Err(e) => Err(failed(e.to_string())),
            },
            Err(e) => Err(failed(e.to_string())),
        };
        if let Err(e) = kept {
            tracing::warn!(report = %report.id, repository, error = %e, "could not keep the drill report");
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The largest gap between consecutive times of `series` (sorted or not) that ends within the
/// window before `now`, counting `now` minus the newest as a gap.
pub fn largest_gap(series: &[DateTime<Utc>], now: DateTime<Utc>, window_days: u32) -> Option<i64> {
    let mut times: Vec<DateTime<Utc>> = series.iter().copied().filter(|t| *t <= now).collect();
    times.sort();
    let newest = *times.last()?;
    let window_start = now - chrono::Duration::days(i64::from(window_days));
    let mut largest = (now - newest).num_seconds();
    for pair in times.windows(2) {
        if pair[1] >= window_start {
            largest = largest.max((pair[1] - pair[0].max(window_start)).num_seconds());
        }
    }
    Some(largest.max(0))
}

/// The record kind a report's JSON is kept under in a repository (`records/drill/<id>`).
pub const RECORD_KIND: &str = "drill";

/// The record kind a report's Markdown page is kept under (`records/drill-page/<id>`).
pub const PAGE_RECORD_KIND: &str = "drill-page";
