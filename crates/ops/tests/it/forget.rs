//! Forget as plan-then-apply: the plan lists exactly what apply removes, a dry plan
//! changes nothing, and a plan that no longer matches the repository removes nothing.

use lifeboat_ops::forget::{self, ForgetError, ForgetPlan, ForgetRequest};
use lifeboat_repo::BackupRequest;
use lifeboat_retention::chrono::{DateTime, TimeZone, Utc};
use lifeboat_retention::{GroupBy, KeepCount, Policy};
use lifeboat_storage::clock::Clock;

use crate::common::TestRepo;

/// A clock stuck at one instant, so a plan's time is the test's.
#[derive(Debug)]
struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn clock() -> FixedClock {
    FixedClock(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())
}

fn keep_last(n: u32, plan: &str) -> ForgetRequest {
    ForgetRequest {
        plan: Some(plan.into()),
        policy: Policy { keep_last: KeepCount::N(n), ..Default::default() },
        group_by: GroupBy::default(),
        allow_empty: false,
        within: Default::default(),
    }
}

/// `count` stream backups of `plan`; returns their ids, oldest first.
async fn backups(t: &TestRepo, plan: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let request = BackupRequest { plan: Some(plan.into()), name: format!("{plan}-{i}"), ..Default::default() };
        ids.push(t.repo.backup_stream(&b"forget me not"[..], request).await.unwrap().id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_lists_exactly_what_apply_removes() {
    let t = TestRepo::new().await;
    let web = backups(&t, "web", 5).await;
    let db = backups(&t, "db", 2).await;

    let plan = forget::plan(&t.repo, &keep_last(2, "web"), &clock()).await.unwrap();
    let mut remove = plan.remove.clone();
    remove.sort();
    let mut expected = web[..3].to_vec();
    expected.sort();
    assert_eq!(remove, expected, "keep-last 2 of 5 forgets the 3 oldest of the plan, and only of the plan");
    let kept: Vec<&str> = plan.kept().map(|d| d.id.as_str()).collect();
    assert_eq!(kept.len(), 2);
    assert!(web[3..].iter().all(|id| kept.contains(&id.as_str())), "{kept:?}");
    assert_eq!(plan.planned_at, clock().0, "the plan is judged at the injected clock's time");
    assert_eq!(plan.repository, t.repo.id());

    assert_eq!(t.listed().await.len(), 7, "planning changes nothing");
    let removed = forget::apply(&t.repo, &plan).await.unwrap();
    assert_eq!(removed, plan.remove);
    let mut left = t.listed().await;
    left.sort();
    let mut expected: Vec<String> = web[3..].iter().chain(&db).cloned().collect();
    expected.sort();
    assert_eq!(left, expected, "apply removed exactly the planned backups");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_a_value_that_survives_json() {
    let t = TestRepo::new().await;
    backups(&t, "web", 3).await;
    let plan = forget::plan(&t.repo, &keep_last(1, "web"), &clock()).await.unwrap();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["remove"].as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(json["groups"][0]["decisions"].as_array().map(Vec::len), Some(3), "{json}");
    let back: ForgetPlan = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan);
    forget::apply(&t.repo, &back).await.unwrap();
    assert_eq!(t.listed().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_plan_is_refused_and_removes_nothing() {
    let t = TestRepo::new().await;
    backups(&t, "web", 4).await;
    let plan = forget::plan(&t.repo, &keep_last(1, "web"), &clock()).await.unwrap();
    assert_eq!(plan.remove.len(), 3);
    let gone = plan.remove[1].clone();
    t.repo.forget(std::slice::from_ref(&gone)).await.unwrap();

    let err = forget::apply(&t.repo, &plan).await.unwrap_err();
    match &err {
        ForgetError::Stale { missing } => assert_eq!(missing, &vec![gone.clone()]),
        other => panic!("expected a stale plan, got {other:?}"),
    }
    assert!(err.to_string().contains(&gone), "{err}");
    assert_eq!(t.listed().await.len(), 3, "a stale plan removed something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_applies_to_its_own_repository_only() {
    let a = TestRepo::new().await;
    let b = TestRepo::new().await;
    backups(&a, "web", 2).await;
    backups(&b, "web", 2).await;
    let plan = forget::plan(&a.repo, &keep_last(1, "web"), &clock()).await.unwrap();
    let err = forget::apply(&b.repo, &plan).await.unwrap_err();
    assert!(matches!(err, ForgetError::WrongRepository { .. }), "{err:?}");
    assert_eq!(b.listed().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_naming_anything_but_backup_ids_removes_nothing() {
    let t = TestRepo::new().await;
    backups(&t, "web", 2).await;
    let mut plan = forget::plan(&t.repo, &keep_last(1, "web"), &clock()).await.unwrap();
    plan.remove.push("../config".into());
    let err = forget::apply(&t.repo, &plan).await.unwrap_err();
    assert!(matches!(&err, ForgetError::NotABackupId { id } if id == "../config"), "{err:?}");
    assert_eq!(t.listed().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_policy_needs_a_plan() {
    let t = TestRepo::new().await;
    backups(&t, "web", 2).await;
    let everything = ForgetRequest {
        plan: None,
        policy: Policy::default(),
        group_by: GroupBy::default(),
        allow_empty: true,
        within: Default::default(),
    };
    let err = forget::plan(&t.repo, &everything, &clock()).await.unwrap_err();
    assert!(matches!(err, ForgetError::EmptyPolicyWithoutPlan), "{err:?}");

    let web = ForgetRequest { plan: Some("web".into()), ..everything };
    let plan = forget::plan(&t.repo, &web, &clock()).await.unwrap();
    assert_eq!(plan.remove.len(), 2, "with allow_empty and a plan, every backup of the plan goes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_plan_applies_as_a_no_op() {
    let t = TestRepo::new().await;
    backups(&t, "web", 2).await;
    let plan = forget::plan(&t.repo, &keep_last(5, "web"), &clock()).await.unwrap();
    assert!(plan.remove.is_empty());
    assert_eq!(forget::apply(&t.repo, &plan).await.unwrap(), Vec::<String>::new());
    assert_eq!(t.listed().await.len(), 2);
}
