//! `latest` with `--plan`, `--host`, `--tag` in show, restore, verify and copy; a scope with
//! no backup is one clear error naming it.

use crate::common::{EXIT_FAILURE, Env, backup_id, cheap_kdf, run};

fn backup(env: &Env, data: &[u8], plan: &str, host: &str, tags: &[&str]) -> String {
    let mut args = vec!["backup", "stdin", "--name", "s", "--plan", plan, "--host", host, "--json"];
    for t in tags {
        args.extend(["--tag", t]);
    }
    let out = env.run(&args, data);
    out.ok();
    backup_id(&out)
}

#[test]
fn latest_is_scoped_by_plan_host_and_tags_in_every_command_that_takes_an_id() {
    let env = Env::init();
    let web_a = backup(&env, b"web on a", "web", "a", &["nightly", "eu"]);
    let web_b = backup(&env, b"web on b", "web", "b", &["nightly"]);
    let db_a = backup(&env, b"db on a", "db", "a", &["hourly"]);

    let shown = |args: &[&str]| {
        let mut all = vec!["show", "latest", "--json"];
        all.extend_from_slice(args);
        let out = env.run(&all, b"");
        out.ok();
        out.json()["id"].as_str().unwrap().to_owned()
    };
    assert_eq!(shown(&[]), db_a);
    assert_eq!(shown(&["--plan", "web"]), web_b);
    assert_eq!(shown(&["--host", "a"]), db_a);
    assert_eq!(shown(&["--plan", "web", "--host", "a"]), web_a);
    assert_eq!(shown(&["--tag", "nightly", "--tag", "eu"]), web_a, "tags are all-of");
    assert_eq!(shown(&["--tag", "nightly,eu"]), web_a);

    let out = env.run(&["restore", "latest", "--stdout", "--plan", "web", "--host", "a"], b"");
    out.ok();
    assert_eq!(out.stdout, b"web on a");

    let out = env.run(&["verify", "latest", "--tag", "hourly", "--json"], b"");
    out.ok();
    assert_eq!(out.json()["backups"], 1);
    let out = env.run(&["verify", "--plan", "web", "--json"], b"");
    out.ok();
    assert_eq!(out.json()["backups"], 2, "verify without an id checks every backup in the scope");

    // No backup in the scope: one line naming it, exit 1.
    let out = env.run(&["restore", "latest", "--stdout", "--plan", "web", "--host", "c", "--tag", "eu"], b"");
    out.code(EXIT_FAILURE);
    out.stderr_has("no backup of plan \"web\" on host \"c\" with tag \"eu\"");
    assert!(out.stdout.is_empty());
    let out = env.run(&["show", "latest", "--plan", "nope"], b"");
    out.code(EXIT_FAILURE);
    out.stderr_has("no backup of plan \"nope\"");
    // An id outside the scope given with it.
    let out = env.run(&["show", &web_a, "--plan", "db"], b"");
    out.code(EXIT_FAILURE);
    out.stderr_has(&format!("backup {web_a} is not a backup of plan \"db\""));

    // copy: latest within the scope, or every backup within it, into another repository.
    let offsite = Env { tmp: tempfile::tempdir().unwrap(), repo: env.path("offsite"), password: env.password.clone() };
    let mut init = vec!["init"];
    init.extend(cheap_kdf());
    offsite.run(&init, b"").ok();
    let to = offsite.repo.to_str().unwrap().to_owned();
    let mut copy = env.cmd(&["copy", "latest", "--plan", "web", "--to", &to, "--json"]);
    copy.env("LIFEBOAT_TO_PASSWORD", env.password.as_deref().unwrap());
    run(copy, b"").ok();
    assert_eq!(offsite.list_ids(), vec![web_b.clone()]);
    let mut copy = env.cmd(&["copy", "--host", "a", "--to", &to, "--json"]);
    copy.env("LIFEBOAT_TO_PASSWORD", env.password.as_deref().unwrap());
    run(copy, b"").ok();
    let mut ids = offsite.list_ids();
    ids.sort();
    let mut expected = vec![web_a, web_b, db_a];
    expected.sort();
    assert_eq!(ids, expected);
}
