//! Sealing the chain's head into a repository, and reading the sealed heads back.

use chrono::{DateTime, Utc};
use lifeboat_repo::{RepoError, Repository};
use serde::{Deserialize, Serialize};

use crate::state::AuditEntry;

/// The record kind of sealed heads: `records/audit-head/<name>`.
pub const HEAD_RECORD_KIND: &str = "audit-head";

/// A sealed chain head: the record's plaintext, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedHead {
    /// The head entry's `seq`.
    pub seq: u64,
    /// Its `hash`, 64 hex digits.
    pub hash: String,
    /// Its time.
    pub at: DateTime<Utc>,
    /// The host whose audit log it is (heads of other hosts sharing the repository are not
    /// compared with this host's log).
    pub host: String,
    /// When it was sealed.
    pub sealed_at: DateTime<Utc>,
}

impl SealedHead {
    /// The head of `entry` on `host`, sealed at `sealed_at`.
    pub fn of(entry: &AuditEntry, host: &str, sealed_at: DateTime<Utc>) -> Self {
        SealedHead { seq: entry.seq, hash: entry.hash.clone(), at: entry.at, host: host.to_owned(), sealed_at }
    }

    /// The record name: `<seq, 20 digits>-<host, reduced to A-Z a-z 0-9 . _ ->`, so names
    /// sort by seq and differ per host.
    pub fn record_name(&self) -> String {
        let host: String = self
            .host
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
            .take(100)
            .collect();
        format!("{:020}-{}", self.seq, host.trim_start_matches('.'))
    }
}

/// Seals `head` into `repository`.
pub async fn seal_head(repository: &Repository, head: &SealedHead) -> Result<(), RepoError> {
    let body = serde_json::to_vec(head).map_err(|e| RepoError::Internal(e.to_string()))?;
    repository.put_record(HEAD_RECORD_KIND, &head.record_name(), &body).await
}

/// The heads of `host` sealed in `repository`, by seq. A record that does not open or
/// parse is an error (a forged or damaged seal is worth a look, not a silent skip).
pub async fn read_heads(repository: &Repository, host: &str) -> Result<Vec<SealedHead>, RepoError> {
    let mut heads = Vec::new();
    for name in repository.list_records(HEAD_RECORD_KIND).await? {
        let body = repository.get_record(HEAD_RECORD_KIND, &name).await?;
        let head: SealedHead = serde_json::from_slice(&body).map_err(|e| RepoError::BadRecord {
            key: format!("records/{HEAD_RECORD_KIND}/{name}"),
            location: repository.location(),
            reason: format!("not a sealed audit head: {e}"),
        })?;
        if head.host == host {
            heads.push(head);
        }
    }
    heads.sort_by_key(|h| h.seq);
    Ok(heads)
}
