//! Which retention policy applies: the one the caller gave, else the plan's.
//!
//! Precedence (the CLI's since `forget --plan` learned to read the config):
//! 1. keep rules given by the caller win, and so does an empty policy asked for on purpose
//!    (`allow_empty`), even when the plan configures a retention;
//! 2. with no keep rule given, the resolved plan's retention applies (its `[retention]`
//!    table, or the plan default of 7 daily, 4 weekly, 12 monthly when it has none);
//! 3. with neither, there is no policy ([`RetentionError::EmptyPolicy`]).
//!
//! Rules that do not validate are an error whatever the plan says.

use lifeboat_retention::{Policy, RetentionError};
use serde::Serialize;

use crate::plans::ResolvedPlan;

/// The keep rules a caller gave, perhaps none.
#[derive(Debug, Clone, Default)]
pub struct RequestedPolicy {
    /// The rules as given (empty when none was).
    pub rules: Policy,
    /// An empty policy is meant: forget every backup of each group.
    pub allow_empty: bool,
}

/// Where the chosen policy came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum PolicyOrigin {
    /// The caller's own rules.
    Requested,
    /// The retention of this plan in the configuration file.
    Plan {
        /// The plan.
        name: String,
    },
}

/// The policy that applies, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChosenPolicy {
    /// The policy.
    pub policy: Policy,
    /// Where it came from.
    pub origin: PolicyOrigin,
}

/// Chooses the policy by the precedence in the module doc.
pub fn choose_policy(requested: &RequestedPolicy, plan: Option<&ResolvedPlan>) -> Result<ChosenPolicy, RetentionError> {
    requested.rules.validate()?;
    if !requested.rules.is_empty() || requested.allow_empty {
        return Ok(ChosenPolicy { policy: requested.rules.clone(), origin: PolicyOrigin::Requested });
    }
    match plan {
        Some(plan) => Ok(ChosenPolicy {
            policy: plan.config.retention.clone(),
            origin: PolicyOrigin::Plan { name: plan.name.clone() },
        }),
        None => Err(RetentionError::EmptyPolicy),
    }
}
