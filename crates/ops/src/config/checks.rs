//! The checks of a parsed configuration, each problem naming its plan and key. All of them
//! run, so a file with three mistakes reports three.

use lifeboat_repo::{FilesFilter, FilterError};

use super::Config;
use super::error::{Problem, ProblemKind};
use super::plan::{PlanConfig, checked};
use super::secret::SecretRef;
use super::source::SourceConfig;
use crate::schedule::ScheduleTable;

/// Every problem of `config`.
pub(crate) fn check(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (name, plan) in &config.plans {
        check_plan(name, plan, &mut problems);
    }
    let settings = config.service.problems().into_iter().chain(config.audit.problems());
    for (key, why) in settings.chain(config.alerts.problems()) {
        problems.push(Problem { plan: None, key: key.to_owned(), line: None, kind: ProblemKind::BadValue(why) });
    }
    for (key, why) in config.notifications.problems() {
        problems.push(Problem { plan: None, key, line: None, kind: ProblemKind::BadValue(why) });
    }
    for (key, why) in super::export::problems(&config.exports) {
        problems.push(Problem { plan: None, key, line: None, kind: ProblemKind::BadValue(why) });
    }
    for (plan, key, why) in super::dr::problems(config) {
        problems.push(Problem { plan, key, line: None, kind: ProblemKind::BadValue(why) });
    }
    problems
}

fn check_plan(name: &str, plan: &PlanConfig, problems: &mut Vec<Problem>) {
    let mut add = |key: &str, kind: ProblemKind| {
        problems.push(Problem { plan: Some(name.to_owned()), key: key.to_owned(), line: None, kind });
    };
    for (key, why) in plan.alerts.problems() {
        add(key, ProblemKind::BadValue(why));
    }
    // An Elasticsearch plan's snapshots stay in the cluster's own snapshot repository.
    let in_cluster = matches!(plan.source, Some(SourceConfig::Elasticsearch(_)));
    match plan.repository.as_deref().map(str::trim) {
        None | Some("") if !in_cluster => add("repository", ProblemKind::MissingRepository),
        _ => {}
    }
    if plan.key_file.is_some() && !plan.password().is_none() {
        add("key-file", ProblemKind::Conflicting { other: "password-file / password-env".into() });
    }
    match &plan.source {
        None => add("source", ProblemKind::MissingSource),
        Some(source) => check_source(source, &mut add),
    }
    if let Err(e) = plan.retention.validate() {
        add("retention", ProblemKind::BadValue(e.to_string()));
    }
    schedule("schedule", plan.schedule.as_ref(), &mut add);
    if in_cluster && !plan.copy_to.is_empty() {
        add(
            "copy-to",
            ProblemKind::BadValue(
                "an Elasticsearch plan's snapshots stay in the cluster: there is nothing to copy".into(),
            ),
        );
    }
    for (i, copy) in plan.copy_to.iter().enumerate() {
        let key = format!("copy-to[{i}]");
        if plan.repository.as_deref().is_some_and(|primary| same_repository(primary, &copy.repository)) {
            add(&format!("{key}.repository"), ProblemKind::CopyToIsPrimary);
        }
        if !copy.runs_after_backup() && copy.schedule.is_none() {
            add(&key, ProblemKind::CopyNeverRuns);
        }
        schedule(&format!("{key}.schedule"), copy.schedule.as_ref(), &mut add);
    }
    if let Some(prune) = &plan.prune {
        schedule("prune.schedule", Some(&prune.schedule), &mut add);
    }
    if let Some(verify) = &plan.verify {
        schedule("verify.quick", verify.quick.as_ref(), &mut add);
        schedule("verify.deep", verify.deep.as_ref(), &mut add);
        if let Some(f) = verify.deep_fraction
            && !(f > 0.0 && f <= 1.0)
        {
            add("verify.deep-fraction", ProblemKind::BadValue(format!("{f} is not in (0, 1]: 0.1 reads a tenth")));
        }
    }
    if let Some(objectives) = &plan.objectives {
        for (key, value) in [("objectives.rpo", objectives.rpo), ("objectives.rto", objectives.rto)] {
            if value.is_some_and(|d| d.is_zero()) {
                add(key, ProblemKind::ZeroObjective);
            }
        }
    }
    let mut references = vec![(String::new(), plan.password())];
    if let Some(source) = &plan.source {
        references.push(("source".to_owned(), source.password()));
    }
    references.extend(plan.copy_to.iter().enumerate().map(|(i, c)| (format!("copy-to[{i}]"), c.password())));
    for (table, reference) in references {
        reference.check(name, &table, problems);
    }
    if let Some(SourceConfig::Elasticsearch(es)) = &plan.source {
        SecretRef::new(es.api_key_file.clone(), es.api_key_env.clone()).check(name, "source.api-key", problems);
    }
}

fn check_source(source: &SourceConfig, add: &mut impl FnMut(&str, ProblemKind)) {
    let bad = |why: &str| ProblemKind::BadValue(why.to_owned());
    match source {
        SourceConfig::Files(files) => {
            if files.paths.is_empty() {
                add("source.paths", bad("no path to back up"));
            }
            // The patterns and tags parse now; the exclude files are read at each backup.
            let inline = FilesFilter { exclude_file: Vec::new(), iexclude_file: Vec::new(), ..files.filter() };
            if let Err(e) = inline.compile() {
                let key = match &e {
                    FilterError::BadTag { .. } => "source.exclude-if-present",
                    FilterError::BadPattern { origin, .. } if origin == "--iexclude" => "source.iexclude",
                    _ => "source.exclude",
                };
                add(key, ProblemKind::BadValue(e.to_string()));
            }
        }
        SourceConfig::Stdin(stdin) => {
            if stdin.command.first().is_none_or(|p| p.trim().is_empty()) {
                add("source.command", bad("no program to run (an argv list: [\"program\", \"arg\", ...])"));
            }
            if stdin.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
                add("source.name", bad("an empty stream name"));
            }
        }
        SourceConfig::Postgres(db) => {
            db_url(&db.url, &["postgres", "postgresql"], add);
            if db.schema_only && db.data_only {
                add("source.schema-only", ProblemKind::Conflicting { other: "source.data-only".into() });
            }
        }
        SourceConfig::Mysql(db) => {
            db_url(&db.url, &["mysql", "mariadb"], add);
            if db.schema_only && db.data_only {
                add("source.schema-only", ProblemKind::Conflicting { other: "source.data-only".into() });
            }
        }
        SourceConfig::Redis(redis) => {
            db_url(&redis.url, &["redis", "rediss"], add);
            if redis.mode.parse::<lifeboat_dump::RedisMode>().is_err() {
                add("source.mode", bad("must be \"rdb\" or \"logical\""));
            }
            if redis.key_pattern.is_some() && redis.mode != "logical" {
                add("source.key-pattern", bad("applies to mode = \"logical\" only"));
            }
        }
        SourceConfig::Elasticsearch(es) => {
            db_url(&es.url, &["http", "https"], add);
            for (key, value) in [("source.repository", &es.repository), ("source.policy", &es.policy)] {
                if value.trim().is_empty() {
                    add(key, bad("must not be empty"));
                }
            }
            let password = es.password_file.is_some() || es.password_env.is_some();
            let api_key = es.api_key_file.is_some() || es.api_key_env.is_some();
            if password && api_key {
                add("source.api-key-file", ProblemKind::Conflicting { other: "source.password-file".into() });
            }
            if password && es.username.is_none() {
                add("source.username", bad("a password needs a user name"));
            }
        }
    }
}

fn db_url(url: &str, schemes: &[&str], add: &mut impl FnMut(&str, ProblemKind)) {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !scheme.is_some_and(|s| schemes.contains(&s.as_str())) {
        let expected = schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(" or ");
        add("source.url", ProblemKind::BadValue(format!("must start with {expected}")));
    }
}

fn schedule(key: &str, table: Option<&ScheduleTable>, add: &mut impl FnMut(&str, ProblemKind)) {
    if let Err(e) = checked(table) {
        add(key, ProblemKind::BadSchedule(e.to_string()));
    }
}

/// Two repository URLs naming the same place: equal once a `file://` scheme and trailing
/// slashes are dropped.
fn same_repository(a: &str, b: &str) -> bool {
    fn normal(url: &str) -> &str {
        url.trim().strip_prefix("file://").unwrap_or(url.trim()).trim_end_matches('/')
    }
    normal(a) == normal(b)
}
