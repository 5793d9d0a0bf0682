//! `lifeboat run NAME` and `lifeboat backup --plan NAME`: plans of a config file run by name
//! end to end (a files plan, a PostgreSQL plan against the test server), with the plan's
//! repository, password reference, tags and retention; an Elasticsearch plan in the cluster
//! (the test double); an unknown plan, a missing config file and an inline secret are
//! one-line errors with a non-zero exit code.

use std::path::{Path, PathBuf};

use lifeboat_testkit::datasets::{pg_dataset, pg_fingerprint};
use lifeboat_testkit::{Cleanup, R, Redis, password_of, service_url, unique, with_path, without_password};

use crate::common::{EXIT_FAILURE, Env, Out, PASSWORD, snapshot};

/// A repository (initialised), its password in a file, and a config file at `<tmp>/lifeboat.toml`.
struct PlanEnv {
    env: Env,
    config: PathBuf,
}

impl PlanEnv {
    fn new(plans: &str) -> PlanEnv {
        let env = Env::init();
        let password_file = env.path("repo.pw");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        let config = env.path("lifeboat.toml");
        let text = plans
            .replace("@REPO@", &env.repo.display().to_string())
            .replace("@PASSWORD_FILE@", &password_file.display().to_string());
        std::fs::write(&config, text).unwrap();
        PlanEnv { env, config }
    }

    /// `lifeboat --config FILE ARGS` with no LIFEBOAT_REPO / LIFEBOAT_PASSWORD: everything
    /// comes from the plan.
    fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, &[])
    }

    /// [`run`](Self::run) with these environment variables set.
    fn run_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Out {
        let mut cmd = crate::common::lifeboat();
        cmd.env("LIFEBOAT_STATE_DIR", self.env.state_dir()).arg("--config").arg(&self.config).args(args);
        cmd.envs(vars.iter().copied());
        let out = crate::common::run(cmd, b"");
        out.no_panic();
        out
    }

    /// `list --json` of the plan's repository, through the usual flags.
    fn listed(&self) -> serde_json::Value {
        let out = self.env.run(&["list", "--json"], b"");
        out.ok();
        out.json()
    }
}

/// Asserts a failure of one line (plus nothing else) on stderr that mentions every needle.
#[track_caller]
fn one_line_error(out: &Out, needles: &[&str]) {
    out.code(EXIT_FAILURE);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "`{}`: expected one line on stderr:\n{}", out.what, out.stderr);
    for needle in needles {
        out.stderr_has(needle);
    }
}

fn files_plan(data: &Path) -> String {
    format!(
        "[plans.site]\nrepository = \"@REPO@\"\npassword-file = \"@PASSWORD_FILE@\"\ntags = [\"nightly\", \"site\"]\n\
         retention = {{ keep-last = 1 }}\n\n[plans.site.source]\nkind = \"files\"\npaths = [\"{}\"]\nexclude = [\"*.tmp\"]\n",
        data.display()
    )
}

#[test]
fn a_files_plan_runs_by_name_with_its_repository_tags_and_retention() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("site");
    std::fs::create_dir_all(data.join("docs")).unwrap();
    std::fs::write(data.join("index.html"), b"<h1>lifeboat</h1>").unwrap();
    std::fs::write(data.join("docs/guide.txt"), crate::common::random_bytes(200_000, 7)).unwrap();
    std::fs::write(data.join("docs/draft.tmp"), b"left out by the plan's exclude").unwrap();
    let plan = PlanEnv::new(&files_plan(&data));

    let first = plan.run(&["run", "site", "--json"]);
    first.ok();
    let first = first.json();
    assert_eq!(first["plan"], "site");
    assert_eq!(first["backup"]["plan"], "site");
    assert_eq!(first["backup"]["kind"], "files");
    assert_eq!(first["backup"]["tags"], serde_json::json!(["nightly", "site"]));
    assert_eq!(first["forgotten"], serde_json::json!([]));

    // The same plan through `backup --plan`: keep-last = 1 forgets the first run.
    std::fs::write(data.join("index.html"), b"<h1>lifeboat, again</h1>").unwrap();
    let second = plan.run(&["backup", "--plan", "site", "--json"]);
    second.ok();
    let second = second.json();
    assert_eq!(second["forgotten"], serde_json::json!([first["backup"]["id"]]));
    let listed = plan.listed();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], second["backup"]["id"]);

    let target = plan.env.path("restored");
    plan.env.run(&["restore", "latest", "--target", target.to_str().unwrap()], b"").ok();
    let restored = target.join(data.strip_prefix("/").unwrap());
    let mut expected = snapshot(&data);
    assert!(expected.remove(Path::new("docs/draft.tmp")).is_some());
    assert_eq!(snapshot(&restored), expected, "the restored tree is not the plan's source without its excludes");
}

#[test]
fn a_postgres_plan_runs_by_name_with_its_password_from_a_file() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let password = password_of(&url);
    let (src, dst) = (unique("lbcli_plan_src"), unique("lbcli_plan_dst"));
    let _cleanup = Cleanup::pg(&url, &[&src, &dst]);
    pg_dataset(&url, &src, 2_000);
    let before = pg_fingerprint(&url, &src);

    let scratch = tempfile::tempdir().unwrap();
    let db_password = scratch.path().join("pg.pw");
    std::fs::write(&db_password, format!("{password}\n")).unwrap();
    let config = format!(
        "[plans.orders]\nrepository = \"@REPO@\"\npassword-file = \"@PASSWORD_FILE@\"\ntags = [\"hourly\"]\n\n\
         [plans.orders.source]\nkind = \"postgres\"\nurl = \"{}\"\npassword-file = \"{}\"\n",
        without_password(&with_path(&url, &src)),
        db_password.display()
    );
    let plan = PlanEnv::new(&config);

    let out = plan.run(&["run", "orders", "--json"]);
    out.ok();
    assert!(!out.all().contains(&password), "the run shows the database password:\n{}", out.all());
    let json = out.json();
    assert_eq!(json["backup"]["kind"], "postgres");
    assert_eq!(json["backup"]["plan"], "orders");
    assert_eq!(json["backup"]["tags"], serde_json::json!(["hourly"]));
    assert_eq!(json["backup"]["objects"][0]["name"], format!("db/{src}.pgdump"));

    let restore_to = without_password(&with_path(&url, &dst));
    let pwfile = db_password.to_str().unwrap();
    plan.env.run(&["restore", "latest", "--to", &restore_to, "--create", "--db-password-file", pwfile], b"").ok();
    assert_eq!(pg_fingerprint(&url, &dst), before);
}

#[test]
fn an_unknown_plan_is_one_line_naming_the_plans_there_are() {
    let plan = PlanEnv::new(&files_plan(Path::new("/srv/www")));
    one_line_error(&plan.run(&["run", "sight"]), &["\"sight\"", "defined: site"]);
    one_line_error(&plan.run(&["backup", "--plan", "sight"]), &["\"sight\""]);
    // The label of `backup <kind> --plan` is checked against the config too.
    one_line_error(&plan.run(&["backup", "stdin", "--name", "x", "--plan", "sight"]), &["\"sight\""]);
}

#[test]
fn a_missing_config_file_given_explicitly_is_an_error() {
    let env = Env::init();
    let missing = env.path("no-such-lifeboat.toml");
    for args in [&["run", "site"][..], &["backup", "--plan", "site"], &["forget", "--keep-last", "1"]] {
        let mut cmd = env.cmd(args);
        cmd.arg("--config").arg(&missing);
        let out = crate::common::run(cmd, b"");
        one_line_error(&out, &["cannot read config file", "no-such-lifeboat.toml"]);
    }
    // A plan asked for without any config file says how to give one.
    one_line_error(&env.run(&["run", "site"], b""), &["\"site\"", "--config"]);
}

#[test]
fn an_inline_secret_in_the_config_is_refused_without_echoing_it() {
    let secret = "plan-test-s3cr3t";
    let plan = PlanEnv::new(&format!("{}password = \"{secret}\"\n", files_plan(Path::new("/srv/www"))));
    let out = plan.run(&["run", "site"]);
    one_line_error(&out, &["plan \"site\"", "source.password", "password-file"]);
    assert!(!out.all().contains(secret), "the secret is echoed:\n{}", out.all());
}

#[test]
fn a_plans_copy_to_receives_each_backup_after_the_run() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("site");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("index.html"), b"<h1>off-site</h1>").unwrap();
    let offsite = Env::init();
    let config = format!(
        "{}\n[[plans.site.copy-to]]\nrepository = \"{}\"\npassword-file = \"@PASSWORD_FILE@\"\n",
        files_plan(&data),
        offsite.repo.display()
    );
    let plan = PlanEnv::new(&config);
    let out = plan.run(&["run", "site", "--json"]);
    out.ok();
    let json = out.json();
    let id = json["backup"]["id"].as_str().unwrap().to_owned();
    assert_eq!(json["copies"][0]["report"]["copied"], serde_json::json!([id]), "{json}");
    assert_eq!(offsite.list_ids(), vec![id.clone()], "the off-site repository does not hold the backup");
    let text = plan.run(&["run", "site"]);
    text.ok();
    assert!(text.text().contains(&format!("copied to {}", offsite.repo.display())), "{}", text.text());
}

#[test]
fn a_redis_plan_runs_by_name_with_its_password_from_a_variable() {
    let url = service_url("LIFEBOAT_TEST_REDIS_URL");
    let password = password_of(&url);
    let prefix = unique("lbcli_plan_redis");
    let pattern = format!("{prefix}*");
    let (src_url, dst_url) = (with_path(&url, "/13"), with_path(&url, "/14"));
    {
        let mut r = Redis::connect(&src_url);
        assert_eq!(r.cmd(&[b"SET", format!("{prefix}:a").as_bytes(), b"plan"]), R::Simple("OK".into()));
        r.cmd(&[b"RPUSH", format!("{prefix}:l").as_bytes(), b"x", b"y"]);
        Redis::connect(&dst_url).clear(pattern.as_bytes());
    }
    let before = Redis::connect(&src_url).snapshot_by_key(pattern.as_bytes());
    let config = format!(
        "[plans.cache]\nrepository = \"@REPO@\"\npassword-file = \"@PASSWORD_FILE@\"\n\n[plans.cache.source]\n\
         kind = \"redis\"\nurl = \"{}\"\npassword-env = \"LB_TEST_PLAN_REDIS_PASSWORD\"\nmode = \"logical\"\nkey-pattern = \"{pattern}\"\n",
        without_password(&src_url)
    );
    let plan = PlanEnv::new(&config);
    let out = plan.run_with(&["run", "cache", "--json"], &[("LB_TEST_PLAN_REDIS_PASSWORD", &password)]);
    out.ok();
    assert!(!out.all().contains(&password), "{}", out.all());
    assert_eq!(out.json()["backup"]["kind"], "redis");
    assert_eq!(out.json()["backup"]["objects"][0]["name"], "redis.logical");

    // Without the variable the plan names, the run says which one is missing.
    let out = plan.run(&["run", "cache"]);
    one_line_error(&out, &["plan \"cache\"", "LB_TEST_PLAN_REDIS_PASSWORD"]);

    plan.env.run(&["restore", "latest", "--to", &dst_url], b"").ok();
    assert_eq!(Redis::connect(&dst_url).snapshot_by_key(pattern.as_bytes()), before);
    Redis::connect(&src_url).clear(pattern.as_bytes());
    Redis::connect(&dst_url).clear(pattern.as_bytes());
}

#[test]
fn a_stdin_plans_command_sees_no_secret_variable_of_any_plan() {
    let config = "[plans.dump]\nrepository = \"@REPO@\"\npassword-file = \"@PASSWORD_FILE@\"\n\
                  source = { kind = \"stdin\", command = [\"sh\", \"-c\", \"printf '%s|%s' \\\"${LB_TEST_OTHER_PW-gone}\\\" \\\"${LB_TEST_PLAIN-gone}\\\"\"], name = \"env.txt\" }\n\n\
                  [plans.other]\nrepository = \"/srv/other\"\npassword-env = \"LB_TEST_OTHER_PW\"\n\
                  source = { kind = \"files\", paths = [\"/srv\"] }\n";
    let plan = PlanEnv::new(config);
    let vars = [("LB_TEST_OTHER_PW", "other-plan-secret"), ("LB_TEST_PLAIN", "visible"), ("LIFEBOAT_TOKEN", "t")];
    let out = plan.run_with(&["run", "dump", "--json"], &vars);
    out.ok();
    let id = out.json()["backup"]["id"].as_str().unwrap().to_owned();
    let restored = plan.env.restore_stdout(&id);
    assert_eq!(String::from_utf8_lossy(&restored), "gone|visible", "the command saw another plan's secret variable");
}

/// An Elasticsearch plan of the config on the double at `url`: snapshot in the cluster,
/// the plan's retention after.
fn es_plan_config(url: &str, state: &Path) -> String {
    format!(
        "[plans.logs]\nschedule = {{ cron = \"0 2 * * *\" }}\nretention = {{ keep-within = \"7d\" }}\n\
         source = {{ kind = \"elasticsearch\", url = \"{url}\", repository = \"logs-repo\", policy = \"nightly\", \
         indices = \"logs-*\", state-dir = \"{}\" }}\n",
        state.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_elasticsearch_plan_runs_by_name_in_the_cluster() {
    use lifeboat_es_double::{EsDouble, IndexSeed};
    let double = EsDouble::start().await.unwrap();
    double.create_index("logs-2026.03.01", IndexSeed::daily("2026-03-01", 10));
    let state = tempfile::tempdir().unwrap();
    let client = lifeboat_es::EsClient::new(&lifeboat_es::ClusterConfig::new(&double.url()).unwrap()).unwrap();
    let admin =
        lifeboat_es::EsManager::new(client, lifeboat_es::StateStore::new(state.path()), lifeboat_es::Scope::Admin);
    let spec =
        lifeboat_es::RepositorySpec::Fs { location: "/mnt/backups/cli-plan".into(), readonly: false, compress: None };
    admin.repositories().create("logs-repo", &spec, true).await.unwrap();
    let plan = PlanEnv::new(&es_plan_config(&double.url(), state.path()));
    let today = chrono::Utc::now().format("%Y.%m.%d").to_string();

    let out = tokio::task::block_in_place(|| plan.run(&["run", "logs"]));
    out.ok();
    let text = out.text();
    assert!(
        text.contains(&format!("snapshot nightly-{today} in repository logs-repo: SUCCESS (taken), 1 indices")),
        "{text}"
    );
    assert!(text.contains("retention: deleted 0 snapshot(s), 1 kept"), "{text}");

    let out = tokio::task::block_in_place(|| plan.run(&["backup", "--plan", "logs", "--json"]));
    out.ok();
    let report = out.json();
    assert_eq!(report["plan"], "logs");
    assert_eq!(report["snapshot"], format!("nightly-{today}"));
    assert_eq!(report["state"], "SUCCESS");
    assert_eq!(report["already_existed"], true);
    assert_eq!(report["indices"], serde_json::json!(["logs-2026.03.01"]));

    // A cluster that is not there: one line naming the plan and the cluster.
    drop(double);
    let gone = PlanEnv::new(&es_plan_config("http://127.0.0.1:1", state.path()));
    let out = tokio::task::block_in_place(|| gone.run(&["run", "logs"]));
    one_line_error(&out, &["plan \"logs\"", "cannot reach Elasticsearch at http://127.0.0.1:1"]);
}
