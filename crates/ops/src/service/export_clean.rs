//! lifeboatd's side of export expiry: every `[exports.NAME]` with a `keep-days` or
//! `keep-failed-days` is cleaned at each slot of its `clean-schedule` (daily at 03:00 by
//! default), through lifeboat-export's [`clean`](lifeboat_export::clean): only files whose
//! Lifeboat manifest says they expired are deleted, never a file without one.
//!
//! It is part of the scheduler's step ([`tick`], so [`Service::tick`](super::Service::tick)
//! under a manual clock drives it): each destination with a slot in (last look, now] is
//! cleaned, the last look starting at the service's start. A clean runs in its own task,
//! off the scheduler's path; a destination whose previous clean still runs is not cleaned
//! again until that one ends (the slot is logged and dropped). Each outcome is logged and
//! recorded in the audit log (operation `export_clean`, actor `scheduler`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Inner;
use crate::audit::{self, AuditRecord};
use crate::config::Config;

/// Where the cleans stand: the last look at the clock and the destinations being cleaned.
pub(crate) struct Cleans {
    state: Mutex<CleansState>,
}

struct CleansState {
    last_look: DateTime<Utc>,
    running: HashSet<String>,
}

impl Cleans {
    /// Nothing looked at before `start` (the service's start), nothing running.
    pub(crate) fn new(start: DateTime<Utc>) -> Cleans {
        Cleans { state: Mutex::new(CleansState { last_look: start, running: HashSet::new() }) }
    }

    fn lock(&self) -> MutexGuard<'_, CleansState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether no clean runs.
    pub(crate) fn idle(&self) -> bool {
        self.lock().running.is_empty()
    }
}

/// Starts a clean of each destination with a slot in (last look, `now`] (one clean
/// however many of its slots passed), then moves the last look to `now`; returns the next
/// slot of any destination (when the scheduler should look again).
pub(crate) fn tick(inner: &Arc<Inner>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let config = inner.config();
    let mut state = inner.cleans.lock();
    let since = state.last_look;
    let mut wake: Option<DateTime<Utc>> = None;
    for (name, dest) in &config.exports {
        let Ok(Some(trigger)) = dest.clean_trigger() else { continue };
        let Some(slot) = trigger.next_after(since) else { continue };
        if slot > now {
            wake = [wake, Some(slot)].into_iter().flatten().min();
            continue;
        }
        wake = [wake, trigger.next_after(now)].into_iter().flatten().min();
        if !state.running.insert(name.clone()) {
            tracing::warn!(destination = %name, %slot, "export clean skipped: the previous clean still runs");
            continue;
        }
        tokio::spawn(clean(Arc::clone(inner), Arc::clone(&config), name.clone(), slot, now));
    }
    state.last_look = state.last_look.max(now);
    wake
}

/// Cleans destination `name` at `now` (for its slot `slot`), logs and records the outcome,
/// then marks the destination free.
async fn clean(inner: Arc<Inner>, config: Arc<Config>, name: String, slot: DateTime<Utc>, now: DateTime<Utc>) {
    let _running = Running { inner: Arc::clone(&inner), name: name.clone() };
    let Some(dest) = config.exports.get(&name) else { return };
    let outcome = dest.clean_at(now, false).await;
    let location = dest.destination.as_deref().map(lifeboat_storage::redact_url);
    let deleted: Vec<String> = match &outcome {
        Ok(report) => {
            let deleted: Vec<String> = report.deleted().into_iter().map(str::to_owned).collect();
            tracing::info!(destination = %name, deleted = deleted.len(), "export clean");
            deleted
        }
        Err(error) => {
            tracing::warn!(destination = %name, %error, "export clean failed");
            Vec::new()
        }
    };
    let record = AuditRecord {
        actor: "scheduler".to_owned(),
        operation: "export_clean".to_owned(),
        target: Some(name.clone()),
        parameters: json!({
            "dest": location,
            "keep_days": dest.keep_days,
            "keep_failed_days": dest.keep_failed_days,
            "scheduled_for": slot,
            "deleted": deleted,
        }),
        result: audit::result_text(&outcome),
    };
    audit::record_at(&inner.state, record, inner.clock.now()).await;
}

/// Marks a destination free when its clean ends (however it ends).
struct Running {
    inner: Arc<Inner>,
    name: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.inner.cleans.lock().running.remove(&self.name);
        self.inner.changed.notify_waiters();
    }
}
