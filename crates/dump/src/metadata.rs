//! What a dump records about its source: the identity for the backup manifest.

use serde::{Deserialize, Serialize};

/// The kind of database a dump came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// Redis.
    Redis,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceKind::Postgres => "postgres",
            SourceKind::Mysql => "mysql",
            SourceKind::Redis => "redis",
        })
    }
}

/// The client program that produced a dump.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Program name, e.g. `pg_dump`.
    pub name: String,
    /// Its `--version` line.
    pub version: String,
}

/// The position in the source's change history that a dump is consistent at, so that
/// point-in-time recovery can replay changes from there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Position {
    /// PostgreSQL: the WAL position read in the transaction whose exported snapshot pg_dump used
    /// (`pg_current_wal_lsn()`, or `pg_last_wal_replay_lsn()` on a standby).
    PostgresLsn {
        /// The LSN, e.g. `0/3000148`.
        lsn: String,
        /// The exported snapshot id pg_dump ran on.
        snapshot: String,
    },
    /// MySQL/MariaDB: the binary log coordinates (and GTID position on MariaDB) that
    /// mysqldump/mariadb-dump recorded for its consistent snapshot (`--master-data=2`).
    MysqlBinlog {
        /// Binary log file, e.g. `mariadb-bin.000003`.
        file: String,
        /// Offset in that file.
        position: u64,
        /// MariaDB's `gtid_binlog_pos` at the snapshot, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gtid: Option<String>,
    },
    /// Redis: the replication id and offset of the snapshot (RDB through PSYNC: exact), or,
    /// for the logical mode, those read when the scan started (approximate: SCAN is not atomic).
    RedisReplication {
        /// `master_replid`.
        replid: String,
        /// `master_repl_offset`.
        offset: u64,
        /// Whether the offset is exact for the data in the stream.
        exact: bool,
    },
}

/// Metadata of one dump stream, for the backup manifest. Never contains a password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMetadata {
    /// The database kind.
    pub kind: SourceKind,
    /// The stream's name (the `DumpStream`'s).
    pub stream: String,
    /// The stream's format, e.g. `pg_dump custom`, `sql`, `redis rdb`, `lifeboat redis logical v1`.
    pub format: String,
    /// The server, as a redacted URL (user, host, port; never the password).
    pub endpoint: String,
    /// The server's version string.
    pub server_version: String,
    /// The databases in this stream (Redis: database numbers).
    pub databases: Vec<String>,
    /// Tables explicitly included (empty: all).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Tables explicitly excluded.
    #[serde(default)]
    pub excluded_tables: Vec<String>,
    /// Options that shape the content, e.g. `schema-only`, `data-only`, `keys:user:*`.
    #[serde(default)]
    pub options: Vec<String>,
    /// The program that produced the stream, when a client program did.
    pub tool: Option<ToolInfo>,
    /// The consistency position, when the server provides one.
    pub position: Option<Position>,
    /// Remarks, e.g. why no position could be recorded.
    #[serde(default)]
    pub notes: Vec<String>,
    /// What the stream held when it was dumped (row counts and checksums, or keys and a
    /// digest), for a drill to compare its restore with; absent in older backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<crate::digest::ContentDigest>,
}

impl SourceMetadata {
    /// Metadata with the identity fields set and everything else empty.
    pub fn new(kind: SourceKind, stream: &str, format: &str, endpoint: String) -> Self {
        SourceMetadata {
            kind,
            stream: stream.to_string(),
            format: format.to_string(),
            endpoint,
            server_version: String::new(),
            databases: Vec::new(),
            tables: Vec::new(),
            excluded_tables: Vec::new(),
            options: Vec::new(),
            tool: None,
            position: None,
            notes: Vec::new(),
            content: None,
        }
    }
}
