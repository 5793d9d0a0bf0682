//! The conventions an operator who lives in restic and borgmatic expects (issue 15): a
//! password command, completions and a man page, global options apart in the help, no
//! colour off a terminal, `-v` levels, and `version --json`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::*;

/// `lifeboat ARGS` with no repository and no password in the environment.
fn bare(args: &[&str]) -> Out {
    let mut cmd = lifeboat();
    cmd.args(args);
    run(cmd, b"")
}

/// Writes an executable shell script.
fn script(path: &Path, body: &str) -> String {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_str().expect("utf-8").to_owned()
}

/// The repository of `env` opened with no password variable, only `LIFEBOAT_PASSWORD_COMMAND`.
fn with_command(env: &Env, command: &str, args: &[&str]) -> Out {
    let mut cmd = env.cmd(args);
    cmd.env_remove("LIFEBOAT_PASSWORD").env("LIFEBOAT_PASSWORD_COMMAND", command);
    run(cmd, b"")
}

#[test]
fn password_command_gives_the_password_and_its_failures_show_no_output() {
    let env = Env::init();
    let id = env.backup_stdin("by-command", b"read with a password command");
    // One trailing newline is the end of the line, not part of the password.
    let good = script(&env.path("good.sh"), &format!("printf '%s\\n' '{PASSWORD}'"));
    let out = with_command(&env, &good, &["restore", &id, "--stdout"]);
    out.ok().no_panic();
    assert_eq!(out.stdout, b"read with a password command");
    // Arguments are split as a shell would split them, quotes included; no shell runs.
    let echo = script(&env.path("echo.sh"), "printf '%s\\n' \"$1\"");
    let quoted = format!("{echo} '{PASSWORD}'");
    with_command(&env, &quoted, &["restore", &id, "--stdout"]).ok();
    // The command takes precedence over $LIFEBOAT_PASSWORD.
    let mut cmd = env.cmd(&["list"]);
    cmd.env("LIFEBOAT_PASSWORD", "not the password").env("LIFEBOAT_PASSWORD_COMMAND", &good);
    run(cmd, b"").ok();

    // A failing command: named, with its exit status, its output not shown.
    let failing = script(&env.path("failing.sh"), "echo 'leaked-secret-text'; exit 3");
    let out = with_command(&env, &failing, &["list"]);
    out.code(EXIT_FAILURE).no_panic().stderr_has("failing.sh").stderr_has("LIFEBOAT_PASSWORD_COMMAND");
    out.stderr_has("exit status: 3");
    assert!(!out.all().contains("leaked-secret-text"), "the command's output was shown:\n{}", out.all());
    // Empty output, and a program that does not exist.
    let empty = script(&env.path("empty.sh"), "printf '\\n'");
    with_command(&env, &empty, &["list"]).code(EXIT_FAILURE).stderr_has("printed no password");
    let missing = env.path("no-such-program");
    with_command(&env, missing.to_str().expect("utf-8"), &["list"])
        .code(EXIT_FAILURE)
        .stderr_has("cannot run")
        .stderr_has("no-such-program");
    with_command(&env, "'unclosed", &["list"]).code(EXIT_FAILURE).stderr_has("unclosed quote");
    // The password never reaches the logs, even at the most verbose level; where it came from does.
    let out = with_command(&env, &good, &["-vvv", "list"]);
    out.ok().stderr_has("repository password from a command");
    assert!(!out.all().contains(PASSWORD), "the password was printed:\n{}", out.all());
}

#[test]
fn completions_for_bash_zsh_and_fish_are_generated_from_the_commands() {
    let out = bare(&["completions", "bash"]);
    out.ok().no_panic();
    let bash = out.text();
    for word in ["_lifeboat", "backup", "restore", "verify", "completions", "--limit-upload"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    for shell in ["zsh", "fish"] {
        let out = bare(&["completions", shell]);
        out.ok();
        assert!(out.text().contains("restore"), "{shell} completion lacks the restore command");
    }
    bare(&["completions", "tcsh"]).code(EXIT_USAGE).stderr_has("bash");
}

/// The first line of a roff page after clap_mangen's definition of the `Aq` string (an
/// `.ie`/`.el` pair that comes before the title so the title may use it), up to its section.
fn title_line(page: &str) -> Option<&str> {
    let line = page.lines().find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))?;
    line.starts_with(".TH ").then(|| line.splitn(4, ' ').take(3).map(str::len).sum::<usize>() + 2).map(|n| &line[..n])
}

#[test]
fn man_page_is_roff_on_stdout_or_one_page_per_command_in_a_directory() {
    let out = bare(&["man"]);
    out.ok().no_panic();
    let page = out.text();
    assert_eq!(title_line(&page), Some(".TH lifeboat 1"), "not a roff man page: {}", &page[..page.len().min(200)]);
    assert!(page.contains("lifeboat") && page.contains("restore"), "the page lacks the commands");
    let dir = tempfile::tempdir().expect("tmp");
    let pages = dir.path().join("man1");
    bare(&["man", "--dir", pages.to_str().expect("utf-8")]).ok();
    for name in ["lifeboat.1", "lifeboat-backup.1", "lifeboat-backup-files.1", "lifeboat-restore.1"] {
        let text = std::fs::read_to_string(pages.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(title_line(&text).is_some_and(|l| l.starts_with(".TH lifeboat")), "{name} is not roff");
    }
}

#[test]
fn help_shows_the_global_options_apart_from_the_commands() {
    let out = bare(&["restore", "--help"]);
    out.ok();
    let help = out.text();
    let global = help.find("Global options:").unwrap_or_else(|| panic!("no Global options heading:\n{help}"));
    let (own, globals) = help.split_at(global);
    assert!(own.contains("--target") && own.contains("--stdout"), "restore's own options are not first:\n{help}");
    assert!(!own.contains("--repo") && !own.contains("--limit-upload"), "global options among restore's:\n{help}");
    assert!(globals.contains("--repo") && globals.contains("--password-file") && globals.contains("--verbose"));
    assert!(!globals.contains("--target"), "restore's --target under the global heading:\n{help}");
}

#[test]
fn no_colour_off_a_terminal_and_no_color_wins_over_forcing() {
    // Piped stderr: no escape sequences in a usage error or in log lines.
    let env = Env::init();
    let out = env.run(&["-vv", "list"], b"");
    out.ok();
    assert!(out.stderr.contains("DEBUG"), "no debug lines at -vv:\n{}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "escape sequences on a pipe:\n{:?}", out.stderr);
    let out = bare(&["restore"]);
    out.code(EXIT_USAGE);
    assert!(!out.stderr.contains('\u{1b}'), "escape sequences on a pipe:\n{:?}", out.stderr);
    // Forced colour shows this check sees colour at all; NO_COLOR turns it off again.
    let forced = |no_color: bool, args: &[&str]| {
        let mut cmd = env.cmd(args);
        cmd.env("CLICOLOR_FORCE", "1");
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        run(cmd, b"")
    };
    for args in [&["restore"][..], &["-vv", "list"][..]] {
        assert!(forced(false, args).stderr.contains('\u{1b}'), "CLICOLOR_FORCE gave no colour for {args:?}");
        let out = forced(true, args);
        assert!(!out.stderr.contains('\u{1b}'), "NO_COLOR ignored for {args:?}:\n{:?}", out.stderr);
    }
}

#[test]
fn each_v_adds_detail() {
    let env = Env::init();
    let levels: Vec<String> = ["", "-v", "-vv", "-vvv"]
        .iter()
        .map(|v| {
            let mut args: Vec<&str> = v.split_whitespace().collect();
            args.extend(["backup", "stdin", "--name", "verbose"]);
            let out = env.run(&args, b"data");
            out.ok();
            out.stderr
        })
        .collect();
    let count = |text: &str, level: &str| text.lines().filter(|l| l.contains(level)).count();
    assert_eq!(count(&levels[0], " INFO "), 0, "info lines without -v:\n{}", levels[0]);
    assert!(count(&levels[1], " INFO ") > 0, "no info lines at -v:\n{}", levels[1]);
    assert_eq!(count(&levels[1], "DEBUG"), 0, "debug lines at -v:\n{}", levels[1]);
    assert!(count(&levels[2], "DEBUG") > 0, "no debug lines at -vv:\n{}", levels[2]);
    assert!(levels[2].contains("lifeboat"), "-vv names no target:\n{}", levels[2]);
    assert_eq!(count(&levels[2], "TRACE"), 0, "trace lines at -vv:\n{}", levels[2]);
    assert!(count(&levels[3], "TRACE") > 0, "no trace lines at -vvv:\n{}", levels[3]);
    assert!(levels[3].contains(".rs:"), "-vvv gives no source lines:\n{}", levels[3]);
}

#[test]
fn version_prints_the_binary_and_format_versions() {
    let out = bare(&["version", "--json"]);
    out.ok().no_panic();
    let json = out.json();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["formats"]["object"]["reads"], serde_json::json!([1, 2]));
    assert_eq!(json["formats"]["object"]["writes"], 2);
    assert_eq!(json["formats"]["config"]["writes"], 2);
    assert_eq!(json["formats"]["manifest"]["reads"], serde_json::json!([2, 3]));
    assert_eq!(json["formats"]["manifest"]["writes"], 2);
    assert_eq!(json["formats"]["manifest"]["writes_in_format_3_repositories"], 3);
    assert!(json["formats"]["object"].get("writes_in_format_3_repositories").is_none(), "{json}");
    let out = bare(&["version"]);
    out.ok();
    let text = out.text();
    assert!(text.starts_with(&format!("lifeboat {}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains("object") && text.contains("reads 1 and 2, writes 2"), "{text}");
    // --version, clap's, agrees.
    bare(&["--version"]).ok().output_has(env!("CARGO_PKG_VERSION"));
}
