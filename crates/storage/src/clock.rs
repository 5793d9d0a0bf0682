//! The one way library code reads the time: through a [`Clock`] it was given, so that tests
//! (and a service replaying a schedule) can say what "now" is.

use chrono::{DateTime, Utc};

/// A source of the current time. Libraries take an `Arc<dyn Clock>` where they read the
/// time; tests pass a clock of their own that returns whatever instant they need.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_tells_the_system_time() {
        let before = Utc::now();
        let now = SystemClock.now();
        assert!(before <= now && now <= Utc::now());
    }
}
