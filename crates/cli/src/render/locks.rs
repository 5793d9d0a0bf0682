//! The human form of `lifeboat unlock`.

use lifeboat_repo::{ListedLock, LockState};

/// Each lock removed and why it could be; a line saying so when none was.
pub fn print_unlocked(removed: &[(ListedLock, LockState)], all: bool) {
    for (lock, state) in removed {
        let i = &lock.info;
        println!(
            "removed {:?} lock {} ({:?}, pid {} on {}, since {}): {}",
            i.kind,
            lock.key,
            i.operation,
            i.pid,
            i.host,
            i.created,
            match state {
                LockState::Stale => "its process is gone",
                LockState::Expired => "expired",
                LockState::Running => "removed with --all although its process runs",
                LockState::Live => "removed with --all",
            }
        );
    }
    if removed.is_empty() {
        println!("no {}locks to remove", if all { "" } else { "expired or stale " });
    }
}
