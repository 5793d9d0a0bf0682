//! The prune job: data no backup references any more is deleted from the plan's repository.

use std::sync::Arc;

use super::Inner;
use super::failure::Failure;
use super::joblog::JobLogger;
use super::runner::{Done, JobSpec};
use crate::opener::Target;

/// Runs the prune of `spec`'s plan's repository.
pub(crate) async fn run(inner: &Arc<Inner>, spec: &JobSpec, log: &JobLogger) -> Result<Done, Failure> {
    let repo = inner.opener.open(&spec.plan, Target::Primary, Arc::clone(&inner.clock)).await?;
    log.info("prune started").await;
    // Repository::prune's future is not provably `Send` (a rustc limitation with its
    // closures), so it runs on a blocking thread of its own, driven by the same runtime.
    let handle = tokio::runtime::Handle::current();
    let report = tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            let report = repo.prune(false).await;
            repo.settle().await;
            report
        })
    })
    .await
    .map_err(|e| Failure::permanent(format!("the prune worker failed: {e}")))?;
    let report = report?;
    log.info(format!(
        "prune: deleted {} unreferenced objects ({} bytes) and {} temporary files; {} referenced",
        report.unreferenced.len(),
        report.unreferenced_bytes,
        report.temp_files.len(),
        report.referenced
    ))
    .await;
    Ok(Done::default())
}
