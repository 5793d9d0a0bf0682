//! The audit log: who did what to which backups, hash-chained in the state database and
//! its head sealed into the repositories, so that editing, deleting or reordering local
//! entries is detectable (docs/SECURITY.md, "Audit log").
//!
//! - [`record`]: what every piece calls to append an entry. It never fails its caller: a
//!   failed append is a logged warning (the operation already happened, or is refused for
//!   its own reasons; the audit log's health is `lifeboat audit verify`'s business).
//! - [`verify_chain`]: walks the rows as stored (every hash recomputed, every `prev_hash`
//!   link and the `seq` continuity checked) and compares them with [`SealedHead`]s read from
//!   the repositories ([`read_heads`]); [`AuditVerifyReport::first`] names the first entry
//!   that does not fit and why.
//! - [`seal_head`]: seals the chain's head (seq, hash, time, host) into a repository as the
//!   record `audit-head/<seq>-<host>` ([`lifeboat_repo::Repository::put_record`]: encrypted
//!   and authenticated like a manifest). lifeboatd does it every `[audit] seal-interval`
//!   and at shutdown; the seal is itself an entry (`audit_seal`).
//!
//! Actors: `token:<name>` (the HTTP API), `local:<user>` ([`local_actor`], the CLI),
//! `scheduler` (scheduled jobs), `service` (lifeboatd itself: SIGHUP reload, seals).

mod seal;
mod verify;

use chrono::Utc;

pub use crate::state::{AuditEntry, AuditRecord, StoredAuditRow, sanitize_parameters};
pub use seal::{HEAD_RECORD_KIND, SealedHead, read_heads, seal_head};
pub use verify::{AuditVerifyReport, Finding, RepositoryHeads, verify_chain};

use crate::state::AsyncStateStore;

/// Appends `record` to the audit log of `state` at the system clock's now. A failure is
/// logged as a warning and otherwise ignored: an audit append never fails the operation it
/// records.
pub async fn record(state: &AsyncStateStore, record: AuditRecord) {
    record_at(state, record, Utc::now()).await;
}

/// [`record`] at a given time (the service's clock).
pub async fn record_at(state: &AsyncStateStore, record: AuditRecord, at: chrono::DateTime<Utc>) {
    let operation = record.operation.clone();
    if let Err(e) = state.append_audit(record, at).await {
        tracing::warn!(operation, error = %e, "could not append to the audit log");
    }
}

/// The actor of the CLI: `local:<user>`, the user from `$USER`, else `$LOGNAME`, else
/// `uid <n>`.
pub fn local_actor() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|user| !user.is_empty())
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()));
    format!("local:{user}")
}

/// The actor of an API request by the token named `name`.
pub fn token_actor(name: &str) -> String {
    format!("token:{name}")
}

/// An entry's `result` for an outcome: `ok`, or `error: <message>` with any URL in it
/// redacted and cut to 500 characters.
pub fn result_text<T, E: std::fmt::Display>(outcome: &Result<T, E>) -> String {
    match outcome {
        Ok(_) => "ok".to_owned(),
        Err(e) => error_text(&e.to_string()),
    }
}

/// `error: <message>`, each word that is a URL redacted, cut to 500 characters.
pub fn error_text(message: &str) -> String {
    let redacted: Vec<String> = message.split(' ').map(lifeboat_storage::redact_url).collect();
    let text: String = redacted.join(" ").chars().take(500).collect();
    format!("error: {text}")
}
