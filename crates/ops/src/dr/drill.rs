//! A restore drill: the plan's newest backup (or a scenario's steps) restored into scratch
//! targets, its content verified, RTO and RPO measured, the targets removed.
//!
//! Scratch targets, by the plan's source:
//! - PostgreSQL, MySQL/MariaDB: a new database `lifeboat_drill_<plan>_<unix>_<random>` per
//!   single-database stream, on `[plans.NAME.drill] server`, else `[drills]
//!   postgres-server`/`mysql-server`, else the plan's own server; scratch databases of the
//!   plan older than 6 hours (a drill that died) are dropped first; the globals (roles)
//!   stream is not restored. Dropped afterwards.
//! - Redis: `[drills] redis-server` (which must be empty, flushed after) or a `redis-server`
//!   Lifeboat starts on a free loopback port (stopped after).
//! - files, stdin: a new private directory under `[drills] scratch-dir` (removed after).
//! - Elasticsearch: the newest snapshot of the plan's indices restored under a generated
//!   `restore_drill-<random>-` prefix in the plan's cluster, doc counts compared with the
//!   snapshot's, the indices deleted after.
//!
//! A scratch target that cannot be made fails the drill with the reason; a drill never
//! falls back to a production target. The content of each restored database is compared
//! with the digest its backup recorded at dump time (row counts and checksums per table;
//! Redis: key count and digest); a backup without one is restored and authenticated only,
//! and the step says so. Hooks run in a drill only when their step says `drill = true`.

use super::engine::{Mode, Run, Step, scenario, step_of};
use super::{DrEnv, DrError, DrProgress, DrillReport, DrillSubject, ReportKind};
use crate::config::RestoreStep;

/// Runs a drill of `subject`. `Err` only when it could not start (no such plan, nothing to
/// drill); a drill that fails is an `Ok` report with `passed = false`.
pub async fn run(env: &DrEnv, subject: &DrillSubject, progress: &dyn DrProgress) -> Result<DrillReport, DrError> {
    match subject {
        DrillSubject::Plan(name) => {
            let plan = env
                .config
                .plans
                .get(name)
                .ok_or_else(|| DrError::NoSuchPlan { plan: name.clone(), origin: env.origin.clone() })?;
            if plan.source.is_none() {
                return Err(DrError::Invalid { subject: format!("plan {name}"), reason: "it has no source".into() });
            }
            let step = RestoreStep {
                plan: name.clone(),
                backup: Some("latest".into()),
                before: None,
                target: None,
                password_file: None,
                password_env: None,
                prefix: None,
                indices: None,
            };
            let mut run = Run::new(env, Mode::Drill, subject.clone(), 3, progress);
            run.run_steps(&[Step::Restore(&step)]).await;
            Ok(run.finish(ReportKind::Drill, plan.objectives.clone()).await)
        }
        DrillSubject::Scenario(name) => {
            let scenario = scenario(env, name)?;
            let steps: Vec<Step<'_>> = scenario.steps.iter().map(step_of).collect();
            let total = steps.iter().map(|s| if matches!(s, Step::Restore(_)) { 2 } else { 1 }).sum::<usize>() + 1;
            let mut run = Run::new(env, Mode::Drill, subject.clone(), total, progress);
            run.run_steps(&steps).await;
            Ok(run.finish(ReportKind::Drill, scenario.objectives.clone()).await)
        }
    }
}
