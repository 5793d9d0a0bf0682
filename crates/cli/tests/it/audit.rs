//! `lifeboat audit list|verify`: a backup and a restore through the CLI are recorded in the
//! state database the config names (actor `local:<user>`); `audit verify` exits 0 on the
//! intact log, with a head sealed into the plan's repository, and 3 after an edit of the
//! SQLite file or the deletion of its sealed tail, naming the first entry that does not fit.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::{EXIT_DAMAGE, Env, Out, PASSWORD, backup_id, run};

struct AuditEnv {
    env: Env,
    config: PathBuf,
    state: PathBuf,
}

impl AuditEnv {
    fn new() -> AuditEnv {
        let env = Env::init();
        let password_file = env.path("repo.pw");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        let state = env.path("lifeboatd.sqlite");
        let config = env.path("lifeboat.toml");
        let text = format!(
            "[service]\nstate = \"{}\"\n\n[plans.web]\nrepository = \"{}\"\npassword-file = \"{}\"\n\
             [plans.web.source]\nkind = \"stdin\"\ncommand = [\"echo\", \"hi\"]\nname = \"web.txt\"\n",
            state.display(),
            env.repo.display(),
            password_file.display()
        );
        std::fs::write(&config, text).unwrap();
        AuditEnv { env, config, state }
    }

    /// `lifeboat --config FILE ARGS` as user `ann`, against the repository of the Env.
    fn run(&self, args: &[&str], stdin: &[u8]) -> Out {
        let mut cmd = self.env.cmd(&[]);
        cmd.env("USER", "ann").arg("--config").arg(&self.config).args(args);
        let out = run(cmd, stdin);
        out.no_panic();
        out
    }

    fn sql(&self, statement: &str) {
        rusqlite::Connection::open(&self.state).unwrap().execute_batch(statement).unwrap();
    }
}

/// Seals the local head into the repository as lifeboatd would.
fn seal(state: &Path, repo: &Path) -> u64 {
    let store = lifeboat_ops::state::StateStore::attach(state, Default::default()).unwrap();
    let head = store.audit_head().unwrap().expect("an entry");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let storage = Arc::new(lifeboat_storage::FsStorage::new(repo));
        let repo =
            lifeboat_repo::Repository::open(storage, lifeboat_repo::Credential::password(PASSWORD)).await.unwrap();
        let sealed = lifeboat_ops::audit::SealedHead::of(&head, &lifeboat_repo::hostname(), chrono::Utc::now());
        lifeboat_ops::audit::seal_head(&repo, &sealed).await.unwrap();
    });
    head.seq
}

#[test]
fn a_backup_and_a_restore_are_listed_and_verify_finds_an_edit() {
    let audit = AuditEnv::new();
    let backup = audit.run(&["backup", "stdin", "--name", "notes.txt", "--json"], b"audited data");
    backup.ok();
    let id = backup_id(&backup);
    audit.run(&["restore", &id, "--stdout"], b"").ok();

    let list = audit.run(&["audit", "list", "--json"], b"");
    list.ok();
    let entries = list.json();
    let entries = entries.as_array().unwrap();
    let ops: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| (e["operation"].as_str().unwrap(), e["actor"].as_str().unwrap(), e["result"].as_str().unwrap()))
        .collect();
    assert_eq!(ops, [("backup", "local:ann", "ok"), ("restore", "local:ann", "ok")], "{entries:?}");
    assert_eq!(entries[1]["parameters"]["backup"], id.as_str());
    assert!(!list.all().contains(PASSWORD), "a secret was recorded");
    let table = audit.run(&["audit", "list", "--limit", "1"], b"");
    table.ok();
    assert!(table.text().contains("restore") && !table.text().contains("backup "), "{}", table.text());

    let sealed = seal(&audit.state, &audit.env.repo);
    assert_eq!(sealed, 2);
    let verify = audit.run(&["audit", "verify"], b"");
    verify.ok();
    assert!(verify.text().contains("intact") && verify.text().contains("1 sealed head"), "{}", verify.text());
    let json = audit.run(&["audit", "verify", "--json"], b"");
    json.ok();
    assert_eq!(json.json()["sealed_heads"], 1);

    // audit verify itself is not an entry; each command above was one.
    audit.sql("UPDATE audit_log SET result = 'error: nothing' WHERE seq = 1");
    let tampered = audit.run(&["audit", "verify"], b"");
    tampered.code(EXIT_DAMAGE);
    assert!(tampered.text().contains("first entry that does not fit is 1"), "{}", tampered.text());
    let json = audit.run(&["audit", "verify", "--json"], b"");
    json.code(EXIT_DAMAGE);
    assert_eq!(json.json()["findings"][0]["seq"], 1);
}

#[test]
fn a_deleted_tail_is_found_by_the_sealed_head() {
    let audit = AuditEnv::new();
    audit.run(&["backup", "stdin", "--name", "a.txt"], b"one").ok();
    audit.run(&["backup", "stdin", "--name", "b.txt"], b"two").ok();
    assert_eq!(seal(&audit.state, &audit.env.repo), 2);
    audit.run(&["audit", "verify"], b"").ok();
    audit.sql("DELETE FROM audit_log WHERE seq = 2");
    let out = audit.run(&["audit", "verify"], b"");
    out.code(EXIT_DAMAGE);
    assert!(out.text().contains("is 2") && out.text().contains("deleted"), "{}", out.text());
}

#[test]
fn without_a_state_database_nothing_is_recorded_and_nothing_created() {
    let env = Env::init();
    let home = env.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = env.cmd(&["backup", "stdin", "--name", "x.txt"]);
    cmd.env("HOME", &home).env("XDG_STATE_HOME", home.join("state"));
    let out = run(cmd, b"x");
    out.ok();
    assert!(!out.all().contains("audit"), "{}", out.all());
    assert!(!home.join("state").exists(), "the CLI created a state database");
}
