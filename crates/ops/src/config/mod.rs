//! The TOML configuration: plans, what they back up, where to, when, how long they keep it,
//! how they are checked, and the objectives they are held to. docs/CONFIG.md documents
//! every key; docs/lifeboat.example.toml is an annotated example the tests load.
//!
//! ```toml
//! [plans.web]
//! repository = "file:///srv/backups/repo"
//! password-file = "/etc/lifeboat/repo.pw"   # secrets only by reference
//! tags = ["nightly"]
//! source = { kind = "files", paths = ["/srv/www"] }
//! schedule = { cron = "0 1 * * *", timezone = "Europe/Berlin" }
//!
//! [plans.web.retention]        # restic's names; omitted: 7 daily, 4 weekly, 12 monthly
//! keep-daily = 14
//! keep-weekly = 8
//! ```
//!
//! [`Config::parse`] and [`Config::load`] check the whole file and report every problem at
//! once ([`ConfigError::Invalid`] with its [`Problem`]s, each naming the plan, the key and
//! the line): TOML syntax, unknown keys, secrets written inline (refused without being
//! quoted), and the checks of `checks.rs` (a plan without repository or source, a copy to the
//! primary, a schedule that does not parse, a zero objective ...).

mod alerts;
mod audit;
mod checks;
mod dr;
mod error;
mod export;
mod lines;
mod notifications;
mod plan;
mod secret;
mod service;
mod source;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use alerts::{AlertSettings, PlanAlerts};
pub use audit::AuditSettings;
pub use dr::{
    CheckStep, DEFAULT_DRILL_EVERY, DrillSettings, HookStep, RestoreStep, ScenarioConfig, StepConfig, drill_schedule,
};
pub use error::{ConfigError, Problem, ProblemKind};
pub use export::ExportDestinationConfig;
pub use notifications::{ChannelConfig, ChannelKind, EventName, NotificationSettings, SmtpSecurityName};
pub use plan::{CopyTo, Objectives, PlanConfig, PlanDrill, PruneConfig, VerifyConfig};
pub use secret::{SecretError, SecretRef};
pub use service::ServiceSettings;
pub use source::{
    ElasticsearchSource, FilesSource, MysqlSource, PostgresSource, RedisSource, SourceConfig, StdinSource,
};

/// Every problem of a configuration built or changed in code (what [`Config::parse`] checks
/// after reading a file).
pub(crate) fn check_config(config: &Config) -> Vec<Problem> {
    checks::check(config)
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Plans by name.
    #[serde(default)]
    pub plans: BTreeMap<String, PlanConfig>,
    /// lifeboatd's own settings (`[service]`).
    #[serde(default)]
    pub service: ServiceSettings,
    /// The audit log's sealing (`[audit]`).
    #[serde(default)]
    pub audit: AuditSettings,
    /// The alert engine's timer and default thresholds (`[alerts]`).
    #[serde(default)]
    pub alerts: AlertSettings,
    /// The notification channels and their routing (`[notifications]`).
    #[serde(default)]
    pub notifications: NotificationSettings,
    /// Where and when restore drills run (`[drills]`).
    #[serde(default)]
    pub drills: DrillSettings,
    /// Recovery runbooks by name (`[scenarios.NAME]`).
    #[serde(default)]
    pub scenarios: BTreeMap<String, ScenarioConfig>,
    /// Export destinations by name (`[exports.NAME]`).
    #[serde(default)]
    pub exports: BTreeMap<String, ExportDestinationConfig>,
}

impl Config {
    /// Parses and checks a configuration document; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let invalid = |problems| ConfigError::Invalid { path: origin.to_owned(), problems };
        let (document, syntax) = toml::de::DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            return Err(invalid(syntax.iter().map(|e| lines::syntax_problem(text, e)).collect()));
        }
        let mut problems = secret::find_inline_secrets(document.get_ref(), text);
        let config = match Config::deserialize(toml::de::Deserializer::from(document)) {
            Ok(config) => Some(config),
            Err(e) => {
                let problem = lines::schema_problem(text, &e);
                // A secret key is unknown too; it is reported once, as the secret it is.
                if !problems.iter().any(|p| p.line == problem.line && p.plan == problem.plan) {
                    problems.push(problem);
                }
                None
            }
        };
        if let Some(config) = &config {
            problems.extend(checks::check(config));
        }
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(invalid(problems)),
        }
    }

    /// Reads, parses and checks a configuration file. A file that does not exist is an
    /// error ([`ConfigError::Read`]): a config given explicitly must be there.
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
    use lifeboat_retention::{KeepCount, Policy};

    const WEB: &str =
        "[plans.web]\nrepository = \"/srv/repo\"\nsource = { kind = \"files\", paths = [\"/srv/www\"] }\n";

    #[test]
    fn retention_defaults_to_7_daily_4_weekly_12_monthly() {
        let config = Config::parse(WEB, "test").unwrap();
        let plan = config.plan("web", "test").unwrap();
        assert_eq!(plan.retention, Policy::plan_default());
        assert_eq!(plan.retention.keep_daily, KeepCount::N(7));
        assert_eq!(plan.retention.keep_weekly, KeepCount::N(4));
        assert_eq!(plan.retention.keep_monthly, KeepCount::N(12));
    }

    #[test]
    fn retention_uses_restic_names() {
        let text =
            format!("{WEB}[plans.web.retention]\nkeep-daily = 14\nkeep-within = \"1y2m\"\nkeep-tag = [\"release\"]\n");
        let config = Config::parse(&text, "test").unwrap();
        let policy = &config.plan("web", "test").unwrap().retention;
        assert_eq!(policy.keep_daily, KeepCount::N(14));
        assert_eq!(policy.keep_weekly, KeepCount::OFF, "an explicit policy replaces the default");
        assert!(policy.keep_within.is_some());
    }

    #[test]
    fn mistakes_are_named() {
        let text = format!("{WEB}[plans.web.retention]\nkeep-daly = 3\n");
        let err = Config::parse(&text, "lifeboat.toml").unwrap_err().to_string();
        assert!(err.contains("lifeboat.toml") && err.contains("keep-daly") && err.contains("line 5"), "{err}");
        let err = Config::parse("[plans.web]\nrepo = 1\n", "x").unwrap_err().to_string();
        assert!(err.contains("repo") && err.contains("line 2"), "{err}");
        let config = Config::parse(&format!("{WEB}{}", WEB.replace("web", "db")), "x").unwrap();
        let err = config.plan("c", "x").unwrap_err().to_string();
        assert!(err.contains("\"c\"") && err.contains("db, web"), "{err}");
    }

    #[test]
    fn syntax_errors_quote_no_line_of_the_file() {
        let err = Config::parse("[plans.web]\nrepository = \"/r\npassword = \"hunter2\"\n", "x").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err.problems().first().map(|p| &p.kind), Some(ProblemKind::Syntax(_))), "{err:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
