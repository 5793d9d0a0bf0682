//! Which retention policy forget applies: the caller's rules over the plan's configured
//! retention over the plan default, and a configuration that names no such plan is an error.

use std::path::Path;

use lifeboat_ops::ConfigError;
use lifeboat_ops::plans::{ResolvedPlan, resolve_plan};
use lifeboat_ops::policy::{PolicyOrigin, RequestedPolicy, choose_policy};
use lifeboat_retention::{KeepCount, Policy, RetentionError};

/// A plan that passes the checks (it has a repository and a source).
const WEB: &str = "[plans.web]\nrepository = \"/srv/repo\"\nsource = { kind = \"files\", paths = [\"/srv/www\"] }\n";

fn config_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lifeboat.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn plan(text: &str, name: &str) -> ResolvedPlan {
    let (_dir, path) = config_file(text);
    resolve_plan(Some(&path), Some(name)).unwrap().expect("both given: a plan")
}

fn keep_last(n: u32) -> RequestedPolicy {
    RequestedPolicy { rules: Policy { keep_last: KeepCount::N(n), ..Default::default() }, allow_empty: false }
}

#[test]
fn rules_given_win_over_the_plans_retention() {
    let web = plan(&format!("{WEB}[plans.web.retention]\nkeep-daily = 14\n"), "web");
    let chosen = choose_policy(&keep_last(3), Some(&web)).unwrap();
    assert_eq!(chosen.origin, PolicyOrigin::Requested);
    assert_eq!(chosen.policy.keep_last, KeepCount::N(3));
    assert_eq!(chosen.policy.keep_daily, KeepCount::OFF, "the plan's rules are not merged in");
}

#[test]
fn without_rules_the_plans_retention_applies() {
    let web = plan(&format!("{WEB}[plans.web.retention]\nkeep-daily = 14\n"), "web");
    let chosen = choose_policy(&RequestedPolicy::default(), Some(&web)).unwrap();
    assert_eq!(chosen.origin, PolicyOrigin::Plan { name: "web".into() });
    assert_eq!(chosen.policy, Policy { keep_daily: KeepCount::N(14), ..Default::default() });
}

#[test]
fn a_plan_without_retention_gets_the_plan_default() {
    let web = plan(WEB, "web");
    let chosen = choose_policy(&RequestedPolicy::default(), Some(&web)).unwrap();
    assert_eq!(chosen.policy, Policy::plan_default());
    assert_eq!(chosen.origin, PolicyOrigin::Plan { name: "web".into() });
}

#[test]
fn an_empty_policy_asked_for_on_purpose_wins_over_the_plan() {
    let web = plan(&format!("{WEB}[plans.web.retention]\nkeep-daily = 14\n"), "web");
    let everything = RequestedPolicy { rules: Policy::default(), allow_empty: true };
    let chosen = choose_policy(&everything, Some(&web)).unwrap();
    assert_eq!(chosen.origin, PolicyOrigin::Requested);
    assert!(chosen.policy.is_empty());
}

#[test]
fn no_rules_and_no_plan_is_no_policy() {
    let err = choose_policy(&RequestedPolicy::default(), None).unwrap_err();
    assert!(matches!(err, RetentionError::EmptyPolicy), "{err:?}");
}

#[test]
fn a_plan_is_resolved_only_when_both_file_and_name_are_given() {
    let (_dir, path) = config_file(WEB);
    assert!(resolve_plan(None, Some("web")).unwrap().is_none());
    assert!(resolve_plan(Some(&path), None).unwrap().is_none());
    let web = resolve_plan(Some(&path), Some("web")).unwrap().unwrap();
    assert_eq!(web.name, "web");
    assert_eq!(web.origin, path.display().to_string());
}

#[test]
fn a_plan_the_file_does_not_define_is_a_typed_error() {
    let (_dir, path) = config_file(&format!("{WEB}{}", WEB.replace("web", "db")));
    let err = resolve_plan(Some(&path), Some("mail")).unwrap_err();
    assert!(matches!(&err, ConfigError::NoSuchPlan { plan, .. } if plan == "mail"), "{err:?}");
    let err = resolve_plan(Some(Path::new("/nonexistent/lifeboat.toml")), Some("web")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
}
