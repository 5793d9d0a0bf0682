//! Names no other test (in this process or another run) uses at the same time.
//!
//! The pid and a counter tell this process's names apart; the test servers (S3 buckets,
//! WebDAV folders, databases a failed run left behind) outlive the process, and a later run
//! may get the same pid, so each process also adds a random tag read from the OS once.

use std::io::Read;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Random bytes per process: 6 bytes (12 hex digits) make a recycled pid meeting its old tag
/// vanishingly unlikely while keeping the longest names within S3's and PostgreSQL's 63 (and a
/// short-prefixed MySQL user name within MySQL's 32).
const TAG_BYTES: usize = 6;

/// `<prefix>_<pid>_<tag>_<n>`: unique to this test process and call (and to this run: the
/// tag is random), and a valid SQL identifier and Redis key prefix when `prefix` is one.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}_{}", std::process::id(), tag(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// `<prefix>-<pid>-<tag>-<n>`: like [`unique`] with dashes, for S3 bucket names (lowercase
/// letters, digits and dashes only, at most 63 characters with the callers' short prefixes).
pub fn unique_dashed(prefix: &str) -> String {
    format!("{prefix}-{}-{}-{}", std::process::id(), tag(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// This process's random tag, lowercase hex.
fn tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| random_bytes().iter().map(|b| format!("{b:02x}")).collect())
}

/// Bytes from the OS's random source; without one (not a Unix test host), the std hasher's
/// per-process random keys, which std also seeds from the OS.
fn random_bytes() -> [u8; TAG_BYTES] {
    let mut bytes = [0u8; TAG_BYTES];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish().to_le_bytes();
        bytes.copy_from_slice(&seed[..TAG_BYTES]);
    }
    bytes
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

    #[test]
    fn names_carry_the_random_tag_and_stay_valid_bucket_names_and_identifiers() {
        let t = tag();
        assert_eq!(t.len(), 2 * TAG_BYTES);
        assert!(t.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{t}");
        assert!(unique("x").contains(&format!("_{t}_")));
        // The longest prefix a caller uses (ops' "lbops_redis_midfail"), with the largest pid
        // Linux hands out and a counter in the millions, still fits S3's and PostgreSQL's 63.
        let worst = format!("{}_{}_{t}_{}", "lbops_redis_midfail", 4_194_304, 9_999_999);
        assert!(worst.len() <= 63, "{worst}");
        // dump's MySQL test names a user so, and MySQL allows 32 characters in user names.
        let user = format!("{}_{}_{t}_{}", "lbpw", 4_194_304, 9_999);
        assert!(user.len() <= 32, "{user}");
        let bucket = unique_dashed("lb-nocond");
        assert!(bucket.len() <= 63, "{bucket}");
        assert!(bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{bucket}");
    }
}
