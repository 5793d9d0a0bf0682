//! [`ManualClock`]: a clock that stands still until the test moves it, for replaying
//! schedules (a week of them in seconds) against code that takes a
//! [`Clock`](lifeboat_storage::clock::Clock).

use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use lifeboat_storage::clock::Clock;

/// A clock that shows the instant it was set to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock { now: Mutex::new(start) }
    }

    /// Moves the clock to `t` (backwards too).
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A storage whose modification times are shifted onto a [`Clock`] the test moves: what a
/// storage would report if the machine's clock were the simulated one. Repositories compare
/// the times a storage reports with their own clock (lock leases, the skew check before an
/// exclusive lock), so a repository opened with a simulated clock needs its storage on the
/// same time line.
#[derive(Debug)]
pub struct ClockedStorage {
    inner: std::sync::Arc<dyn lifeboat_storage::Storage>,
    clock: std::sync::Arc<dyn Clock>,
}

impl ClockedStorage {
    /// `inner`, its times moved by the distance between `clock` and the system clock.
    pub fn new(inner: std::sync::Arc<dyn lifeboat_storage::Storage>, clock: std::sync::Arc<dyn Clock>) -> Self {
        ClockedStorage { inner, clock }
    }
}

/// `t` moved onto `clock`'s time line.
fn shifted(t: Option<std::time::SystemTime>, clock: &dyn Clock) -> Option<std::time::SystemTime> {
    let t = t?;
    let offset = clock.now() - Utc::now();
    let moved = DateTime::<Utc>::from(t) + offset;
    Some(moved.into())
}

#[async_trait::async_trait]
impl lifeboat_storage::layer::StorageLayer for ClockedStorage {
    type Inner = dyn lifeboat_storage::Storage;

    fn inner(&self) -> &Self::Inner {
        self.inner.as_ref()
    }

    async fn head(&self, key: &str) -> Result<Option<lifeboat_storage::ObjectMeta>, lifeboat_storage::StorageError> {
        let meta = self.inner.head(key).await?;
        Ok(meta.map(|m| lifeboat_storage::ObjectMeta { modified: shifted(m.modified, self.clock.as_ref()), ..m }))
    }

    fn list(&self, prefix: &str) -> lifeboat_storage::MetaStream {
        use futures::StreamExt;
        let clock = std::sync::Arc::clone(&self.clock);
        Box::pin(self.inner.list(prefix).map(move |item| {
            item.map(|m| lifeboat_storage::ObjectMeta { modified: shifted(m.modified, clock.as_ref()), ..m })
        }))
    }
}
