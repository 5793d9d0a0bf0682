//! Key management through the `lifeboat` binary: extra passwords and key files, password
//! changes, master-key rotation, X25519 recipients and write-only backups, and copies to a
//! repository with other keys.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::*;

const SECOND: &str = "a second, much longer password";

/// The same repository opened with another password (or none).
fn with_password(env: &Env, password: Option<&str>) -> Env {
    Env { tmp: tempfile::tempdir().expect("tmp"), repo: env.repo.clone(), password: password.map(str::to_owned) }
}

fn key_list(env: &Env) -> serde_json::Value {
    let out = env.run(&["key", "list", "--json"], b"");
    out.ok();
    out.json()
}

fn slot_count(env: &Env) -> usize {
    key_list(env)["slots"].as_array().expect("slots").len()
}

fn write_file(path: &Path, text: &str) -> String {
    std::fs::write(path, text).expect("write");
    path.to_str().expect("utf-8").to_owned()
}

#[test]
fn added_password_opens_the_repository_too() {
    let env = Env::init();
    let data = random_bytes(120_000, 1);
    let id = env.backup_stdin("s", &data);
    let pw2 = write_file(&env.path("second.pw"), &format!("{SECOND}\n"));

    let out = env.run(&["key", "add", "--new-password-file", &pw2, "--label", "ops laptop"], b"");
    out.ok().no_panic().output_has("added key slot");
    assert!(!out.all().contains(SECOND) && !out.all().contains(PASSWORD), "key add printed a password");
    let listing = key_list(&env);
    assert_eq!(listing["slots"].as_array().expect("slots").len(), 2, "{listing}");
    assert!(listing.to_string().contains("ops laptop"), "label missing: {listing}");
    assert!(!listing.to_string().contains(SECOND) && !listing.to_string().contains(PASSWORD));

    let second = with_password(&env, Some(SECOND));
    assert_eq!(second.restore_stdout(&id), data, "the added password restores");
    assert_eq!(env.restore_stdout(&id), data, "the first password still restores");
    let id2 = second.backup_stdin("by-second", b"written with the second password");
    assert_eq!(env.restore_stdout(&id2), b"written with the second password");
    with_password(&env, Some("neither")).run(&["list"], b"").code(EXIT_FAILURE).stderr_has("wrong password");

    // Removing the second slot locks that password out; the last slot cannot be removed.
    let slots: Vec<String> =
        listing["slots"].as_array().expect("slots").iter().map(|s| s["id"].as_str().expect("id").to_owned()).collect();
    env.run(&["key", "remove", &slots[1]], b"").ok();
    second.run(&["list"], b"").code(EXIT_FAILURE).stderr_has("wrong password");
    // A refused key operation must release its exclusive lock, or it blocks every backup.
    let mut stale = Vec::new();
    for (slot, message) in [(slots[0].as_str(), "last key slot"), ("0000000000000000", "0000000000000000")] {
        env.run(&["key", "remove", slot], b"").code(EXIT_FAILURE).stderr_has(message);
        std::thread::sleep(std::time::Duration::from_millis(500));
        let locks = lock_files(&env.repo);
        if !locks.is_empty() {
            stale.push(format!("`key remove {slot}` left {locks:?}"));
            env.run(&["unlock", "--all"], b"").ok(); // so the remaining checks still run
        }
    }
    assert_eq!(env.list_ids(), vec![id, id2]);
    assert!(stale.is_empty(), "refused key operations left exclusive locks behind: {stale:?}");
}

#[test]
fn generated_key_file_opens_the_repository() {
    let env = Env::init();
    let data = random_bytes(80_000, 2);
    let id = env.backup_stdin("s", &data);
    let key_file = env.path("escrow.key");
    let kf = key_file.to_str().expect("utf-8");

    env.run(&["key", "add", "--new-key-file", kf, "--generate", "--label", "escrow"], b"").ok().no_panic();
    let meta = std::fs::metadata(&key_file).expect("key file created");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "key file mode");
    assert_eq!(meta.len(), 32, "key file size");
    let content = std::fs::read(&key_file).expect("read key file");

    let keyed = with_password(&env, None);
    let out = keyed.run(&["restore", &id, "--stdout", "--key-file", kf], b"");
    out.ok();
    assert!(out.stdout == data, "restore with the key file differs");
    let mut by_var = keyed.cmd(&["list", "--json"]);
    by_var.env("LIFEBOAT_KEY_FILE", &key_file);
    let listed = run(by_var, b"");
    listed.ok();
    assert_eq!(ids_of(&listed.json()), vec![id.clone()]);

    // --generate never overwrites an existing file.
    env.run(&["key", "add", "--new-key-file", kf, "--generate"], b"").code(EXIT_FAILURE).stderr_has(kf);
    assert_eq!(std::fs::read(&key_file).expect("read"), content, "--generate overwrote the key file");
    assert_eq!(slot_count(&env), 2);
    // Another file of random bytes is a wrong key.
    let other = env.path("other.key");
    std::fs::write(&other, random_bytes(32, 99)).expect("write");
    keyed
        .run(&["list", "--key-file", other.to_str().expect("utf-8")], b"")
        .code(EXIT_FAILURE)
        .stderr_has("wrong password or key file");
    keyed.run(&["list", "--key-file", "/nonexistent/key"], b"").code(EXIT_FAILURE).stderr_has("/nonexistent/key");
}

#[test]
fn passwd_replaces_the_password() {
    let env = Env::init();
    let data = random_bytes(60_000, 3);
    let id = env.backup_stdin("s", &data);
    let mut cmd = env.cmd(&["key", "passwd"]);
    cmd.env("LIFEBOAT_NEW_PASSWORD", SECOND);
    let out = run(cmd, b"");
    out.ok().no_panic().output_has("password changed");
    assert!(!out.all().contains(SECOND), "passwd printed the new password");

    env.run(&["list"], b"").code(EXIT_FAILURE).stderr_has("wrong password");
    let new = with_password(&env, Some(SECOND));
    assert_eq!(new.restore_stdout(&id), data);
    assert_eq!(slot_count(&new), 1, "the old slot is gone");
    let config = std::fs::read_to_string(env.repo.join("config")).expect("config");
    assert!(!config.contains(SECOND) && !config.contains(PASSWORD), "a password is stored in the config");
}

#[test]
fn rotate_keeps_backups_and_drops_other_slots_without_touching_data() {
    let env = Env::init_v2();
    let stream = random_bytes(2 * 1024 * 1024 + 77, 4);
    let id_stream = env.backup_stdin("stream", &stream);
    let src = env.path("tree");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(src.join("f.txt"), "tree content\n").expect("write");
    let id_files = backup_id(env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"").ok());
    let pw2 = write_file(&env.path("second.pw"), SECOND);
    env.run(&["key", "add", "--new-password-file", &pw2], b"").ok();
    let key_file = env.path("k.key");
    env.run(&["key", "add", "--new-key-file", key_file.to_str().expect("utf-8"), "--generate"], b"").ok();
    assert_eq!(slot_count(&env), 3);

    let data_before = snapshot(&env.repo.join("data"));
    let manifests_before = snapshot(&env.repo.join("backups"));
    assert_eq!(data_before.len(), 2, "two data objects");
    let config_before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.repo.join("config")).expect("config")).expect("json");

    let out = env.run(&["key", "rotate", "--json"], b"");
    out.ok().no_panic();
    let report = out.json();
    assert_eq!(report["manifests_resealed"], 2, "{report}");
    assert_eq!(report["slots_removed"].as_array().expect("slots_removed").len(), 2, "{report}");
    assert_ne!(report["new_key_id"], config_before["master_key_id"], "the master key id did not change");

    // Data objects are byte-identical (same files, same bytes); manifests were re-sealed.
    let data_after = snapshot(&env.repo.join("data"));
    assert_eq!(data_before.keys().collect::<Vec<_>>(), data_after.keys().collect::<Vec<_>>(), "data files changed");
    for (path, bytes) in &data_before {
        assert!(data_after[path] == *bytes, "data object {} was rewritten", path.display());
    }
    let manifests_after = snapshot(&env.repo.join("backups"));
    assert_eq!(manifests_before.keys().collect::<Vec<_>>(), manifests_after.keys().collect::<Vec<_>>());
    for (path, bytes) in &manifests_before {
        assert!(manifests_after[path] != *bytes, "manifest {} was not re-sealed", path.display());
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.repo.join("config")).expect("config")).expect("json");
    assert_eq!(config["slots"].as_array().expect("slots").len(), 1, "{config}");
    assert_eq!(config["retired_master_keys"].as_array().map_or(0, Vec::len), 0, "rotation left retired keys");

    // The current password reads everything; the other password and the key file open nothing.
    assert_eq!(env.restore_stdout(&id_stream), stream);
    let target = env.path("restored");
    env.run(&["restore", &id_files, "--target", target.to_str().expect("utf-8")], b"").ok();
    let canonical = std::fs::canonicalize(&src).expect("canonicalize");
    let restored = target.join(canonical.strip_prefix("/").expect("absolute")).join("f.txt");
    assert_eq!(std::fs::read(restored).expect("restored file"), b"tree content\n");
    env.run(&["verify", "--deep"], b"").ok();
    with_password(&env, Some(SECOND)).run(&["list"], b"").code(EXIT_FAILURE).stderr_has("wrong password");
    with_password(&env, None)
        .run(&["list", "--key-file", key_file.to_str().expect("utf-8")], b"")
        .code(EXIT_FAILURE)
        .stderr_has("wrong password or key file");
    // New backups after a rotation work as before.
    let id3 = env.backup_stdin("after", b"after rotation");
    assert_eq!(env.list_ids(), vec![id_stream, id_files, id3]);
}

#[test]
fn recipients_allow_write_only_backups_read_with_the_identity() {
    let env = Env::init();
    let identity = env.path("owner.identity");
    let id_path = identity.to_str().expect("utf-8");

    // Generating an identity needs no repository and prints only the public key.
    let out = run(
        {
            let mut cmd = lifeboat();
            cmd.args(["key", "recipient", "generate", "--output", id_path]);
            cmd
        },
        b"",
    );
    out.ok().no_panic();
    let public = out.text().trim().to_owned();
    assert!(public.starts_with("lbpk1") && public.len() == 69, "not an lbpk1 key: {public:?}");
    assert!(public[5..].chars().all(|c| c.is_ascii_hexdigit()), "not hex: {public}");
    let secret_text = std::fs::read_to_string(&identity).expect("identity file");
    assert!(secret_text.contains("lbsk1"), "identity file holds no lbsk1 key");
    assert!(!out.all().contains("lbsk1"), "the secret key was printed");
    assert_eq!(std::fs::metadata(&identity).expect("meta").permissions().mode() & 0o777, 0o600);
    // It never overwrites.
    let again = run(
        {
            let mut cmd = lifeboat();
            cmd.args(["key", "recipient", "generate", "--output", id_path]);
            cmd
        },
        b"",
    );
    again.code(EXIT_FAILURE).stderr_has(id_path);
    assert_eq!(std::fs::read_to_string(&identity).expect("identity"), secret_text);

    env.run(&["key", "recipient", "add", &public, "--label", "owner"], b"").ok().no_panic();
    let listing = key_list(&env);
    assert!(listing["recipients"].to_string().contains(&public), "recipient not listed: {listing}");
    env.run(&["key", "recipient", "add", "lbpk1nothex"], b"").code(EXIT_FAILURE).stderr_has("recipient public key");

    // A backup written with the password after `recipient add` is readable by the identity.
    let by_password = random_bytes(90_000, 5);
    let id_pw = env.backup_stdin("by-password", &by_password);

    // A write-only host: no password at all, only the public key and its own writer key,
    // which a master-key holder registered.
    let write_only = with_password(&env, None);
    let writer_key = write_only.path("host.writer");
    let writer_key = writer_key.to_str().expect("utf-8");
    let out = write_only.run(&["key", "writer", "generate", "--output", writer_key], b"");
    out.ok().no_panic();
    let writer_public = out.text().trim().to_owned();
    assert!(writer_public.starts_with("lbwp1"), "not a writer public key: {writer_public:?}");
    assert!(!out.all().contains("lbws1"), "the writer's secret key was printed");
    let data = random_bytes(1_500_000, 6);
    // Unregistered, the writer is refused before anything is stored.
    let out = write_only.run(
        &["backup", "stdin", "--name", "write-only", "--recipient", &public, "--writer-key-file", writer_key],
        &data,
    );
    out.code(EXIT_FAILURE).stderr_has("not registered").stderr_has("key writer add");
    // Without a writer key at all, too.
    let out = write_only.run(&["backup", "stdin", "--name", "write-only", "--recipient", &public], &data);
    out.code(EXIT_FAILURE).stderr_has("--writer-key-file");
    env.run(&["key", "writer", "add", &writer_public, "--label", "backup host"], b"").ok().no_panic();
    assert!(key_list(&env)["writers"].to_string().contains(&writer_public), "writer not listed");
    let out = write_only.run(
        &["backup", "stdin", "--name", "write-only", "--recipient", &public, "--writer-key-file", writer_key, "--json"],
        &data,
    );
    out.ok().no_panic();
    let id_wo = backup_id(&out);

    let reader = with_password(&env, None);
    for (id, expected) in [(&id_wo, &data), (&id_pw, &by_password)] {
        let out = reader.run(&["restore", id, "--stdout", "--identity-file", id_path], b"");
        out.ok();
        assert!(out.stdout == *expected, "restore of {id} with the identity differs");
    }
    reader.run(&["verify", &id_wo, "--deep", "--identity-file", id_path], b"").ok();

    // The write-only host cannot read anything back.
    let out = write_only.run(&["list", "--recipient", &public], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has("write-only");
    assert!(!out.text().contains(&id_wo), "a write-only handle listed backups:\n{}", out.text());
    let out = write_only.run(&["restore", &id_wo, "--stdout", "--recipient", &public], b"");
    out.code(EXIT_FAILURE).stderr_has("write-only");
    assert!(out.stdout.is_empty(), "a write-only handle restored data");
    // A bad recipient key is refused before anything is written.
    write_only
        .run(&["backup", "stdin", "--name", "x", "--recipient", "lbpk1zz"], b"data")
        .code(EXIT_FAILURE)
        .stderr_has("recipient");
}

#[test]
fn copy_to_a_repository_with_another_password() {
    // Format 2 on both sides: the counts below are its objects (cli_v3 copies format 3).
    let env = Env::init_v2();
    let stream = random_bytes(1_300_000, 7);
    let id_stream = env.backup_stdin("stream", &stream);
    let src = env.path("tree");
    std::fs::create_dir_all(src.join("d")).expect("mkdir");
    std::fs::write(src.join("d/file.bin"), random_bytes(200_000, 8)).expect("write");
    let id_files = backup_id(env.run(&["backup", "files", src.to_str().expect("utf-8"), "--json"], b"").ok());

    const OFFSITE: &str = "the offsite password";
    let offsite =
        Env { tmp: tempfile::tempdir().expect("tmp"), repo: env.path("offsite"), password: Some(OFFSITE.into()) };
    let mut init = vec!["init", "--format", "2"];
    init.extend(cheap_kdf());
    offsite.run(&init, b"").ok();
    let to = offsite.repo.to_str().expect("utf-8");

    // A wrong destination password fails naming the destination, and copies nothing.
    let mut wrong = env.cmd(&["copy", "--to", to]);
    wrong.env("LIFEBOAT_TO_PASSWORD", "not the offsite password");
    run(wrong, b"").code(EXIT_FAILURE).no_panic().stderr_has("wrong password").stderr_has(to);
    assert_eq!(offsite.list_ids(), Vec::<String>::new());

    let mut copy = env.cmd(&["copy", "--to", to, "--json"]);
    copy.env("LIFEBOAT_TO_PASSWORD", OFFSITE);
    let out = run(copy, b"");
    out.ok().no_panic();
    let report = out.json();
    assert_eq!(report["copied"].as_array().expect("copied").len(), 2, "{report}");
    assert_eq!(report["objects_sent"], 2, "{report}");
    assert!(!out.all().contains(OFFSITE) && !out.all().contains(PASSWORD), "copy printed a password");

    // The copy keeps ids, restores identically with its own password, and the data objects
    // travelled byte for byte.
    assert_eq!(offsite.list_ids(), vec![id_stream.clone(), id_files.clone()]);
    assert_eq!(offsite.restore_stdout(&id_stream), stream);
    let target = env.path("restored");
    offsite.run(&["restore", &id_files, "--target", target.to_str().expect("utf-8")], b"").ok();
    let canonical: PathBuf = std::fs::canonicalize(&src).expect("canonicalize");
    let restored = target.join(canonical.strip_prefix("/").expect("absolute")).join("d/file.bin");
    assert!(std::fs::read(restored).expect("restored") == random_bytes(200_000, 8));
    let source_data: BTreeMap<_, _> = snapshot(&env.repo.join("data"));
    assert_eq!(snapshot(&offsite.repo.join("data")), source_data, "data objects differ between the repositories");
    offsite.run(&["verify", "--deep"], b"").ok();
    // The source password does not open the copy.
    with_password(&offsite, Some(PASSWORD)).run(&["list"], b"").code(EXIT_FAILURE).stderr_has("wrong password");

    // Copying again is idempotent.
    let mut again = env.cmd(&["copy", "--to", to, "--json"]);
    again.env("LIFEBOAT_TO_PASSWORD", OFFSITE);
    let out = run(again, b"");
    out.ok();
    let report = out.json();
    assert_eq!(report["copied"].as_array().expect("copied").len(), 0, "{report}");
    assert_eq!(report["skipped"].as_array().expect("skipped").len(), 2, "{report}");
    assert_eq!(report["objects_sent"], 0, "{report}");
    let mut text = env.cmd(&["copy", "--to", to]);
    text.env("LIFEBOAT_TO_PASSWORD", OFFSITE);
    run(text, b"").ok().output_has("copied 0 backup(s)");
    assert_eq!(offsite.list_ids(), vec![id_stream, id_files]);
}

/// Issue 9, item 5: a config saved before `key rotate` and put back is refused, naming both
/// generations and the flag; the flag accepts it on purpose.
#[test]
fn a_config_put_back_after_key_rotate_is_refused() {
    let env = Env::init();
    let config = env.repo.join("config");
    let old = std::fs::read(&config).expect("config");
    env.run(&["key", "rotate"], b"").ok().no_panic();
    let rotated: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).expect("config")).expect("json");
    let generation = rotated["generation"].as_u64().expect("generation");
    assert!(generation > 1, "rotation did not advance the generation: {rotated}");
    std::fs::write(&config, &old).expect("put the old config back");
    env.run(&["list"], b"")
        .code(EXIT_FAILURE)
        .no_panic()
        .stderr_has("generation 1")
        .stderr_has(&format!("generation {generation}"))
        .stderr_has("--accept-config-rollback");
    env.run(&["list", "--accept-config-rollback"], b"").ok();
}

/// Issue 9, item 7: a setting changed in the config by someone without the master key is
/// noticed by the next client that opens it.
#[test]
fn a_config_setting_changed_without_the_key_is_refused() {
    let env = Env::init();
    env.backup_stdin("before", b"some data");
    let path = env.repo.join("config");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("config")).expect("json");
    config["compression_level"] = 0.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("json")).expect("write config");
    let out = env.run(&["backup", "stdin", "--name", "after"], b"more data");
    out.code(EXIT_FAILURE).no_panic().stderr_has("MAC does not verify");
}
