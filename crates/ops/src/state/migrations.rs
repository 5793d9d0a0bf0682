//! The schema, as an ordered list of migrations, and applying them.
//!
//! `PRAGMA user_version` holds how many migrations a file has had. Opening applies the
//! missing ones in order, each in its own `BEGIN IMMEDIATE` transaction together with the
//! version bump, so a crash leaves the file at one version or the next, never between. The
//! version is re-read inside that transaction, so two handles opening one file at once do
//! not both apply a migration. A file whose version is above [`MIGRATIONS`]`.len()` was
//! written by a newer Lifeboat and is refused ([`StateError::NewerVersion`]), never
//! downgraded. Migrations are append-only: a released one is never edited.
//!
//! Times are INTEGER milliseconds since the Unix epoch, UTC. Byte counts are INTEGER.
//! Enumerations are lower-case TEXT (`backup`, `running`, ...), parsed strictly on read.

use rusqlite::{Connection, TransactionBehavior};

use super::error::StateError;

/// The migrations, in order: `MIGRATIONS[i]` takes a file from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1_JOBS_LOGS_PLAN_STATE, V2_API_TOKENS, V3_ALERTS, V4_AUDIT, V5_DRILLS];

/// The schema version this build writes.
pub(crate) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Version 1.
///
/// `jobs`: one row per unit of work the service ran or was asked to run.
/// - `id`: the job's id ([`super::JobId`]); AUTOINCREMENT, so an id is never reused even after
///   old jobs are deleted, and an id once shown by the API names one job forever.
/// - `plan`: the plan's name in the config.
/// - `kind`: backup, copy, verify, prune, forget, drill.
/// - `trigger`: schedule, manual (the CLI), api.
/// - `requested_by`: who asked (an API token's name, a user), NULL for the scheduler; for
///   the audit log to come.
/// - `state`: queued, running, succeeded, failed, cancelled.
/// - `repository`: which repository the job works on (its config name or redacted location).
/// - `scheduled_for`: the schedule slot the job runs for, NULL for manual and API runs; with
///   `plan` and `kind` it tells a run that is late from one that is extra.
/// - `queued_at`, `started_at`, `ended_at`: when it was created, began, ended.
/// - `bytes_read`, `bytes_stored`: what it read from the source and wrote to the repository
///   (after dedup and compression), updated while it runs and final at its end.
/// - `backup_id`: the backup a backup job made, or the one a verify/copy/drill job read.
/// - `error`: why it failed or was cancelled, ALREADY REDACTED BY THE CALLER: this table
///   stores what it is given, and the API shows it, so no secret may be in it.
/// - `attempt`: 1 for the first try, 2 for the first retry, ...
/// - `retry_of`: the job this one retries, NULL for a first attempt.
/// - `recovered_at`: set when opening the store found the job queued or running after a
///   crash and marked it failed; `ended_at` is then that time too (an upper bound).
/// - `log_lines`: how many log lines the job emitted, kept or not (see `job_logs`).
///
/// `job_logs`: the lines a job logged, bounded per job: the first `head` and the last `tail`
/// lines are kept, the ones between are deleted as the job goes on, and `jobs.log_lines`
/// minus the rows kept is how many were omitted.
/// - `job_id`: the job; deleting a job deletes its lines.
/// - `seq`: the line's number in the job's output, from 0 (a gap is where lines were omitted).
/// - `at`: when it was logged. `level`: error, warn, info, debug, trace. `line`: the text,
///   redacted by the caller like `jobs.error`, cut to a maximum length.
///
/// `plan_state`: per plan, what the scheduler and the status endpoint need at a glance.
/// - `plan`: the plan's name.
/// - `last_success`, `last_success_job`: the end of the last succeeded backup job, and it.
/// - `last_failure`, `last_failure_job`: the end of the last failed backup job, and it.
/// - `last_backup_id`: the backup the last succeeded backup job made.
/// - `next_run`: the next slot the scheduler computed, NULL if none is due (no schedule).
/// - `skipped_slots`: how many slots were skipped in all (missed-run or overlap policy `skip`);
///   `last_skipped_slot`: the latest of them.
/// - `updated_at`: when the row last changed.
const V1_JOBS_LOGS_PLAN_STATE: &str = "
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan TEXT NOT NULL,
    kind TEXT NOT NULL,
    trigger TEXT NOT NULL,
    requested_by TEXT,
    state TEXT NOT NULL,
    repository TEXT,
    scheduled_for INTEGER,
    queued_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at INTEGER,
    bytes_read INTEGER,
    bytes_stored INTEGER,
    backup_id TEXT,
    error TEXT,
    attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    retry_of INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    recovered_at INTEGER,
    log_lines INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_plan ON jobs (plan, id);
CREATE INDEX jobs_unfinished ON jobs (state) WHERE state IN ('queued', 'running');

CREATE TABLE job_logs (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    level TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE plan_state (
    plan TEXT PRIMARY KEY NOT NULL,
    last_success INTEGER,
    last_success_job INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    last_failure INTEGER,
    last_failure_job INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    last_backup_id TEXT,
    next_run INTEGER,
    skipped_slots INTEGER NOT NULL DEFAULT 0,
    last_skipped_slot INTEGER,
    updated_at INTEGER NOT NULL
);
";

/// Version 2.
///
/// `api_tokens`: the HTTP API's bearer tokens (see `tokens.rs`).
/// - `id`: the public id, 16 lower-case hex digits, the middle of the text `lbt_<id>_<secret>`.
/// - `name`: who or what uses it; unique among the unrevoked tokens.
/// - `scopes`: comma-separated, sorted: read, operate, admin, metrics.
/// - `secret_hash`: BLAKE3 keyed with `api_token_key.key` over a domain string, the id and
///   the secret: 32 bytes. The secret itself is never stored.
/// - `created_at`, `expires_at` (NULL: never), `last_used_at` (to the minute), `revoked_at`.
///
/// `api_token_key`: one row (`id` = 1), made on the first token's creation: `key`, 32 random
/// bytes, the BLAKE3 key of this database's token hashes.
const V2_API_TOKENS: &str = "
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE api_token_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL
);
";

/// Brings the file at `path` (a name for errors) to [`current_version`], or refuses it.
pub(crate) fn migrate(connection: &mut Connection, path: &str) -> Result<(), StateError> {
    apply(connection, path, MIGRATIONS)
}

/// [`migrate`] with a given list, so tests can stage a "newer" build.
pub(crate) fn apply(connection: &mut Connection, path: &str, migrations: &[&str]) -> Result<(), StateError> {
    let supported = migrations.len() as i64;
    // Read first, outside a write transaction: an up-to-date file (the usual case) is then
    // opened without waiting for another handle's write.
    let found: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| StateError::sqlite(path, "read the schema version", e))?;
    if found > supported {
        return Err(StateError::NewerVersion { path: path.to_owned(), found, supported });
    }
    if found == supported {
        return Ok(());
    }
    loop {
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StateError::sqlite(path, "begin a migration", e))?;
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| StateError::sqlite(path, "read the schema version", e))?;
        if found > supported {
            return Err(StateError::NewerVersion { path: path.to_owned(), found, supported });
        }
        let Some(sql) = usize::try_from(found).ok().and_then(|next| migrations.get(next)) else {
            return Ok(()); // up to date (the transaction rolls back: nothing was written)
        };
        tx.execute_batch(sql).map_err(|e| StateError::sqlite(path, "apply a schema migration", e))?;
        tx.pragma_update(None, "user_version", found + 1)
            .map_err(|e| StateError::sqlite(path, "record the schema version", e))?;
        tx.commit().map_err(|e| StateError::sqlite(path, "commit a schema migration", e))?;
    }
}

/// Version 3: the alerts (crates/ops/src/alerts, crates/ops/src/state/alerts.rs).
///
/// `alerts`: one row per alert; at most one open (firing or acknowledged) per fingerprint,
/// which the partial unique index `alerts_open` enforces. A repeat while open updates the
/// row; a repeat after it resolved inserts a new row (a new id).
/// - `id`: the alert's id, shown as `A<id>`; AUTOINCREMENT, so an id is never reused.
/// - `fingerprint`: rule, plan and repository joined by U+001F: what makes two conditions
///   the same alert.
/// - `rule`: backup_failed, rpo_exceeded, verify_damaged, repository_unreachable,
///   lock_stuck, disk_full, copy_behind, drill_failed.
/// - `severity`: info, warning, critical (the rule's, when it was opened).
/// - `plan`, `repository`: what it is about (the repository as a redacted location), or NULL.
/// - `summary`: one line for people; `details`: more, or NULL. Both ALREADY REDACTED by the
///   caller, like `jobs.error`; updated by each repeat.
/// - `job`: the job that raised or last updated it (no foreign key: the number stays when old
///   jobs are deleted), or NULL for a condition the timer found.
/// - `state`: firing, acknowledged, resolved.
/// - `first_seen`, `last_seen`: when the condition was first and last seen.
/// - `occurrences`: how many evaluations or jobs saw it (1 at opening).
/// - `resolved_at`: when the condition cleared, NULL while open.
/// - `ack_by`, `ack_comment`, `ack_at`, `ack_until`: the last acknowledgement: who (an actor
///   as the audit log names it), their comment, when, and until when (NULL: for as long as it
///   stays open). Kept after `ack_until` has passed and the alert fires again.
///
/// `alert_watch`: when the service first saw each plan, where a plan that never succeeded
/// starts counting towards its RPO.
/// - `plan`: the plan's name. `first_seen`: the first evaluation that saw it in the config.
const V3_ALERTS: &str = "
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    plan TEXT,
    repository TEXT,
    summary TEXT NOT NULL,
    details TEXT,
    job INTEGER,
    state TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    occurrences INTEGER NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
    resolved_at INTEGER,
    ack_by TEXT,
    ack_comment TEXT,
    ack_at INTEGER,
    ack_until INTEGER
);
CREATE UNIQUE INDEX alerts_open ON alerts (fingerprint) WHERE state IN ('firing', 'acknowledged');
CREATE INDEX alerts_by_plan ON alerts (plan, id);

CREATE TABLE alert_watch (
    plan TEXT PRIMARY KEY NOT NULL,
    first_seen INTEGER NOT NULL
);
";

/// Version 4: the audit log (crates/ops/src/audit, crates/ops/src/state/audit.rs).
///
/// `audit_log`: one row per operation that changed or read backups, hash-chained.
/// - `seq`: 1, 2, 3, ... without gaps (not AUTOINCREMENT: an append reads the head and
///   writes `seq + 1` in one `BEGIN IMMEDIATE` transaction, so a gap is a deleted entry).
/// - `at`: when it was appended (ms since the epoch, UTC).
/// - `actor`: who: `token:<name>` (the API), `local:<user>` (the CLI), `scheduler`, `service`.
/// - `operation`: what, snake_case: backup, restore, forget, prune, verify, copy, key_add,
///   token_create, config_reload, alert_acknowledge, job_run, job_cancel, audit_seal, ...
/// - `target`: on what (a plan, a redacted repository location, a job id, a token name), or NULL.
/// - `parameters`: a JSON object as compact text with sorted keys, without secrets (URLs
///   redacted, secret-shaped keys and values dropped before storing); hashed as stored.
/// - `result`: `ok` or `error: <redacted message>`.
/// - `prev_hash`: the previous entry's `hash` (32 zero bytes for `seq` 1), 32 bytes.
/// - `hash`: BLAKE3 over the canonical encoding of the fields above and `prev_hash`
///   (docs/SECURITY.md, "Audit log"), 32 bytes.
const V4_AUDIT: &str = "
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    operation TEXT NOT NULL,
    target TEXT,
    parameters TEXT NOT NULL,
    result TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at);
";

/// Version 5.
///
/// `drill_reports`: one row per drill or recovery report (`lifeboat_ops::dr::DrillReport`).
/// - `id`: the report's id (`drill-...`, `recovery-...`).
/// - `kind`: drill, recovery.
/// - `plan`: the plan drilled (a plan drill), NULL for a scenario.
/// - `scenario`: the scenario drilled or recovered, NULL for a plan drill.
/// - `plans`: every plan the report restored, as ` a b c ` (space-separated with a space at
///   either end), so that "the reports of plan a" is one LIKE.
/// - `started`, `finished`: when it ran.
/// - `passed`: 1 when every step passed.
/// - `rto_seconds`: the measured RTO (REAL seconds).
/// - `rpo_seconds`, `largest_gap_seconds`: the age of the backup used and the largest gap
///   between backups in the window, NULL when unknown.
/// - `objectives_met`: 1, 0, or NULL when no objective is set.
/// - `failure`: the first failure (redacted), NULL when it passed.
/// - `report`: the whole report as JSON.
const V5_DRILLS: &str = "
CREATE TABLE drill_reports (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('drill', 'recovery')),
    plan TEXT,
    scenario TEXT,
    plans TEXT NOT NULL,
    started INTEGER NOT NULL,
    finished INTEGER NOT NULL,
    passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
    rto_seconds REAL NOT NULL,
    rpo_seconds INTEGER,
    largest_gap_seconds INTEGER,
    objectives_met INTEGER CHECK (objectives_met IN (0, 1)),
    failure TEXT,
    report TEXT NOT NULL
);
CREATE INDEX drill_reports_by_start ON drill_reports (started);
";

#[cfg(test)]
mod tests {
    use super::*;

    fn version(connection: &Connection) -> i64 {
        connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn migrations_run_in_order_once_each() {
        let mut connection = Connection::open_in_memory().unwrap();
        let list = ["CREATE TABLE a (x);", "CREATE TABLE b (y); INSERT INTO a VALUES (1);"];
        apply(&mut connection, ":memory:", &list).unwrap();
        apply(&mut connection, ":memory:", &list).unwrap();
        assert_eq!(version(&connection), 2);
        let rows: i64 = connection.query_row("SELECT count(*) FROM a", [], |row| row.get(0)).unwrap();
        assert_eq!(rows, 1, "the second migration ran exactly once");
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version_whole() {
        let mut connection = Connection::open_in_memory().unwrap();
        let list = ["CREATE TABLE a (x);", "CREATE TABLE b (y); THIS IS NOT SQL;"];
        let error = apply(&mut connection, ":memory:", &list).unwrap_err();
        assert!(error.to_string().contains("migration"), "{error}");
        assert_eq!(version(&connection), 1);
        let b: i64 =
            connection.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'b'", [], |row| row.get(0)).unwrap();
        assert_eq!(b, 0, "table b was rolled back with its migration");
    }

    #[test]
    fn the_real_schema_applies_to_an_empty_database() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection, ":memory:").unwrap();
        assert_eq!(version(&connection), current_version());
    }
}
