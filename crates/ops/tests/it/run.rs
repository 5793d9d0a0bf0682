//! Running a plan by name (lifeboat_ops::run): a stdin plan's command into the repository
//! with the plan's name and tags, nothing recorded when the command fails, the plan's
//! retention applied after each run, secrets kept out of the command's environment, and
//! Elasticsearch plans refused with where they run.

use futures::TryStreamExt;
use lifeboat_ops::Config;
use lifeboat_ops::plans::ResolvedPlan;
use lifeboat_ops::run::{RunError, RunRequest, run_plan};
use lifeboat_repo::Manifest;

use crate::common::TestRepo;

fn plan(name: &str, text: &str) -> ResolvedPlan {
    let config = Config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    ResolvedPlan {
        name: name.into(),
        origin: "test.toml".into(),
        config: config.plan(name, "test.toml").unwrap().clone(),
    }
}

fn stdin_plan(command: &str, extra: &str) -> ResolvedPlan {
    plan(
        "app",
        &format!(
            "[plans.app]\nrepository = \"/unused\"\ntags = [\"nightly\", \"app\"]\n{extra}\n[plans.app.source]\nkind = \"stdin\"\ncommand = {command}\nname = \"app.out\"\n"
        ),
    )
}

async fn content(test: &TestRepo, manifest: &Manifest) -> Vec<u8> {
    let stream = test.repo.open_object(&manifest.objects[0]).await.unwrap();
    stream
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stdin_plan_backs_up_its_commands_output_with_the_plans_name_and_tags() {
    let test = TestRepo::new().await;
    let app = stdin_plan("[\"printf\", \"%s-%s\", \"hello\", \"plan\"]", "forget-after-backup = false");
    let report = run_plan(&test.repo, &app, &RunRequest::default()).await.unwrap();
    assert_eq!(report.plan, "app");
    assert_eq!(report.backup.plan.as_deref(), Some("app"));
    assert_eq!(report.backup.tags, ["nightly", "app"]);
    assert_eq!(report.backup.name, "app.out");
    assert!(report.forget.is_none(), "forget-after-backup = false applies no retention");
    assert_eq!(content(&test, &report.backup).await, b"hello-plan");
    assert_eq!(test.listed().await, vec![report.backup.id.clone()]);
}

#[tokio::test]
async fn a_failing_command_records_nothing_and_says_why() {
    let test = TestRepo::new().await;
    let app = stdin_plan("[\"sh\", \"-c\", \"echo partial; echo broken dump >&2; exit 3\"]", "");
    let err = run_plan(&test.repo, &app, &RunRequest::default()).await.unwrap_err();
    assert!(matches!(err, RunError::Command { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("\"app\"") && message.contains("broken dump") && message.contains('3'), "{message}");
    test.assert_empty_after_failure("failing command").await;

    let missing = stdin_plan("[\"/nonexistent/lifeboat-dump-tool\"]", "");
    let err = run_plan(&test.repo, &missing, &RunRequest::default()).await.unwrap_err();
    assert!(err.to_string().contains("cannot start `/nonexistent/lifeboat-dump-tool`"), "{err}");
    test.assert_empty_after_failure("missing program").await;
}

#[tokio::test]
async fn the_plans_retention_is_applied_after_each_run() {
    let test = TestRepo::new().await;
    let app = stdin_plan("[\"echo\", \"x\"]", "retention = { keep-last = 2 }");
    let mut made = Vec::new();
    for _ in 0..3 {
        let report = run_plan(&test.repo, &app, &RunRequest::default()).await.unwrap();
        made.push(report.backup.id.clone());
        assert!(report.forget.is_some());
        if made.len() == 3 {
            assert_eq!(report.forgotten, vec![made[0].clone()], "the oldest of three goes with keep-last = 2");
        } else {
            assert!(report.forgotten.is_empty(), "{:?}", report.forgotten);
        }
    }
    let mut listed = test.listed().await;
    listed.sort();
    let mut kept = made[1..].to_vec();
    kept.sort();
    assert_eq!(listed, kept);
}

#[tokio::test]
async fn the_command_does_not_see_scrubbed_variables() {
    let test = TestRepo::new().await;
    let app = stdin_plan("[\"sh\", \"-c\", \"printf %s \\\"${HOME-scrubbed}\\\"\"]", "forget-after-backup = false");
    let home = std::env::var("HOME").expect("the tests run with HOME set");
    let control = run_plan(&test.repo, &app, &RunRequest::default()).await.unwrap();
    assert_eq!(content(&test, &control.backup).await, home.as_bytes(), "unscrubbed, the command sees HOME");
    let request = RunRequest { scrub_env: vec!["HOME".into()], ..Default::default() };
    let report = run_plan(&test.repo, &app, &request).await.unwrap();
    assert_eq!(content(&test, &report.backup).await, b"scrubbed");

    // A variable the plan takes a secret from is scrubbed without being asked.
    let app = stdin_plan(
        "[\"sh\", \"-c\", \"printf %s \\\"${HOME-scrubbed}\\\"\"]",
        "forget-after-backup = false\npassword-env = \"HOME\"",
    );
    let report = run_plan(&test.repo, &app, &RunRequest::default()).await.unwrap();
    assert_eq!(content(&test, &report.backup).await, b"scrubbed");
}

#[tokio::test]
async fn an_elasticsearch_plan_says_where_it_runs() {
    let test = TestRepo::new().await;
    let logs = plan(
        "logs",
        "[plans.logs.source]\nkind = \"elasticsearch\"\nurl = \"https://es:9200\"\nrepository = \"r\"\npolicy = \"p\"\n",
    );
    let early = lifeboat_ops::run::check_runs_here(&logs).unwrap_err();
    assert!(matches!(early, RunError::RunsInCluster { .. }), "{early:?}");
    lifeboat_ops::run::check_runs_here(&stdin_plan("[\"true\"]", "")).unwrap();
    let err = run_plan(&test.repo, &logs, &RunRequest::default()).await.unwrap_err();
    assert!(matches!(err, RunError::RunsInCluster { .. }), "{err:?}");
    assert!(err.to_string().contains("lifeboatd") && err.to_string().contains("lifeboat es"), "{err}");
    assert!(test.listed().await.is_empty());
}
