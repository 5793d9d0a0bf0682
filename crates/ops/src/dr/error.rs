//! [`DrError`]: why a disaster-recovery call could not run at all. A step that fails is not
//! an error: it is in the report, with the report's outcome failed.

/// Why an assess, recovery or drill could not run (or keep its report).
#[derive(Debug, thiserror::Error)]
pub enum DrError {
    /// No such scenario in the configuration.
    #[error("no scenario {scenario:?} in {origin} (defined: {defined})")]
    NoSuchScenario {
        /// The name asked for.
        scenario: String,
        /// The configuration file.
        origin: String,
        /// The scenarios it defines.
        defined: String,
    },
    /// No such plan in the configuration.
    #[error("no plan {plan:?} in {origin}")]
    NoSuchPlan {
        /// The name asked for.
        plan: String,
        /// The configuration file.
        origin: String,
    },
    /// The plan or scenario cannot be drilled or recovered as configured.
    #[error("{subject}: {reason}")]
    Invalid {
        /// The plan or scenario.
        subject: String,
        /// Why.
        reason: String,
    },
    /// The state could not be read or written.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A report could not be kept in a repository (or encoded).
    #[error("drill report {id}: cannot keep it in {repository}: {reason}")]
    Keep {
        /// The report.
        id: String,
        /// The repository (redacted).
        repository: String,
        /// Why.
        reason: String,
    },
    /// The call was cancelled.
    #[error("cancelled")]
    Cancelled,
}
