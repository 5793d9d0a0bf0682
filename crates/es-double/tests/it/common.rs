//! Helpers of the double's own tests.

use std::time::Duration;

/// Waits until `f` returns true or panics after `secs`.
pub async fn eventually<F: FnMut() -> bool>(secs: u64, mut f: F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "condition not met within {secs}s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
