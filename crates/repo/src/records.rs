//! Records: small named objects a frontend keeps in the repository beside the backups,
//! sealed and signed like manifests (docs/FORMAT.md, "Records"). lifeboatd seals its audit
//! log's head here (kind `audit-head`), so that rewriting the local log is detectable by
//! anyone holding the repository's key.
//!
//! A record lives at `records/<kind>/<name>`. Its object is an envelope of kind 2 (the kind
//! whose data key is wrapped in the header's slots, as a manifest's), sealed for the
//! repository's master key and recipients and signed by the master key's signing key or the
//! handle's writer key. Its object id is the first 16 bytes of
//! SHA-256("lifeboat/v1/record\n" || key), so a record moved to another key does not open
//! as that key. Records are never listed as backups, and `prune`, `forget`, `verify` and
//! `copy` leave them alone (they work on `backups/` and `data/` only); a master-key rotation
//! re-seals them with the manifests.

use bytes::Bytes;
use lifeboat_crypto::{ObjectKind, WriterKey, open_bytes, seal_bytes_signed};
use lifeboat_storage::StorageExt;

use crate::error::{RepoError, Result};
use crate::layout::RECORDS_PREFIX;
use crate::repository::Repository;

/// The largest record plaintext accepted.
pub const MAX_RECORD: usize = 1024 * 1024;

/// The longest kind or name of a record.
const MAX_PART: usize = 128;

impl Repository {
    /// Seals `body` as the record `name` of `kind` and stores it, replacing one of that
    /// name. `kind` and `name` are 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not starting
    /// with a dot.
    pub async fn put_record(&self, kind: &str, name: &str, body: &[u8]) -> Result<()> {
        let key = record_key(kind, name)?;
        if body.len() > MAX_RECORD {
            return Err(RepoError::Internal(format!("record {key} is larger than {MAX_RECORD} bytes")));
        }
        let sealed = self.seal_record(&key, body)?;
        self.storage.put_bytes(&key, Bytes::from(sealed)).await?;
        Ok(())
    }

    /// The names of the records of `kind`, sorted.
    pub async fn list_records(&self, kind: &str) -> Result<Vec<String>> {
        check_part("kind", kind)?;
        let prefix = format!("{RECORDS_PREFIX}{kind}/");
        let mut names: Vec<String> = self
            .storage
            .list_all(&prefix)
            .await?
            .into_iter()
            .filter_map(|meta| meta.key.strip_prefix(&prefix).map(str::to_owned))
            .filter(|name| check_part("name", name).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Reads, opens and authenticates the record `name` of `kind`. A record that does not
    /// open, is not bound to its key, or (for a handle without the master key) is not signed
    /// by a trusted signer is [`RepoError::BadRecord`].
    pub async fn get_record(&self, kind: &str, name: &str) -> Result<Vec<u8>> {
        let key = record_key(kind, name)?;
        let location = self.location();
        if !self.can_read() {
            return Err(RepoError::NeedsCredential(format!(
                "reading {key} needs the repository password, a key file or an identity (this handle is write-only)"
            )));
        }
        let bytes = self.storage.get_bytes(&key).await?;
        let bad = |reason: String| RepoError::BadRecord { key: key.clone(), location: location.clone(), reason };
        let (header, plain) = open_bytes(&bytes, &self.keyring, MAX_RECORD).map_err(|e| bad(e.to_string()))?;
        if header.fixed.kind != ObjectKind::Manifest || header.fixed.object_id != record_object_id(&key) {
            return Err(bad("its header does not name this record (moved or forged)".into()));
        }
        if self.master.is_none() {
            let listed = self.config.trusted_signers().map_err(&bad)?;
            let trusted = self.pinned_signers.as_ref().unwrap_or(&listed);
            lifeboat_crypto::verify_signature(&header, &plain, trusted)
                .map_err(|reason| bad(format!("{reason}: refused as possibly forged")))?;
        }
        Ok(plain.to_vec())
    }

    /// Re-seals every record for the current keys (a master-key rotation calls it after the
    /// manifests). A record this handle cannot open is left as it is, and counted.
    pub(crate) async fn reseal_records(&self) -> Result<(usize, usize)> {
        let (mut resealed, mut skipped) = (0, 0);
        for meta in self.storage.list_all(RECORDS_PREFIX).await? {
            let Some((kind, name)) = meta.key.strip_prefix(RECORDS_PREFIX).and_then(|rest| rest.split_once('/')) else {
                continue;
            };
            match self.get_record(kind, name).await {
                Ok(body) => {
                    self.put_record(kind, name, &body).await?;
                    resealed += 1;
                }
                Err(e) => {
                    tracing::warn!(key = %meta.key, error = %e, "a record could not be re-sealed and was left as it is");
                    skipped += 1;
                }
            }
        }
        Ok((resealed, skipped))
    }

    fn seal_record(&self, key: &str, body: &[u8]) -> Result<Vec<u8>> {
        let audience = self.audience();
        let derived;
        let signer: &WriterKey = match (audience.master, &self.trust.writer_key) {
            (Some((_, master)), _) => {
                derived = WriterKey::derive_from(master).map_err(|e| RepoError::Internal(e.to_string()))?;
                &derived
            }
            (None, Some(writer)) => writer,
            (None, None) => return Err(RepoError::NeedsWriterKey),
        };
        seal_bytes_signed(body, ObjectKind::Manifest, record_object_id(key), audience, self.options, signer)
            .map_err(|e| RepoError::object(key, &self.location(), e))
    }
}

/// The storage key of a record, after checking its parts.
pub fn record_key(kind: &str, name: &str) -> Result<String> {
    check_part("kind", kind)?;
    check_part("name", name)?;
    Ok(format!("{RECORDS_PREFIX}{kind}/{name}"))
}

/// The object id a record at `key` carries: SHA-256("lifeboat/v1/record\n" || key), first 16 bytes.
pub fn record_object_id(key: &str) -> [u8; 16] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"lifeboat/v1/record\n");
    context.update(key.as_bytes());
    let digest = context.finish();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest.as_ref()[..16]);
    id
}

fn check_part(what: &'static str, part: &str) -> Result<()> {
    let ok = !part.is_empty()
        && part.len() <= MAX_PART
        && !part.starts_with('.')
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        return Ok(());
    }
    Err(RepoError::RecordName {
        what,
        reason: format!(
            "{:?} is not 1 to {MAX_PART} characters of A-Z a-z 0-9 . _ - (not starting with a dot)",
            part.chars().take(MAX_PART + 1).collect::<String>()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use lifeboat_storage::MemoryStorage;

    use crate::{Credential, InitOptions};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_round_trips_and_a_moved_one_is_refused() {
        let storage = Arc::new(MemoryStorage::new());
        let options = InitOptions { kdf: lifeboat_crypto::Argon2Params::MINIMUM, ..Default::default() };
        let repo = Repository::init(storage.clone(), Credential::password("pw"), options).await.unwrap();
        repo.put_record("audit-head", "00000000000000000007-db1", b"{\"seq\":7}").await.unwrap();
        repo.put_record("audit-head", "00000000000000000003-db1", b"three").await.unwrap();
        assert_eq!(
            repo.list_records("audit-head").await.unwrap(),
            ["00000000000000000003-db1", "00000000000000000007-db1"]
        );
        assert_eq!(repo.get_record("audit-head", "00000000000000000007-db1").await.unwrap(), b"{\"seq\":7}");
        let raw = storage.get_bytes("records/audit-head/00000000000000000003-db1").await.unwrap();
        assert!(!raw.windows(5).any(|w| w == b"three"), "the record is stored encrypted");
        // The seq-3 object put at the seq-7 key does not open as seq 7.
        storage.put_bytes("records/audit-head/00000000000000000007-db1", raw).await.unwrap();
        let moved = repo.get_record("audit-head", "00000000000000000007-db1").await.unwrap_err();
        assert!(matches!(moved, RepoError::BadRecord { .. }), "{moved}");
        assert!(repo.list().await.unwrap().0.is_empty(), "records are not backups");
    }

    #[test]
    fn keys_are_checked_and_ids_bound_to_them() {
        assert_eq!(
            record_key("audit-head", "00000000000000000001-web1").unwrap(),
            "records/audit-head/00000000000000000001-web1"
        );
        assert!(record_key("audit-head", "../x").is_err());
        assert!(record_key("", "x").is_err());
        assert!(record_key("a/b", "x").is_err());
        assert_ne!(record_object_id("records/a/x"), record_object_id("records/a/y"));
    }
}
