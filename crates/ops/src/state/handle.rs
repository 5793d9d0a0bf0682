//! The [`StateStore`] handle itself and its options; opening is in `open.rs`, each table's
//! operations in a file of their own.

use std::fs::File;
use std::time::Duration;

use rusqlite::Connection;

/// A handle on the state database: one SQLite connection, used from one thread at a time
/// (it is `Send`, not `Sync`). Blocking: from async code use
/// `AsyncStateStore` (in `async_store.rs`).
#[derive(Debug)]
pub struct StateStore {
    pub(crate) connection: Connection,
    /// The file's path as shown in errors, or `:memory:`.
    pub(crate) path: String,
    pub(crate) options: StateOptions,
    /// The owner lock, held (by the kernel's `flock`) for as long as the handle lives; `None`
    /// for an in-memory store or an [`attach`ed](StateStore::attach) handle.
    pub(crate) _owner_lock: Option<File>,
    /// The jobs the crash recovery at open marked failed.
    pub(crate) recovered: Vec<super::job_types::JobId>,
}

/// How a [`StateStore`] behaves; [`Default`] is what lifeboatd uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateOptions {
    /// How long a write waits for another connection's write to finish before failing with
    /// an [`Unavailable`](super::ErrorKind::Unavailable) error (SQLite's `busy_timeout`).
    pub busy_timeout: Duration,
    /// Log lines kept from the start of each job's output.
    pub log_head_lines: u32,
    /// Log lines kept from the end of each job's output.
    pub log_tail_lines: u32,
    /// The longest log line kept, in bytes; a longer one is cut at a character boundary and
    /// ends with "…".
    pub max_log_line_bytes: usize,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            busy_timeout: Duration::from_secs(10),
            log_head_lines: 200,
            log_tail_lines: 800,
            max_log_line_bytes: 4096,
        }
    }
}

impl StateStore {
    /// The state file's path as errors show it (`:memory:` for an in-memory store).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &StateOptions {
        &self.options
    }
}
