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
/// when either is missing (there is then no configured plan to consult). A file given is
/// always read and checked, even when no plan is named: a missing, unreadable or invalid
/// config given explicitly is an error, not something to ignore, and so is a plan the file
/// does not define.
pub fn resolve_plan(config: Option<&Path>, plan: Option<&str>) -> Result<Option<ResolvedPlan>, ConfigError> {
    let Some(path) = config else { return Ok(None) };
    let file = Config::load(path)?;
    let Some(name) = plan else { return Ok(None) };
    Ok(Some(found(&file, path, name)?))
}

/// The plan `name`, which must be defined in the configuration file `config`, which must be
/// given ([`ConfigError::NoConfigFile`] otherwise): what running a plan by name needs.
pub fn require_plan(config: Option<&Path>, name: &str) -> Result<ResolvedPlan, ConfigError> {
    let Some(path) = config else { return Err(ConfigError::NoConfigFile { plan: name.to_owned() }) };
    found(&Config::load(path)?, path, name)
}

fn found(file: &Config, path: &Path, name: &str) -> Result<ResolvedPlan, ConfigError> {
    let origin = path.display().to_string();
    let config = file.plan(name, &origin)?.clone();
    Ok(ResolvedPlan { name: name.to_owned(), origin, config })
}
