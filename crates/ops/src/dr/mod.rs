//! Disaster recovery you can prove: [`assess`] (could we recover right now?), [`recover`]
//! (a named scenario of `[scenarios.NAME]`, shown first with `--dry-run`, then carried out),
//! and [`drill`] (a restore into a scratch target that cannot touch production, its content
//! verified against what the backup recorded, RTO and RPO measured against the plan's
//! objectives, the scratch target cleaned up, and a [`report::DrillReport`] kept in the
//! state and sealed into the repository as evidence).
//!
//! Every entry point takes a [`DrEnv`]: the configuration, how repositories are opened, the
//! clock, and (when there is one) the state.

pub mod assess;
pub mod drill;
mod engine;
mod error;
mod query;
pub mod recover;
pub mod report;
mod target;

use std::sync::Arc;

use lifeboat_storage::clock::Clock;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::opener::RepoOpener;
use crate::state::AsyncStateStore;

pub use error::DrError;
pub use report::{DrillReport, DrillSubject, ReportKind, StepOutcome, StepReport};

/// What every disaster-recovery call needs from its host (the CLI or lifeboatd).
#[derive(Clone)]
pub struct DrEnv {
    /// The configuration (checked).
    pub config: Arc<Config>,
    /// Where it came from, named in messages.
    pub origin: String,
    /// How the plans' repositories are opened.
    pub opener: Arc<dyn RepoOpener>,
    /// The clock reports and ages are timed by.
    pub clock: Arc<dyn Clock>,
    /// The state (job history, drill reports); `None` for a CLI on a host without one.
    pub state: Option<AsyncStateStore>,
    /// Cancelled: the running step stops, the scratch targets are still cleaned up.
    pub cancel: CancellationToken,
}

/// What a long disaster-recovery call reports as it goes (the CLI prints it; lifeboatd logs
/// it into the job's log).
pub trait DrProgress: Send + Sync {
    /// Step `index` (from 1) of `total` started.
    fn step_started(&self, index: usize, total: usize, description: &str);
    /// A step ended.
    fn step_finished(&self, step: &StepReport);
    /// Anything else worth a line.
    fn note(&self, text: &str);
}

/// A [`DrProgress`] that reports nothing.
pub struct Silent;

impl DrProgress for Silent {
    fn step_started(&self, _: usize, _: usize, _: &str) {}
    fn step_finished(&self, _: &StepReport) {}
    fn note(&self, _: &str) {}
}
