//! Layers: [`Storage`](crate::Storage) decorators that add one behaviour to any backend.
//!
//! Each wraps an inner storage and is itself a storage, so they stack. Each is built on
//! [`StorageLayer`], the forwarding base: a layer overrides only what it changes and every
//! other call, `capabilities` included, reaches the storage below unchanged.
//!
//! `StorageBuilder` (in the builder module, above this one) stacks them in the order every frontend uses;
//! by hand, any order stacks:
//!
//! ```
//! use std::time::Duration;
//! use lifeboat_storage::layer::{MetricsLayer, RateLimitLayer, RetryLayer, RetryPolicy, TenantLayer};
//! use lifeboat_storage::{MemoryStorage, StorageExt};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), lifeboat_storage::StorageError> {
//! let backend = MemoryStorage::new();
//! let store = TenantLayer::new(
//!     MetricsLayer::new(RetryLayer::new(RateLimitLayer::new(backend, Some(64 << 20), None)), "memory"),
//!     "acme",
//! )?;
//! store.put_bytes("config", bytes::Bytes::from_static(b"{}")).await?;
//! assert!(store.get_bytes("../other/config").await.is_err());
//! # Ok(())
//! # }
//! ```

mod forward;
mod limit;
mod metrics;
mod retry;
mod tenant;

pub use forward::StorageLayer;
pub use limit::RateLimitLayer;
pub use metrics::MetricsLayer;
pub use retry::{RetryLayer, RetryPolicy};
pub use tenant::{TenantLayer, validate_tenant};
