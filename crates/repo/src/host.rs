//! Facts about this process's host that records carry: the local time and the host name.
//! A leaf module (it imports nothing of the crate), so locks, manifests and the config
//! can all use it without depending on each other.

use lifeboat_storage::clock::{Clock, SystemClock};

/// `clock`'s time in this host's time zone, with its UTC offset, as records store it.
pub(crate) fn local_time(clock: &dyn Clock) -> chrono::DateTime<chrono::FixedOffset> {
    clock.now().with_timezone(&chrono::Local).fixed_offset()
}

/// The system clock's [`local_time`], for code no clock was given to (lock judgement of
/// the free functions, a manifest's own object-lock check).
pub(crate) fn now() -> chrono::DateTime<chrono::FixedOffset> {
    local_time(&SystemClock)
}

/// This host's name as the kernel reports it (`HOSTNAME`, then `localhost`, when it cannot
/// be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
