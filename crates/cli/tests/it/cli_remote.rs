//! End-to-end tests of the `lifeboat` binary on remote repositories: S3 (s3s-fs for the
//! bulk, moto_server where a conditional create or object lock is needed) and WebDAV (an
//! opendal scheme). The servers are real and run on loopback; `scripts/s3-server.sh` and
//! `scripts/webdav-server.sh` start them. Without them these tests fail; they never skip.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use lifeboat_testkit::names::unique_dashed;
use lifeboat_testkit::server_env;

const S3_VARS: &[&str] = &[
    "LIFEBOAT_TEST_S3_ENDPOINT",
    "LIFEBOAT_TEST_MOTO_ENDPOINT",
    "LIFEBOAT_TEST_S3S_BIN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];
const WEBDAV_VARS: &[&str] = &["LIFEBOAT_TEST_WEBDAV_URL", "LIFEBOAT_WEBDAV_PASSWORD"];

fn s3_env() -> HashMap<String, String> {
    server_env("test-s3.env", "bash scripts/s3-server.sh start", S3_VARS)
}

fn s3_url(endpoint: &str, bucket: &str, prefix: &str) -> String {
    format!("s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1&path_style=true&part_size=5MiB")
}

/// Lifeboat's own S3 backend on the whole of `bucket`, for the test's side of the checks.
fn admin_store(env: &HashMap<String, String>, endpoint: &str, bucket: &str) -> lifeboat_storage::S3Storage {
    let lifeboat_storage::StorageUrl::S3(opts) =
        lifeboat_storage::StorageUrl::parse(&s3_url(endpoint, bucket, "")).expect("parse s3 url")
    else {
        panic!("not an s3 url")
    };
    lifeboat_storage::S3Storage::with_static_credentials(opts, &env["AWS_ACCESS_KEY_ID"], &env["AWS_SECRET_ACCESS_KEY"])
}

/// Creates `bucket` on the server at `endpoint` (with object lock when asked).
fn create_bucket(env: &HashMap<String, String>, endpoint: &str, bucket: &str, object_lock: bool) {
    let store = admin_store(env, endpoint, bucket);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut req = store.sdk_client().await.create_bucket().bucket(bucket);
        if object_lock {
            req = req.object_lock_enabled_for_bucket(true);
        }
        req.send().await.unwrap_or_else(|e| panic!("create bucket {bucket} on {endpoint}: {e:?}"));
    });
}

/// Keys stored in `bucket`, sorted.
fn bucket_keys(env: &HashMap<String, String>, endpoint: &str, bucket: &str) -> Vec<String> {
    use futures::TryStreamExt;
    use lifeboat_storage::Storage;
    let store = admin_store(env, endpoint, bucket);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut keys: Vec<String> = rt
        .block_on(store.list("").try_collect::<Vec<_>>())
        .unwrap_or_else(|e| panic!("list {bucket}: {e}"))
        .into_iter()
        .map(|m| m.key)
        .collect();
    keys.sort();
    keys
}

/// Every pack of the repository under `repo/` in `bucket`, with its object-lock retention.
fn pack_retentions(
    env: &HashMap<String, String>,
    endpoint: &str,
    bucket: &str,
) -> Vec<(String, Option<lifeboat_storage::Retention>)> {
    use lifeboat_storage::Storage;
    let store = admin_store(env, endpoint, bucket);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let keys: Vec<String> =
        bucket_keys(env, endpoint, bucket).into_iter().filter(|k| k.starts_with("repo/packs/")).collect();
    keys.into_iter()
        .map(|k| {
            let r = rt.block_on(store.retention(&k)).unwrap_or_else(|e| panic!("retention of {k}: {e}"));
            (k, r)
        })
        .collect()
}

/// A repository at a URL, with the credentials its backend needs in the environment.
struct Remote {
    tmp: tempfile::TempDir,
    url: String,
    vars: Vec<(String, String)>,
}

impl Remote {
    fn s3(env: &HashMap<String, String>, endpoint: &str, bucket: &str, prefix: &str) -> Remote {
        Remote {
            tmp: tempfile::Builder::new().prefix("lifeboat-remote-test-").tempdir().expect("tempdir"),
            url: s3_url(endpoint, bucket, prefix),
            vars: vec![
                ("AWS_ACCESS_KEY_ID".into(), env["AWS_ACCESS_KEY_ID"].clone()),
                ("AWS_SECRET_ACCESS_KEY".into(), env["AWS_SECRET_ACCESS_KEY"].clone()),
                ("AWS_REGION".into(), "us-east-1".into()),
                // No profile files of the machine running the tests.
                ("AWS_CONFIG_FILE".into(), "/nonexistent".into()),
                ("AWS_SHARED_CREDENTIALS_FILE".into(), "/nonexistent".into()),
                ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ],
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `lifeboat args` against this repository (and `extra` environment).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = lifeboat();
        cmd.env("LIFEBOAT_REPO", &self.url).env("LIFEBOAT_PASSWORD", PASSWORD);
        // Known config generations stay inside this test (issue 9, item 5).
        cmd.env("LIFEBOAT_STATE_DIR", self.tmp.path().join("state"));
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd.args(args);
        cmd
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Out {
        run(self.cmd(args), stdin)
    }

    fn init(&self) {
        let mut args = vec!["init"];
        args.extend(cheap_kdf());
        self.run(&args, b"").ok();
    }

    /// A format 2 repository, whose prune deletes in the same run.
    fn init_v2(&self) {
        let mut args = vec!["init", "--format", "2"];
        args.extend(cheap_kdf());
        self.run(&args, b"").ok();
    }

    fn backup_stdin(&self, name: &str, data: &[u8], extra: &[&str]) -> String {
        let mut args = vec!["backup", "stdin", "--name", name, "--json"];
        args.extend(extra);
        let out = self.run(&args, data);
        out.ok();
        backup_id(&out)
    }

    fn restore_stdout(&self, id: &str) -> Vec<u8> {
        let out = self.run(&["restore", id, "--stdout"], b"");
        out.ok();
        out.stdout
    }

    fn list_ids(&self) -> Vec<String> {
        let out = self.run(&["list", "--json"], b"");
        out.ok();
        ids_of(&out.json())
    }
}

/// A small tree with nested files, a symlink and an empty directory.
fn make_tree(base: &std::path::Path) {
    std::fs::create_dir_all(base.join("etc/app/conf.d")).expect("mkdir");
    std::fs::create_dir_all(base.join("empty")).expect("mkdir");
    std::fs::write(base.join("etc/app/main.toml"), b"listen = \"127.0.0.1:8080\"\n").expect("write");
    std::fs::write(base.join("etc/app/conf.d/big.bin"), random_bytes(7 * 1024 * 1024, 5)).expect("write");
    std::os::unix::fs::symlink("main.toml", base.join("etc/app/current")).expect("symlink");
}

#[test]
fn every_repository_command_works_on_s3_with_conditional_create() {
    let env = s3_env();
    let endpoint = env["LIFEBOAT_TEST_MOTO_ENDPOINT"].clone();
    let bucket = unique_dashed("lb-cli");
    create_bucket(&env, &endpoint, &bucket, false);
    let repo = Remote::s3(&env, &endpoint, &bucket, "tenants/acme/repo");
    repo.init_v2();
    repo.run(&["init"], b"").code(EXIT_FAILURE).stderr_has("already");

    // A stream bigger than one multipart part, and a tree.
    let big = random_bytes(12 * 1024 * 1024 + 17, 1);
    let stream_id = repo.backup_stdin("dump.sql", &big, &["--plan", "db"]);
    let src = repo.path("src");
    make_tree(&src);
    let out = repo.run(&["backup", "files", src.to_str().expect("utf-8"), "--plan", "conf", "--json"], b"");
    out.ok();
    let tree_id = backup_id(&out);

    assert_eq!(repo.list_ids().len(), 2);
    let list = repo.run(&["list", "--plan", "db", "--json"], b"");
    list.ok();
    assert_eq!(ids_of(&list.json()), vec![stream_id.clone()]);
    repo.run(&["show", &stream_id[..8], "--json"], b"").ok();
    assert_eq!(repo.restore_stdout(&stream_id), big);
    let target = repo.path("restored");
    repo.run(&["restore", &tree_id, "--target", target.to_str().expect("utf-8")], b"").ok();
    let restored = snapshot(&target);
    let original = snapshot(&src);
    assert_eq!(restored.len(), original.len(), "same number of files: {:?}", restored.keys());
    for (rel, bytes) in &original {
        let found = restored.iter().find(|(p, _)| p.ends_with(rel)).map(|(_, b)| b);
        assert_eq!(found, Some(bytes), "{} restored identically", rel.display());
    }
    let verify = repo.run(&["verify", "--deep", "--json"], b"");
    verify.ok();

    // Every object lives under the repository's prefix, and the locks are gone.
    let keys = bucket_keys(&env, &endpoint, &bucket);
    assert!(keys.iter().all(|k| k.starts_with("tenants/acme/repo/")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("/locks/")), "no lock left: {keys:?}");

    // Forget and prune take the exclusive lock, which needs the conditional create moto has.
    repo.run(&["forget", "--plan", "db", "--keep-last", "1"], b"").ok();
    repo.backup_stdin("dump.sql", b"second dump", &["--plan", "db"]);
    let out = repo.run(&["forget", "--plan", "db", "--keep-last", "1", "--prune", "--json"], b"");
    out.ok();
    assert_eq!(out.json()["forgotten"], serde_json::json!([stream_id]));
    assert_eq!(repo.list_ids().len(), 2);
    let keys = bucket_keys(&env, &endpoint, &bucket);
    let data: Vec<_> = keys.iter().filter(|k| k.contains("/data/")).collect();
    assert_eq!(data.len(), 2, "the forgotten dump's data was pruned: {keys:?}");
    repo.run(&["unlock"], b"").ok().output_has("no expired or stale locks");
}

#[test]
fn a_format_3_tenant_repository_keeps_every_object_under_its_prefix() {
    let env = s3_env();
    let endpoint = env["LIFEBOAT_TEST_MOTO_ENDPOINT"].clone();
    let bucket = unique_dashed("lb-v3-tenant");
    create_bucket(&env, &endpoint, &bucket, false);
    // Two tenants in one bucket, each a format 3 repository under its own prefix.
    let acme = Remote::s3(&env, &endpoint, &bucket, "tenants/acme/repo");
    let globex = Remote::s3(&env, &endpoint, &bucket, "tenants/globex/repo");
    acme.init();
    globex.init();

    let big = random_bytes(5 * 1024 * 1024 + 3, 11);
    let stream_id = acme.backup_stdin("dump.sql", &big, &["--plan", "db"]);
    assert_eq!(acme.run(&["show", &stream_id, "--json"], b"").json()["version"], 3);
    let src = acme.path("src");
    make_tree(&src);
    let out = acme.run(&["backup", "files", src.to_str().expect("utf-8"), "--plan", "conf", "--json"], b"");
    out.ok();
    let tree_id = backup_id(&out);
    let other = globex.backup_stdin("dump.sql", &big, &[]);

    // Each tenant lists, restores and verifies only its own backups.
    assert_eq!(acme.list_ids().len(), 2);
    assert_eq!(globex.list_ids(), vec![other.clone()]);
    assert_eq!(acme.restore_stdout(&stream_id), big);
    assert_eq!(globex.restore_stdout(&other), big);
    let target = acme.path("restored");
    acme.run(&["restore", &tree_id, "--target", target.to_str().expect("utf-8")], b"").ok();
    let restored = snapshot(&target);
    for (rel, bytes) in &snapshot(&src) {
        let found = restored.iter().find(|(p, _)| p.ends_with(rel)).map(|(_, b)| b);
        assert_eq!(found, Some(bytes), "{} restored identically", rel.display());
    }
    acme.run(&["verify", "--read-data"], b"").ok();
    globex.run(&["verify", "--read-data"], b"").ok();

    // Format 3's objects (packs, index, domains) stay under each tenant's prefix.
    let keys = bucket_keys(&env, &endpoint, &bucket);
    assert!(
        keys.iter().all(|k| k.starts_with("tenants/acme/repo/") || k.starts_with("tenants/globex/repo/")),
        "{keys:?}"
    );
    for tenant in ["acme", "globex"] {
        for kind in ["packs/", "index/", "domains/", "backups/"] {
            let prefix = format!("tenants/{tenant}/repo/{kind}");
            assert!(keys.iter().any(|k| k.starts_with(&prefix)), "no {prefix} object: {keys:?}");
        }
    }
    assert!(!keys.iter().any(|k| k.contains("/data/")), "no format 2 data object: {keys:?}");

    // Forget and prune in one tenant leave the other's data alone.
    let second = acme.backup_stdin("dump.sql", b"second dump", &["--plan", "db"]);
    let out = acme.run(&["forget", "--plan", "db", "--keep-last", "1", "--prune", "--json"], b"");
    out.ok();
    assert_eq!(out.json()["forgotten"], serde_json::json!([stream_id]));
    let mut left = acme.list_ids();
    left.sort();
    let mut expected = vec![tree_id, second.clone()];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(acme.restore_stdout(&second), b"second dump");
    assert_eq!(globex.restore_stdout(&other), big);
    globex.run(&["verify", "--read-data"], b"").ok();
    acme.run(&["verify", "--read-data"], b"").ok();
}

#[test]
fn copy_fs_to_s3_and_back_and_sync_resumes_without_resending() {
    let env = s3_env();
    let endpoint = env["LIFEBOAT_TEST_S3_ENDPOINT"].clone();
    let bucket = unique_dashed("lb-sync");
    create_bucket(&env, &endpoint, &bucket, false);
    // Format 2: an object per backup, slow enough to interrupt mid-sync (format 3's copy
    // resuming without resending packs is tested in lifeboat-repo's v3_copy).
    let local = Env::init_v2();
    let payloads: Vec<Vec<u8>> = (0..4).map(|i| random_bytes(3 * 1024 * 1024 + i, 100 + i as u64)).collect();
    let ids: Vec<String> = payloads.iter().enumerate().map(|(i, p)| local.backup_stdin(&format!("p{i}"), p)).collect();

    let remote = Remote::s3(&env, &endpoint, &bucket, "offsite");
    remote.init_v2();
    // One backup with `copy`, then an interrupted sync, then a sync that finishes.
    let mut copy = local.cmd(&["copy", &ids[0], "--to", &remote.url, "--json"]);
    for (k, v) in &remote.vars {
        copy.env(k, v);
    }
    copy.env("LIFEBOAT_TO_PASSWORD", PASSWORD);
    let out = run(copy, b"");
    out.ok();
    assert_eq!(out.json()["copied"], serde_json::json!([ids[0]]));

    let sync_cmd = |extra: &[&str]| {
        let mut args = vec!["sync", "--to", &remote.url, "--json"];
        args.extend(extra);
        let mut cmd = local.cmd(&args);
        for (k, v) in &remote.vars {
            cmd.env(k, v);
        }
        cmd.env("LIFEBOAT_TO_PASSWORD", PASSWORD);
        cmd
    };
    // Slowed to 2 MiB/s, killed (SIGKILL: a crash, no clean-up) once the second backup arrived.
    let mut slow = sync_cmd(&["--limit-upload", "2097152"]);
    slow.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = slow.spawn().expect("start sync");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let keys = bucket_keys(&env, &endpoint, &bucket);
        if keys.iter().filter(|k| k.starts_with("offsite/backups/")).count() >= 2 {
            break;
        }
        assert!(child.try_wait().expect("try_wait").is_none(), "sync finished before it could be interrupted");
        assert!(Instant::now() < deadline, "sync made no progress: {keys:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill sync");
    child.wait().expect("reap sync");
    let arrived = remote.list_ids();
    assert!(arrived.len() >= 2 && arrived.len() < 4, "interrupted part-way: {arrived:?}");

    let out = run(sync_cmd(&[]), b"");
    out.ok();
    let report = out.json();
    let skipped = report["skipped"].as_array().expect("skipped").len();
    let copied = report["copied"].as_array().expect("copied").len();
    assert_eq!(skipped, arrived.len(), "backups already there are not sent again: {report}");
    assert_eq!(skipped + copied, 4, "{report}");
    // Only the data of the backups that had not arrived goes up (plus format overhead).
    let sent = report["bytes_sent"].as_u64().expect("bytes_sent");
    let missing = (4 - arrived.len()) as u64;
    assert!(sent <= missing * (3 * 1024 * 1024 + 64 * 1024), "only the missing data was sent: {sent} bytes: {report}");

    // Idempotent: a second sync sends nothing.
    let out = run(sync_cmd(&[]), b"");
    out.ok();
    let report = out.json();
    assert_eq!(report["copied"], serde_json::json!([]), "{report}");
    assert_eq!(report["bytes_sent"], 0, "{report}");

    // The remote copy is whole: deep verify, and every backup restores byte for byte.
    remote.run(&["verify", "--deep"], b"").ok();
    let mut remote_ids = remote.list_ids();
    remote_ids.sort();
    let mut local_ids = ids.clone();
    local_ids.sort();
    assert_eq!(remote_ids, local_ids, "the remote holds every backup, under the same ids");
    for (id, payload) in ids.iter().zip(&payloads) {
        assert_eq!(&remote.restore_stdout(id), payload, "backup {id} restores from S3");
    }

    // And back: S3 to a fresh local repository with another password.
    let back = Env::new();
    let mut args = vec!["init"];
    args.extend(cheap_kdf());
    let mut init = back.cmd(&args);
    init.env("LIFEBOAT_PASSWORD", "another password");
    run(init, b"").ok();
    let mut copy_back = remote.cmd(&["copy", &ids[3], "--to", back.repo.to_str().expect("utf-8")]);
    copy_back.env("LIFEBOAT_TO_PASSWORD", "another password");
    run(copy_back, b"").ok();
    let mut restore = back.cmd(&["restore", "latest", "--stdout"]);
    restore.env("LIFEBOAT_PASSWORD", "another password");
    let out = run(restore, b"");
    out.ok();
    assert_eq!(out.stdout, payloads[3]);
}

#[test]
fn without_conditional_create_backups_work_and_prune_is_refused() {
    // s3s-fs 0.14 does not honour If-None-Match atomically.
    let env = s3_env();
    let endpoint = env["LIFEBOAT_TEST_S3_ENDPOINT"].clone();
    let bucket = unique_dashed("lb-nocond");
    create_bucket(&env, &endpoint, &bucket, false);
    let mut repo = Remote::s3(&env, &endpoint, &bucket, "");
    // Declared rather than probed: the probe can miss s3s-fs's race under unlucky timing.
    repo.url.push_str("&conditional_put=false");
    repo.init();
    let data = random_bytes(2 * 1024 * 1024, 9);
    let id = repo.backup_stdin("x", &data, &[]);
    repo.backup_stdin("x", b"second", &[]);
    assert_eq!(repo.restore_stdout(&id), data);
    let out = repo.run(&["forget", "--keep-last", "1"], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has("conditional").stderr_has("exclusive lock");
    repo.run(&["prune"], b"").code(EXIT_FAILURE).stderr_has("conditional");
    assert_eq!(repo.list_ids().len(), 2, "nothing was forgotten");
}

#[test]
fn lock_days_keeps_backups_immutable_and_forget_reports_them_kept() {
    let env = s3_env();
    let endpoint = env["LIFEBOAT_TEST_MOTO_ENDPOINT"].clone();
    let bucket = unique_dashed("lb-lock");
    create_bucket(&env, &endpoint, &bucket, true);
    let repo = Remote::s3(&env, &endpoint, &bucket, "repo");
    repo.init();
    let locked =
        repo.backup_stdin("locked", b"immutable for a day", &["--lock-days", "1", "--lock-mode", "compliance"]);
    let show = repo.run(&["show", &locked, "--json"], b"");
    show.ok();
    assert!(show.json()["locked_until"].is_string(), "the manifest records the lock: {}", show.json());
    let plain = repo.backup_stdin("plain", b"mutable", &[]);
    let newest = repo.backup_stdin("newest", b"newest", &[]);

    let out = repo.run(&["forget", "--keep-last", "1", "--prune", "--json"], b"");
    out.ok();
    let json = out.json();
    assert_eq!(json["forgotten"], serde_json::json!([plain]), "only the unlocked old backup goes: {json}");
    let decisions = json["groups"][0]["decisions"].as_array().expect("decisions");
    let locked_decision = decisions.iter().find(|d| d["id"] == locked.as_str()).expect("locked decision");
    assert_eq!(locked_decision["keep"], true);
    assert!(
        locked_decision["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains("object lock"))),
        "kept by lock: {locked_decision}"
    );
    let mut ids = repo.list_ids();
    ids.sort();
    let mut expected = vec![locked.clone(), newest.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(repo.restore_stdout(&locked), b"immutable for a day");
    // Named by id, a locked backup is refused too, and nothing named with it goes.
    let out = repo.run(&["forget", &newest, &locked], b"");
    out.code(EXIT_FAILURE).stderr_has("lock");
    assert_eq!(repo.list_ids().len(), 2, "a refused forget by id forgets nothing");
    // Locked backups are format 3 too, files as well: their packs are locked, shared or not.
    assert_eq!(repo.run(&["show", &locked, "--json"], b"").json()["version"], 3);
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("ledger.txt"), b"locked files").expect("write");
    let files = repo.run(&["backup", "files", dir.path().to_str().expect("utf-8"), "--json", "--lock-days", "1"], b"");
    files.ok();
    let files_id = files.json()["id"].as_str().expect("id").to_owned();
    let shown = repo.run(&["show", &files_id, "--json"], b"").json();
    assert!(shown["version"] == 3 && shown["locked_until"].is_string(), "{shown}");
    assert_eq!(repo.run(&["show", &newest, "--json"], b"").json()["version"], 3, "unlocked backups are format 3");

    // A longer lock on the same data extends the packs it reuses (S3 PutObjectRetention).
    let far = |days: f64| std::time::SystemTime::now() + Duration::from_secs_f64(days * 86_400.0);
    let packs_before = pack_retentions(&env, &endpoint, &bucket);
    assert!(packs_before.iter().all(|(_, r)| r.is_none_or(|r| !r.reaches(far(1.5)))), "{packs_before:?}");
    let longer = repo.backup_stdin("locked", b"immutable for a day", &["--lock-days", "2"]);
    let packs_after: HashMap<String, Option<lifeboat_storage::Retention>> =
        pack_retentions(&env, &endpoint, &bucket).into_iter().collect();
    let extended = packs_before.iter().filter(|(k, _)| packs_after[k].is_some_and(|r| r.reaches(far(1.9)))).count();
    assert!(extended >= 1, "a reused pack was extended: {packs_after:?}");
    repo.run(&["verify", &locked], b"").ok();
    repo.run(&["verify", &longer, "--deep"], b"").ok();
    repo.run(&["prune"], b"").ok();

    // On a bucket without object lock the request is refused before anything is written.
    let plain_bucket = unique_dashed("lb-nolock");
    create_bucket(&env, &endpoint, &plain_bucket, false);
    let unlocked = Remote::s3(&env, &endpoint, &plain_bucket, "repo");
    unlocked.init();
    unlocked
        .run(&["backup", "stdin", "--name", "x", "--lock-days", "3"], b"data")
        .code(EXIT_FAILURE)
        .stderr_has("object lock");
    assert!(unlocked.list_ids().is_empty());

    // Copied there, the locked backup is not claimed locked and the copy says why.
    let mut copy = repo.cmd(&["copy", &longer, "--to", &unlocked.url, "--json"]);
    copy.env("LIFEBOAT_TO_PASSWORD", PASSWORD);
    let out = run(copy, b"");
    out.ok();
    assert_eq!(out.json()["locks_dropped"], serde_json::json!([longer]), "{}", out.text());
    let shown = unlocked.run(&["show", &longer, "--json"], b"").json();
    assert!(shown["locked_until"].is_null(), "{shown}");
    assert!(shown["warnings"].to_string().contains("without its object lock"), "{shown}");
    // Copied into another bucket with object lock, the packs it needs are locked there too.
    let offsite_bucket = unique_dashed("lb-lock-offsite");
    create_bucket(&env, &endpoint, &offsite_bucket, true);
    let offsite = Remote::s3(&env, &endpoint, &offsite_bucket, "repo");
    offsite.init();
    let mut copy = repo.cmd(&["copy", &longer, "--to", &offsite.url, "--json"]);
    copy.env("LIFEBOAT_TO_PASSWORD", PASSWORD);
    run(copy, b"").ok();
    let carried = pack_retentions(&env, &endpoint, &offsite_bucket);
    assert!(!carried.is_empty() && carried.iter().all(|(_, r)| r.is_some_and(|r| r.reaches(far(1.9)))), "{carried:?}");
    assert!(offsite.run(&["show", &longer, "--json"], b"").json()["locked_until"].is_string());
    assert_eq!(offsite.restore_stdout(&longer), b"immutable for a day");
}

#[test]
fn wrong_credentials_and_a_missing_bucket_are_clear_errors() {
    // s3s-fs checks SigV4 signatures (moto accepts any).
    let env = s3_env();
    let endpoint = env["LIFEBOAT_TEST_S3_ENDPOINT"].clone();
    let bucket = unique_dashed("lb-auth");
    create_bucket(&env, &endpoint, &bucket, false);
    let good = Remote::s3(&env, &endpoint, &bucket, "r");
    good.init();

    let secret = "definitely-not-the-secret-0123456789";
    let mut bad = Remote::s3(&env, &endpoint, &bucket, "r");
    bad.vars.retain(|(k, _)| k != "AWS_SECRET_ACCESS_KEY");
    bad.vars.push(("AWS_SECRET_ACCESS_KEY".into(), secret.into()));
    let out = bad.run(&["list"], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has("credentials");
    assert!(!out.all().contains(secret), "the secret never reaches the output");
    assert!(!out.stderr.contains("retrying"), "an auth error is not retried: {}", out.stderr);
    let out = bad.run(&["backup", "stdin", "--name", "x"], b"data");
    out.code(EXIT_FAILURE).stderr_has("credentials");
    assert!(!out.stderr.contains("retrying"), "an auth error is not retried: {}", out.stderr);
    assert!(good.list_ids().is_empty(), "nothing was written with the wrong secret");

    // moto answers NoSuchBucket (s3s-fs 0.14 would create objects in a missing bucket).
    let moto = env["LIFEBOAT_TEST_MOTO_ENDPOINT"].clone();
    let missing = Remote::s3(&env, &moto, "no-such-bucket-lifeboat-cli", "r");
    missing.run(&["init"], b"").code(EXIT_FAILURE).no_panic().stderr_has("no-such-bucket-lifeboat-cli");
    missing.run(&["list"], b"").code(EXIT_FAILURE).stderr_has("NoSuchBucket");
}

/// A private s3s-fs the test can kill and bring back on the same data.
struct PrivateS3 {
    child: std::process::Child,
}

impl PrivateS3 {
    fn start(env: &HashMap<String, String>, dir: &std::path::Path, port: u16) -> PrivateS3 {
        let child = Command::new(&env["LIFEBOAT_TEST_S3S_BIN"])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &env["AWS_ACCESS_KEY_ID"], "--secret-key", &env["AWS_SECRET_ACCESS_KEY"]])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        PrivateS3 { child }
    }
}

impl Drop for PrivateS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn server_killed_mid_backup_leaves_nothing_listed_and_the_next_run_succeeds() {
    let env = s3_env();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let mut server = PrivateS3::start(&env, data_dir.path(), port);
    let endpoint = format!("http://127.0.0.1:{port}");
    create_bucket(&env, &endpoint, "victim", false);
    let repo = Remote::s3(&env, &endpoint, "victim", "repo");
    repo.init();

    // A slow stdin: 24 MiB in 1 MiB steps, so the server dies with parts already sent.
    let mut cmd = repo.cmd(&["backup", "stdin", "--name", "interrupted"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start backup");
    let mut stdin = child.stdin.take().expect("stdin");
    let (fed_tx, fed_rx) = std::sync::mpsc::channel::<usize>();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        for i in 0..24 {
            if stdin.write_all(&random_bytes(1024 * 1024, 300 + i)).is_err() {
                return;
            }
            let _ = fed_tx.send(i as usize + 1);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    // After 12 MiB (two 5 MiB parts in flight or done), the server dies.
    while fed_rx.recv_timeout(Duration::from_secs(60)).expect("the backup reads its input") < 12 {}
    server.child.kill().expect("kill s3s-fs");
    server.child.wait().expect("reap s3s-fs");
    let out = collect(child, "backup stdin (server killed)");
    feeder.join().expect("feeder");
    out.code(EXIT_FAILURE).no_panic().stderr_has(&format!("127.0.0.1:{port}"));

    // The server comes back on the same data: nothing listed, no data object, and the next
    // backup succeeds.
    let _server = PrivateS3::start(&env, data_dir.path(), port);
    assert!(repo.list_ids().is_empty(), "the interrupted backup is not listed");
    let keys = bucket_keys(&env, &endpoint, "victim");
    assert!(!keys.iter().any(|k| k.starts_with("repo/data/")), "no partial object: {keys:?}");
    let data = random_bytes(6 * 1024 * 1024, 7);
    let id = repo.backup_stdin("after", &data, &[]);
    assert_eq!(repo.restore_stdout(&id), data);
    repo.run(&["verify", "--deep"], b"").ok();
}

#[test]
fn webdav_repository_round_trip() {
    let env = server_env("test-webdav.env", "bash scripts/webdav-server.sh start", WEBDAV_VARS);
    let repo = Remote {
        tmp: tempfile::tempdir().expect("tempdir"),
        url: format!("{}/{}", env["LIFEBOAT_TEST_WEBDAV_URL"], unique_dashed("cli")),
        vars: vec![("LIFEBOAT_WEBDAV_PASSWORD".into(), env["LIFEBOAT_WEBDAV_PASSWORD"].clone())],
    };
    repo.init();
    let data = random_bytes(3 * 1024 * 1024 + 5, 77);
    let id = repo.backup_stdin("webdav", &data, &["--plan", "dav"]);
    assert_eq!(repo.list_ids(), vec![id.clone()]);
    assert_eq!(repo.restore_stdout(&id), data);
    repo.run(&["verify", "--deep"], b"").ok();
    // A wrong WebDAV password is one clear error that does not echo it.
    let mut wrong = repo.cmd(&["list"]);
    wrong.env("LIFEBOAT_WEBDAV_PASSWORD", "not-the-webdav-password");
    let out = run(wrong, b"");
    out.code(EXIT_FAILURE).no_panic();
    assert!(!out.all().contains("not-the-webdav-password"));
}
