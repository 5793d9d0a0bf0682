//! The TOML configuration: plans, what they back up to, and how long they keep it.
//!
//! ```toml
//! [plans.web]
//! repository = "file:///srv/backups/repo"
//! tags = ["nightly"]
//!
//! [plans.web.retention]        # restic's names; omitted: 7 daily, 4 weekly, 12 monthly
//! keep-daily = 14
//! keep-weekly = 8
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use lifeboat_retention::Policy;
use serde::Deserialize;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What the parser said (with line and column).
        message: String,
    },
    /// A plan was asked for that the file does not define.
    #[error("plan {plan:?} is not defined in {path} (defined: {defined})")]
    NoSuchPlan {
        /// The plan.
        plan: String,
        /// The file.
        path: String,
        /// The plans it defines.
        defined: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Plans by name.
    #[serde(default)]
    pub plans: BTreeMap<String, PlanConfig>,
}

/// One plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PlanConfig {
    /// Repository URL the plan writes to.
    #[serde(default)]
    pub repository: Option<String>,
    /// Tags added to every backup of the plan.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Which backups to keep (default: 7 daily, 4 weekly, 12 monthly).
    #[serde(default = "Policy::plan_default")]
    pub retention: Policy,
}

impl Config {
    /// Parses a configuration document; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: origin.to_owned(), message: e.to_string() })
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The plan called `name`.
    pub fn plan(&self, name: &str, origin: &str) -> Result<&PlanConfig, ConfigError> {
        self.plans.get(name).ok_or_else(|| ConfigError::NoSuchPlan {
            plan: name.to_owned(),
            path: origin.to_owned(),
            defined: self.plans.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeboat_retention::KeepCount;

    #[test]
    fn retention_defaults_to_7_daily_4_weekly_12_monthly() {
        let config = Config::parse("[plans.web]\nrepository = \"/srv/repo\"\n", "test").unwrap();
        let plan = config.plan("web", "test").unwrap();
        assert_eq!(plan.retention, Policy::plan_default());
        assert_eq!(plan.retention.keep_daily, KeepCount::N(7));
        assert_eq!(plan.retention.keep_weekly, KeepCount::N(4));
        assert_eq!(plan.retention.keep_monthly, KeepCount::N(12));
    }

    #[test]
    fn retention_uses_restic_names() {
        let text = "[plans.db.retention]\nkeep-daily = 14\nkeep-within = \"1y2m\"\nkeep-tag = [\"release\"]\n";
        let config = Config::parse(text, "test").unwrap();
        let policy = &config.plan("db", "test").unwrap().retention;
        assert_eq!(policy.keep_daily, KeepCount::N(14));
        assert_eq!(policy.keep_weekly, KeepCount::OFF, "an explicit policy replaces the default");
        assert!(policy.keep_within.is_some());
    }

    #[test]
    fn mistakes_are_named() {
        let err = Config::parse("[plans.web.retention]\nkeep-daly = 3\n", "lifeboat.toml").unwrap_err().to_string();
        assert!(err.contains("lifeboat.toml") && err.contains("keep-daly"), "{err}");
        let err = Config::parse("[plans.web]\nrepo = 1\n", "x").unwrap_err().to_string();
        assert!(err.contains("repo"), "{err}");
        let config = Config::parse("[plans.a]\n[plans.b]\n", "x").unwrap();
        let err = config.plan("c", "x").unwrap_err().to_string();
        assert!(err.contains("\"c\"") && err.contains("a, b"), "{err}");
    }
}
