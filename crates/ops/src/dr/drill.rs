//! A restore drill: the plan's newest backup (or a scenario's steps) restored into scratch
//! targets, its content verified, RTO and RPO measured, the targets removed.

use super::{DrEnv, DrError, DrProgress, DrillReport, DrillSubject};

/// Runs a drill of `subject`. `Err` only when it could not start (no such plan, nothing to
/// drill); a drill that fails is an `Ok` report with `passed = false`.
pub async fn run(env: &DrEnv, subject: &DrillSubject, progress: &dyn DrProgress) -> Result<DrillReport, DrError> {
    let _ = (env, progress);
    Err(DrError::Invalid { subject: format!("{subject:?}"), reason: "drills are not built yet".into() })
}
