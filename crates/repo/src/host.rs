//! Facts about this process's host that records carry: the local time and the host name.
//! A leaf module (it imports nothing of the crate), so locks, manifests and the config
//! can all use it without depending on each other.

/// The local time with its UTC offset, as records store it.
pub(crate) fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Local::now().fixed_offset()
}

/// This host's name as the kernel reports it (`HOSTNAME`, then `localhost`, when it cannot
/// be read).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
