//! Progress: on a terminal (a pseudo-terminal as standard error) a live line with counts,
//! bytes and a rate; with `-v` and no terminal a line every LIFEBOAT_PROGRESS_INTERVAL
//! seconds; with `--json` nothing but the JSON document on standard output.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use crate::common::*;

/// Files in the tree backed up.
const FILES: usize = 40;
/// Bytes per file (10 MiB in all).
const FILE_SIZE: usize = 256 * 1024;

/// A repository and a tree of [`FILES`] files.
fn fixture() -> (Env, String) {
    let env = Env::init_v2();
    let src = env.path("src");
    std::fs::create_dir(&src).expect("mkdir src");
    for n in 0..FILES {
        std::fs::write(src.join(format!("f{n:02}")), random_bytes(FILE_SIZE, n as u64)).expect("write file");
    }
    (env, src.to_str().expect("utf-8").to_owned())
}

/// A pseudo-terminal of 200 columns: (master, slave).
fn pty() -> (File, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize { ws_row: 50, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: two out-pointers to c_int, no name buffer, no termios, a valid winsize.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(rc, 0, "openpty failed: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two fresh descriptors that nothing else owns.
    unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Runs `cmd` with standard error on a pseudo-terminal; returns the exit code, standard
/// output and what the terminal showed.
fn on_terminal(mut cmd: Command) -> (i32, Vec<u8>, String) {
    let (mut master, slave) = pty();
    cmd.env("TERM", "xterm").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(slave));
    let mut child = cmd.spawn().expect("spawn lifeboat");
    // The parent's copy of the slave went into the Command; drop it so that the master
    // reads EOF (EIO) once the child is gone.
    drop(cmd);
    let screen = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = master.read(&mut buf) {
            shown.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&shown).into_owned()
    });
    let mut stdout = Vec::new();
    child.stdout.take().expect("piped stdout").read_to_end(&mut stdout).expect("read stdout");
    let status = wait_timeout(&mut child, TIMEOUT).expect("lifeboat finished");
    (status.code().unwrap_or(-1), stdout, screen.join().expect("terminal reader"))
}

#[test]
fn a_files_backup_and_verify_on_a_terminal_show_counts_bytes_and_a_rate() {
    let (env, src) = fixture();
    let (code, _, screen) = on_terminal(env.cmd(&["backup", "files", &src]));
    assert_eq!(code, EXIT_OK, "backup failed:\n{screen}");
    // `backup: 40/40 files, 10.0 MiB/10.0 MiB (100%), ...` once the estimate is in, else
    // `backup: 40 files, 10.0 MiB, ...`.
    assert!(screen.contains("backup: "), "no backup progress:\n{screen}");
    assert!(screen.contains(&format!("{FILES} files")), "no file count:\n{screen}");
    assert!(screen.contains("10.0 MiB"), "no byte count:\n{screen}");
    assert!(screen.contains("/s,"), "no rate:\n{screen}");

    for (args, what) in
        [(vec!["verify"], "verify: 1/1 objects"), (vec!["verify", "--deep"], "verify --deep: 1/1 objects")]
    {
        let (code, _, screen) = on_terminal(env.cmd(&args));
        assert_eq!(code, EXIT_OK, "{args:?} failed:\n{screen}");
        assert!(screen.contains(what), "{args:?}: no object count:\n{screen}");
        assert!(screen.contains("(100%)") && screen.contains("/s,"), "{args:?}: no bytes, share or rate:\n{screen}");
    }
}

#[test]
fn with_json_and_no_terminal_only_the_json_document_is_printed() {
    let (env, src) = fixture();
    let mut cmd = env.cmd(&["-v", "backup", "files", &src, "--json"]);
    cmd.env("LIFEBOAT_PROGRESS_INTERVAL", "0.01");
    let out = run(cmd, b"");
    out.ok();
    let doc = out.json();
    assert!(doc["id"].is_string(), "not the backup document: {doc}");
    assert!(!out.stderr.contains("lifeboat: backup:"), "progress with --json:\n{}", out.stderr);
}

#[test]
fn with_verbose_and_no_terminal_progress_lines_come_periodically_on_stderr() {
    let (env, src) = fixture();
    env.run(&["backup", "files", &src], b"").ok();
    let mut cmd = env.cmd(&["-v", "verify", "--deep"]);
    cmd.env("LIFEBOAT_PROGRESS_INTERVAL", "0.01");
    let out = run(cmd, b"");
    out.ok();
    let lines = out.stderr.lines().filter(|l| l.starts_with("lifeboat: verify --deep: ")).count();
    assert!(lines >= 2, "expected periodic progress lines:\n{}", out.stderr);
    assert!(out.stderr.contains("1/1 objects"), "no final count:\n{}", out.stderr);
    assert!(!out.text().contains("lifeboat: verify"), "progress on stdout:\n{}", out.text());

    // Without -v and without a terminal: nothing.
    let out = env.run(&["verify", "--deep"], b"");
    out.ok();
    assert!(!out.stderr.contains("lifeboat: verify"), "progress without -v:\n{}", out.stderr);

    // restore --stdout: the data alone on stdout, progress on stderr.
    let id = env.backup_stdin("s", &random_bytes(300_000, 9));
    let mut cmd = env.cmd(&["-v", "restore", &id, "--stdout"]);
    cmd.env("LIFEBOAT_PROGRESS_INTERVAL", "0.01");
    let out = run(cmd, b"");
    out.ok();
    assert!(out.stdout == random_bytes(300_000, 9), "restore --stdout did not write exactly the data");
    assert!(out.stderr.contains("lifeboat: restore: "), "no restore progress:\n{}", out.stderr);
}
