//! PostgreSQL: `pg_dump` (custom format, `-Z0`) per database on an exported snapshot,
//! `pg_dumpall --globals-only` for roles and tablespaces, restore through `pg_restore`/`psql`.
//!
//! Consistency: before each `pg_dump`, a `psql` session opens a `REPEATABLE READ` transaction,
//! exports its snapshot and reads the WAL position; `pg_dump --snapshot` then dumps exactly that
//! snapshot, and the session stays open until `pg_dump` exits. The LSN and snapshot id go into
//! [`Position::PostgresLsn`].
//!
//! Content: while `pg_dump` runs, the same snapshot session counts and checksums every user
//! table the dump holds ([`crate::digest::PG_ALGORITHM`]), so the digest in
//! [`SourceMetadata::content`] is exact for the dump. Table patterns are matched the way
//! psql matches them (`*`, `?`, `schema.table`, double quotes; an unqualified pattern matches
//! tables visible in the search path). A schema-only dump records none.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::RestoreReport;
use crate::conn::PgConn;
use crate::digest::{ContentDigest, PG_ALGORITHM, TableDigest, sum_hex, unhex};
use crate::error::{DumpError, Result};
use crate::metadata::{Position, SourceKind, SourceMetadata, ToolInfo};
use crate::process::{
    AbortOnDrop, Ctx, SecretFile, Tool, collect_stderr, failure, feed_and_wait, find_tool, parse_version, run_capture,
};
use crate::selection;
use crate::stream::{DumpStream, Dumps};

pub(crate) const CLIENT_PKG: &str = "postgresql-client";

/// What to dump from a PostgreSQL server.
#[derive(Clone, Debug, Default)]
pub struct PostgresOptions {
    /// Dump the globals (`pg_dumpall --globals-only`: roles, tablespaces) and every database
    /// that accepts connections (templates excluded), one stream each.
    pub all: bool,
    /// Only these tables (`pg_dump --table`, patterns allowed; must match: `--strict-names`).
    pub tables: Vec<String>,
    /// Leave out these tables (`pg_dump --exclude-table`).
    pub exclude_tables: Vec<String>,
    /// Only the schema (`--schema-only`).
    pub schema_only: bool,
    /// Only the data (`--data-only`).
    pub data_only: bool,
    /// A directory searched before `PATH` for the client programs (e.g. `/usr/lib/postgresql/16/bin`).
    pub bindir: Option<PathBuf>,
}

selection::impl_selection!(PostgresOptions);

/// How to restore into a PostgreSQL server.
#[derive(Clone, Debug)]
pub struct PostgresRestoreOptions {
    /// Create the target database when it does not exist.
    pub create: bool,
    /// Parallel `pg_restore` jobs; used by [`PostgresRestorer::restore_file`] only, since
    /// `pg_restore` cannot run parallel jobs on a stream.
    pub jobs: u32,
    /// Drop existing objects before recreating them (`--clean --if-exists`).
    pub clean: bool,
    /// Do not restore ownership (`--no-owner`), for a server without the original roles.
    pub no_owner: bool,
    /// A directory searched before `PATH` for the client programs.
    pub bindir: Option<PathBuf>,
}

/// The server's `server_version_num` (e.g. 150018), read on database `db`.
pub(crate) async fn server_version_num(conn: &PgConn, db: &str) -> Result<u32> {
    let rows = admin_query(conn, db, "SELECT current_setting('server_version_num');\n", &[]).await?;
    Ok(rows.first().and_then(|r| r.first()).and_then(|v| v.trim().parse().ok()).unwrap_or(0))
}

impl Default for PostgresRestoreOptions {
    fn default() -> Self {
        PostgresRestoreOptions { create: false, jobs: 1, clean: false, no_owner: false, bindir: None }
    }
}

/// The connection environment shared by all the client programs of one operation.
pub(crate) struct PgEnv {
    conn: PgConn,
    passfile: Option<SecretFile>,
}

fn pgpass_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

/// `dbname='...'` in libpq conninfo syntax (for `--dbname`, which would otherwise treat a name
/// containing `=` as a connection string).
fn conninfo_dbname(db: &str) -> String {
    format!("dbname='{}'", db.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl PgEnv {
    pub(crate) async fn new(conn: &PgConn) -> Result<Arc<Self>> {
        let passfile = match &conn.password {
            Some(pw) => Some(
                SecretFile::create(
                    ".lifeboat-pgpass-",
                    zeroize::Zeroizing::new(format!("*:*:*:*:{}\n", pgpass_escape(pw.expose()))),
                )
                .await?,
            ),
            None => None,
        };
        Ok(Arc::new(PgEnv { conn: conn.clone(), passfile }))
    }

    pub(crate) fn target(&self, db: Option<&str>) -> String {
        match db {
            Some(d) => self.conn.with_database(d).to_string(),
            None => self.conn.to_string(),
        }
    }

    /// Sets the libpq environment on `cmd`: no password on argv, no prompt.
    pub(crate) fn apply(&self, cmd: &mut Command, db: Option<&str>) {
        let c = &self.conn;
        for var in ["PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE"] {
            cmd.env_remove(var);
        }
        if let Some(h) = &c.host {
            cmd.env("PGHOST", h);
        }
        if let Some(p) = c.port {
            cmd.env("PGPORT", p.to_string());
        }
        if let Some(u) = &c.user {
            cmd.env("PGUSER", u);
        }
        if let Some(d) = db {
            cmd.env("PGDATABASE", d);
        }
        if let Some(f) = &self.passfile {
            // PGPASSWORD would take precedence over the file.
            cmd.env_remove("PGPASSWORD");
            cmd.env("PGPASSFILE", f.path());
        }
        if std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
            cmd.env("PGCONNECT_TIMEOUT", "15");
        }
        cmd.env("PGAPPNAME", "lifeboat");
        for (k, v) in &c.settings {
            cmd.env(k, v);
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

    /// Runs SQL (on stdin) through psql and returns the rows (fields split).
    async fn query(&self, psql: &Tool, db: &str, sql: &str, vars: &[(&str, &str)]) -> Result<Vec<Vec<String>>> {
        let mut cmd = psql.command();
        self.apply(&mut cmd, Some(db));
        cmd.args(["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-R", "\x1e"]);
        for (k, v) in vars {
            cmd.arg("-v").arg(format!("{k}={v}"));
        }
        let ctx = self.ctx(psql, "running a query".into(), Some(db));
        let out = run_capture(psql, &mut cmd, Some(sql.as_bytes()), &ctx).await?;
        let out = out.strip_suffix('\n').unwrap_or(&out);
        Ok(out.split('\x1e').filter(|r| !r.is_empty()).map(|r| r.split('\x1f').map(str::to_string).collect()).collect())
    }
}

impl PgEnv {
    /// Runs a psql script (on stdin) and returns its unaligned, tuples-only output.
    async fn script(&self, psql: &Tool, db: &str, sql: &str, operation: String) -> Result<String> {
        let mut cmd = psql.command();
        self.apply(&mut cmd, Some(db));
        cmd.args(["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"]);
        let ctx = self.ctx(psql, operation, Some(db));
        run_capture(psql, &mut cmd, Some(sql.as_bytes()), &ctx).await
    }
}

/// A SQL string literal (standard_conforming_strings).
fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A psql name pattern part as an anchored regular expression: `*` any characters, `?` one,
/// letters folded to lower case outside double quotes, everything else literal.
fn pattern_regex(part: &str) -> String {
    let mut out = String::from("^(");
    let mut quoted = false;
    let mut chars = part.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.push('"');
            }
            '"' => quoted = !quoted,
            '*' if !quoted => out.push_str(".*"),
            '?' if !quoted => out.push('.'),
            c if c.is_alphanumeric() || c == '_' => {
                if quoted {
                    out.push(c)
                } else {
                    out.extend(c.to_lowercase())
                }
            }
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out.push_str(")$");
    out
}

/// The SQL condition on `n.nspname`/`c.relname` that a `--table` pattern selects.
fn pattern_condition(pattern: &str) -> String {
    // The first dot outside double quotes separates the schema.
    let mut quoted = false;
    let mut split = None;
    for (i, c) in pattern.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                split = Some(i);
                break;
            }
            _ => {}
        }
    }
    match split {
        Some(i) => format!(
            "(n.nspname ~ {} AND c.relname ~ {})",
            sql_literal(&pattern_regex(&pattern[..i])),
            sql_literal(&pattern_regex(&pattern[i + 1..]))
        ),
        None => {
            format!("(c.relname ~ {} AND pg_catalog.pg_table_is_visible(c.oid))", sql_literal(&pattern_regex(pattern)))
        }
    }
}

/// The marker line that ends the content script's output.
const CONTENT_END: &str = "LBC-END";

/// The psql script that prints one `LBC <hex name> <rows> <sum>` line per user table (those
/// `tables`/`exclude` select, when given), then [`CONTENT_END`]. It only reads.
fn content_script(tables: &[String], exclude: &[String]) -> String {
    let mut filter = String::new();
    if !tables.is_empty() {
        let any: Vec<String> = tables.iter().map(|t| pattern_condition(t)).collect();
        filter.push_str(&format!("\n  AND ({})", any.join(" OR ")));
    }
    for t in exclude {
        filter.push_str(&format!("\n  AND NOT {}", pattern_condition(t)));
    }
    format!(
        "SET LOCAL TimeZone = 'UTC';\nSET LOCAL DateStyle = 'ISO, YMD';\nSET LOCAL IntervalStyle = 'postgres';\n\
         SET LOCAL extra_float_digits = 1;\nSET LOCAL bytea_output = 'hex';\nSET LOCAL statement_timeout = 0;\n\
         SET LOCAL idle_in_transaction_session_timeout = 0;\n\
         SELECT format('SELECT %L || '' '' || count(*) || '' '' || coalesce(sum(hashtextextended(t::text, 0)), 0) \
         FROM ONLY %I.%I t', 'LBC ' || encode(convert_to(n.nspname || '.' || c.relname, 'UTF8'), 'hex'), \
         n.nspname, c.relname)\n\
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n\
         WHERE c.relkind = 'r' AND c.relpersistence <> 't'\n\
           AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'\n\
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass \
         AND d.objid = c.oid AND d.deptype = 'e'){filter}\n\
         ORDER BY n.nspname, c.relname\n\\gexec\nSELECT '{CONTENT_END}';\n"
    )
}

/// One `LBC` line of the content script as a table digest.
fn parse_content_line(line: &str) -> Option<TableDigest> {
    let mut p = line.strip_prefix("LBC ")?.split(' ');
    let (name, rows, sum) = (p.next()?, p.next()?, p.next()?);
    Some(TableDigest { table: unhex(name)?, rows: rows.parse().ok()?, checksum: sum_hex(sum)? })
}

fn tables_digest(mut tables: Vec<TableDigest>) -> ContentDigest {
    tables.sort_by(|a, b| a.table.cmp(&b.table));
    ContentDigest::Tables { algorithm: PG_ALGORITHM.to_string(), tables }
}

/// Measures every user table of `conn`'s database (for `content::measure`) in one
/// read-only repeatable-read transaction.
pub(crate) async fn measure(conn: &PgConn, bindir: Option<PathBuf>) -> Result<ContentDigest> {
    let psql = find_tool(&["psql"], CLIENT_PKG, &tool_dirs(&bindir))?;
    let env = PgEnv::new(conn).await?;
    let db = conn.database.clone().unwrap_or_else(|| "postgres".into());
    let sql = format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n{}COMMIT;\n", content_script(&[], &[]));
    let out = env.script(&psql, &db, &sql, format!("measuring the content of database `{db}`")).await?;
    if !out.lines().any(|l| l == CONTENT_END) {
        return Err(DumpError::Server {
            target: env.target(Some(&db)),
            operation: "measuring the content".into(),
            detail: "the checksum script ended early".into(),
        });
    }
    Ok(tables_digest(out.lines().filter_map(parse_content_line).collect()))
}

/// Runs `sql` (with psql variables `vars`) in database `db` of `conn`'s server; returns rows.
pub(crate) async fn admin_query(conn: &PgConn, db: &str, sql: &str, vars: &[(&str, &str)]) -> Result<Vec<Vec<String>>> {
    let psql = find_tool(&["psql"], CLIENT_PKG, &[])?;
    let env = PgEnv::new(conn).await?;
    env.query(&psql, db, sql, vars).await
}

fn tool_dirs(bindir: &Option<PathBuf>) -> Vec<PathBuf> {
    bindir.iter().cloned().collect()
}

/// A PostgreSQL server to back up.
#[derive(Clone, Debug)]
pub struct PostgresSource {
    conn: PgConn,
    opts: PostgresOptions,
    skip_content: bool,
}

struct ServerInfo {
    version: String,
    major: u32,
}

impl PostgresSource {
    /// A source for `conn` (without `all`, the URL must name the database).
    pub fn new(conn: PgConn, opts: PostgresOptions) -> Result<Self> {
        selection::check(&opts, &conn, conn.database.is_some())?;
        Ok(PostgresSource { conn, opts, skip_content: false })
    }

    /// Leaves out the content digest (row counts and checksums) the dump records by default.
    pub fn skip_content(mut self, skip: bool) -> Self {
        self.skip_content = skip;
        self
    }

    /// The connection (password redacted when displayed).
    pub fn conn(&self) -> &PgConn {
        &self.conn
    }

    async fn server_info(env: &PgEnv, psql: &Tool, db: &str) -> Result<ServerInfo> {
        let rows = env
            .query(psql, db, "SELECT current_setting('server_version'), current_setting('server_version_num');\n", &[])
            .await?;
        let row = rows.first().filter(|r| r.len() == 2).ok_or_else(|| DumpError::Server {
            target: env.target(Some(db)),
            operation: "reading the server version".into(),
            detail: "unexpected answer".into(),
        })?;
        let num: u32 = row[1].trim().parse().unwrap_or(0);
        Ok(ServerInfo { version: row[0].clone(), major: num / 10000 })
    }

    /// Checks the connection and the tools, then returns the dumps to take: for one database a
    /// single `db/<name>.pgdump`; with `all`, `globals.sql` then one `db/<name>.pgdump` each.
    pub async fn dump(&self) -> Result<Dumps> {
        let dirs = tool_dirs(&self.opts.bindir);
        let pg_dump = find_tool(&["pg_dump"], CLIENT_PKG, &dirs)?;
        let psql = find_tool(&["psql"], CLIENT_PKG, &dirs)?;
        let pg_dumpall = if self.opts.all { Some(find_tool(&["pg_dumpall"], CLIENT_PKG, &dirs)?) } else { None };
        let env = PgEnv::new(&self.conn).await?;

        let probe_db = self.conn.database.clone().unwrap_or_else(|| "postgres".into());
        let info = Self::server_info(&env, &psql, &probe_db).await?;
        let dump_version = pg_dump.version().await?;
        let (tool_major, _) = parse_version(&dump_version).unwrap_or((0, 0));
        if tool_major < info.major {
            return Err(DumpError::ToolUnsuitable {
                tool: pg_dump.name.clone(),
                version: dump_version,
                reason: format!("the server runs PostgreSQL {} and pg_dump must be at least as new", info.version),
                package: format!("postgresql-client-{}", info.major),
            });
        }
        let tool = ToolInfo { name: pg_dump.name.clone(), version: dump_version };

        let databases: Vec<String> = if self.opts.all {
            env.query(
                &psql,
                &probe_db,
                "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname;\n",
                &[],
            )
            .await?
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .collect()
        } else {
            vec![probe_db.clone()]
        };

        let mut dumps = Dumps::new();
        let shared = Arc::new(Shared {
            env,
            psql,
            pg_dump,
            tool,
            server_version: info.version,
            opts: self.opts.clone(),
            content: !self.skip_content,
        });
        if let Some(pg_dumpall) = pg_dumpall {
            let s = shared.clone();
            let version = pg_dumpall.version().await?;
            let db = self.conn.database.clone();
            dumps.push("globals.sql".into(), move || Box::pin(async move { s.dump_globals(pg_dumpall, version, db) }));
        }
        for db in databases {
            let s = shared.clone();
            let name = format!("db/{db}.pgdump");
            dumps.push(name.clone(), move || Box::pin(async move { s.dump_database(name, db).await }));
        }
        Ok(dumps)
    }
}

struct Shared {
    env: Arc<PgEnv>,
    psql: Tool,
    pg_dump: Tool,
    tool: ToolInfo,
    server_version: String,
    opts: PostgresOptions,
    content: bool,
}

impl Shared {
    fn meta(&self, stream: &str, format: &str, db: Option<&str>) -> SourceMetadata {
        let mut m = SourceMetadata::new(SourceKind::Postgres, stream, format, self.env.target(db));
        m.server_version = self.server_version.clone();
        m.tool = Some(self.tool.clone());
        m
    }

    fn dump_globals(self: Arc<Self>, tool: Tool, version: String, db: Option<String>) -> Result<DumpStream> {
        let mut cmd = tool.command();
        self.env.apply(&mut cmd, None);
        cmd.args(["--globals-only", "--no-password"]);
        if let Some(db) = &db {
            cmd.arg(format!("--dbname={}", conninfo_dbname(db)));
        }
        let mut guard = tool.spawn(&mut cmd)?;
        let pid = guard.id();
        let stdout = guard.child_mut().stdout.take().expect("stdout piped");
        let stderr = collect_stderr(guard.child_mut().stderr.take());
        let ctx = self.env.ctx(&tool, "dumping the globals (roles, tablespaces)".into(), None);
        let mut meta = self.meta("globals.sql", "sql", None);
        meta.tool = Some(ToolInfo { name: tool.name.clone(), version });
        meta.options.push("globals-only".into());
        let env = self.env.clone();
        Ok(DumpStream::new("globals.sql", stdout, pid, async move {
            let status = guard.wait().await?;
            let err = stderr.await.unwrap_or_default();
            drop(env);
            if !status.success() {
                return Err(failure(&ctx, &status.to_string(), &err));
            }
            Ok(meta)
        }))
    }

    async fn dump_database(self: Arc<Self>, name: String, db: String) -> Result<DumpStream> {
        // 1. The snapshot session.
        let mut scmd = self.psql.command();
        self.env.apply(&mut scmd, Some(&db));
        scmd.args(["-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1"]).stdin(Stdio::piped());
        let sctx = self.env.ctx(&self.psql, format!("exporting a snapshot of database `{db}`"), Some(&db));
        let mut session = self.psql.spawn(&mut scmd)?;
        let session_err = collect_stderr(session.child_mut().stderr.take());
        let mut session_in = session.child_mut().stdin.take().expect("stdin piped");
        let mut session_out = BufReader::new(session.child_mut().stdout.take().expect("stdout piped"));
        let sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n\
                   SELECT pg_export_snapshot() || ' ' || (CASE WHEN pg_is_in_recovery() \
                   THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text;\n";
        let _ = session_in.write_all(sql.as_bytes()).await;
        let _ = session_in.flush().await;
        let mut line = String::new();
        let read = session_out.read_line(&mut line).await;
        let mut parts = line.split_whitespace();
        let (snapshot, lsn) = match (read, parts.next(), parts.next()) {
            (Ok(_), Some(s), Some(l)) => (s.to_string(), l.to_string()),
            _ => {
                drop(session_in);
                let status = session.wait().await?;
                let err = session_err.await.unwrap_or_default();
                return Err(failure(&sctx, &status.to_string(), &err));
            }
        };

        // 2. pg_dump on that snapshot.
        let mut cmd = self.pg_dump.command();
        self.env.apply(&mut cmd, Some(&db));
        cmd.args(["--format=custom", "--compress=0", "--no-password"]).arg(format!("--snapshot={snapshot}"));
        if !self.opts.tables.is_empty() {
            cmd.arg("--strict-names");
        }
        for t in &self.opts.tables {
            cmd.arg(format!("--table={t}"));
        }
        for t in &self.opts.exclude_tables {
            cmd.arg(format!("--exclude-table={t}"));
        }
        if self.opts.schema_only {
            cmd.arg("--schema-only");
        }
        if self.opts.data_only {
            cmd.arg("--data-only");
        }
        let mut guard = self.pg_dump.spawn(&mut cmd)?;
        let pid = guard.id();
        let stdout = guard.child_mut().stdout.take().expect("stdout piped");
        let stderr = collect_stderr(guard.child_mut().stderr.take());
        let ctx = self.env.ctx(&self.pg_dump, format!("dumping database `{db}`"), Some(&db));

        let mut meta = self.meta(&name, "pg_dump custom", Some(&db));
        meta.databases = vec![db.clone()];
        selection::record(&self.opts, &mut meta);
        meta.position = Some(Position::PostgresLsn { lsn, snapshot });

        // 3. The content digest, in the snapshot session while pg_dump runs (same snapshot).
        let want_content = self.content && !self.opts.schema_only;
        if self.content && self.opts.schema_only {
            meta.notes.push("no content digest: a schema-only dump holds no rows".into());
        }
        let script = content_script(&self.opts.tables, &self.opts.exclude_tables);
        let digest = AbortOnDrop(tokio::spawn(async move {
            let result =
                if want_content { Some(run_content(&mut session_in, &mut session_out, &script).await) } else { None };
            (session_in, result)
        }));
        let env = self.env.clone();
        Ok(DumpStream::new(name, stdout, pid, async move {
            let status = guard.wait().await?;
            let err = stderr.await.unwrap_or_default();
            let mut digest = digest;
            let (session_in, content) = match (&mut digest.0).await {
                Ok((i, c)) => (Some(i), c),
                Err(e) => (None, Some(Err(format!("the checksum task failed: {e}")))),
            };
            // Close the snapshot transaction.
            if let Some(mut session_in) = session_in {
                let _ = session_in.write_all(b"COMMIT;\n").await;
                drop(session_in);
            }
            let _ = session.wait().await;
            let session_err = session_err.await.unwrap_or_default();
            drop(env);
            if !status.success() {
                return Err(failure(&ctx, &status.to_string(), &err));
            }
            match content {
                Some(Ok(tables)) => meta.content = Some(tables_digest(tables)),
                Some(Err(why)) => {
                    let why = crate::conn::scrub(sctx.secret.as_ref(), &format!("{why} {}", session_err.trim()));
                    meta.notes.push(format!("no content digest: {}", why.trim()));
                }
                None => {}
            }
            Ok(meta)
        }))
    }
}

/// Restores PostgreSQL dump streams into a live server.
#[derive(Clone, Debug)]
pub struct PostgresRestorer {
    conn: PgConn,
    opts: PostgresRestoreOptions,
    single_database: bool,
}

impl PostgresRestorer {
    /// A restorer into `conn`. When the URL names a database, every `.pgdump` stream is
    /// restored into it; otherwise into the database the stream's name carries (`db/<name>.pgdump`).
    pub fn new(conn: PgConn, opts: PostgresRestoreOptions) -> Self {
        PostgresRestorer { conn, opts, single_database: false }
    }

    /// Restores only into the URL's database: `globals.sql` (roles, tablespaces: the whole
    /// server) is refused. For scratch databases.
    pub fn single_database(mut self) -> Self {
        self.single_database = true;
        self
    }

    fn target_db(&self, name: &str) -> Result<String> {
        if let Some(d) = &self.conn.database {
            return Ok(d.clone());
        }
        let base = name.rsplit_once('/').map(|(_, b)| b).unwrap_or(name);
        let stem = base.strip_suffix(".pgdump").or_else(|| base.strip_suffix(".sql")).unwrap_or(base);
        if stem.is_empty() {
            return Err(DumpError::InvalidOptions {
                target: self.conn.to_string(),
                reason: format!("cannot tell the target database of `{name}`: name it in the URL"),
            });
        }
        Ok(stem.to_string())
    }

    /// The maintenance database used for globals, existence checks and CREATE DATABASE.
    fn maintenance_db(&self) -> &str {
        "postgres"
    }

    async fn ensure_database(&self, env: &PgEnv, psql: &Tool, db: &str) -> Result<()> {
        let rows = env
            .query(
                psql,
                self.maintenance_db(),
                "SELECT count(*) FROM pg_database WHERE datname = :'target';\n",
                &[("target", db)],
            )
            .await?;
        let exists = rows.first().and_then(|r| r.first()).map(|c| c.trim() != "0").unwrap_or(false);
        if exists {
            return Ok(());
        }
        if !self.opts.create {
            return Err(DumpError::DatabaseMissing {
                target: env.target(Some(db)),
                database: db.to_string(),
                creatable: true,
            });
        }
        env.query(psql, self.maintenance_db(), "CREATE DATABASE :\"target\";\n", &[("target", db)]).await?;
        Ok(())
    }

    /// Restores one stream (`globals.sql`, `db/<name>.pgdump` or another `.sql` script),
    /// reading `reader` to its end. A failure leaves a `.pgdump` restore rolled back
    /// (`pg_restore --single-transaction --exit-on-error`).
    pub async fn restore<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        name: &str,
        reader: &mut R,
    ) -> Result<RestoreReport> {
        self.restore_inner(name, Input::Stream(reader)).await
    }

    /// Restores a `.pgdump` file from disk, with `jobs` parallel workers when more than one.
    pub async fn restore_file(&self, name: &str, path: &Path) -> Result<RestoreReport> {
        self.restore_inner(name, Input::<tokio::io::Empty>::File(path)).await
    }

    async fn restore_inner<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        name: &str,
        input: Input<'_, R>,
    ) -> Result<RestoreReport> {
        let dirs = tool_dirs(&self.opts.bindir);
        let psql = find_tool(&["psql"], CLIENT_PKG, &dirs)?;
        if self.single_database && (name.ends_with("globals.sql") || self.conn.database.is_none()) {
            return Err(DumpError::InvalidOptions {
                target: self.conn.to_string(),
                reason: format!("`{name}` is not restored here: this target takes a single database's stream only"),
            });
        }
        let env = PgEnv::new(&self.conn).await?;
        if name.ends_with("globals.sql") {
            let db = self.conn.database.clone().unwrap_or_else(|| self.maintenance_db().to_string());
            let mut cmd = psql.command();
            env.apply(&mut cmd, Some(&db));
            // Roles that already exist make CREATE ROLE fail; the following ALTER ROLE still
            // applies, so errors do not stop the script. They are reported as warnings.
            cmd.args(["-X", "-q", "-w", "-v", "ON_ERROR_STOP=0"]).stdin(Stdio::piped()).stdout(Stdio::null());
            let ctx = env.ctx(&psql, "restoring the globals".into(), Some(&db));
            let guard = psql.spawn(&mut cmd)?;
            let (bytes, stderr) = feed(guard, input, &ctx).await?;
            let warnings: Vec<String> = stderr.lines().filter(|l| l.contains("ERROR")).map(str::to_string).collect();
            return Ok(RestoreReport {
                name: name.into(),
                target: env.target(Some(&db)),
                database: None,
                bytes,
                warnings,
            });
        }
        let db = self.target_db(name)?;
        self.ensure_database(&env, &psql, &db).await?;
        if name.ends_with(".pgdump") {
            let pg_restore = find_tool(&["pg_restore"], CLIENT_PKG, &dirs)?;
            let mut cmd = pg_restore.command();
            env.apply(&mut cmd, None);
            cmd.args(["--no-password", "--exit-on-error"]).arg(format!("--dbname={}", conninfo_dbname(&db)));
            let parallel = matches!(input, Input::File(_)) && self.opts.jobs > 1;
            if parallel {
                cmd.arg(format!("--jobs={}", self.opts.jobs));
            } else {
                cmd.arg("--single-transaction");
            }
            if self.opts.clean {
                cmd.args(["--clean", "--if-exists"]);
            }
            if self.opts.no_owner {
                cmd.arg("--no-owner");
            }
            let ctx = env.ctx(&pg_restore, format!("restoring `{name}` into database `{db}`"), Some(&db));
            let (bytes, stderr) = match input {
                Input::File(p) => {
                    cmd.arg(p);
                    let out = run_capture(&pg_restore, &mut cmd, None, &ctx).await.map(|_| ());
                    out?;
                    let len = tokio::fs::metadata(p).await.map(|m| m.len()).unwrap_or(0);
                    (len, String::new())
                }
                Input::Stream(r) => {
                    cmd.stdin(Stdio::piped());
                    let guard = pg_restore.spawn(&mut cmd)?;
                    feed_and_wait(guard, r, &ctx).await?
                }
            };
            let warnings = stderr.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
            return Ok(RestoreReport {
                name: name.into(),
                target: env.target(Some(&db)),
                database: Some(db),
                bytes,
                warnings,
            });
        }
        if name.ends_with(".sql") {
            let mut cmd = psql.command();
            env.apply(&mut cmd, Some(&db));
            cmd.args(["-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "--single-transaction"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null());
            let ctx = env.ctx(&psql, format!("restoring `{name}` into database `{db}`"), Some(&db));
            let guard = psql.spawn(&mut cmd)?;
            let (bytes, _) = feed(guard, input, &ctx).await?;
            return Ok(RestoreReport {
                name: name.into(),
                target: env.target(Some(&db)),
                database: Some(db),
                bytes,
                warnings: vec![],
            });
        }
        Err(DumpError::Unsupported(format!(
            "`{name}` is not a PostgreSQL dump stream (expected globals.sql, *.pgdump or *.sql)"
        )))
    }
}

/// Runs the content script in the snapshot session and reads its lines up to [`CONTENT_END`].
/// Fails with the reason when the session failed.
async fn run_content<W, R>(input: &mut W, output: &mut R, script: &str) -> std::result::Result<Vec<TableDigest>, String>
where
    W: tokio::io::AsyncWrite + Unpin,
    R: tokio::io::AsyncBufRead + Unpin,
{
    if let Err(e) = async {
        input.write_all(script.as_bytes()).await?;
        input.flush().await
    }
    .await
    {
        return Err(format!("writing the checksum queries: {e}"));
    }
    let mut tables = Vec::new();
    loop {
        let mut line = String::new();
        match output.read_line(&mut line).await {
            Ok(0) => return Err("the snapshot session ended during the checksum queries:".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading the checksums: {e}")),
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if line == CONTENT_END {
            return Ok(tables);
        }
        if let Some(t) = parse_content_line(line) {
            tables.push(t);
        }
    }
}

enum Input<'a, R: ?Sized> {
    Stream(&'a mut R),
    File(&'a Path),
}

async fn feed<R: AsyncRead + Unpin + Send + ?Sized>(
    guard: crate::process::ChildGuard,
    input: Input<'_, R>,
    ctx: &Ctx,
) -> Result<(u64, String)> {
    match input {
        Input::Stream(r) => feed_and_wait(guard, r, ctx).await,
        Input::File(p) => {
            let mut f = tokio::fs::File::open(p)
                .await
                .map_err(|e| DumpError::io("opening the dump file", p.display().to_string(), e))?;
            feed_and_wait(guard, &mut f, ctx).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(pgpass_escape("a:b\\c"), "a\\:b\\\\c");
        assert_eq!(conninfo_dbname("it's=x"), "dbname='it\\'s=x'");
    }

    #[test]
    fn table_patterns_become_conditions() {
        assert_eq!(pattern_regex("Ab*c?"), "^(ab.*c.)$");
        assert_eq!(pattern_regex("\"Ab.x\""), "^(Ab\\.x)$");
        assert_eq!(pattern_condition("s.t"), "(n.nspname ~ '^(s)$' AND c.relname ~ '^(t)$')");
        assert!(pattern_condition("it's").contains("'^(it\\''s)$'"), "{}", pattern_condition("it's"));
        let t = parse_content_line("LBC 7075626c69632e74 3 -1").unwrap();
        assert_eq!((t.table.as_str(), t.rows), ("public.t", 3));
        assert_eq!(t.checksum, "ffffffffffffffffffffffffffffffff");
        assert!(parse_content_line("LBC zz 1 1").is_none());
    }

    #[test]
    fn target_database_from_name_or_url() {
        let r = PostgresRestorer::new(PgConn::parse("postgres://u@h/").unwrap(), Default::default());
        assert_eq!(r.target_db("db/shop.pgdump").unwrap(), "shop");
        let r = PostgresRestorer::new(PgConn::parse("postgres://u@h/other").unwrap(), Default::default());
        assert_eq!(r.target_db("db/shop.pgdump").unwrap(), "other");
    }

    #[test]
    fn option_conflicts_are_rejected() {
        let c = PgConn::parse("postgres://u@h/db").unwrap();
        let o = PostgresOptions { schema_only: true, data_only: true, ..Default::default() };
        assert!(PostgresSource::new(c, o).is_err());
        let c = PgConn::parse("postgres://u@h").unwrap();
        assert!(PostgresSource::new(c, PostgresOptions::default()).is_err());
    }
}
