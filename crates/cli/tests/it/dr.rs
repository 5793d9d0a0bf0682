//! `lifeboat dr` end to end on the real binary and servers: `assess` with a PostgreSQL that is
//! then stopped (a private cluster) reports it and exits 1; `drill --plan` of a pgbench
//! database prints the measured RTO and RPO next to the objectives and leaves no scratch
//! database behind, its report kept in the repository (and in the state when the host has
//! one); a drill that misses its RPO exits 4; `recover --dry-run` changes nothing on the
//! server, a real run refuses without `--yes` when there is no terminal, asks for the
//! scenario's name on one (`script`'s pseudo-terminal), and `--yes` restores into a second
//! database.

use std::path::PathBuf;
use std::process::Command;

use lifeboat_testkit::datasets::{pg_db_exists, pg_fingerprint};
use lifeboat_testkit::pg_server::PrivatePostgres;
use lifeboat_testkit::sql::psql;
use lifeboat_testkit::{Cleanup, parse, password_of, service_url, unique, with_path, without_password};

use crate::common::{EXIT_FAILURE, Env, Out, PASSWORD};

/// `dr drill`'s exit code when the drill passed but missed an objective.
const EXIT_OBJECTIVE_MISSED: i32 = 4;

/// A repository, its password in a file, a database password file and a config file.
struct DrSite {
    env: Env,
    config: PathBuf,
}

impl DrSite {
    /// `plans` with `@REPO@`, `@PASSWORD_FILE@` and `@DB_PASSWORD_FILE@` filled in.
    fn new(plans: &str, db_password: &str) -> DrSite {
        let env = Env::init();
        let password_file = env.path("repo.pw");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        let db_password_file = env.path("db.pw");
        std::fs::write(&db_password_file, format!("{db_password}\n")).unwrap();
        let config = env.path("lifeboat.toml");
        let text = plans
            .replace("@REPO@", &env.repo.display().to_string())
            .replace("@PASSWORD_FILE@", &password_file.display().to_string())
            .replace("@DB_PASSWORD_FILE@", &db_password_file.display().to_string());
        std::fs::write(&config, text).unwrap();
        DrSite { env, config }
    }

    /// `lifeboat --config FILE ARGS`, with no repository or password in the environment.
    fn run(&self, args: &[&str]) -> Out {
        let mut cmd = crate::common::lifeboat();
        cmd.env("LIFEBOAT_STATE_DIR", self.env.state_dir()).arg("--config").arg(&self.config).args(args);
        let out = crate::common::run(cmd, b"");
        out.no_panic();
        out
    }
}

impl DrSite {
    /// [`run`](Self::run) with a terminal (`script`'s pseudo-terminal) on its standard input
    /// and output, `input` typed into it.
    fn on_a_terminal(&self, args: &[&str], input: &str) -> Out {
        let mut line = format!("{} --config {}", env!("CARGO_BIN_EXE_lifeboat"), self.config.display());
        for arg in args {
            line.push(' ');
            line.push_str(arg);
        }
        let mut cmd = Command::new("script");
        cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()));
        cmd.env("LIFEBOAT_STATE_DIR", self.env.state_dir()).args(["-qec", &line, "/dev/null"]);
        let out = crate::common::run(cmd, input.as_bytes());
        out.no_panic();
        out
    }
}

fn pg_plan(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[plans.{name}]\nrepository = \"@REPO@\"\npassword-file = \"@PASSWORD_FILE@\"\nschedule = {{ every = \"1h\" }}\n\
         objectives = {{ rpo = \"1h\", rto = \"30m\" }}\n{extra}\n[plans.{name}.source]\nkind = \"postgres\"\n\
         url = \"{url}\"\npassword-file = \"@DB_PASSWORD_FILE@\"\n"
    )
}

/// The scratch databases of `label` on the server.
fn scratch_databases(url: &str, label: &str) -> Vec<String> {
    let sql =
        format!("SELECT datname FROM pg_database WHERE datname LIKE 'lifeboat\\_drill\\_{label}\\_%' ORDER BY 1;");
    psql(url, "postgres", &sql).lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
}

/// Whether each of `dbs` exists on the server, and its fingerprint (for "nothing changed"
/// checks; other tests use the server at the same time, so only these are compared).
fn server_state(url: &str, dbs: &[&str]) -> Vec<(String, Option<String>)> {
    dbs.iter().map(|db| (db.to_string(), pg_db_exists(url, db).then(|| pg_fingerprint(url, db)))).collect()
}

/// `pgbench -i -s SCALE` into the new database `db`.
fn pgbench(url: &str, db: &str, scale: u32) {
    psql(url, "postgres", &format!("CREATE DATABASE {db};"));
    let u = parse(url);
    let out = Command::new("pgbench")
        .args(["-i", "-q", "-s", &scale.to_string(), "-h", &u.host, "-p", &u.port.to_string(), "-U", &u.user, db])
        .env("PGPASSWORD", &u.password)
        .output()
        .expect("run pgbench (postgresql-contrib / postgresql client)");
    assert!(out.status.success(), "pgbench failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn assess_reports_a_stopped_postgres_and_exits_1() {
    let pg = PrivatePostgres::start_new();
    let site = DrSite::new(&pg_plan("db", &pg.url, ""), &pg.password);
    site.run(&["run", "db"]).ok();

    let out = site.run(&["dr", "assess"]);
    out.ok();
    out.output_has("status: degraded");
    out.output_has("plan db (postgres ");
    out.output_has("reachable, version ");
    let json = site.run(&["dr", "assess", "--json"]);
    json.ok();
    let report = json.json();
    assert_eq!(report["status"], "degraded", "{report:#}");
    assert_eq!(report["sources"][0]["reachable"], true, "{report:#}");
    assert_eq!(report["plans"][0]["rpo_met"], true, "{report:#}");

    pg.stop();
    let out = site.run(&["dr", "assess"]);
    out.code(EXIT_FAILURE);
    out.output_has("status: at risk");
    out.output_has(&format!("plan db: source {} cannot be reached", pg.url));
    assert!(!out.all().contains(&pg.password), "assess shows the database password:\n{}", out.all());
    let json = site.run(&["dr", "assess", "--json"]);
    json.code(EXIT_FAILURE);
    let report = json.json();
    assert_eq!(report["status"], "at_risk", "{report:#}");
    assert_eq!(report["sources"][0]["reachable"], false, "{report:#}");
    assert_eq!(report["sources"][0]["status"], "at_risk", "{report:#}");
}

#[test]
fn a_drill_of_a_pgbench_plan_prints_rto_and_rpo_against_the_objectives_and_leaves_no_scratch_database() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let db = unique("lbcli_dr_bench");
    let _cleanup = Cleanup::pg(&url, &[&db]);
    pgbench(&url, &db, 2);
    let plan = "clidrill";
    let site = DrSite::new(&pg_plan(plan, &without_password(&with_path(&url, &db)), ""), &password_of(&url));
    site.run(&["run", plan]).ok();

    let out = site.run(&["dr", "drill", "--plan", plan]);
    out.ok();
    out.output_has(&format!("of plan {plan}: passed"));
    out.output_has("RTO: measured ");
    out.output_has("objective 30m: met");
    out.output_has("RPO: measured ");
    out.output_has("objective 1h: met");
    out.output_has("cleanup:");
    out.output_has("removed");
    // Progress went to standard error, the report to standard output.
    assert!(out.stderr.contains("[1/"), "no progress on stderr:\n{}", out.stderr);
    assert!(!out.all().contains(&password_of(&url)), "the drill shows the database password:\n{}", out.all());
    assert_eq!(scratch_databases(&url, plan), Vec::<String>::new(), "the drill left a scratch database");

    let json = site.run(&["dr", "drill", "--plan", plan, "--json"]);
    json.ok();
    let report = json.json();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["rto"]["objective_seconds"], 1800, "{report:#}");
    assert_eq!(report["rpo"]["objective_seconds"], 3600, "{report:#}");
    assert!(report["rto"]["seconds"].as_f64().is_some_and(|s| s > 0.0), "{report:#}");
    assert!(report["scratch"].as_array().is_some_and(|s| !s.is_empty() && s.iter().all(|s| s["cleaned"] == true)));
    assert_eq!(scratch_databases(&url, plan), Vec::<String>::new(), "the drill left a scratch database");
    // The report is kept in the repository as evidence, and assess finds it there.
    let assessed = site.run(&["dr", "assess", "--json"]).json();
    assert_eq!(assessed["plans"][0]["last_drill"]["found_in"], "repository", "{assessed:#}");
    assert_eq!(assessed["plans"][0]["last_drill"]["passed"], true, "{assessed:#}");
}

#[test]
fn recover_dry_run_changes_nothing_and_yes_restores_into_a_second_database() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let (src, dst) = (unique("lbcli_dr_src"), unique("lbcli_dr_dst"));
    let _cleanup = Cleanup::pg(&url, &[&src, &dst]);
    pgbench(&url, &src, 1);
    let target = without_password(&with_path(&url, &dst));
    let scenario = format!(
        "[scenarios.database_failure]\ndescription = \"The primary is lost: restore into the second database\"\n\
         objectives = {{ rpo = \"1h\", rto = \"30m\" }}\n\n[[scenarios.database_failure.steps]]\naction = \"restore\"\n\
         plan = \"db\"\nbackup = \"latest\"\ntarget = \"{target}\"\npassword-file = \"@DB_PASSWORD_FILE@\"\n"
    );
    let text = format!("{}\n{scenario}", pg_plan("db", &without_password(&with_path(&url, &src)), ""));
    let site = DrSite::new(&text, &password_of(&url));
    site.run(&["run", "db"]).ok();
    let id = site.env.list_ids().pop().expect("a backup");

    let before = server_state(&url, &[&src, &dst]);
    let out = site.run(&["dr", "recover", "--scenario", "database_failure", "--dry-run"]);
    out.ok();
    out.output_has(&id[..8]);
    out.output_has("dry run: nothing was changed");
    let json = site.run(&["dr", "recover", "--scenario", "database_failure", "--dry-run", "--json"]);
    json.ok();
    let planned = json.json();
    assert_eq!(planned["steps"][0]["backup"].as_str().map(|b| b.starts_with(&id[..8])), Some(true), "{planned:#}");
    assert_eq!(server_state(&url, &[&src, &dst]), before, "a dry run changed the server");
    assert!(!pg_db_exists(&url, &dst));

    // No terminal and no --yes: refused, nothing done.
    let refused = site.run(&["dr", "recover", "--scenario", "database_failure"]);
    refused.code(EXIT_FAILURE);
    refused.stderr_has("--yes");
    assert_eq!(server_state(&url, &[&src, &dst]), before, "a refused recovery changed the server");

    // On a terminal it asks for the scenario's name; another answer changes nothing.
    let asked = site.on_a_terminal(&["dr", "recover", "--scenario", "database_failure"], "database_failures\n");
    asked.code(EXIT_FAILURE);
    asked.output_has("type the scenario's name (database_failure) to go on");
    asked.output_has("not confirmed: nothing was changed");
    assert_eq!(server_state(&url, &[&src, &dst]), before, "an unconfirmed recovery changed the server");

    let out = site.run(&["dr", "recover", "--scenario", "database_failure", "--yes"]);
    out.ok();
    out.output_has("recovery ");
    out.output_has("passed");
    assert!(out.stderr.contains("[1/"), "no progress on stderr:\n{}", out.stderr);
    assert!(!out.all().contains(&password_of(&url)), "the recovery shows the database password:\n{}", out.all());
    assert_eq!(pg_fingerprint(&url, &dst), pg_fingerprint(&url, &src), "the second database is not the first");
}

#[test]
fn a_drill_that_misses_its_rpo_exits_4_is_kept_in_the_state_and_an_unknown_plan_is_an_error() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("a.txt"), b"alpha").unwrap();
    std::fs::create_dir(data.path().join("sub")).unwrap();
    std::fs::write(data.path().join("sub/b.txt"), b"beta").unwrap();
    let plan = format!(
        "[plans.site]\nrepository = \"@REPO@\"\npassword-file = \"@PASSWORD_FILE@\"\nschedule = {{ every = \"1h\" }}\n\
         objectives = {{ rpo = \"1s\" }}\nsource = {{ kind = \"files\", paths = [\"{}\"] }}\n",
        data.path().display()
    );
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("state.db");
    let plan = format!("[service]\nstate = \"{}\"\n\n{plan}", state.display());
    let site = DrSite::new(&plan, "unused");
    // A host with a state: the reports are kept in it, the commands audited in it.
    site.run(&["token", "create", "--name", "ci", "--scope", "read", "--state", state.to_str().unwrap()]).ok();
    site.run(&["run", "site"]).ok();
    // The backup is older than the 1 s RPO (ages count in whole seconds) when the drill starts.
    std::thread::sleep(std::time::Duration::from_millis(2500));

    let out = site.run(&["dr", "drill", "--plan", "site"]);
    out.code(EXIT_OBJECTIVE_MISSED);
    out.output_has("of plan site: passed, objective missed");
    out.output_has("objective 1.0s: missed");
    let report = site.run(&["dr", "drill", "--plan", "site", "--json"]);
    report.code(EXIT_OBJECTIVE_MISSED);
    let report = report.json();
    assert_eq!(
        (report["passed"].as_bool(), report["objectives_met"].as_bool()),
        (Some(true), Some(false)),
        "{report:#}"
    );
    assert_eq!(report["rpo"]["met"], false, "{report:#}");

    let assessed = site.run(&["dr", "assess", "--json"]).json();
    assert_eq!(assessed["plans"][0]["last_drill"]["found_in"], "state", "{assessed:#}");
    assert_eq!(assessed["plans"][0]["last_drill"]["id"], report["id"], "{assessed:#}");
    site.run(&["audit", "list"]).ok().output_has("dr_drill");

    let unknown = site.run(&["dr", "drill", "--plan", "nosuch"]);
    unknown.code(EXIT_FAILURE);
    unknown.stderr_has("\"nosuch\"");
}

#[test]
fn ctrl_c_stops_a_drill_and_its_scratch_targets_are_still_removed() {
    use std::io::BufRead;

    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("a.txt"), b"alpha").unwrap();
    let text = format!(
        "[plans.site]\nrepository = \"@REPO@\"\npassword-file = \"@PASSWORD_FILE@\"\n\
         source = {{ kind = \"files\", paths = [\"{}\"] }}\n\n[scenarios.slow]\n\n\
         [[scenarios.slow.steps]]\naction = \"restore\"\nplan = \"site\"\ntarget = \"/srv/never-touched\"\n\n\
         [[scenarios.slow.steps]]\naction = \"hook\"\ncommand = [\"sleep\", \"120\"]\ndrill = true\n",
        data.path().display()
    );
    let site = DrSite::new(&text, "unused");
    site.run(&["run", "site"]).ok();

    let stdout = site.env.path("drill.out");
    let mut cmd = crate::common::lifeboat();
    cmd.env("LIFEBOAT_STATE_DIR", site.env.state_dir()).arg("--config").arg(&site.config);
    cmd.args(["dr", "drill", "--scenario", "slow"]);
    cmd.stdout(std::fs::File::create(&stdout).unwrap()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // Wait until the hook (the second step) runs: the restore is done, its scratch is there.
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the drill ended before its hook:\n{seen}");
        seen.push_str(&line);
        if line.starts_with("[2/") {
            break;
        }
    }
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = crate::common::wait_timeout(&mut child, crate::common::TIMEOUT).expect("the drill did not stop");
    let out = std::fs::read_to_string(&stdout).unwrap();
    assert_eq!(status.code(), Some(130), "stdout:\n{out}\nstderr:\n{seen}{rest}");
    assert!(out.contains("FAILED") && out.contains("cancelled"), "{out}");
    let scratch: Vec<&str> = out.lines().filter_map(|l| l.trim().strip_prefix("target: ")).collect();
    assert!(!scratch.is_empty(), "no scratch target in the report:\n{out}");
    for target in scratch {
        assert!(!std::path::Path::new(target).exists(), "the scratch target {target} is still there:\n{out}");
    }
    assert!(out.contains("cleanup:") && !out.contains("LEFT BEHIND"), "{out}");
    assert!(!std::path::Path::new("/srv/never-touched").exists());
}
