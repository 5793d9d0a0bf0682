//! `[scenarios.NAME]` carried out: [`plan`] says what each step would do (`--dry-run`),
//! [`run`] does it, stopping at the first failed step.

use chrono::{DateTime, Utc};
use serde::Serialize;

use lifeboat_storage::redact_url;

use super::engine::{Mode, Run, Step, scenario, step_of};
use super::target::{self, Choice};
use super::{DrEnv, DrError, DrProgress, DrillReport, DrillSubject, ReportKind};
use crate::config::{RestoreStep, StepConfig};
use crate::opener::Target;
use crate::plans::ResolvedPlan;
use crate::state::DrillFilter;

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

/// Plans scenario `name` (what `--dry-run` prints). Nothing is changed: the repositories
/// are only listed, the targets only looked at (a database's tables counted, a directory's
/// entries, a cluster's indices under the prefix).
pub async fn plan(env: &DrEnv, name: &str) -> Result<RecoveryPlan, DrError> {
    let scenario = scenario(env, name)?;
    let mut steps = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let index = i + 1;
        let mut planned = PlannedStep {
            index,
            action: step.action().into(),
            description: String::new(),
            plan: None,
            backup: None,
            backup_time: None,
            why: None,
            size_bytes: None,
            last_drill_seconds: None,
            overwrites: None,
        };
        match step {
            StepConfig::Restore(r) => {
                planned.plan = Some(r.plan.clone());
                planned.last_drill_seconds = last_drill_seconds(env, &r.plan).await;
                let plan = env
                    .config
                    .plans
                    .get(&r.plan)
                    .map(|config| ResolvedPlan {
                        name: r.plan.clone(),
                        origin: env.origin.clone(),
                        config: config.clone(),
                    })
                    .ok_or_else(|| DrError::NoSuchPlan { plan: r.plan.clone(), origin: env.origin.clone() })?;
                plan_restore(env, &plan, r, &mut planned).await;
            }
            StepConfig::Check(c) => {
                planned.description = match (&c.sql, &c.digests, &c.index) {
                    (Some(sql), _, _) => format!("check: {sql:?} must return {:?}", c.expect.as_deref().unwrap_or("")),
                    (_, Some(list), _) => format!("check: every file of {} has its BLAKE3 digest", list.display()),
                    (_, _, Some(index)) => format!("check: the doc count of {index}"),
                    _ => "check".into(),
                };
            }
            StepConfig::Hook(h) => {
                planned.description = format!("run {}", h.command.join(" "));
            }
        }
        steps.push(planned);
    }
    Ok(RecoveryPlan {
        scenario: name.to_owned(),
        description: scenario.description.clone(),
        generated_at: env.clock.now(),
        steps,
    })
}

/// Fills in a restore step of a plan: which backup and why, its size, what it overwrites.
/// What cannot be found out is said in `why` / `overwrites` rather than failing the plan.
async fn plan_restore(env: &DrEnv, plan: &ResolvedPlan, step: &RestoreStep, planned: &mut PlannedStep) {
    if target::es_source(plan).is_some() {
        let prefix = step.prefix.clone().unwrap_or_default();
        planned.description = format!("restore plan {} under {prefix}* in its cluster", plan.name);
        match target::es_manager(env, plan).await {
            Ok(manager) => {
                let es = target::es_source(plan).map(|e| e.indices.clone()).unwrap_or_default();
                let pattern = step.indices.clone().or(es).unwrap_or_else(|| "*".into());
                let start = DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default();
                let range = lifeboat_es::TimeRange::new(start, env.clock.now() + chrono::Duration::days(3650));
                let planned_restore = match range {
                    Ok(range) => {
                        let mut request = lifeboat_es::RestoreRequest::new(&pattern, range);
                        request.prefix = prefix.clone();
                        manager.restores().plan(&request).await.map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                };
                match planned_restore {
                    Ok(p) => {
                        planned.backup =
                            Some(p.groups.iter().map(|g| g.snapshot.clone()).collect::<Vec<_>>().join(", "));
                        planned.why = Some(format!("the newest successful snapshot of every index of {pattern}"));
                        planned.size_bytes = Some(p.total_bytes);
                    }
                    Err(e) => planned.why = Some(format!("cannot plan the restore: {e}")),
                }
                planned.overwrites = Some(match manager.client().cat_indices(Some(&format!("{prefix}*"))).await {
                    Ok(existing) if existing.is_empty() => format!("no index under {prefix}* exists now"),
                    Ok(existing) => {
                        format!("{} index(es) under {prefix}* exist now (held ones are skipped)", existing.len())
                    }
                    Err(e) => format!("cannot list the indices under {prefix}*: {e}"),
                });
            }
            Err(e) => planned.why = Some(format!("cannot reach the cluster: {e}")),
        }
        return;
    }
    let target = step.target.clone().unwrap_or_default();
    let shown = if target.contains("://") { redact_url(&target) } else { target.clone() };
    planned.description = format!("restore plan {} into {shown}", plan.name);
    match env.opener.open(plan, Target::Primary, env.clock.clone()).await {
        Ok(repo) => {
            let choice = match (&step.backup, step.before_time()) {
                (_, Some(at)) => Choice::Before(at),
                (Some(id), None) if id != "latest" => Choice::Id(id.clone()),
                _ => Choice::Latest,
            };
            match target::choose(&repo, &plan.name, &choice).await {
                Ok(chosen) => {
                    planned.backup = Some(chosen.manifest.id.clone());
                    planned.backup_time = Some(chosen.manifest.finished.with_timezone(&Utc));
                    planned.why = Some(chosen.why);
                    planned.size_bytes = Some(chosen.manifest.plain_size());
                }
                Err(e) => planned.why = Some(format!("no backup to restore: {e}")),
            }
        }
        Err(e) => planned.why = Some(format!("cannot open the repository: {e}")),
    }
    planned.overwrites = Some(overwrites(step, &target, &shown).await);
}

/// What restoring into `target` overwrites, looked at without changing it.
async fn overwrites(step: &RestoreStep, target: &str, shown: &str) -> String {
    let scheme = target.split_once("://").map(|(s, _)| s).unwrap_or("");
    let password = match target::read_secret(&step.password(), &format!("target {shown}")) {
        Ok(p) => p,
        Err(e) => return format!("cannot tell: {e}"),
    };
    let sql = match scheme {
        "postgres" | "postgresql" => {
            "SELECT count(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN \
             ('pg_catalog', 'information_schema')"
        }
        "mysql" | "mariadb" => {
            "SELECT count(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema = DATABASE()"
        }
        "redis" | "rediss" => return format!("the Redis at {shown}: keys of the same names are replaced"),
        _ => {
            let path = std::path::PathBuf::from(target);
            return match std::fs::read_dir(&path) {
                Ok(entries) => match entries.count() {
                    0 => format!("directory {shown} exists and is empty"),
                    n => format!(
                        "directory {shown} holds {n} entries: the restore refuses a directory that is not empty"
                    ),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    format!("directory {shown} does not exist: it will be created")
                }
                Err(e) => format!("cannot look at directory {shown}: {e}"),
            };
        }
    };
    match super::query::query_one(target, password.as_ref(), sql).await {
        Ok(Some(n)) if n == "0" => format!("database {shown} exists and holds no table"),
        Ok(Some(n)) => format!("database {shown} exists and holds {n} tables: objects of the backup replace theirs"),
        Ok(None) => format!("database {shown}: cannot tell"),
        Err(e) if e.contains("does not exist") || e.contains("Unknown database") => {
            format!("database {shown} does not exist: it will be created")
        }
        Err(e) => format!("cannot tell: {e}"),
    }
}

/// How long the restore step of the newest passed drill of `plan` took, from the state.
async fn last_drill_seconds(env: &DrEnv, plan: &str) -> Option<f64> {
    let state = env.state.as_ref()?;
    let filter = DrillFilter { plan: Some(plan.to_owned()), scenario: None, limit: Some(50) };
    let records = state.call(move |store| store.drill_reports(&filter)).await.ok()?;
    records.iter().filter(|r| r.kind == "drill" && r.passed).find_map(|r| {
        let report: DrillReport = serde_json::from_value(r.report.clone()).ok()?;
        report
            .steps
            .iter()
            .filter(|s| s.plan.as_deref() == Some(plan) && (s.action == "restore" || s.action == "verify"))
            .map(|s| s.seconds)
            .reduce(|a, b| a + b)
    })
}

/// Carries out `plan`, stopping at the first failed step; the report says what was done.
/// Each restore uses the backup the plan named (so what was shown is what is restored).
pub async fn run(env: &DrEnv, plan: &RecoveryPlan, progress: &dyn DrProgress) -> Result<DrillReport, DrError> {
    let scenario = scenario(env, &plan.scenario)?;
    if scenario.steps.len() != plan.steps.len() {
        return Err(DrError::Invalid {
            subject: format!("scenario {}", plan.scenario),
            reason: "the configuration changed since the recovery was planned: plan it again".into(),
        });
    }
    let pinned: Vec<StepConfig> = scenario
        .steps
        .iter()
        .zip(&plan.steps)
        .map(|(step, planned)| match (step, &planned.backup) {
            (StepConfig::Restore(r), Some(backup)) if target_is_repository(env, &r.plan) => {
                StepConfig::Restore(RestoreStep { backup: Some(backup.clone()), before: None, ..r.clone() })
            }
            (other, _) => other.clone(),
        })
        .collect();
    let steps: Vec<Step<'_>> = pinned.iter().map(step_of).collect();
    let total = steps.iter().map(|s| if matches!(s, Step::Restore(_)) { 2 } else { 1 }).sum();
    let mut run = Run::new(env, Mode::Recovery, DrillSubject::Scenario(plan.scenario.clone()), total, progress);
    run.run_steps(&steps).await;
    Ok(run.finish(ReportKind::Recovery, scenario.objectives.clone()).await)
}

fn target_is_repository(env: &DrEnv, plan: &str) -> bool {
    env.config.plans.get(plan).is_some_and(|p| !matches!(p.source, Some(crate::config::SourceConfig::Elasticsearch(_))))
}
