//! The copy job: every backup of the plan that a copy-to destination lacks is copied there
//! (the destination's own schedule, or on request).

use std::sync::Arc;

use lifeboat_storage::redact_url;

use super::Inner;
use super::failure::Failure;
use super::joblog::JobLogger;
use super::runner::{Done, JobSpec};
use crate::opener::Target;

/// Runs the copy of `spec`'s plan to destination `index` (`None`: each destination).
pub(crate) async fn run(
    inner: &Arc<Inner>,
    spec: &JobSpec,
    index: Option<usize>,
    log: &JobLogger,
) -> Result<Done, Failure> {
    let plan = &spec.plan;
    let copies: Vec<_> = match index {
        Some(i) => plan.config.copy_to.get(i).into_iter().collect(),
        None => plan.config.copy_to.iter().collect(),
    };
    if copies.is_empty() {
        return Err(Failure::permanent(format!("plan {:?} has no copy-to destination", plan.name)));
    }
    let repo = inner.opener.open(plan, Target::Primary, Arc::clone(&inner.clock)).await?;
    let listing = repo.list_backups().await?;
    let manifests: Vec<_> = listing.in_plan(Some(&plan.name)).cloned().collect();
    let mut done = Done::default();
    for copy in copies {
        let dest = inner.opener.open(plan, Target::Copy(copy), Arc::clone(&inner.clock)).await?;
        let report = repo.copy_to(&dest, &manifests).await;
        dest.settle().await;
        let report = report?;
        done.bytes_stored += report.bytes_sent;
        log.info(format!(
            "copied {} backups to {} ({} already there)",
            report.copied.len(),
            redact_url(&copy.repository),
            report.skipped.len()
        ))
        .await;
    }
    repo.settle().await;
    Ok(done)
}
