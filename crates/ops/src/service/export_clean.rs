//! lifeboatd's side of export expiry: every `[exports.NAME]` with a `keep-days` or
//! `keep-failed-days` is cleaned at each slot of its `clean-schedule` (daily at 03:00 by
//! default), through lifeboat-export's [`clean`](lifeboat_export::clean): only files whose
//! Lifeboat manifest says they expired are deleted, never a file without one.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Inner;
use crate::config::Config;

/// How often the loop looks at the clock (a slot is run once, by the first look after it).
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Starts the clean loop (with the scheduler only).
pub(crate) fn start(inner: &Arc<Inner>, run_scheduler: bool) {
    if run_scheduler {
        tokio::spawn(run_loop(Arc::clone(inner)));
    }
}

async fn run_loop(inner: Arc<Inner>) {
    let mut since = inner.clock.now();
    loop {
        tokio::select! {
            _ = inner.stopping.cancelled() => return,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
        let now = inner.clock.now();
        for (name, outcome) in clean_due(&inner.config(), since, now).await {
            match outcome {
                Ok(report) => {
                    tracing::info!(destination = %name, deleted = report.deleted().len(), "export clean")
                }
                Err(error) => tracing::warn!(destination = %name, %error, "export clean failed"),
            }
        }
        since = now;
    }
}

/// Cleans every destination with a clean slot in `(since, now]`; returns each outcome.
pub(crate) async fn clean_due(
    config: &Config,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<(String, Result<lifeboat_export::CleanReport, String>)> {
    let mut out = Vec::new();
    for (name, dest) in &config.exports {
        let Ok(Some(trigger)) = dest.clean_trigger() else { continue };
        if trigger.next_after(since).is_some_and(|at| at <= now) {
            out.push((name.clone(), dest.clean_at(now, false).await));
        }
    }
    out
}
