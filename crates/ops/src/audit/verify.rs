//! Checking the chain as stored, and against the heads sealed in the repositories.

use serde::Serialize;

use super::seal::SealedHead;
use crate::state::{GENESIS_HASH, StoredAuditRow};

/// One thing that does not fit, about the entry `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The first entry concerned (for a deleted tail: the first missing one).
    pub seq: u64,
    /// Why, in words.
    pub reason: String,
}

/// The sealed heads read from one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryHeads {
    /// The plan whose primary repository it is.
    pub plan: String,
    /// Its location (redacted).
    pub repository: String,
    /// The heads of this host found there.
    pub heads: Vec<SealedHead>,
    /// Why they could not be read (then nothing was compared with this repository).
    pub error: Option<String>,
}

/// What `lifeboat audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerifyReport {
    /// Rows in the local log.
    pub entries: u64,
    /// The local chain's last seq (0: empty).
    pub last_seq: u64,
    /// Sealed heads compared.
    pub sealed_heads: u64,
    /// The repositories read.
    pub repositories: Vec<RepositoryHeads>,
    /// Everything that does not fit, by seq; empty when the log is intact.
    pub findings: Vec<Finding>,
}

impl AuditVerifyReport {
    /// The first entry that does not fit, if any.
    pub fn first(&self) -> Option<&Finding> {
        self.findings.first()
    }

    /// True when nothing was found.
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Checks `rows` (as stored, in seq order) and compares them with the heads of each
/// repository: every hash recomputed, every `prev_hash` link and the seq continuity
/// checked, each sealed head matched with the local entry at its seq, and no sealed seq
/// beyond the local end.
pub fn verify_chain(rows: &[StoredAuditRow], repositories: Vec<RepositoryHeads>) -> AuditVerifyReport {
    let mut findings = chain_findings(rows);
    let last_seq = rows.last().map(|r| r.seq.max(0) as u64).unwrap_or(0);
    let mut sealed_heads = 0;
    for repo in &repositories {
        for head in &repo.heads {
            sealed_heads += 1;
            if let Some(finding) = compare_head(rows, last_seq, repo, head) {
                findings.push(finding);
            }
        }
    }
    findings.sort_by_key(|f| f.seq);
    AuditVerifyReport { entries: rows.len() as u64, last_seq, sealed_heads, repositories, findings }
}

/// The first break of the chain itself (later rows are judged against their own links,
/// so one edit is reported once, at the entry edited).
fn chain_findings(rows: &[StoredAuditRow]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut expected_seq: i64 = 1;
    let mut prev: Vec<u8> = GENESIS_HASH.to_vec();
    for row in rows {
        let seq = row.seq.max(0) as u64;
        let problem = if row.seq != expected_seq {
            if row.seq > expected_seq {
                let missing = if row.seq - expected_seq == 1 {
                    format!("entry {expected_seq} is missing")
                } else {
                    format!("entries {expected_seq} to {} are missing", row.seq - 1)
                };
                Some(format!("{missing} (deleted): the log jumps from {} to {}", expected_seq - 1, row.seq))
            } else {
                Some(format!("seq {} out of order (expected {expected_seq})", row.seq))
            }
        } else if row.prev_hash != prev {
            Some(format!(
                "its prev_hash does not match the hash of entry {} (entries were reordered, replaced or deleted)",
                row.seq - 1
            ))
        } else if row.computed_hash().as_slice() != row.hash.as_slice() {
            Some("its fields do not give its stored hash (the entry was edited)".to_owned())
        } else {
            None
        };
        if let Some(reason) = problem {
            let first = if row.seq > expected_seq { expected_seq as u64 } else { seq };
            findings.push(Finding { seq: first, reason: format!("entry {seq}: {reason}") });
            if findings.len() >= 20 {
                break;
            }
        }
        expected_seq = row.seq + 1;
        prev = row.hash.clone();
    }
    findings
}

fn compare_head(rows: &[StoredAuditRow], last_seq: u64, repo: &RepositoryHeads, head: &SealedHead) -> Option<Finding> {
    let sealed = format!(
        "the head sealed in {} (plan {}) at {} names entry {}",
        repo.repository,
        repo.plan,
        head.sealed_at.to_rfc3339(),
        head.seq
    );
    if head.seq > last_seq {
        return Some(Finding {
            seq: last_seq + 1,
            reason: format!(
                "{sealed}, but the local log ends at entry {last_seq}: entries {} to {} were deleted",
                last_seq + 1,
                head.seq
            ),
        });
    }
    let local = rows.iter().find(|r| r.seq.max(0) as u64 == head.seq);
    match local {
        None => Some(Finding { seq: head.seq, reason: format!("{sealed}, which the local log lacks (deleted)") }),
        Some(row) if crate::state::hex_of(&row.hash) != head.hash => Some(Finding {
            seq: head.seq,
            reason: format!(
                "{sealed} with hash {}, but the local entry {} has hash {}: the log up to it was rewritten",
                head.hash,
                head.seq,
                crate::state::hex_of(&row.hash)
            ),
        }),
        Some(_) => None,
    }
}
