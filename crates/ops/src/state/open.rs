//! Opening the state database: its directory and file permissions, the owner lock, the
//! connection's settings, the migrations and the crash recovery.

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use lifeboat_storage::clock::{Clock, SystemClock};
use rusqlite::Connection;

use super::error::StateError;
use super::handle::{StateOptions, StateStore};
use super::migrations;
use super::recovery;

const MEMORY: &str = ":memory:";

impl StateStore {
    /// Opens (or creates) the state file at `path` as its owner, the way lifeboatd does:
    /// takes the owner lock (`<path>.lock`, so a second lifeboatd on the same file is refused
    /// with [`StateError::InUse`]), applies the missing migrations, and marks the jobs a
    /// dead owner left queued or running as failed (with [`RECOVERED_RUNNING`](super::RECOVERED_RUNNING) or
    /// [`RECOVERED_QUEUED`](super::RECOVERED_QUEUED); see [`StateStore::recovered_at_open`]).
    ///
    /// A missing directory is created 0700, a missing file 0600 (SQLite gives its `-wal`
    /// and `-shm` files the database file's mode). The connection runs in WAL mode with
    /// foreign keys on and the [`StateOptions::busy_timeout`].
    pub fn open(path: impl AsRef<Path>) -> Result<StateStore, StateError> {
        StateStore::open_with(path, StateOptions::default(), &SystemClock)
    }

    /// [`StateStore::open`] with options, and the clock that stamps the recovery time.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: StateOptions,
        clock: &dyn Clock,
    ) -> Result<StateStore, StateError> {
        let path = path.as_ref();
        prepare_directory(path)?;
        let lock = take_owner_lock(path)?;
        let mut store = open_file(path, options)?;
        store._owner_lock = Some(lock);
        recovery::recover(&mut store, clock.now())?;
        Ok(store)
    }

    /// A further handle on a state file that another handle owns: the same settings and
    /// migrations, but no owner lock and no crash recovery (the owner's queued and running
    /// jobs are alive). For tools that read the history next to a running lifeboatd, and for
    /// tests of concurrent writers.
    pub fn attach(path: impl AsRef<Path>, options: StateOptions) -> Result<StateStore, StateError> {
        let path = path.as_ref();
        prepare_directory(path)?;
        open_file(path, options)
    }

    /// A private in-memory database with the real schema, for tests of the code above this
    /// store. Nothing survives the handle.
    pub fn open_in_memory() -> Result<StateStore, StateError> {
        StateStore::open_in_memory_with(StateOptions::default())
    }

    /// [`StateStore::open_in_memory`] with options.
    pub fn open_in_memory_with(options: StateOptions) -> Result<StateStore, StateError> {
        let connection = Connection::open_in_memory().map_err(|e| StateError::sqlite(MEMORY, "open", e))?;
        configure(connection, MEMORY.to_owned(), options)
    }

    /// The schema version of the open file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StateError> {
        self.connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| StateError::sqlite(&self.path, "read the schema version", e))
    }

    /// The schema version this build writes; a file with a higher one is refused.
    pub fn supported_schema_version() -> i64 {
        migrations::current_version()
    }

    /// Runs SQLite's `quick_check` and returns its findings (empty when the file is sound).
    pub fn check_integrity(&self) -> Result<Vec<String>, StateError> {
        let op = "check the database's integrity";
        let mut statement =
            self.connection.prepare("PRAGMA quick_check").map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let mut findings = Vec::new();
        for row in rows {
            let row = row.map_err(|e| StateError::sqlite(&self.path, op, e))?;
            if row != "ok" {
                findings.push(row);
            }
        }
        Ok(findings)
    }
}

fn prepare_directory(path: &Path) -> Result<(), StateError> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else { return Ok(()) };
    if dir.exists() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StateError::io(dir, "create the state directory", e))
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn take_owner_lock(path: &Path) -> Result<File, StateError> {
    let lock = lock_path(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock)
        .map_err(|e| StateError::io(&lock, "open the owner lock", e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => {
            Err(StateError::InUse { path: path.display().to_string(), lock: lock.display().to_string() })
        }
        Err(TryLockError::Error(e)) => Err(StateError::io(&lock, "take the owner lock", e)),
    }
}

fn open_file(path: &Path, options: StateOptions) -> Result<StateStore, StateError> {
    create_private_file(path)?;
    let name = path.display().to_string();
    let connection = Connection::open(path).map_err(|e| StateError::sqlite(&name, "open", e))?;
    configure(connection, name, options)
}

/// Creates the file 0600 before SQLite does (SQLite would use 0644 less the umask).
fn create_private_file(path: &Path) -> Result<(), StateError> {
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StateError::io(path, "create the state file", e)),
    }
}

fn configure(connection: Connection, path: String, options: StateOptions) -> Result<StateStore, StateError> {
    connection.busy_timeout(options.busy_timeout).map_err(|e| StateError::sqlite(&path, "set the busy timeout", e))?;
    // The first statement that reads the file: a file of random bytes fails here, named.
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| StateError::sqlite(&path, "switch to WAL mode", e))?;
    let in_memory = path == MEMORY && mode.eq_ignore_ascii_case("memory");
    if !(mode.eq_ignore_ascii_case("wal") || in_memory) {
        return Err(StateError::Internal { path, reason: format!("SQLite kept journal mode {mode:?} instead of WAL") });
    }
    // NORMAL is durable against a crash of the process in WAL mode; a power cut can lose
    // the last transactions, which for a cache of the repositories is acceptable.
    connection
        .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        .map_err(|e| StateError::sqlite(&path, "set foreign keys and synchronous mode", e))?;
    let foreign_keys: i64 = connection
        .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
        .map_err(|e| StateError::sqlite(&path, "read the foreign-key setting", e))?;
    if foreign_keys != 1 {
        return Err(StateError::Internal { path, reason: "SQLite did not turn foreign keys on".to_owned() });
    }
    let mut store = StateStore { connection, path, options, _owner_lock: None, recovered: Vec::new() };
    migrations::migrate(&mut store.connection, &store.path)?;
    Ok(store)
}
