//! Helpers only the lifeboat-dump tests need: the lock that keeps the `--all` dumps apart from
//! the tests creating and dropping databases, and the checks the PostgreSQL and MariaDB tests
//! share (connection errors, consistency under a concurrent writer). Service URLs, SQL and RESP clients, process inspection: lifeboat-testkit.

use std::process::Child;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use lifeboat_dump::{DumpError, DumpStream, Dumps, RestoreOptions, Restorer, Source, SourceMetadata, SourceOptions};
use lifeboat_testkit::process::{alive, processes_exposing};
use lifeboat_testkit::{closed_port, parse, with_password, with_path};
use tokio::io::AsyncReadExt;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Held shared by every test that creates or drops databases or roles on the shared
/// PostgreSQL and MariaDB servers, and exclusively by the `--all` dumps: those list every
/// database and then dump each, so one dropped in between would fail them. (They used to be
/// a test binary of their own for this; in the one binary the lock keeps them apart.)
static SHARED_SERVERS: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

/// Shared use of the database servers (see [`SHARED_SERVERS`]).
pub async fn servers_shared() -> RwLockReadGuard<'static, ()> {
    SHARED_SERVERS.read().await
}

/// Exclusive use of the database servers, for the `--all` dumps.
pub async fn servers_exclusive() -> RwLockWriteGuard<'static, ()> {
    SHARED_SERVERS.write().await
}

/// Reads a dump stream to its end in 256 KiB steps with a pause after each, so that a
/// concurrent writer commits while the dump runs; then awaits its completion (the stream's
/// metadata).
pub async fn read_slowly(stream: DumpStream) -> (Vec<u8>, SourceMetadata) {
    let mut reader = stream.reader;
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let meta = stream.finish.await.unwrap();
    (bytes, meta)
}

/// The connection errors both SQL servers must give clearly: a wrong password (AuthFailed,
/// naming neither password), a missing database (DatabaseMissing, named), and a refused
/// connection for a dump and for a restore of `stream` (ConnectFailed, no password).
/// `admin_db` is a database that exists (`postgres`, `mysql`); the refused URL is
/// `<scheme>://lifeboat:<pw>@127.0.0.1:<closed port>/<refused_db>`.
pub async fn assert_connection_errors_are_clear(url: &str, admin_db: &str, refused_db: &str, stream: &str) {
    let pw = parse(url).password;
    // Wrong password: AuthFailed, and neither the right nor the wrong password in the message.
    let wrong = with_password(&with_path(url, admin_db), "not-the-password-123");
    let e = Source::from_url(&wrong, &SourceOptions::default()).unwrap().dump().await.unwrap_err();
    assert!(matches!(e, DumpError::AuthFailed { .. }), "{e}");
    let msg = format!("{e} {e:?}");
    assert!(!msg.contains("not-the-password-123") && !msg.contains(&pw), "{msg}");

    let e = Source::from_url(&with_path(url, "no_such_db_xyz"), &SourceOptions::default())
        .unwrap()
        .dump()
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::DatabaseMissing { ref database, .. } if database == "no_such_db_xyz"), "{e}");

    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
    let refused = format!("{scheme}://lifeboat:{pw}@127.0.0.1:{}/{refused_db}", closed_port());
    let e = Source::from_url(&refused, &SourceOptions::default()).unwrap().dump().await.unwrap_err();
    assert!(matches!(e, DumpError::ConnectFailed { .. }), "{e}");
    assert!(!e.to_string().contains(&pw));

    let e = Restorer::from_url(&refused, &RestoreOptions::default())
        .unwrap()
        .restore(stream, &mut &b""[..])
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::ConnectFailed { .. }), "{e}");
}

/// Dumps database `src` of the server at `url` while `writer` (started by the caller) moves
/// money between the 200 accounts of 1000 and counts its commits in `ticks`, and restores the
/// dump into a new database `dst` as `stream`: the restored copy is one committed state (the
/// balances add up to 200000, and its tick count lies between those seen before and after the
/// dump). `query(db, sql)` runs SQL through the server's client; `sum_sql` sums the balances.
pub async fn assert_dump_consistent_under_writer(
    url: &str,
    src: &str,
    dst: &str,
    stream: &str,
    mut writer: Child,
    query: impl Fn(&str, &str) -> String,
    sum_sql: &str,
) {
    // Wait until the writer runs.
    let start = Instant::now();
    while query(src, "SELECT n FROM ticks;") == "0" {
        assert!(start.elapsed() < Duration::from_secs(20), "writer did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ticks_before = query(src, "SELECT n FROM ticks;").parse::<i64>().unwrap();
    let source = Source::from_url(&with_path(url, src), &SourceOptions::default()).unwrap();
    let mut dumps = source.dump().await.unwrap();
    let dump = dumps.next().await.unwrap().unwrap();
    // Read slowly so that the writer commits while the dump runs.
    let (bytes, _) = read_slowly(dump).await;
    let ticks_after = query(src, "SELECT n FROM ticks;").parse::<i64>().unwrap();
    assert!(ticks_after > ticks_before, "the writer made no progress during the dump");
    let _ = writer.kill();
    let _ = writer.wait();

    Restorer::from_url(&with_path(url, dst), &RestoreOptions { create: true, ..Default::default() })
        .unwrap()
        .restore(stream, &mut &bytes[..])
        .await
        .unwrap();
    assert_eq!(query(dst, sum_sql), "200000");
    let restored_ticks = query(dst, "SELECT n FROM ticks;").parse::<i64>().unwrap();
    assert!(restored_ticks >= ticks_before && restored_ticks <= ticks_after);
}

/// Starts a dump of `url`, which logs in with `password`, and reads its first 64 KiB so that
/// the dump tool runs: it is alive, and no process shows the password on its command line or
/// in its environment. Returns the dumps (keep them until the stream is done), the stream and
/// the tool's pid.
pub async fn start_dump_unseen(url: &str, password: &str) -> (Dumps, DumpStream, u32) {
    let mut dumps = Source::from_url(url, &SourceOptions::default()).unwrap().dump().await.unwrap();
    let mut stream = dumps.next().await.unwrap().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    stream.reader.read_exact(&mut buf).await.unwrap();
    let pid = stream.pid.unwrap();
    assert!(alive(pid));
    let exposing = processes_exposing(password);
    assert!(exposing.is_empty(), "password visible in: {exposing:?}");
    (dumps, stream, pid)
}

/// The file through which a dump tool got its credentials (a pgpass or option file) is
/// readable by its owner only.
pub fn assert_private_credentials_file(file: &str) {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Finishes a dump started by [`start_dump_unseen`]: its metadata does not record `password`,
/// and the credentials `file` is gone afterwards (`what` names it in the failure).
pub async fn finish_dump_unrecorded(dumps: Dumps, stream: DumpStream, password: &str, file: &str, what: &str) {
    let (_, meta) = stream.copy_to(&mut tokio::io::sink()).await.unwrap();
    drop(dumps);
    assert!(!serde_json::to_string(&meta).unwrap().contains(password));
    assert!(!std::path::Path::new(file).exists(), "{what} left behind");
}
