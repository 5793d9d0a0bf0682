//! Which plan a command is about: the plan named on the command line, looked up in the
//! configuration file, typed so that a frontend asks what it needs instead of parsing
//! error text.

use std::path::Path;

use crate::config::{Config, ConfigError, PlanConfig};

/// A plan found in a configuration file.
#[derive(Debug, Clone)]
pub struct ResolvedPlan {
    /// The plan's name.
    pub name: String,
    /// The file it was found in (for messages).
    pub origin: String,
    /// What the file says about it.
    pub config: PlanConfig,
}

/// The plan `plan` of the configuration file `config`, when both are given; `Ok(None)`
/// when either is missing (there is then no configured plan to consult). A file that
/// cannot be read or parsed, or that does not define the plan, is an error even when the
/// caller might not need the plan: a mistyped config should not go unnoticed.
pub fn resolve_plan(config: Option<&Path>, plan: Option<&str>) -> Result<Option<ResolvedPlan>, ConfigError> {
    let (Some(path), Some(name)) = (config, plan) else { return Ok(None) };
    let origin = path.display().to_string();
    let file = Config::load(path)?;
    let found = file.plan(name, &origin)?.clone();
    Ok(Some(ResolvedPlan { name: name.to_owned(), origin, config: found }))
}
