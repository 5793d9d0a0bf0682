//! The audit log (lifeboat_ops::audit): entries from the service's jobs, the head sealed into
//! the plan's repository, and every kind of tampering with the SQLite file found and named
//! (an edited field, a deleted entry, a deleted tail, two entries swapped, a consistent
//! rewrite that only the sealed head catches); two handles appending at once keep one chain;
//! no parameter holds a secret.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lifeboat_ops::audit::{self, AuditRecord, AuditVerifyReport, RepositoryHeads, read_heads, verify_chain};
use lifeboat_ops::state::{AsyncStateStore, JobKind, StateOptions, StateStore, Trigger, entry_hash};
use lifeboat_repo::{Credential, Repository};
use lifeboat_storage::FsStorage;
use lifeboat_testkit::ManualClock;
use rusqlite::{Connection, params};
use serde_json::json;

use crate::common::REPO_PASSWORD;
use crate::service::{Site, monday, service_on, stdin_plan};

fn note(actor: &str, operation: &str) -> AuditRecord {
    AuditRecord {
        actor: actor.into(),
        operation: operation.into(),
        target: Some("web".into()),
        parameters: json!({ "n": operation }),
        result: "ok".into(),
    }
}

async fn open_repo(path: &str) -> Repository {
    Repository::open(Arc::new(FsStorage::new(path)), Credential::password(REPO_PASSWORD)).await.unwrap()
}

/// The chain in `state_file` checked against the heads sealed in `repo`.
async fn check(state_file: &Path, repo: &Repository) -> AuditVerifyReport {
    let store = StateStore::attach(state_file, StateOptions::default()).unwrap();
    let rows = store.audit_rows().unwrap();
    let heads = read_heads(repo, &lifeboat_repo::hostname()).await.unwrap();
    let sealed = RepositoryHeads { plan: "web".into(), repository: repo.location(), heads, error: None };
    verify_chain(&rows, vec![sealed])
}

/// A consistent copy of the state file (its WAL included) with `tamper` applied to it.
fn tampered(site: &Site, state_file: &Path, name: &str, tamper: impl FnOnce(&Connection)) -> std::path::PathBuf {
    let copy = site.path(&format!("{name}.sqlite"));
    Connection::open(state_file).unwrap().execute("VACUUM INTO ?1", [copy.display().to_string()]).unwrap();
    tamper(&Connection::open(&copy).unwrap());
    copy
}

/// seq, at, actor, operation, target, parameters, result: what an entry's hash covers.
type HashedFields = (i64, i64, String, String, Option<String>, String, String);

/// Recomputes every hash from `from` on, as a careful attacker would after an edit.
fn rehash_from(db: &Connection, from: i64) {
    let rows: Vec<HashedFields> = db
        .prepare("SELECT seq, at, actor, operation, target, parameters, result FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev = vec![0u8; 32];
    for (seq, at, actor, operation, target, parameters, result) in rows {
        if seq >= from {
            let hash = entry_hash(seq, at, &actor, &operation, target.as_deref(), &parameters, &result, &prev);
            db.execute(
                "UPDATE audit_log SET prev_hash = ?2, hash = ?3 WHERE seq = ?1",
                params![seq, prev, hash.to_vec()],
            )
            .unwrap();
        }
        prev = db.query_row("SELECT hash FROM audit_log WHERE seq = ?1", [seq], |r| r.get(0)).unwrap();
    }
}

fn assert_first(report: &AuditVerifyReport, seq: u64, words: &str, what: &str) {
    let first = report.first().unwrap_or_else(|| panic!("{what}: not detected: {report:?}"));
    assert_eq!(first.seq, seq, "{what}: the wrong entry was named: {first:?}");
    assert!(first.reason.contains(words), "{what}: the reason does not say {words:?}: {}", first.reason);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_edit_of_the_sqlite_file_is_found_and_the_first_bad_entry_named() {
    let site = Site::new();
    let r1 = site.repo("r1").await;
    let state_file = site.path("state.sqlite");
    let state = AsyncStateStore::new(StateStore::open(&state_file).unwrap());
    let clock = Arc::new(ManualClock::new(monday()));
    let service = service_on(&site, &stdin_plan(&site, "web", &r1, "echo hello", ""), &clock, state.clone()).await;

    // A job's end is recorded by the service (actor: the token that asked).
    service.run_now("web", JobKind::Backup, Trigger::Api, Some("ci".into())).await.unwrap();
    service.wait_idle().await;
    let mut waited = 0;
    while state.audit_entries(None, None).await.unwrap().is_empty() && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let first = state.audit_entries(None, None).await.unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!((first[0].actor.as_str(), first[0].operation.as_str()), ("token:ci", "backup"));
    assert_eq!((first[0].target.as_deref(), first[0].result.as_str()), (Some("web"), "ok"));
    for n in 0..5 {
        audit::record(&state, note("local:ann", &format!("restore_{n}"))).await;
    }
    // Sealed at seq 6; the seal itself is entry 7; two more entries follow.
    let sealed = service.seal_audit().await;
    assert_eq!(sealed.get("web"), Some(&Ok(6)), "{sealed:?}");
    audit::record(&state, note("local:ann", "forget")).await;
    audit::record(&state, note("local:ann", "prune")).await;
    let entries = state.audit_entries(None, None).await.unwrap();
    assert_eq!(entries.len(), 9);
    assert_eq!((entries[6].operation.as_str(), entries[6].actor.as_str()), ("audit_seal", "service"));
    assert_eq!(service.seal_audit().await.get("web"), Some(&Ok(9)), "a second round seals the new head");

    let repo = open_repo(&r1).await;
    // The heads are records: prune and forget leave them, list does not show them.
    repo.prune(false).await.unwrap();
    assert_eq!(repo.list_records(audit::HEAD_RECORD_KIND).await.unwrap().len(), 2);
    assert!(repo.list().await.unwrap().1.is_empty(), "the records are not manifests");

    let intact = check(&state_file, &repo).await;
    assert!(intact.intact(), "{intact:?}");
    assert_eq!((intact.last_seq, intact.sealed_heads), (10, 2));

    let edited = tampered(&site, &state_file, "edited", |db| {
        db.execute("UPDATE audit_log SET result = 'ok, nothing restored' WHERE seq = 3", []).unwrap();
    });
    assert_first(&check(&edited, &repo).await, 3, "edited", "an edited field");

    let middle = tampered(&site, &state_file, "middle", |db| {
        db.execute("DELETE FROM audit_log WHERE seq = 4", []).unwrap();
    });
    assert_first(&check(&middle, &repo).await, 4, "missing", "a deleted entry");

    let tail = tampered(&site, &state_file, "tail", |db| {
        db.execute("DELETE FROM audit_log WHERE seq >= 8", []).unwrap();
    });
    let report = check(&tail, &repo).await;
    assert_first(&report, 8, "deleted", "a deleted tail");
    assert_eq!(report.findings.len(), 1, "the chain itself is whole: only the sealed head tells: {report:?}");

    let swapped = tampered(&site, &state_file, "swapped", |db| {
        db.execute_batch(
            "UPDATE audit_log SET seq = 100 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; \
             UPDATE audit_log SET seq = 3 WHERE seq = 100;",
        )
        .unwrap();
    });
    assert_first(&check(&swapped, &repo).await, 2, "prev_hash", "two entries swapped");

    let rewritten = tampered(&site, &state_file, "rewritten", |db| {
        db.execute("UPDATE audit_log SET actor = 'local:nobody' WHERE seq = 2", []).unwrap();
        rehash_from(db, 2);
    });
    let report = check(&rewritten, &repo).await;
    assert_first(&report, 6, "rewritten", "a consistent rewrite");
    assert_eq!(report.findings.len(), 2, "both sealed heads disagree, nothing else: {report:?}");
    let rows = StateStore::attach(&rewritten, StateOptions::default()).unwrap().audit_rows().unwrap();
    assert!(verify_chain(&rows, Vec::new()).intact(), "without the sealed heads the rewrite is invisible");

    // The shutdown seals what came since the last round; with nothing new, nothing.
    audit::record(&state, note("local:ann", "verify")).await;
    service.shutdown(Duration::from_secs(5)).await;
    assert_eq!(repo.list_records(audit::HEAD_RECORD_KIND).await.unwrap().len(), 3, "sealed at shutdown");
    let report = check(&state_file, &repo).await;
    assert!(report.intact() && report.sealed_heads == 3, "{report:?}");
    assert_eq!(report.repositories[0].heads.last().map(|h| h.seq), Some(11));
}

#[test]
fn two_handles_appending_at_once_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let owner = StateStore::open(&path).unwrap();
    let append = |mut store: StateStore, actor: &'static str| {
        std::thread::spawn(move || {
            for n in 0..60 {
                store.append_audit(&note(actor, &format!("op_{n}")), chrono::Utc::now()).unwrap();
            }
        })
    };
    let a = append(owner, "service");
    let b = append(StateStore::attach(&path, StateOptions::default()).unwrap(), "local:cli");
    a.join().unwrap();
    b.join().unwrap();
    let rows = StateStore::attach(&path, StateOptions::default()).unwrap().audit_rows().unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=120).collect::<Vec<_>>());
    let report = verify_chain(&rows, Vec::new());
    assert!(report.intact(), "{report:?}");
    let actors: std::collections::BTreeSet<_> = rows.iter().map(|r| r.actor.as_str()).collect();
    assert_eq!(actors.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_never_hold_a_secret() {
    let state = AsyncStateStore::new(StateStore::open_in_memory().unwrap());
    let token = "lbt_0123456789abcdef_".to_owned() + &"ab".repeat(32);
    let record = AuditRecord {
        actor: "token:ci".into(),
        operation: "copy".into(),
        target: Some(lifeboat_storage::redact_url("s3://AKIAKEY:s3cr3t-value@minio:9000/bucket")),
        parameters: json!({
            "to": "s3://AKIAKEY:s3cr3t-value@minio:9000/bucket",
            "password": "hunter2-password",
            "to-password": "hunter2-password",
            "secret_access_key": "s3cr3t-value",
            "password-file": "/etc/lifeboat/pw",
            "args": [token.clone(), "postgres://app:hunter2-password@db/app"],
            "nested": { "api_token": token.clone(), "ok": 1 },
        }),
        result: "ok".into(),
    };
    audit::record(&state, record).await;
    let entries = state.audit_entries(None, None).await.unwrap();
    let text = serde_json::to_string(&entries).unwrap();
    for secret in ["s3cr3t-value", "hunter2-password", token.as_str(), "lbt_"] {
        assert!(!text.contains(secret), "{secret:?} was recorded: {text}");
    }
    assert!(text.contains("/etc/lifeboat/pw") && text.contains("minio:9000/bucket"), "{text}");
    assert_eq!(entries[0].parameters["nested"], json!({ "ok": 1 }));
}
