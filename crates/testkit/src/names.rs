//! Names no other test (in this process or another run) uses at the same time.

use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `<prefix>_<pid>_<n>`: unique to this test process and call, and a valid SQL identifier
/// and Redis key prefix when `prefix` is one.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// `<prefix>-<pid>-<n>`: like [`unique`] with dashes, for S3 bucket names (no underscores).
pub fn unique_dashed(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_per_call_and_keep_their_separator() {
        let (a, b) = (unique("x"), unique("x"));
        assert_ne!(a, b);
        assert!(a.starts_with("x_") && !a.contains('-'), "{a}");
        let c = unique_dashed("bucket");
        assert!(c.starts_with("bucket-") && !c.contains('_'), "{c}");
    }
}
