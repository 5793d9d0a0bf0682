//! The errors a newcomer from restic or borg meets in the first hour (issue 15): each says
//! what to type instead, and what the environment already gives is not asked for again.

use std::path::Path;

use crate::common::*;

/// `lifeboat ARGS` with no repository and no password in the environment.
fn bare(args: &[&str]) -> Out {
    let mut cmd = lifeboat();
    cmd.args(args);
    run(cmd, b"")
}

/// The usage line of a usage error (the line that starts with "Usage:").
fn usage_line(out: &Out) -> String {
    out.stderr
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_else(|| panic!("no usage line:\n{}", out.stderr))
        .to_owned()
}

#[test]
fn backup_of_a_path_suggests_backup_files() {
    let out = bare(&["backup", "/srv/data"]);
    out.code(EXIT_USAGE).no_panic().stderr_has("unrecognized subcommand");
    out.stderr_has("tip:").stderr_has("'lifeboat backup files /srv/data'");
    // A path that needs quoting is quoted as a shell would need it.
    let out = bare(&["backup", "/srv/my data"]);
    out.code(EXIT_USAGE).stderr_has("lifeboat backup files '/srv/my data'");
    // A near miss keeps clap's own suggestion, and only that one.
    let out = bare(&["backup", "fils"]);
    out.code(EXIT_USAGE).stderr_has("a similar subcommand exists: 'files'");
    assert!(!out.stderr.contains("backup files fils"), "{}", out.stderr);
    // Another command's unknown subcommand gets no backup tip.
    let out = bare(&["key", "/srv/data"]);
    out.code(EXIT_USAGE);
    assert!(!out.stderr.contains("backup files"), "{}", out.stderr);
}

#[test]
fn missing_restore_target_usage_does_not_list_what_the_environment_gives() {
    let env = Env::new();
    let password = env.path("password");
    std::fs::write(&password, PASSWORD).expect("write password");
    let mut cmd = env.cmd(&["restore", "latest"]);
    cmd.env("LIFEBOAT_PASSWORD_FILE", &password);
    let out = run(cmd, b"");
    out.code(EXIT_USAGE).no_panic().stderr_has("required arguments were not provided").stderr_has("--target");
    let usage = usage_line(&out);
    assert!(usage.contains("lifeboat restore") && usage.contains("<ID>"), "{usage}");
    assert!(usage.contains("--target"), "the missing destination is in the usage: {usage}");
    for given in ["--repo", "--password-file", "--state-dir"] {
        assert!(!usage.contains(given), "{given}, set through the environment, is listed as required: {usage}");
    }
}

#[test]
fn empty_file_variables_count_as_unset() {
    let env = Env::init();
    let id = env.backup_stdin("empty-vars", b"some data");
    for var in ["LIFEBOAT_PASSWORD_FILE", "LIFEBOAT_KEY_FILE", "LIFEBOAT_IDENTITY_FILE", "LIFEBOAT_PASSWORD_COMMAND"] {
        let mut cmd = env.cmd(&["restore", &id, "--stdout"]);
        cmd.env(var, "");
        let out = run(cmd, b"");
        out.ok().no_panic();
        assert_eq!(out.stdout, b"some data", "{var}= changed what was restored");
    }
    // The destination's password file of copy and sync, too: $LIFEBOAT_TO_PASSWORD is used.
    let dest = Env::init();
    let mut cmd = env.cmd(&["copy", &id, "--to", dest.repo.to_str().expect("utf-8")]);
    cmd.env("LIFEBOAT_TO_PASSWORD_FILE", "").env("LIFEBOAT_TO_PASSWORD", PASSWORD);
    run(cmd, b"").ok().no_panic();
    assert_eq!(dest.restore_stdout(&id), b"some data");
}

#[test]
fn limits_and_segment_sizes_take_unit_suffixes() {
    let env = Env::init();
    let id = env.backup_stdin("limited", b"limited data");
    let out = env.run(&["--limit-upload", "5M", "--limit-download", "64KiB", "restore", &id, "--stdout"], b"");
    out.ok().no_panic();
    assert_eq!(out.stdout, b"limited data");
    env.run(&["--limit-upload", "1GB", "list"], b"").ok();
    let out = env.run(&["--limit-upload", "5X", "list"], b"");
    out.code(EXIT_USAGE).stderr_has("--limit-upload").stderr_has("unknown unit").stderr_has("KiB");
    let out = env.run(&["--limit-download", "1.5M", "list"], b"");
    out.code(EXIT_USAGE).stderr_has("fractions are not accepted");

    // init --segment-size 64K makes 64 KiB segments (of format 2's objects).
    let small = Env::new();
    let mut args = vec!["init", "--format", "2", "--segment-size", "64K"];
    args.extend(cheap_kdf());
    small.run(&args, b"").ok().no_panic();
    let id = small.backup_stdin("segments", &random_bytes(200_000, 3));
    let object = std::fs::read(small.repo.join(small.object_key(&id, "stream"))).expect("object");
    let (_, ranges) = segments(&object);
    assert_eq!(ranges.len(), 4, "200000 bytes in 64 KiB segments are 4 segments");
    let too_big = Env::new();
    let out = too_big.run(&["init", "--segment-size", "8G"], b"");
    out.code(EXIT_USAGE).stderr_has("--segment-size");
    // The help says which suffixes are accepted.
    bare(&["--help"]).ok().output_has("KiB/MiB/GiB/TiB");
    bare(&["init", "--help"]).ok().output_has("64K");
}

/// Writes an identity with `key recipient generate` and returns its public key.
fn generate_identity(path: &Path) -> String {
    let out = bare(&["key", "recipient", "generate", "--output", path.to_str().expect("utf-8")]);
    out.ok();
    out.text().trim().to_owned()
}

#[test]
fn a_password_sealed_backup_read_with_an_identity_says_to_use_the_password() {
    let env = Env::init();
    // Written before the identity became a recipient: sealed for the master key only.
    let id = env.backup_stdin("before-recipient", b"only the password reads this");
    let identity = env.path("reader.identity");
    let public = generate_identity(&identity);
    env.run(&["key", "recipient", "add", &public], b"").ok();
    let reader = Env { tmp: tempfile::tempdir().expect("tmp"), repo: env.repo.clone(), password: None };
    let id_file = identity.to_str().expect("utf-8");

    for (args, action) in [(vec!["list"], "listed"), (vec!["verify"], "checked")] {
        let mut full = args.clone();
        full.extend(["--identity-file", id_file]);
        let out = reader.run(&full, b"");
        out.no_panic().stderr_has(&format!("1 backup(s) were not {action}"));
        out.stderr_has("this identity is not among their recipients").stderr_has("use the password");
        assert!(!out.stderr.contains("sealed for recipients only"), "{}", out.stderr);
        assert!(!out.stderr.contains("pass --identity-file"), "it was passed: {}", out.stderr);
    }
    let out = reader.run(&["restore", &id, "--stdout", "--identity-file", id_file], b"");
    out.code(EXIT_FAILURE).no_panic().stderr_has("this identity is not among the backup's recipients");
    out.stderr_has("use the password");
    // `latest` does not see it, and says where to look.
    let out = reader.run(&["restore", "latest", "--stdout", "--identity-file", id_file], b"");
    out.code(EXIT_FAILURE).stderr_has("no backup matches").stderr_has("sealed for this identity");
    out.stderr_has("need the password");
    // The password still reads it.
    assert_eq!(env.restore_stdout(&id), b"only the password reads this");
}

#[test]
fn restic_and_borg_command_names_point_to_lifeboats() {
    for (theirs, ours) in
        [("snapshots", "'lifeboat list'"), ("check", "'lifeboat verify'"), ("extract", "'lifeboat restore")]
    {
        let out = bare(&[theirs]);
        out.code(EXIT_USAGE).no_panic().stderr_has("unrecognized subcommand").stderr_has(ours);
    }
    // A name nobody uses gets no tip.
    let out = bare(&["frobnicate"]);
    out.code(EXIT_USAGE);
    assert!(!out.stderr.contains("tip:"), "{}", out.stderr);
}

#[test]
fn no_password_anywhere_names_every_source() {
    let env = Env { password: None, ..Env::init() };
    let out = env.run(&["list"], b"");
    out.code(EXIT_FAILURE).stderr_has("LIFEBOAT_PASSWORD_COMMAND").stderr_has("LIFEBOAT_PASSWORD_FILE");
}
