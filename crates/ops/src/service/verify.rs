//! The verify job: the plan's backups checked, quick (every object present with its size and
//! digest) or deep (decrypted and compared); a deep check with `deep-fraction` reads a
//! subset chosen by a keyed hash of the job and each backup (deterministic, different each
//! run, every backup's turn comes).

use std::sync::Arc;

use lifeboat_repo::Manifest;

use super::Inner;
use super::failure::Failure;
use super::joblog::JobLogger;
use super::runner::{Done, JobSpec};
use crate::opener::Target;

/// The BLAKE3 key-derivation context of the subset choice.
const CONTEXT: &str = "lifeboat 2026 deep verify subset v1";

/// Runs the check of `spec`'s plan.
pub(crate) async fn run(inner: &Arc<Inner>, spec: &JobSpec, deep: bool, log: &JobLogger) -> Result<Done, Failure> {
    let plan = &spec.plan;
    let repo = inner.opener.open(plan, Target::Primary, Arc::clone(&inner.clock)).await?;
    let listing = repo.list_backups().await?;
    let all: Vec<Manifest> = listing.in_plan(Some(&plan.name)).cloned().collect();
    let fraction = plan.config.verify.as_ref().and_then(|v| v.deep_fraction).filter(|_| deep);
    let seed = spec.scheduled_for.map_or_else(|| inner.clock.now().timestamp(), |t| t.timestamp());
    let chosen = match fraction {
        Some(f) => subset(&all, f, &plan.name, seed),
        None => all,
    };
    let what = if deep { "deep" } else { "quick" };
    log.info(format!("{what} verify of {} backups started", chosen.len())).await;
    let mut report = repo.verify(&chosen, deep).await?;
    for error in &listing.unreadable {
        report.add_unreadable(error);
    }
    repo.settle().await;
    let ok = report.is_ok();
    log.info(format!(
        "verify: {} backups, {} objects, {} bytes read, {} problems",
        report.backups,
        report.objects,
        report.bytes_read,
        report.damage.len()
    ))
    .await;
    if !ok {
        for damage in report.damage.iter().take(20) {
            log.error(format!("backup {}: {}: {}", damage.backup, damage.object, damage.problem)).await;
        }
        let failure = Failure::permanent(format!("verify found {} problems", report.damage.len()));
        return Err(Failure { verify_ok: Some(false), ..failure });
    }
    Ok(Done { bytes_read: report.bytes_read, verify_ok: Some(true), ..Done::default() })
}

/// The `fraction` of `all` (at least one backup when there is any) with the smallest keyed
/// hashes of (plan, seed, backup id), in their listed order.
pub(crate) fn subset(all: &[Manifest], fraction: f64, plan: &str, seed: i64) -> Vec<Manifest> {
    let want = ((all.len() as f64) * fraction).ceil().clamp(0.0, all.len() as f64) as usize;
    let mut ranked: Vec<(blake3::Hash, usize)> = all
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
            hasher.update(&(plan.len() as u64).to_le_bytes());
            hasher.update(plan.as_bytes());
            hasher.update(&seed.to_le_bytes());
            hasher.update(m.id.as_bytes());
            (hasher.finalize(), i)
        })
        .collect();
    ranked.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut picked: Vec<usize> =
        ranked.into_iter().take(want.max(usize::from(!all.is_empty()))).map(|(_, i)| i).collect();
    picked.sort_unstable();
    picked.into_iter().filter_map(|i| all.get(i).cloned()).collect()
}
