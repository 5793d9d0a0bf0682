//! SQL through the client tools (psql, mariadb), as a test's own side of the checks: set up a
//! database, read it back, or keep a writer running in the background.

use std::io::Write;
use std::process::{Child, Command, Stdio};

use crate::urls::parse;

/// Runs `cmd` with `input` on its standard input; returns its standard output, trimmed.
/// Panics with the tool's message (and the start of the input) when it fails.
fn run(cmd: &mut Command, input: &str, what: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what} (run scripts/services.sh to install it): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.as_bytes().to_vec();
    // A writer thread, so a tool that fails before reading all of a large input cannot
    // leave us blocked on a full pipe.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        input.chars().take(2000).collect::<String>()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// psql on `db` of the server at `url`: no psqlrc, quiet, stop at the first error.
pub(crate) fn psql_command(url: &str, db: &str) -> Command {
    let u = parse(url);
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", &u.host, "-p", &u.port.to_string(), "-U", &u.user, "-d", db])
        .env("PGPASSWORD", &u.password);
    cmd
}

/// The mariadb client on the server at `url`: no option files, batch mode.
pub(crate) fn mysql_command(url: &str) -> Command {
    let u = parse(url);
    let mut cmd = Command::new("mariadb");
    cmd.args(["--no-defaults", "--batch", "-h", &u.host, "-P", &u.port.to_string(), "-u", &u.user])
        .env("MYSQL_PWD", &u.password);
    cmd
}

/// Runs SQL through psql on `db` (ON_ERROR_STOP); returns the unaligned, tuples-only output.
pub fn psql(url: &str, db: &str, sql: &str) -> String {
    run(psql_command(url, db).args(["-A", "-t"]), sql, "psql")
}

/// Starts psql on `db` running `sql` in the background (a concurrent writer, say).
pub fn psql_spawn(url: &str, db: &str, sql: &str) -> Child {
    spawn(psql_command(url, db), sql)
}

/// Runs SQL through the mariadb client (batch mode, no column names) on `db`, or on no
/// database; returns the output, trimmed.
pub fn mysql(url: &str, db: Option<&str>, sql: &str) -> String {
    let mut cmd = mysql_command(url);
    cmd.args(["--skip-column-names", "--default-character-set=utf8mb4", "--max-allowed-packet=1G"]);
    if let Some(d) = db {
        cmd.arg(d);
    }
    run(&mut cmd, sql, "mariadb")
}

/// Starts the mariadb client on `db` running `sql` in the background.
pub fn mysql_spawn(url: &str, db: &str, sql: &str) -> Child {
    let mut cmd = mysql_command(url);
    cmd.arg(db);
    spawn(cmd, sql)
}

fn spawn(mut cmd: Command, sql: &str) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?} (run scripts/services.sh to install it): {e}"));
    // Dropping stdin after the write closes it, so the client ends when the script does.
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    child
}
