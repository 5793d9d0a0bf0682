//! The configuration file: the annotated example in docs/ loads and passes every check, and
//! each refusal (inline secrets, unknown keys, missing file, the semantic checks) is an error
//! that names the plan, the key and (where the parser knows it) the line, never the secret.

use std::path::{Path, PathBuf};

use lifeboat_ops::config::{SourceConfig, StdinSource};
use lifeboat_ops::schedule::Span;
use lifeboat_ops::{Config, ConfigError, Problem, ProblemKind};
use lifeboat_retention::{Duration, KeepCount};

const SECRET: &str = "hunter2-s3cr3t";

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/lifeboat.example.toml")
}

/// The problems of an invalid document (fails the test if it parses).
fn problems(text: &str) -> (String, Vec<Problem>) {
    match Config::parse(text, "lifeboat.toml") {
        Ok(config) => panic!("accepted:\n{text}\n{config:?}"),
        Err(e) => (e.to_string(), e.problems().to_vec()),
    }
}

fn has(problems: &[Problem], plan: &str, key: &str, kind: impl Fn(&ProblemKind) -> bool) -> bool {
    problems.iter().any(|p| p.plan.as_deref() == Some(plan) && p.key == key && kind(&p.kind))
}

const GOOD_PLAN: &str =
    "[plans.web]\nrepository = \"/srv/repo\"\nsource = { kind = \"files\", paths = [\"/srv/www\"] }\n";

#[test]
fn the_example_file_loads_with_its_four_plans() {
    let config = Config::load(&example_path()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = config.plans.keys().map(String::as_str).collect();
    assert_eq!(names, ["files", "logs", "orders-db", "sessions"]);

    let files = &config.plans["files"];
    assert!(
        matches!(&files.source, Some(SourceConfig::Files(f)) if f.one_file_system && f.exclude_caches && f.exclude.len() == 2)
    );
    assert_eq!(
        (files.retention.keep_daily, files.retention.keep_weekly, files.retention.keep_monthly),
        (KeepCount::N(7), KeepCount::N(4), KeepCount::N(12))
    );
    assert_eq!(files.copy_to.len(), 1);
    assert!(files.copy_to[0].runs_after_backup());
    assert_eq!(files.copy_to[0].password().env.as_deref(), Some("LIFEBOAT_OFFSITE_PASSWORD"));
    assert!(files.schedule_spec().unwrap().is_some());
    assert_eq!(files.verify.as_ref().and_then(|v| v.deep_fraction), Some(0.1));
    assert_eq!(files.objectives.as_ref().and_then(|o| o.rpo), Some(Span::from_seconds(86_400)));
    // Objectives are elapsed time: a Redis RPO of 15 minutes is "15m", not fifteen months.
    let sessions = &config.plans["sessions"];
    assert_eq!(sessions.objectives.as_ref().and_then(|o| o.rpo), Some(Span::from_seconds(15 * 60)));
    assert!(files.forget_after_backup);

    let pg = &config.plans["orders-db"];
    assert!(matches!(&pg.source, Some(SourceConfig::Postgres(p)) if p.password_file.is_some()));
    assert_eq!(pg.schedule.as_ref().and_then(|s| s.every.as_deref()), Some("1h"));

    let redis = &config.plans["sessions"];
    assert!(matches!(&redis.source, Some(SourceConfig::Redis(r)) if r.mode == "rdb"));
    assert_eq!(redis.schedule.as_ref().and_then(|s| s.every.as_deref()), Some("15m"));

    let es = &config.plans["logs"];
    assert!(matches!(&es.source, Some(SourceConfig::Elasticsearch(e)) if e.policy == "nightly-logs"));
    assert_eq!(es.schedule.as_ref().and_then(|s| s.cron.as_deref()), Some("0 2 * * *"));
    assert_eq!(es.retention.keep_within, Some(Duration::days(7)));
    assert!(es.repository.is_none(), "an Elasticsearch plan needs no Lifeboat repository");
}

#[test]
fn an_inline_password_is_refused_by_plan_and_key_without_echoing_it() {
    let text = format!(
        "{GOOD_PLAN}[plans.db]\nrepository = \"/srv/db\"\n[plans.db.source]\nkind = \"postgres\"\nurl = \"postgres://app@db/x\"\npassword = \"{SECRET}\"\n"
    );
    let (message, found) = problems(&text);
    assert!(!message.contains(SECRET), "the secret is echoed: {message}");
    assert!(has(&found, "db", "source.password", |k| matches!(k, ProblemKind::InlineSecret { .. })), "{found:?}");
    assert_eq!(found.len(), 1, "reported once, as a secret: {found:?}");
    assert!(message.contains("line 9") && message.contains("password-file"), "{message}");
}

#[test]
fn urls_with_passwords_are_refused_wherever_they_are() {
    let text = format!(
        "[plans.db]\nrepository = \"webdav://u:{SECRET}@dav/x\"\n[plans.db.source]\nkind = \"mysql\"\nurl = \"mysql://root:{SECRET}@db/x\"\n[[plans.db.copy-to]]\nrepository = \"s3://AKIA{SECRET}@bucket/x\"\n"
    );
    let (message, found) = problems(&text);
    assert!(!message.contains(SECRET), "the secret is echoed: {message}");
    for key in ["repository", "source.url", "copy-to[0].repository"] {
        assert!(has(&found, "db", key, |k| matches!(k, ProblemKind::InlineSecret { .. })), "{key}: {found:?}");
    }
}

#[test]
fn a_password_written_into_password_env_is_refused_without_echoing_it() {
    let text = format!("{GOOD_PLAN}password-env = \"{SECRET} x\"\n");
    let (message, found) = problems(&text);
    assert!(!message.contains(SECRET), "{message}");
    assert!(has(&found, "web", "password-env", |k| matches!(k, ProblemKind::BadValue(_))), "{found:?}");
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let text = format!("{GOOD_PLAN}tag = [\"x\"]\n");
    let (message, found) = problems(&text);
    assert!(has(&found, "web", "tag", |k| matches!(k, ProblemKind::UnknownKey { .. })), "{found:?}");
    assert!(message.contains("line 4") && message.contains("`tag`"), "{message}");

    // Inside a source table the parser points at the header; the key's own line is found.
    let text = "[plans.web]\nrepository = \"/r\"\n\n[plans.web.source]\nkind = \"files\"\npaths = [\"/a\"]\nexclude-cache = true\n";
    let (message, found) = problems(text);
    assert_eq!(found.first().map(|p| (p.key.as_str(), p.line)), Some(("source.exclude-cache", Some(7))), "{message}");
    assert!(message.contains("exclude-caches"), "the allowed keys are listed: {message}");
}

#[test]
fn a_missing_config_file_is_a_read_error_naming_it() {
    let missing = Path::new("/nonexistent/lifeboat-config-test.toml");
    let err = Config::load(missing).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/lifeboat-config-test.toml"), "{err}");
}

/// A plan, a key, and what the problem there must be.
type Expected = (&'static str, &'static str, fn(&ProblemKind) -> bool);

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let text = "\
[plans.empty]
tags = [\"x\"]

[plans.loop]
repository = \"file:///srv/backups/a/\"
source = { kind = \"stdin\", command = [\"pg_dumpall\"] }
schedule = { every = \"soon\" }
copy-to = [{ repository = \"/srv/backups/a\" }, { repository = \"/srv/b\", after-backup = false }]
verify = { quick = { cron = \"61 * * * *\" }, deep-fraction = 1.5 }
objectives = { rpo = \"0h\", rto = \"0d\" }

[plans.es]
source = { kind = \"elasticsearch\", url = \"https://es:9200\", repository = \"r\", policy = \"p\" }
copy-to = [{ repository = \"/srv/es-copy\" }]

[plans.walk]
repository = \"/srv/walk\"
source = { kind = \"files\", paths = [\"/srv\"], exclude-if-present = [\"a/b\"] }
";
    let (message, found) = problems(text);
    let expect: &[Expected] = &[
        ("empty", "repository", |k| *k == ProblemKind::MissingRepository),
        ("empty", "source", |k| *k == ProblemKind::MissingSource),
        ("loop", "schedule", |k| matches!(k, ProblemKind::BadSchedule(m) if m.contains("every"))),
        ("loop", "copy-to[0].repository", |k| *k == ProblemKind::CopyToIsPrimary),
        ("loop", "copy-to[1]", |k| *k == ProblemKind::CopyNeverRuns),
        ("loop", "verify.quick", |k| matches!(k, ProblemKind::BadSchedule(m) if m.contains("cron"))),
        ("loop", "verify.deep-fraction", |k| matches!(k, ProblemKind::BadValue(_))),
        ("loop", "objectives.rpo", |k| *k == ProblemKind::ZeroObjective),
        ("loop", "objectives.rto", |k| *k == ProblemKind::ZeroObjective),
        ("es", "copy-to", |k| matches!(k, ProblemKind::BadValue(m) if m.contains("cluster"))),
        ("walk", "source.exclude-if-present", |k| matches!(k, ProblemKind::BadValue(m) if m.contains("a/b"))),
    ];
    for (plan, key, kind) in expect {
        assert!(has(&found, plan, key, kind), "no problem for plan {plan} key {key}:\n{message}");
    }
    assert_eq!(found.len(), expect.len(), "{message}");
}

#[test]
fn a_stdin_stream_is_named_after_its_program_unless_named() {
    let stdin = StdinSource { command: vec!["/usr/bin/pg_dumpall".into(), "-g".into()], name: None };
    assert_eq!(stdin.stream_name(), "pg_dumpall");
    let named = StdinSource { name: Some("globals.sql".into()), ..stdin };
    assert_eq!(named.stream_name(), "globals.sql");
}

/// Every key the example uses is documented in docs/CONFIG.md (as `key`).
#[test]
fn every_key_of_the_example_is_documented() {
    let example = std::fs::read_to_string(example_path()).unwrap();
    let doc = std::fs::read_to_string(example_path().with_file_name("CONFIG.md")).unwrap();
    let table: toml::Table = toml::from_str(&example).unwrap();
    let mut keys = std::collections::BTreeSet::new();
    fn collect(value: &toml::Value, depth: usize, keys: &mut std::collections::BTreeSet<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    // depth 1 holds the plan names, which are the example's own.
                    if depth != 1 {
                        keys.insert(k.clone());
                    }
                    collect(v, depth + 1, keys);
                }
            }
            toml::Value::Array(items) => items.iter().for_each(|v| collect(v, depth, keys)),
            _ => {}
        }
    }
    collect(&toml::Value::Table(table), 0, &mut keys);
    assert!(keys.len() > 30, "{keys:?}");
    let missing: Vec<_> = keys.iter().filter(|k| !doc.contains(&format!("`{k}`"))).collect();
    assert!(missing.is_empty(), "keys of the example not documented in CONFIG.md: {missing:?}");
}
