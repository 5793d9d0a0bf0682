//! The operations of [`EsManager`](crate::EsManager), one handle per job, each checked against the
//! manager's [`Scope`](crate::Scope):
//!
//! * [`EsManager::repositories`](crate::EsManager::repositories): register, change, list, verify,
//!   unregister snapshot repositories;
//! * [`EsManager::snapshots`](crate::EsManager::snapshots): take, list, delete snapshots;
//! * [`EsManager::catalog`](crate::EsManager::catalog): which index lives in which snapshot;
//! * [`EsManager::policies`](crate::EsManager::policies): Lifeboat snapshot policies and their runs;
//! * [`EsManager::slm`](crate::EsManager::slm): Elasticsearch SLM policies;
//! * [`EsManager::restores`](crate::EsManager::restores): time-range restores.
//!
//! A handle borrows the manager and is cheap to make, so an HTTP handler writes
//! `es.restores().status(&id)` and a route maps onto one handle.

pub mod catalog;
pub mod policies;
pub mod repositories;
mod restore_plan;
mod restore_progress;
pub mod restores;
pub mod slm;
pub mod snapshots;

pub use catalog::{Catalog, resolve_time_range};
pub use policies::Policies;
pub use repositories::Repositories;
pub use restores::Restores;
pub use slm::Slm;
pub use snapshots::Snapshots;
