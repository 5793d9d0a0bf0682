//! The backup job: the plan's source into its repository ([`run_plan`]), its retention,
//! then each copy-to destination that copies after every backup; an Elasticsearch plan
//! through [`run_es_plan`] (the snapshot runs in the cluster).

use std::sync::Arc;

use lifeboat_storage::redact_url;

use super::Inner;
use super::failure::Failure;
use super::joblog::JobLogger;
use super::runner::{Done, JobSpec};
use crate::opener::Target;
use crate::run::{RunReport, RunRequest, copy_backup, run_es_plan, run_plan, runs_in_cluster};

/// Runs the backup of `spec`'s plan.
pub(crate) async fn run(inner: &Arc<Inner>, spec: &JobSpec, log: &JobLogger) -> Result<Done, Failure> {
    let plan = &spec.plan;
    let clock = Arc::clone(&inner.clock);
    let request =
        RunRequest { host: None, clock: Some(clock.as_ref()), scrub_env: inner.other_plans_secrets(&plan.name) };
    if runs_in_cluster(plan) {
        log.info("snapshot started").await;
        let report = run_es_plan(plan, &request).await?;
        log.info(format!("snapshot {} of policy {}: {}", report.snapshot, report.policy, report.state)).await;
        log.info(format!("retention: deleted {} snapshots, kept {}", report.deleted.len(), report.kept.len())).await;
        return Ok(Done { backup_id: Some(report.snapshot), ..Done::default() });
    }
    let repo = inner.opener.open(plan, Target::Primary, Arc::clone(&clock)).await?;
    log.info("backup started").await;
    let report = run_plan(&repo, plan, &request).await;
    repo.settle().await;
    let report = report?;
    let (read, stored) = (report.backup.plain_size(), report.backup.stored_size());
    log.info(format!("backup {}: {read} bytes read, {stored} stored", report.backup.id)).await;
    if report.forget.is_some() {
        log.info(format!("retention: forgot {}", report.forgotten.len())).await;
    }
    copy_after(inner, spec, &repo, &report, log).await?;
    Ok(Done { bytes_read: read, bytes_stored: stored, backup_id: Some(report.backup.id.clone()), verify_ok: None })
}

/// Copies the new backup to each destination that copies after every backup.
async fn copy_after(
    inner: &Arc<Inner>,
    spec: &JobSpec,
    repo: &lifeboat_repo::Repository,
    report: &RunReport,
    log: &JobLogger,
) -> Result<(), Failure> {
    for copy in spec.plan.config.copy_to.iter().filter(|c| c.runs_after_backup()) {
        let opened = inner.opener.open(&spec.plan, Target::Copy(copy), Arc::clone(&inner.clock)).await;
        let dest = opened.map_err(|e| with_backup(e.into(), report))?;
        let copied = copy_backup(repo, &dest, copy, report).await;
        dest.settle().await;
        copied?;
        log.info(format!("copied to {}", redact_url(&copy.repository))).await;
    }
    Ok(())
}

/// A failure after the backup was stored names it.
fn with_backup(mut failure: Failure, report: &RunReport) -> Failure {
    failure.message = format!("backup {} was stored, but {}", report.backup.id, failure.message);
    failure.backup_id = Some(report.backup.id.clone());
    failure
}
