//! Reading the catalogue of backups: listing, loading and resolving manifests, and sorting
//! those that cannot be read into "not ours" and "damaged".

use futures::StreamExt;
use lifeboat_crypto::{ObjectKind, open_bytes};
use lifeboat_storage::StorageExt;

use crate::error::{RepoError, Result};
use crate::layout::{BACKUPS_PREFIX, MAX_MANIFEST};
use crate::manifest::Manifest;
use crate::repository::{Repository, read_config};
use crate::view::BackupSummary;

/// Every backup of a repository, sorted by whether this handle could read it: what a
/// frontend lists, with the rest typed so it need not inspect errors itself.
#[derive(Debug, Default)]
pub struct BackupListing {
    /// The backups read, oldest first (by finish time, then id).
    pub readable: Vec<Manifest>,
    /// Manifests sealed only for recipients whose identity this handle lacks (written by a
    /// write-only host): not ours to read, and not damage. Their storage keys.
    pub sealed_for_others: Vec<String>,
    /// Manifests that could not be read for any other reason (damaged, forged, a storage
    /// failure), each with its error: evidence to report, and a reason `latest` is unsure.
    pub unreadable: Vec<RepoError>,
}

/// Which backups `latest` chooses among, and which `list` shows, as restic's `--host` /
/// `--tag` / `--path` filters: every field given must match (`tags`: the backup carries all
/// of them; `paths`: a files backup that read all of them). An empty scope is every backup.
///
/// ```
/// use lifeboat_repo::LatestScope;
/// let scope =
///     LatestScope { plan: Some("web".into()), tags: vec!["nightly".into(), "eu".into()], ..Default::default() };
/// assert_eq!(scope.to_string(), "of plan \"web\" with tags \"nightly\", \"eu\"");
/// assert!(LatestScope::default().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestScope {
    /// Only backups of this plan.
    pub plan: Option<String>,
    /// Only backups made on this host.
    pub host: Option<String>,
    /// Only backups carrying every one of these tags.
    pub tags: Vec<String>,
    /// Only files backups that read every one of these (absolute) paths.
    pub paths: Vec<std::path::PathBuf>,
}

impl LatestScope {
    /// True when the scope selects every backup.
    pub fn is_empty(&self) -> bool {
        self.plan.is_none() && self.host.is_none() && self.tags.is_empty() && self.paths.is_empty()
    }

    /// True when `manifest` is within the scope.
    pub fn matches(&self, manifest: &Manifest) -> bool {
        self.plan.as_ref().is_none_or(|p| manifest.plan.as_ref() == Some(p))
            && self.host.as_ref().is_none_or(|h| &manifest.host == h)
            && self.tags.iter().all(|t| manifest.tags.contains(t))
            && (self.paths.is_empty() || {
                let read = manifest.paths();
                self.paths.iter().all(|p| read.contains(p))
            })
    }
}

/// `of plan "web" on host "db1" with tags "nightly", "eu"` (only the parts given; `in the
/// repository` when empty), as errors say it after "no backup".
impl std::fmt::Display for LatestScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("in the repository");
        }
        let mut parts = Vec::new();
        if let Some(plan) = &self.plan {
            parts.push(format!("of plan {plan:?}"));
        }
        if let Some(host) = &self.host {
            parts.push(format!("on host {host:?}"));
        }
        if !self.tags.is_empty() {
            let tags: Vec<String> = self.tags.iter().map(|t| format!("{t:?}")).collect();
            let word = if tags.len() == 1 { "tag" } else { "tags" };
            parts.push(format!("with {word} {}", tags.join(", ")));
        }
        if !self.paths.is_empty() {
            let paths: Vec<String> = self.paths.iter().map(|p| format!("{:?}", p.display().to_string())).collect();
            let word = if paths.len() == 1 { "path" } else { "paths" };
            parts.push(format!("of {word} {}", paths.join(", ")));
        }
        f.write_str(&parts.join(" "))
    }
}

impl BackupListing {
    /// The readable backups of `plan` (all of them for `None`), oldest first.
    pub fn in_plan<'l>(&'l self, plan: Option<&'l str>) -> impl DoubleEndedIterator<Item = &'l Manifest> + 'l {
        self.readable.iter().filter(move |m| plan.is_none_or(|p| m.plan.as_deref() == Some(p)))
    }

    /// Table rows of the readable backups of `plan`.
    pub fn summaries(&self, plan: Option<&str>) -> Vec<BackupSummary> {
        self.in_plan(plan).map(BackupSummary::from).collect()
    }

    /// Table rows of the readable backups within `scope`, oldest first.
    pub fn summaries_in(&self, scope: &LatestScope) -> Vec<BackupSummary> {
        self.readable.iter().filter(|m| scope.matches(m)).map(BackupSummary::from).collect()
    }

    /// True when every manifest was read or is merely someone else's.
    pub fn is_complete(&self) -> bool {
        self.unreadable.is_empty()
    }
}

/// Splits manifests that could not be read into those sealed for others and the rest.
pub(crate) fn triage(errors: Vec<RepoError>) -> (Vec<String>, Vec<RepoError>) {
    let (sealed, unreadable): (Vec<_>, Vec<_>) = errors.into_iter().partition(RepoError::is_recipients_only);
    (sealed.iter().map(|e| e.object_key().unwrap_or_default().to_owned()).collect(), unreadable)
}

impl Repository {
    /// [`Repository::list`], triaged: readable backups, those sealed for others, and those
    /// that could not be read.
    pub async fn list_backups(&self) -> Result<BackupListing> {
        let (readable, errors) = self.list().await?;
        let (sealed_for_others, unreadable) = triage(errors);
        Ok(BackupListing { readable, sealed_for_others, unreadable })
    }

    /// Lists every readable backup, newest last, and the manifests that could not be read.
    pub async fn list(&self) -> Result<(Vec<Manifest>, Vec<RepoError>)> {
        let keys = self.storage.list_all(BACKUPS_PREFIX).await?;
        let results: Vec<Result<Manifest>> = futures::stream::iter(keys)
            .map(|meta| async move { self.load_manifest_at(&meta.key).await })
            .buffer_unordered(8)
            .collect()
            .await;
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for r in results {
            match r {
                Ok(m) => ok.push(m),
                Err(e) => bad.push(e),
            }
        }
        ok.sort_by(|a, b| a.finished.cmp(&b.finished).then(a.id.cmp(&b.id)));
        Ok((ok, bad))
    }

    /// Summaries of every readable backup, newest last.
    pub async fn summaries(&self) -> Result<Vec<BackupSummary>> {
        Ok(self.list().await?.0.iter().map(BackupSummary::from).collect())
    }

    /// Reads and decrypts the manifest of backup `id` (a full id).
    pub async fn load_manifest(&self, id: &str) -> Result<Manifest> {
        self.load_manifest_at(&format!("{BACKUPS_PREFIX}{id}")).await
    }

    async fn load_manifest_at(&self, key: &str) -> Result<Manifest> {
        let location = self.location();
        if !self.can_read() {
            return Err(RepoError::NeedsCredential(format!(
                "reading {key} needs the repository password, a key file or an identity (this handle is write-only)"
            )));
        }
        let id = key.strip_prefix(BACKUPS_PREFIX).unwrap_or(key);
        let bad = |reason: String| RepoError::BadManifest { key: key.to_owned(), location: location.clone(), reason };
        if !crate::manifest::is_lower_hex(id, 32) {
            return Err(bad("its name is not a backup id (32 lowercase hex digits)".into()));
        }
        let bytes = self.storage.get_bytes(key).await?;
        let (header, plain) = match open_bytes(&bytes, &self.keyring, MAX_MANIFEST) {
            Ok(opened) => opened,
            Err(lifeboat_crypto::CryptoError::NoMatchingSlot) if self.master.is_some() => {
                return Err(self.without_master_slot(key, &bytes));
            }
            // A master-key slot for a key this handle does not hold is damage, unless the
            // handle is stale: a `key rotate` finished since it opened the repository.
            Err(e @ lifeboat_crypto::CryptoError::DamagedSlot { kind: "master-key", .. }) => {
                if let Ok(config) = read_config(self.storage.as_ref()).await
                    && config.master_key_id != self.config.master_key_id
                {
                    return Err(RepoError::Key(format!(
                        "{key} is sealed for master key {}, which replaced {} after this handle opened the \
                         repository (a `key rotate` ran meanwhile): open the repository again",
                        config.master_key_id, self.config.master_key_id
                    )));
                }
                return Err(RepoError::object(key, &location, e));
            }
            Err(e) => return Err(RepoError::object(key, &location, e)),
        };
        if header.fixed.kind != ObjectKind::Manifest {
            return Err(bad("the object is not a manifest".into()));
        }
        if hex::encode(header.fixed.object_id) != id {
            return Err(bad(format!("its header names backup {}", hex::encode(header.fixed.object_id))));
        }
        if self.master.is_none() {
            // Opened through a recipient slot, which anyone with storage write can make: only a
            // signature by the master key's signing key or a registered writer vouches for it.
            let listed = self.config.trusted_signers().map_err(&bad)?;
            let trusted = self.pinned_signers.as_ref().unwrap_or(&listed);
            lifeboat_crypto::verify_signature(&header, &plain, trusted).map_err(|reason| {
                if listed.iter().any(|k| !trusted.contains(k)) {
                    RepoError::SignerNotPinned { key: key.to_owned(), location: location.clone(), reason }
                } else {
                    bad(format!("{reason}: refused as possibly forged"))
                }
            })?;
        }
        Manifest::parse(&plain, id, &self.config.id).map_err(bad)
    }

    /// Classifies, for a master-key holder, a manifest with no slot it can be meant to open
    /// (no master-key slot). It is "sealed for recipients only" (not ours, not damage) only
    /// when a writer the config registers signed it, as write-only hosts do. Manifests a
    /// master-key holder writes carry a master-key slot and the signature of the master
    /// key's signing key: one signed so without that slot lost it (damaged, or forged to
    /// hide the backup), and one unsigned or signed by a stranger is what anybody with
    /// storage write could have made. The signature itself is checked by whoever opens it.
    fn without_master_slot(&self, key: &str, bytes: &[u8]) -> RepoError {
        let location = self.location();
        let bad = |reason: String| RepoError::BadManifest { key: key.to_owned(), location: location.clone(), reason };
        let not_ours = || RepoError::object(key, &location, lifeboat_crypto::CryptoError::NoMatchingSlot);
        let Ok((header, _)) = lifeboat_crypto::parse_complete_header(bytes) else { return not_ours() };
        let signer = header.slots.iter().find_map(|slot| match slot {
            lifeboat_crypto::Slot::Unknown { kind, body } if *kind == lifeboat_crypto::SIGNATURE_SLOT => body.get(..8),
            _ => None,
        });
        let Some(signer) = signer else {
            return bad("it has no master-key slot and no writer signature: neither the master key nor a registered \
                        writer sealed it (damaged or forged)"
                .into());
        };
        let master_signer = lifeboat_crypto::WriterPublicKey::parse(&self.config.signing_key).ok().map(|k| k.id());
        if master_signer.is_some_and(|id| id[..] == *signer) {
            return bad("it is signed with the master key's signing key but has no master-key slot: the slot was \
                        removed (damaged or forged)"
                .into());
        }
        match self.config.writer_keys() {
            Ok(writers) if writers.iter().any(|w| w.id()[..] == *signer) => not_ours(),
            Ok(_) => bad(format!(
                "it has no master-key slot and is signed by writer {}, which the repository does not list (damaged \
                 or forged)",
                hex::encode(signer)
            )),
            Err(reason) => RepoError::CorruptConfig { location: location.clone(), reason },
        }
    }

    /// Resolves `latest`, a full id, or a unique id prefix, optionally within one plan
    /// ([`resolve_in`](Self::resolve_in) with a scope of that plan).
    pub async fn resolve(&self, selector: &str, plan: Option<&str>) -> Result<Manifest> {
        self.resolve_in(selector, &LatestScope { plan: plan.map(str::to_owned), ..Default::default() }).await
    }

    /// Resolves `latest` (the newest backup within `scope`), a full id, or a unique id prefix
    /// (which must then be a backup within `scope`: [`RepoError::OutOfScope`]). No backup
    /// within a scope that is not empty is [`RepoError::NoBackupInScope`], naming the scope.
    ///
    /// `latest` is refused ([`RepoError::LatestUnknown`]) while any manifest cannot be read
    /// for another reason than being sealed for recipients only (damaged, forged, a storage
    /// error): it might be the newest, and silently restoring an older backup instead is
    /// what the operator must not get (restic's `latest` fails the same way). The error
    /// names the damaged manifests and the newest readable backup, which can be named by id.
    pub async fn resolve_in(&self, selector: &str, scope: &LatestScope) -> Result<Manifest> {
        let found = self.resolve_selector(selector, scope).await?;
        if !scope.matches(&found) {
            return Err(RepoError::OutOfScope { id: found.id, scope: scope.to_string() });
        }
        Ok(found)
    }

    async fn resolve_selector(&self, selector: &str, scope: &LatestScope) -> Result<Manifest> {
        let selector = selector.trim();
        if selector == "latest" {
            if !self.can_read() {
                return Err(RepoError::NeedsCredential(
                    "finding the latest backup needs the repository password, a key file or an identity (this handle \
                     is write-only)"
                        .into(),
                ));
            }
            let BackupListing { readable, unreadable, .. } = self.list_backups().await?;
            let newest = readable.into_iter().rev().find(|m| scope.matches(m));
            if !unreadable.is_empty() {
                return Err(RepoError::LatestUnknown { damaged: unreadable, newest: newest.map(|m| m.id) });
            }
            return newest.ok_or_else(|| match scope.is_empty() {
                true => RepoError::NoSuchBackup("latest".into()),
                false => RepoError::NoBackupInScope { scope: scope.to_string() },
            });
        }
        if selector.is_empty() || !selector.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(RepoError::NoSuchBackup(selector.to_owned()));
        }
        let selector = selector.to_ascii_lowercase();
        let keys = self.storage.list_all(&format!("{BACKUPS_PREFIX}{selector}")).await?;
        match keys.as_slice() {
            [] => Err(RepoError::NoSuchBackup(selector)),
            [one] => self.load_manifest_at(&one.key).await,
            many => Err(RepoError::AmbiguousId {
                prefix: selector,
                candidates: many
                    .iter()
                    .map(|m| m.key.strip_prefix(BACKUPS_PREFIX).unwrap_or(&m.key))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}
