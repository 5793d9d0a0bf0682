//! Disaster recovery's tables: `[drills]` (where drills restore to, and when) and
//! `[scenarios.NAME]` (a recovery runbook as ordered steps, each tagged by
//! `action = "restore" | "check" | "hook"`). One plan's `[plans.NAME.drill]` is a table of
//! the plan ([`PlanDrill`](super::PlanDrill), in `plan.rs`, below this module); the drill
//! schedule here resolves it against `[drills]`. docs/CONFIG.md documents every key;
//! docs/scenarios.example.toml holds four runbooks the tests load.
//!
//! ```toml
//! [scenarios.database_failure]
//! description = "The primary PostgreSQL is lost: restore the newest backup into the standby"
//! objectives = { rpo = "1h", rto = "30m" }
//!
//! [[scenarios.database_failure.steps]]
//! action = "restore"
//! plan = "db"
//! backup = "latest"                       # or a backup id, or before = "2026-12-01T00:00:00Z"
//! target = "postgres://lifeboat@standby:5432/app"
//! password-env = "STANDBY_PASSWORD"       # by reference only
//!
//! [[scenarios.database_failure.steps]]
//! action = "check"
//! sql = "SELECT count(*) FROM accounts"   # run on the restore's target
//! expect = "100000"
//!
//! [[scenarios.database_failure.steps]]
//! action = "hook"
//! command = ["systemctl", "start", "app"]
//! timeout = "5m"
//! ```

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Config;
use super::plan::{Objectives, PlanConfig, checked};
use super::secret::SecretRef;
use super::source::SourceConfig;
use crate::schedule::{ScheduleSpec, ScheduleTable, Span};

/// The drill schedule of a plan that sets none, and of `[drills]` without one: weekly.
pub const DEFAULT_DRILL_EVERY: &str = "7d";

/// `[drills]`: defaults for every plan's restore drill.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DrillSettings {
    /// When lifeboatd drills each plan that has no schedule of its own (default weekly).
    pub schedule: Option<ScheduleTable>,
    /// A designated PostgreSQL server for scratch databases (default: the plan's own server).
    pub postgres_server: Option<String>,
    /// A designated MySQL/MariaDB server for scratch databases (default: the plan's own).
    pub mysql_server: Option<String>,
    /// A designated, empty Redis drill instance (default: Lifeboat starts a `redis-server`).
    pub redis_server: Option<String>,
    /// The `redis-server` program to start (default: found on `PATH`).
    pub redis_binary: Option<PathBuf>,
    /// Where scratch directories are made (default: the system's temporary directory).
    pub scratch_dir: Option<PathBuf>,
    /// The password file of the designated drill servers (default: the plan's source password).
    pub password_file: Option<PathBuf>,
    /// The environment variable holding the designated drill servers' password.
    pub password_env: Option<String>,
    /// `false`: lifeboatd drills no plan on a schedule (default true).
    pub enabled: Option<bool>,
}

impl DrillSettings {
    /// The designated drill servers' password reference.
    pub fn password(&self) -> SecretRef {
        SecretRef::new(self.password_file.clone(), self.password_env.clone())
    }
}

/// `[scenarios.NAME]`: a recovery runbook.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScenarioConfig {
    /// What failure this scenario recovers from.
    #[serde(default)]
    pub description: Option<String>,
    /// The objectives the whole scenario is held to.
    #[serde(default)]
    pub objectives: Option<Objectives>,
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<StepConfig>,
}

impl ScenarioConfig {
    /// The plans the scenario restores, in step order, each once.
    pub fn plans(&self) -> Vec<String> {
        let mut plans: Vec<String> = Vec::new();
        for step in &self.steps {
            if let StepConfig::Restore(r) = step
                && !plans.contains(&r.plan)
            {
                plans.push(r.plan.clone());
            }
        }
        plans
    }
}

/// One step of a scenario, tagged by `action`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase", deny_unknown_fields)]
pub enum StepConfig {
    /// Restore one backup of a plan into a target.
    Restore(RestoreStep),
    /// Check what a restore produced.
    Check(CheckStep),
    /// Run a command.
    Hook(HookStep),
}

impl StepConfig {
    /// The `action` as written.
    pub fn action(&self) -> &'static str {
        match self {
            StepConfig::Restore(_) => "restore",
            StepConfig::Check(_) => "check",
            StepConfig::Hook(_) => "hook",
        }
    }
}

/// `action = "restore"`: a backup of `plan` into `target`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RestoreStep {
    /// The plan whose backup is restored.
    pub plan: String,
    /// `latest` (the default) or a backup id (or unique prefix).
    #[serde(default)]
    pub backup: Option<String>,
    /// The newest backup taken before this time (RFC 3339), instead of `backup`.
    #[serde(default)]
    pub before: Option<String>,
    /// Where to: a database URL (`postgres://`, `mysql://`, `redis://`, no password in it)
    /// for a database plan, a directory for a files or stdin plan. An Elasticsearch plan
    /// restores into its own cluster under `prefix` and takes no target.
    #[serde(default)]
    pub target: Option<String>,
    /// The target database's password file.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The environment variable holding the target database's password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Elasticsearch: the prefix of the restored index names (required for such a plan).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Elasticsearch: the index patterns to restore (default: the plan's `indices`, else `*`).
    #[serde(default)]
    pub indices: Option<String>,
}

impl RestoreStep {
    /// The target's password reference.
    pub fn password(&self) -> SecretRef {
        SecretRef::new(self.password_file.clone(), self.password_env.clone())
    }

    /// `before`, parsed (a checked configuration's parses).
    pub fn before_time(&self) -> Option<DateTime<Utc>> {
        self.before.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
    }
}

/// `action = "check"`: exactly one of `sql`, `digests` and `index`, on the previous
/// restore step's target unless it names its own.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CheckStep {
    /// A SQL query whose first column of its first row must be `expect`.
    #[serde(default)]
    pub sql: Option<String>,
    /// The value `sql` must return (as text), or the Redis key count, or the doc count.
    #[serde(default)]
    pub expect: Option<String>,
    /// The database the query runs on (default: the previous restore's target).
    #[serde(default)]
    pub url: Option<String>,
    /// `url`'s password file (default: the previous restore's).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The environment variable holding `url`'s password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A BLAKE3 digest list (`b3sum` format: `<hex>  <path>`, one a line) every file of
    /// which must be in the directory with that digest.
    #[serde(default)]
    pub digests: Option<PathBuf>,
    /// The directory the digest list's paths are relative to (default: the previous
    /// restore's directory).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Elasticsearch: an index (or pattern) of the previous restore, without its prefix,
    /// whose doc count must be `expect` (default: the count the snapshot recorded).
    #[serde(default)]
    pub index: Option<String>,
}

impl CheckStep {
    /// `url`'s password reference.
    pub fn password(&self) -> SecretRef {
        SecretRef::new(self.password_file.clone(), self.password_env.clone())
    }
}

/// `action = "hook"`: a command (argv, no shell) that must exit 0 within `timeout`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HookStep {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// At most this long (default 10m), then it is killed and the step fails.
    #[serde(default, deserialize_with = "hook_timeout")]
    pub timeout: Option<Span>,
    /// Run it in drills too (default: only in real recoveries).
    #[serde(default)]
    pub drill: bool,
}

fn hook_timeout<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Span>, D::Error> {
    let text = String::deserialize(d)?;
    Span::parse("timeout", &text).map(Some).map_err(serde::de::Error::custom)
}

/// The drill schedule lifeboatd follows for `plan`, `None` when it is not drilled on a
/// schedule: `[plans.NAME.drill] enabled = false` or `[drills] enabled = false` (the plan's
/// `enabled = true` wins), or a plan that has no backup schedule and no drill schedule of
/// its own (it is run by hand, so is its drill). Else the plan's `[plans.NAME.drill]
/// schedule`, else `[drills] schedule`, else weekly (`every = "7d"`).
pub fn drill_schedule(plan: &PlanConfig, drills: &DrillSettings) -> Option<ScheduleSpec> {
    let enabled = plan.drill.enabled.or(drills.enabled).unwrap_or(true);
    if !enabled {
        return None;
    }
    if let Some(own) = &plan.drill.schedule {
        return checked(Some(own)).ok().flatten();
    }
    plan.schedule.as_ref()?;
    let table = drills
        .schedule
        .clone()
        .unwrap_or_else(|| ScheduleTable { every: Some(DEFAULT_DRILL_EVERY.into()), ..Default::default() });
    checked(Some(&table)).ok().flatten()
}

/// The problems of `[drills]`, the plans' drill tables and `[scenarios]`, as (plan, key, why).
pub(crate) fn problems(config: &Config) -> Vec<(Option<String>, String, String)> {
    let mut out: Vec<(Option<String>, String, String)> = Vec::new();
    if let Err(e) = checked(config.drills.schedule.as_ref()) {
        out.push((None, "drills.schedule".into(), e.to_string()));
    }
    for (key, url) in [
        ("drills.postgres-server", &config.drills.postgres_server),
        ("drills.mysql-server", &config.drills.mysql_server),
        ("drills.redis-server", &config.drills.redis_server),
    ] {
        if let Some(url) = url {
            let schemes: &[&str] = match key {
                "drills.postgres-server" => &["postgres", "postgresql"],
                "drills.mysql-server" => &["mysql", "mariadb"],
                _ => &["redis", "rediss"],
            };
            if let Some(why) = url_problem(url, schemes) {
                out.push((None, key.into(), why));
            }
        }
    }
    for (key, why) in reference_problems(&config.drills.password()) {
        out.push((None, format!("drills.{key}"), why));
    }
    for (name, plan) in &config.plans {
        for (key, why) in reference_problems(&plan.drill.password()) {
            out.push((Some(name.clone()), format!("drill.{key}"), why));
        }
        if let Err(e) = checked(plan.drill.schedule.as_ref()) {
            out.push((Some(name.clone()), "drill.schedule".into(), e.to_string()));
        }
        if let Some(server) = &plan.drill.server {
            let schemes: &[&str] = match &plan.source {
                Some(SourceConfig::Postgres(_)) => &["postgres", "postgresql"],
                Some(SourceConfig::Mysql(_)) => &["mysql", "mariadb"],
                Some(SourceConfig::Redis(_)) => &["redis", "rediss"],
                _ => &[],
            };
            let why = match schemes {
                [] => Some("only a PostgreSQL, MySQL or Redis plan drills on a server".to_owned()),
                schemes => url_problem(server, schemes),
            };
            if let Some(why) = why {
                out.push((Some(name.clone()), "drill.server".into(), why));
            }
        }
    }
    for (name, scenario) in &config.scenarios {
        let prefix = format!("scenarios.{name}");
        if scenario.steps.is_empty() {
            out.push((None, format!("{prefix}.steps"), "a scenario needs at least one step".into()));
        }
        if let Some(objectives) = &scenario.objectives {
            for (key, value) in [("rpo", objectives.rpo), ("rto", objectives.rto)] {
                if value.is_some_and(|d| d.is_zero()) {
                    out.push((None, format!("{prefix}.objectives.{key}"), "an objective of zero cannot be met".into()));
                }
            }
        }
        let mut restored_before = false;
        for (i, step) in scenario.steps.iter().enumerate() {
            let key = format!("{prefix}.steps[{i}]");
            let reference = match step {
                StepConfig::Restore(r) => r.password(),
                StepConfig::Check(c) => c.password(),
                StepConfig::Hook(_) => SecretRef::default(),
            };
            let found = step_problems(config, step, restored_before).into_iter().chain(reference_problems(&reference));
            for (k, why) in found {
                out.push((None, format!("{key}.{k}"), why));
            }
            restored_before |= matches!(step, StepConfig::Restore(_));
        }
    }
    out
}

fn step_problems(config: &Config, step: &StepConfig, restored_before: bool) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    match step {
        StepConfig::Restore(r) => {
            let Some(plan) = config.plans.get(&r.plan) else {
                let defined = config.plans.keys().cloned().collect::<Vec<_>>().join(", ");
                out.push(("plan", format!("no plan {:?} in this file (defined: {defined})", r.plan)));
                return out;
            };
            if r.backup.is_some() && r.before.is_some() {
                out.push(("before", "give either `backup` or `before`, not both".into()));
            }
            if let Some(before) = &r.before
                && DateTime::parse_from_rfc3339(before).is_err()
            {
                out.push(("before", format!("{before:?} is not an RFC 3339 time (2026-12-01T00:00:00Z)")));
            }
            if r.backup.as_deref().is_some_and(|b| b.trim().is_empty()) {
                out.push(("backup", "an empty backup id (use \"latest\" or an id)".into()));
            }
            let schemes: Option<&[&str]> = match &plan.source {
                Some(SourceConfig::Postgres(_)) => Some(&["postgres", "postgresql"]),
                Some(SourceConfig::Mysql(_)) => Some(&["mysql", "mariadb"]),
                Some(SourceConfig::Redis(_)) => Some(&["redis", "rediss"]),
                _ => None,
            };
            match (&plan.source, schemes, &r.target) {
                (Some(SourceConfig::Elasticsearch(_)), _, target) => {
                    if target.is_some() {
                        out.push((
                            "target",
                            "an Elasticsearch plan restores into its own cluster under `prefix`".into(),
                        ));
                    }
                    match &r.prefix {
                        None => out.push((
                            "prefix",
                            "an Elasticsearch restore needs a prefix for the restored indices".into(),
                        )),
                        Some(p) if lifeboat_es::model::names::validate_restore_prefix(p).is_err() => out.push((
                            "prefix",
                            format!("{p:?} is not a valid index name prefix (lowercase, no `*`, `,`, ` `)"),
                        )),
                        Some(_) => {}
                    }
                }
                (_, _, None) => out.push(("target", "a restore needs a target (a database URL or a directory)".into())),
                (_, Some(schemes), Some(target)) => {
                    if let Some(why) = url_problem(target, schemes) {
                        out.push(("target", why));
                    }
                }
                (_, None, Some(target)) => {
                    if !std::path::Path::new(target).is_absolute() {
                        out.push((
                            "target",
                            format!("{target:?}: a files or stdin plan restores into an absolute directory"),
                        ));
                    }
                }
            }
            if r.prefix.is_some() && !matches!(plan.source, Some(SourceConfig::Elasticsearch(_))) {
                out.push(("prefix", "only an Elasticsearch restore takes a prefix".into()));
            }
        }
        StepConfig::Check(c) => {
            let kinds = [c.sql.is_some(), c.digests.is_some(), c.index.is_some()].iter().filter(|b| **b).count();
            if kinds != 1 {
                out.push(("sql", "a check needs exactly one of `sql`, `digests` and `index`".into()));
            }
            if c.sql.is_some() && c.expect.is_none() {
                out.push(("expect", "a SQL check needs the value it expects".into()));
            }
            if !restored_before && c.url.is_none() && c.dir.is_none() {
                out.push(("url", "a check before any restore needs its own `url` or `dir`".into()));
            }
            if let Some(url) = &c.url
                && let Some(why) = url_problem(url, &["postgres", "postgresql", "mysql", "mariadb"])
            {
                out.push(("url", why));
            }
            if let (Some(index), Some(expect)) = (&c.index, &c.expect)
                && expect.parse::<u64>().is_err()
            {
                out.push(("expect", format!("the doc count of {index} must be a number, not {expect:?}")));
            }
        }
        StepConfig::Hook(h) => {
            if h.command.first().is_none_or(|p| p.trim().is_empty()) {
                out.push(("command", "no program to run (an argv list: [\"program\", \"arg\", ...])".into()));
            }
            if h.timeout.is_some_and(|t| t.is_zero()) {
                out.push(("timeout", "a zero timeout kills the hook at once".into()));
            }
        }
    }
    out
}

/// Why `url` is not a URL of one of `schemes` with no password in it.
fn url_problem(url: &str, schemes: &[&str]) -> Option<String> {
    let shown = lifeboat_storage::redact_url(url);
    let Ok(parsed) = url::Url::parse(url) else { return Some(format!("{shown} is not a URL")) };
    if !schemes.contains(&parsed.scheme()) {
        return Some(format!("{shown}: expected a {} URL", schemes.join("/")));
    }
    if parsed.password().is_some() {
        return Some(format!("{shown} holds a password: give it by reference (password-file / password-env)"));
    }
    None
}

/// The problems of one password reference: both given, or a variable name that is not one.
fn reference_problems(reference: &SecretRef) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if reference.file.is_some() && reference.env.is_some() {
        out.push(("password-file", "give either this or `password-env`, not both".to_owned()));
    }
    if reference.env.as_deref().is_some_and(|name| !super::secret::is_variable_name(name)) {
        out.push((
            "password-env",
            "must name an environment variable (letters, digits and _, not starting with a digit), not hold the \
             password"
                .to_owned(),
        ));
    }
    out
}
