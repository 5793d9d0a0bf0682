//! MySQL/MariaDB: `mariadb-dump` or `mysqldump` (whichever is on `PATH`, MariaDB's first) with
//! `--single-transaction --routines --triggers --events --hex-blob`; restore through the
//! `mariadb`/`mysql` client.
//!
//! Connection settings and the password go to the tools in a private 0600 option file
//! (`--defaults-extra-file`). When the server writes a binary log, the dump also records its
//! coordinates (`--master-data=2`, plus `--gtid` on MariaDB): they are read from the dump's own
//! header as it streams past and returned as [`Position::MysqlBinlog`]. That needs the `RELOAD`
//! and `BINLOG MONITOR`/`REPLICATION CLIENT` privileges.
//!
//! Content: a client cannot join mysqldump's snapshot, so the digest
//! ([`crate::digest::MYSQL_ALGORITHM`]) is taken in a consistent snapshot of its own
//! (`START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`), begun on a second connection
//! right before the dump tool starts. It is exact when no transaction commits between the two
//! snapshots. On MariaDB the snapshot's binary log position (`binlog_snapshot_file`,
//! `binlog_snapshot_position`) is compared with the dump's: equal, the note says the digest is
//! exact for the dump; different, that writes in between may make it differ. Without a binary
//! log the note says it is as consistent as the two snapshots' timing. Table names are
//! `database.table`; a schema-only dump records no digest.

use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::Command;
use tokio::sync::oneshot;

use crate::RestoreReport;
use crate::conn::MysqlConn;
use crate::digest::{ContentDigest, MYSQL_ALGORITHM, TableDigest, sum_hex, unhex};
use crate::error::{DumpError, Result};
use crate::metadata::{Position, SourceKind, SourceMetadata, ToolInfo};
use crate::process::{
    AbortOnDrop, Ctx, SecretFile, Tool, collect_stderr, failure, feed_and_wait, find_tool, parse_version, run_capture,
};
use crate::selection;
use crate::stream::{DumpStream, Dumps};

pub(crate) const CLIENT_PKG: &str = "mariadb-client";
const SYSTEM_DATABASES: &[&str] = &["information_schema", "performance_schema", "sys", "mysql"];

/// What to dump from a MySQL/MariaDB server.
#[derive(Clone, Debug, Default)]
pub struct MysqlOptions {
    /// Every database except the system ones (`information_schema`, `performance_schema`,
    /// `sys`, `mysql`), in one consistent dump.
    pub all: bool,
    /// Only these tables of the URL's database.
    pub tables: Vec<String>,
    /// Leave out these tables (`table` of the URL's database, or `database.table`).
    pub exclude_tables: Vec<String>,
    /// Only the schema (`--no-data`).
    pub schema_only: bool,
    /// Only the data (`--no-create-info`, no routines, events or triggers).
    pub data_only: bool,
}

selection::impl_selection!(MysqlOptions);

/// How to restore into a MySQL/MariaDB server.
#[derive(Clone, Debug, Default)]
pub struct MysqlRestoreOptions {
    /// Create the target database when it does not exist.
    pub create: bool,
}

pub(crate) struct MyEnv {
    conn: MysqlConn,
    file: SecretFile,
}

impl MyEnv {
    pub(crate) async fn new(conn: &MysqlConn) -> Result<Arc<Self>> {
        let file = SecretFile::create(".lifeboat-my-", conn.option_file()).await?;
        Ok(Arc::new(MyEnv { conn: conn.clone(), file }))
    }

    pub(crate) fn command(&self, tool: &Tool) -> Command {
        let mut c = tool.command();
        // Must be the first option.
        c.arg(format!("--defaults-extra-file={}", self.file.path().display()));
        c
    }

    pub(crate) fn target(&self, db: Option<&str>) -> String {
        match db {
            Some(d) => self.conn.with_database(d).to_string(),
            None => self.conn.to_string(),
        }
    }

    pub(crate) fn ctx(&self, tool: &Tool, operation: String, db: Option<&str>) -> Ctx {
        Ctx {
            tool: tool.name.clone(),
            operation,
            target: self.target(db),
            secret: self.conn.password.clone(),
            database: db.map(str::to_string),
        }
    }

    async fn query(&self, client: &Tool, db: Option<&str>, sql: &str) -> Result<Vec<Vec<String>>> {
        let mut cmd = self.command(client);
        cmd.args(["--batch", "--raw", "--skip-column-names", "--default-character-set=utf8mb4"]);
        if let Some(d) = db {
            cmd.arg(format!("--database={d}"));
        }
        let ctx = self.ctx(client, "running a query".into(), db);
        let out = run_capture(client, &mut cmd, Some(sql.as_bytes()), &ctx).await?;
        Ok(out.lines().map(|l| l.split('\t').map(str::to_string).collect()).collect())
    }
}

/// A base table of the content digest and its columns, in order.
#[derive(Clone, Debug)]
struct ContentTable {
    db: String,
    table: String,
    columns: Vec<String>,
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The base tables of `dbs` with their columns.
async fn content_tables(env: &MyEnv, client: &Tool, dbs: &[String]) -> Result<Vec<ContentTable>> {
    if dbs.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = dbs.iter().map(|d| sql_string(d)).collect();
    let sql = format!(
        "SELECT HEX(c.TABLE_SCHEMA), HEX(c.TABLE_NAME), HEX(c.COLUMN_NAME) FROM information_schema.COLUMNS c \
         JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
         WHERE t.TABLE_TYPE = 'BASE TABLE' AND c.TABLE_SCHEMA IN ({}) \
         ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION;\n",
        list.join(", ")
    );
    let mut out: Vec<ContentTable> = Vec::new();
    for row in env.query(client, None, &sql).await? {
        let [d, t, c] = row.as_slice() else { continue };
        let (Some(d), Some(t), Some(c)) = (unhex(d), unhex(t), unhex(c)) else { continue };
        match out.last_mut() {
            Some(last) if last.db == d && last.table == t => last.columns.push(c),
            _ => out.push(ContentTable { db: d, table: t, columns: vec![c] }),
        }
    }
    Ok(out)
}

/// The script that counts and checksums `tables` in one consistent snapshot, printing
/// `binlog_snapshot_*` status rows and one `LBC <hex name> <rows> <sum>` row per table.
fn content_script(tables: &[ContentTable]) -> String {
    let mut sql = String::from(
        "SET SESSION time_zone = '+00:00';\nSET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;\n\
         START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;\nSHOW STATUS LIKE 'binlog\\_snapshot\\_%';\n",
    );
    for t in tables {
        let cols: Vec<String> = t.columns.iter().map(|c| format!("QUOTE({})", ident(c))).collect();
        sql.push_str(&format!(
            "SELECT 'LBC', '{}', COUNT(*), COALESCE(SUM(CAST(CONV(LEFT(MD5(CONCAT_WS(',', {})), 16), 16, 10) AS UNSIGNED)), 0) \
             FROM {}.{};\n",
            hex(&format!("{}.{}", t.db, t.table)),
            cols.join(", "),
            ident(&t.db),
            ident(&t.table)
        ));
    }
    sql.push_str("COMMIT;\n");
    sql
}

/// What the content script printed: the tables and the snapshot's binary log position.
struct ContentResult {
    tables: Vec<TableDigest>,
    position: Option<(String, u64)>,
}

fn parse_content(rows: &[Vec<String>]) -> ContentResult {
    let mut tables = Vec::new();
    let (mut file, mut pos) = (None, None);
    for row in rows {
        match row.as_slice() {
            [tag, name, n, sum] if tag == "LBC" => {
                if let (Some(table), Ok(rows), Some(checksum)) = (unhex(name), n.parse(), sum_hex(sum)) {
                    tables.push(TableDigest { table, rows, checksum });
                }
            }
            [k, v] if k.eq_ignore_ascii_case("binlog_snapshot_file") && !v.is_empty() => file = Some(v.clone()),
            [k, v] if k.eq_ignore_ascii_case("binlog_snapshot_position") => pos = v.parse::<u64>().ok(),
            _ => {}
        }
    }
    tables.sort_by(|a, b| a.table.cmp(&b.table));
    ContentResult { tables, position: file.zip(pos) }
}

async fn run_content(env: &MyEnv, client: &Tool, tables: &[ContentTable]) -> Result<ContentResult> {
    let rows = env.query(client, None, &content_script(tables)).await?;
    Ok(parse_content(&rows))
}

fn tables_digest(tables: Vec<TableDigest>) -> ContentDigest {
    ContentDigest::Tables { algorithm: MYSQL_ALGORITHM.to_string(), tables }
}

/// Measures the base tables of `conn`'s database (every non-system database when it names
/// none) like `content::measure` says: when every table of `like` is of one database
/// and the URL names another, the tables are named after `like`'s database.
pub(crate) async fn measure(conn: &MysqlConn, like: &ContentDigest) -> Result<ContentDigest> {
    let client = find_tool(&["mariadb", "mysql"], CLIENT_PKG, &[])?;
    let env = MyEnv::new(conn).await?;
    let dbs = match &conn.database {
        Some(d) => vec![d.clone()],
        None => user_databases(&env, &client).await?,
    };
    let tables = content_tables(&env, &client, &dbs).await?;
    let mut result = run_content(&env, &client, &tables).await?;
    let like_db = match like {
        ContentDigest::Tables { tables, .. } => {
            let mut dbs = tables.iter().filter_map(|t| t.table.split_once('.').map(|(d, _)| d));
            let first = dbs.next();
            first.filter(|f| dbs.all(|d| d == *f)).map(str::to_string)
        }
        ContentDigest::Keys { .. } => None,
    };
    if let (Some(like_db), Some(db)) = (like_db, &conn.database)
        && &like_db != db
    {
        let prefix = format!("{db}.");
        for t in &mut result.tables {
            if let Some(rest) = t.table.strip_prefix(&prefix) {
                t.table = format!("{like_db}.{rest}");
            }
        }
        result.tables.sort_by(|a, b| a.table.cmp(&b.table));
    }
    Ok(tables_digest(result.tables))
}

/// The databases besides the system ones.
async fn user_databases(env: &MyEnv, client: &Tool) -> Result<Vec<String>> {
    let rows = env.query(client, None, "SHOW DATABASES;\n").await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .filter(|d| !SYSTEM_DATABASES.contains(&d.to_lowercase().as_str()))
        .collect())
}

/// Runs `sql` on `conn`'s server (no database selected); returns rows.
pub(crate) async fn admin_query(conn: &MysqlConn, sql: &str) -> Result<Vec<Vec<String>>> {
    let client = find_tool(&["mariadb", "mysql"], CLIENT_PKG, &[])?;
    let env = MyEnv::new(conn).await?;
    env.query(&client, None, sql).await
}

pub(crate) fn quote_ident(name: &str) -> String {
    ident(name)
}

fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A MySQL/MariaDB server to back up.
#[derive(Clone, Debug)]
pub struct MysqlSource {
    conn: MysqlConn,
    opts: MysqlOptions,
    skip_content: bool,
}

impl MysqlSource {
    /// A source for `conn` (without `all`, the URL must name the database).
    pub fn new(conn: MysqlConn, opts: MysqlOptions) -> Result<Self> {
        selection::check(&opts, &conn, conn.database.is_some())?;
        Ok(MysqlSource { conn, opts, skip_content: false })
    }

    /// Leaves out the content digest (row counts and checksums) the dump records by default.
    pub fn skip_content(mut self, skip: bool) -> Self {
        self.skip_content = skip;
        self
    }

    /// Checks the connection and tools; returns one stream: `db/<name>.sql` for one database,
    /// `all-databases.sql` (with `CREATE DATABASE`/`USE`) for all.
    pub async fn dump(&self) -> Result<Dumps> {
        let dump_tool = find_tool(&["mariadb-dump", "mysqldump"], CLIENT_PKG, &[])?;
        let client = find_tool(&["mariadb", "mysql"], CLIENT_PKG, &[])?;
        let env = MyEnv::new(&self.conn).await?;
        let db = self.conn.database.clone();
        let rows = env.query(&client, db.as_deref(), "SELECT VERSION(), @@log_bin;\n").await?;
        let (server_version, log_bin) = match rows.first() {
            Some(r) if r.len() == 2 => (r[0].clone(), r[1].trim() == "1"),
            _ => {
                return Err(DumpError::Server {
                    target: env.target(db.as_deref()),
                    operation: "reading the server version".into(),
                    detail: "unexpected answer".into(),
                });
            }
        };
        let tool_version = dump_tool.version().await?;
        let mariadb_tool = tool_version.contains("MariaDB");
        let databases: Vec<String> = if self.opts.all {
            let dbs = user_databases(&env, &client).await?;
            if dbs.is_empty() {
                return Err(DumpError::InvalidOptions {
                    target: env.target(None),
                    reason: "the server has no database besides the system ones".into(),
                });
            }
            dbs
        } else {
            vec![db.clone().expect("checked in new")]
        };

        let mut cmd = env.command(&dump_tool);
        cmd.args([
            "--single-transaction",
            "--quick",
            "--hex-blob",
            "--max-allowed-packet=1G",
            "--default-character-set=utf8mb4",
        ]);
        if self.opts.data_only {
            cmd.args(["--no-create-info", "--skip-triggers", "--skip-routines", "--skip-events"]);
        } else {
            cmd.args(["--routines", "--triggers", "--events"]);
        }
        if self.opts.schema_only {
            cmd.arg("--no-data");
        }
        let mut notes = Vec::new();
        if log_bin {
            if mariadb_tool {
                cmd.args(["--master-data=2", "--gtid"]);
            } else if parse_version(tool_version.split(" Ver ").nth(1).unwrap_or("")).unwrap_or((0, 0)) >= (8, 0) {
                cmd.arg("--source-data=2");
            } else {
                cmd.arg("--master-data=2");
            }
        } else {
            notes.push("the server writes no binary log (log_bin=0): no position recorded".to_string());
        }
        let single = !self.opts.all;
        for t in &self.opts.exclude_tables {
            let full = if t.contains('.') { t.clone() } else { format!("{}.{}", databases[0], t) };
            cmd.arg(format!("--ignore-table={full}"));
        }
        if single {
            cmd.arg("--").arg(&databases[0]);
            cmd.args(&self.opts.tables);
        } else {
            cmd.arg("--databases").arg("--");
            cmd.args(&databases);
        }
        let name = if single { format!("db/{}.sql", databases[0]) } else { "all-databases.sql".to_string() };

        let mut meta = SourceMetadata::new(SourceKind::Mysql, &name, "sql", env.target(db.as_deref()));
        meta.server_version = server_version;
        meta.databases = databases.clone();
        meta.tool = Some(ToolInfo { name: dump_tool.name.clone(), version: tool_version });
        meta.notes = notes;
        selection::record(&self.opts, &mut meta);
        let operation =
            if single { format!("dumping database `{}`", databases[0]) } else { "dumping all databases".into() };
        let ctx = env.ctx(&dump_tool, operation, if single { Some(&databases[0]) } else { None });

        let want_content = !self.skip_content && !self.opts.schema_only;
        if !self.skip_content && self.opts.schema_only {
            meta.notes.push("no content digest: a schema-only dump holds no rows".into());
        }
        let (tables, excluded) = (self.opts.tables.clone(), self.opts.exclude_tables.clone());
        let mut dumps = Dumps::new();
        dumps.push(name.clone(), move || {
            Box::pin(async move {
                // The content digest's snapshot starts right before the dump's.
                let content = if want_content {
                    let mut list = content_tables(&env, &client, &databases).await?;
                    list.retain(|t| {
                        let full = format!("{}.{}", t.db, t.table);
                        (tables.is_empty() || tables.contains(&t.table))
                            && !excluded.iter().any(|x| *x == full || (single && *x == t.table))
                    });
                    let (env, client) = (env.clone(), client.clone());
                    Some(AbortOnDrop(tokio::spawn(async move { run_content(&env, &client, &list).await })))
                } else {
                    None
                };
                let mut guard = dump_tool.spawn(&mut cmd)?;
                let pid = guard.id();
                let stdout = guard.child_mut().stdout.take().expect("stdout piped");
                let stderr = collect_stderr(guard.child_mut().stderr.take());
                let (tx, sniffed) = oneshot::channel();
                let reader = Sniffer::new(stdout, tx);
                Ok(DumpStream::new(name, reader, pid, async move {
                    let status = guard.wait().await?;
                    let err = stderr.await.unwrap_or_default();
                    drop(env);
                    if !status.success() {
                        return Err(failure(&ctx, &status.to_string(), &err));
                    }
                    // Set when the reader reaches EOF; a reader dropped early leaves it unset
                    // (and the stream then fails as incomplete).
                    let s = sniffed.await.unwrap_or_default();
                    let dump_position = s.file.clone().zip(s.pos);
                    if let (Some(file), Some(position)) = (s.file, s.pos) {
                        meta.position = Some(Position::MysqlBinlog { file, position, gtid: s.gtid });
                    } else if log_bin {
                        meta.notes.push("the dump header held no binary log position".into());
                    }
                    if let Some(mut task) = content {
                        match (&mut task.0).await {
                            Ok(Ok(result)) => {
                                meta.notes.push(content_note(result.position.as_ref(), dump_position.as_ref()));
                                meta.content = Some(tables_digest(result.tables));
                            }
                            Ok(Err(e)) => meta.notes.push(format!("no content digest: {e}")),
                            Err(e) => meta.notes.push(format!("no content digest: the checksum task failed: {e}")),
                        }
                    }
                    Ok(meta)
                }))
            })
        });
        Ok(dumps)
    }
}

/// How consistent the content digest is with the dump, from the two snapshots' positions.
fn content_note(snapshot: Option<&(String, u64)>, dump: Option<&(String, u64)>) -> String {
    match (snapshot, dump) {
        (Some(a), Some(b)) if a == b => {
            format!(
                "content digest: taken in its own snapshot at the dump's binary log position {}:{} (exact)",
                a.0, a.1
            )
        }
        (Some(a), Some(b)) => format!(
            "content digest: taken in its own snapshot at binary log position {}:{}, the dump at {}:{}: \
             transactions committed in between may make a restore differ from it",
            a.0, a.1, b.0, b.1
        ),
        _ => "content digest: taken in its own consistent snapshot begun as the dump started; \
              transactions committed between the two snapshots may make a restore differ from it"
            .into(),
    }
}

#[derive(Clone, Default, Debug)]
struct Sniffed {
    file: Option<String>,
    pos: Option<u64>,
    gtid: Option<String>,
}

/// Passes the dump through unchanged while reading the replication position out of its header
/// (binary log file and offset) and its trailer (MariaDB's deferred `gtid_slave_pos`).
struct Sniffer<R> {
    inner: R,
    head: Vec<u8>,
    head_done: bool,
    tail: Vec<u8>,
    out: Option<oneshot::Sender<Sniffed>>,
}

impl<R> Sniffer<R> {
    fn new(inner: R, out: oneshot::Sender<Sniffed>) -> Self {
        let out = Some(out);
        Sniffer { inner, head: Vec::new(), head_done: false, tail: Vec::new(), out }
    }
}

const SNIFF_HEAD: usize = 256 * 1024;
const SNIFF_TAIL: usize = 16 * 1024;

fn quoted_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let i = line.find(key)? + key.len();
    let rest = line[i..].strip_prefix('\'')?;
    rest.split('\'').next()
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let i = line.find(key)? + key.len();
    let digits: String = line[i..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn sniff_text(text: &[u8], s: &mut Sniffed) {
    let text = String::from_utf8_lossy(text);
    for line in text.lines() {
        if !line.starts_with("-- ") {
            continue;
        }
        if line.contains("CHANGE MASTER TO") || line.contains("CHANGE REPLICATION SOURCE TO") {
            if let Some(f) = quoted_after(line, "MASTER_LOG_FILE=").or_else(|| quoted_after(line, "SOURCE_LOG_FILE=")) {
                s.file = Some(f.to_string());
            }
            if let Some(p) = number_after(line, "MASTER_LOG_POS=").or_else(|| number_after(line, "SOURCE_LOG_POS=")) {
                s.pos = Some(p);
            }
        }
        if let Some(g) = quoted_after(line, "gtid_slave_pos=") {
            s.gtid = Some(g.to_string());
        }
    }
}

#[cfg(test)]
fn sniff_header(head: &[u8]) -> Sniffed {
    let mut s = Sniffed::default();
    sniff_text(head, &mut s);
    s
}

impl<R: AsyncRead + Unpin> AsyncRead for Sniffer<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let had_room = buf.remaining() > 0;
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = &buf.filled()[before..];
            if !this.head_done {
                let take = new.len().min(SNIFF_HEAD - this.head.len());
                this.head.extend_from_slice(&new[..take]);
                // The position comment precedes the first table.
                let past = this.head.windows(22).any(|w| w == b"\n-- Table structure fo")
                    || this.head.windows(12).any(|w| w == b"\nINSERT INTO");
                if past || this.head.len() >= SNIFF_HEAD {
                    this.head_done = true;
                }
            }
            this.tail.extend_from_slice(new);
            if this.tail.len() > 2 * SNIFF_TAIL {
                let cut = this.tail.len() - SNIFF_TAIL;
                this.tail.drain(..cut);
            }
            if new.is_empty() && had_room {
                let mut s = Sniffed::default();
                sniff_text(&this.head, &mut s);
                sniff_text(&this.tail, &mut s);
                if let Some(tx) = this.out.take() {
                    let _ = tx.send(s);
                }
            }
        }
        r
    }
}

/// Restores MySQL/MariaDB dump streams through the `mariadb`/`mysql` client.
#[derive(Clone, Debug)]
pub struct MysqlRestorer {
    conn: MysqlConn,
    opts: MysqlRestoreOptions,
}

impl MysqlRestorer {
    /// A restorer into `conn`. A `db/<name>.sql` stream goes into the URL's database, or into
    /// `<name>` when the URL names none; `all-databases.sql` recreates the databases it names
    /// (the URL must then name no database).
    pub fn new(conn: MysqlConn, opts: MysqlRestoreOptions) -> Self {
        MysqlRestorer { conn, opts }
    }

    /// Restores one stream, reading `reader` to its end. SQL dumps are not transactional: a
    /// failure midway leaves the tables restored so far.
    pub async fn restore<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        name: &str,
        reader: &mut R,
    ) -> Result<RestoreReport> {
        let client = find_tool(&["mariadb", "mysql"], CLIENT_PKG, &[])?;
        if !name.ends_with(".sql") {
            return Err(DumpError::Unsupported(format!("`{name}` is not a MySQL dump stream (expected *.sql)")));
        }
        let env = MyEnv::new(&self.conn).await?;
        let db = if name == "all-databases.sql" || name.ends_with("/all-databases.sql") {
            if let Some(d) = &self.conn.database {
                return Err(DumpError::InvalidOptions {
                    target: env.target(Some(d)),
                    reason: format!("`{name}` restores into the databases it names; give a URL without a database"),
                });
            }
            None
        } else {
            let base = name.rsplit_once('/').map(|(_, b)| b).unwrap_or(name);
            let stem = base.strip_suffix(".sql").unwrap_or(base);
            match (&self.conn.database, stem.is_empty()) {
                (Some(d), _) => Some(d.clone()),
                (None, false) => Some(stem.to_string()),
                (None, true) => {
                    return Err(DumpError::InvalidOptions {
                        target: env.target(None),
                        reason: format!("cannot tell the target database of `{name}`: name it in the URL"),
                    });
                }
            }
        };
        if let Some(d) = &db {
            let exists = env
                .query(&client, None, &format!("SHOW DATABASES LIKE '{}';\n", like_escape(d)))
                .await?
                .iter()
                .any(|r| r.first().map(|x| x == d).unwrap_or(false));
            if !exists {
                if !self.opts.create {
                    return Err(DumpError::DatabaseMissing {
                        target: env.target(Some(d)),
                        database: d.clone(),
                        creatable: true,
                    });
                }
                env.query(&client, None, &format!("CREATE DATABASE IF NOT EXISTS {};\n", ident(d))).await?;
            }
        }
        let mut cmd = env.command(&client);
        cmd.args(["--batch", "--binary-mode", "--max-allowed-packet=1G", "--default-character-set=utf8mb4"]);
        if let Some(d) = &db {
            cmd.arg(format!("--database={d}"));
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::null());
        let operation = match &db {
            Some(d) => format!("restoring `{name}` into database `{d}`"),
            None => format!("restoring `{name}`"),
        };
        let ctx = env.ctx(&client, operation, db.as_deref());
        let guard = client.spawn(&mut cmd)?;
        let (bytes, stderr) = feed_and_wait(guard, reader, &ctx).await?;
        Ok(RestoreReport {
            name: name.to_string(),
            target: env.target(db.as_deref()),
            database: db,
            bytes,
            warnings: stderr.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect(),
        })
    }
}

fn like_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\\\\\"),
            '\'' => o.push_str("\\'"),
            '%' | '_' => {
                o.push_str("\\\\");
                o.push(c);
            }
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_positions_are_found() {
        let head =
            b"-- MariaDB dump\n--\n-- CHANGE MASTER TO MASTER_LOG_FILE='mariadb-bin.000002', MASTER_LOG_POS=1234;\n\
                     -- SET GLOBAL gtid_slave_pos='0-1-42';\nINSERT INTO x VALUES (1);\n";
        let s = sniff_header(head);
        assert_eq!(s.file.as_deref(), Some("mariadb-bin.000002"));
        assert_eq!(s.pos, Some(1234));
        assert_eq!(s.gtid.as_deref(), Some("0-1-42"));
        let s = sniff_header(b"-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=157;\n");
        assert_eq!((s.file.as_deref(), s.pos), (Some("binlog.000002"), Some(157)));
    }

    #[test]
    fn content_rows_parse() {
        let rows = vec![
            vec!["binlog_snapshot_file".to_string(), "mariadb-bin.000001".into()],
            vec!["binlog_snapshot_position".to_string(), "328".into()],
            vec!["LBC".to_string(), hex("shop.t"), "2".into(), "18446744073709551615".into()],
        ];
        let r = parse_content(&rows);
        assert_eq!(r.position, Some(("mariadb-bin.000001".into(), 328)));
        assert_eq!(r.tables[0].table, "shop.t");
        assert_eq!(r.tables[0].checksum, "0000000000000000ffffffffffffffff");
        assert!(content_note(r.position.as_ref(), r.position.as_ref()).contains("exact"));
        assert!(content_script(&[]).contains("CONSISTENT SNAPSHOT"));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(like_escape("a_b%'"), "a\\\\_b\\\\%\\'");
    }
}
