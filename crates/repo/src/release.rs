//! Lock removals still under way, tracked by whoever owns the locks.
//!
//! A lock dropped without its explicit release (an operation
//! that failed or was cancelled) cannot await its removal in `Drop`, so it spawns it and
//! hands the task to its owner's [`LockReleases`]. The owner (a `Repository`,
//! through the open options' `releases`, or a program holding one for every
//! repository it opens) awaits them with [`LockReleases::settle`] before it exits. Finished
//! tasks are dropped whenever a new one is tracked, so a long-running process holds only
//! the removals actually in flight.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

/// The lock removals an owner still has to wait for. Clones share one set.
#[derive(Debug, Clone, Default)]
pub struct LockReleases {
    pending: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl LockReleases {
    /// Tracks `task`, forgetting the ones that have finished meanwhile.
    pub(crate) fn track(&self, task: JoinHandle<()>) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|t| !t.is_finished());
        pending.push(task);
    }

    /// How many removals are tracked and not known to be finished.
    pub fn outstanding(&self) -> usize {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|t| !t.is_finished());
        pending.len()
    }

    /// Waits until every tracked removal has finished (including any started meanwhile).
    /// A program calls this before it exits, or a failed operation may leave its lock
    /// behind until the lock expires.
    pub async fn settle(&self) {
        loop {
            let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
            if pending.is_empty() {
                return;
            }
            for task in pending {
                let _ = task.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finished_removals_do_not_pile_up_and_settle_waits_for_the_rest() {
        let releases = LockReleases::default();
        for _ in 0..1000 {
            releases.track(tokio::spawn(async {}));
            tokio::task::yield_now().await;
        }
        // Only those still running (at most a handful on a busy runtime) are kept.
        assert!(releases.pending.lock().unwrap().len() < 8, "finished removals were kept");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        releases.track(tokio::spawn(async move {
            let _ = rx.await;
        }));
        assert!(releases.outstanding() >= 1);
        tx.send(()).unwrap();
        releases.settle().await;
        assert_eq!(releases.outstanding(), 0);
    }
}
