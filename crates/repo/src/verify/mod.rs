//! Checking backups: quick (every object present with its recorded size and digest) or
//! deep (decrypted and compared), with manifests that cannot be read sorted into damage
//! and "sealed for others".

use std::collections::HashSet;

use futures::StreamExt;
use lifeboat_crypto::digest_stream;
use serde::Serialize;

use crate::catalog::LatestScope;
use crate::error::{RepoError, Result};
use crate::manifest::{Manifest, ObjectRecord};
use crate::progress::Progress;
use crate::repository::Repository;

mod packs;

pub use packs::{DataCheck, DataSubset, V3Check, V3Verified};

/// One problem found by `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    /// Backup id.
    pub backup: String,
    /// Object key (or the manifest's).
    pub object: String,
    /// What is wrong.
    pub problem: String,
}

/// What `verify` checked and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Backups checked.
    pub backups: usize,
    /// Objects checked.
    pub objects: usize,
    /// Stored bytes read.
    pub bytes_read: u64,
    /// Whether plaintext was decrypted and compared.
    pub deep: bool,
    /// Everything wrong.
    pub damage: Vec<Damage>,
}

impl VerifyReport {
    /// True when nothing is damaged.
    pub fn is_ok(&self) -> bool {
        self.damage.is_empty()
    }

    /// Records a manifest that could not be read (damaged, forged, unreadable storage) as
    /// damage, naming the backup and its manifest when the error does.
    pub fn add_unreadable(&mut self, error: &RepoError) {
        let object = error.object_key().unwrap_or_default().to_owned();
        let backup = object.strip_prefix(crate::layout::BACKUPS_PREFIX).unwrap_or_default().to_owned();
        self.damage.push(Damage { backup, object, problem: error.to_string() });
    }
}

/// What [`Repository::verify_backups`] found: the report (unreadable manifests counted as
/// damage) and the manifests it could not check because they are sealed for others.
#[derive(Debug, Clone, Default)]
pub struct VerifyOutcome {
    /// Everything checked and every problem found.
    pub report: VerifyReport,
    /// Storage keys of the manifests sealed for recipients whose identity this handle lacks:
    /// not checked, and not damage.
    pub sealed_for_others: Vec<String>,
}

impl Repository {
    /// Verifies the backup `selector` names (`latest`, an id or a prefix), or every backup
    /// for `None`. A manifest that cannot be read is damage found, not a failure to look,
    /// except one merely sealed for others, which is listed apart; any other failure (no
    /// such backup, an unreachable storage) is an error.
    pub async fn verify_backups(&self, selector: Option<&str>, deep: bool) -> Result<VerifyOutcome> {
        self.verify_backups_with_advice(selector, deep, |_| None).await
    }

    /// [`Repository::verify_backups`], with a frontend's advice for a manifest that cannot
    /// be read appended to its damage entry (the CLI names the flag that gets past it).
    pub async fn verify_backups_with_advice(
        &self,
        selector: Option<&str>,
        deep: bool,
        advice: impl Fn(&RepoError) -> Option<String>,
    ) -> Result<VerifyOutcome> {
        self.verify_backups_in(selector, &LatestScope::default(), deep, advice).await
    }

    /// [`Repository::verify_backups_with_advice`] within `scope`: `latest` is the newest
    /// backup within it, an id must be within it, and without a selector every backup
    /// within it is checked (a manifest that cannot be read is still damage found).
    pub async fn verify_backups_in(
        &self,
        selector: Option<&str>,
        scope: &LatestScope,
        deep: bool,
        advice: impl Fn(&RepoError) -> Option<String>,
    ) -> Result<VerifyOutcome> {
        self.verify_backups_observed(selector, scope, deep, advice, &Progress::default()).await
    }

    /// [`Repository::verify_backups_in`], counting into `progress` the objects checked and
    /// the bytes read (see [`Repository::verify_observed`]).
    pub async fn verify_backups_observed(
        &self,
        selector: Option<&str>,
        scope: &LatestScope,
        deep: bool,
        advice: impl Fn(&RepoError) -> Option<String>,
        progress: &Progress,
    ) -> Result<VerifyOutcome> {
        self.verify_backups_reading(selector, scope, DataCheck::from_deep(deep), advice, progress).await
    }

    /// [`Repository::verify_backups_observed`], reading the content `data` says: none, all,
    /// or a subset (of packs in format 3, of data objects in format 2).
    pub async fn verify_backups_reading(
        &self,
        selector: Option<&str>,
        scope: &LatestScope,
        data: DataCheck,
        advice: impl Fn(&RepoError) -> Option<String>,
        progress: &Progress,
    ) -> Result<VerifyOutcome> {
        let (manifests, errors) = match selector {
            Some(selector) => match self.resolve_in(selector, scope).await {
                Ok(m) => (vec![m], Vec::new()),
                Err(
                    e @ (RepoError::BadManifest { .. }
                    | RepoError::SignerNotPinned { .. }
                    | RepoError::Object { .. }
                    | RepoError::LatestUnknown { .. }),
                ) => (Vec::new(), vec![e]),
                Err(e) => return Err(e),
            },
            None => {
                let (all, errors) = self.list().await?;
                (all.into_iter().filter(|m| scope.matches(m)).collect(), errors)
            }
        };
        let (sealed_for_others, unreadable) = crate::catalog::triage(errors);
        let mut report = self.verify_reading(&manifests, data, progress).await?;
        for e in &unreadable {
            report.add_unreadable(e);
            if let (Some(note), Some(entry)) = (advice(e), report.damage.last_mut()) {
                entry.problem.push_str(&note);
            }
        }
        Ok(VerifyOutcome { report, sealed_for_others })
    }

    /// Checks backups: every object present with its recorded size and digest; with `deep`,
    /// also decrypted, decompressed and compared with the recorded plaintext digest (both
    /// digests from one read).
    pub async fn verify(&self, manifests: &[Manifest], deep: bool) -> Result<VerifyReport> {
        self.verify_observed(manifests, deep, &Progress::default()).await
    }

    /// [`Repository::verify`], counting into `progress` the objects checked and the bytes
    /// read: stored bytes, or with `deep` plaintext bytes (the totals are the recorded sizes).
    pub async fn verify_observed(
        &self,
        manifests: &[Manifest],
        deep: bool,
        progress: &Progress,
    ) -> Result<VerifyReport> {
        self.verify_reading(manifests, DataCheck::from_deep(deep), progress).await
    }

    /// Checks backups, reading the content `data` says. Format 2 objects not read are
    /// checked by their stored size and digest; format 3 backups by their trees, index and
    /// packs, with the selected packs read whole (see [`Repository::verify_v3_backups`]).
    pub async fn verify_reading(
        &self,
        manifests: &[Manifest],
        data: DataCheck,
        progress: &Progress,
    ) -> Result<VerifyReport> {
        let (v3, v2): (Vec<&Manifest>, Vec<&Manifest>) =
            manifests.iter().partition(|m| m.version == crate::manifest::MANIFEST_VERSION_V3);
        let deep = deep_objects(&v2, data)?;
        let (objects, bytes) = totals(manifests, |o| if deep.contains(&o.key) { o.plain_size } else { o.size });
        progress.add_totals(objects, bytes);
        let mut report = VerifyReport { deep: data.reads_data(), ..Default::default() };
        for manifest in v2 {
            report.backups += 1;
            for record in &manifest.objects {
                report.objects += 1;
                let problem = if deep.contains(&record.key) {
                    self.verify_deep(record, progress).await
                } else {
                    self.verify_quick(record, progress).await
                };
                progress.add_file();
                match problem {
                    Ok(read) => report.bytes_read += read,
                    Err(problem) => {
                        report.damage.push(Damage { backup: manifest.id.clone(), object: record.key.clone(), problem })
                    }
                }
            }
        }
        // verify_v3_backups checks each dedup domain with its own store (a copied backup
        // keeps the domain it came from) and lists the packs once for all of them.
        if !v3.is_empty() {
            report.backups += v3.len();
            let checked = self.verify_v3_backups(&v3, data, progress).await?;
            report.objects += checked.blobs as usize;
            report.bytes_read += checked.bytes_read;
            for (backup, object, problem) in checked.problems {
                report.damage.push(Damage { backup, object, problem });
            }
        }
        Ok(report)
    }

    async fn verify_quick(&self, record: &ObjectRecord, progress: &Progress) -> std::result::Result<u64, String> {
        let meta = self.storage.head(&record.key).await.map_err(|e| e.to_string())?;
        let meta = meta.ok_or_else(|| "missing".to_owned())?;
        if meta.size != record.size {
            return Err(format!("size {} differs from the recorded {}", meta.size, record.size));
        }
        let stream = self.storage.get(&record.key, None).await.map_err(|e| e.to_string())?;
        let (size, digest) = digest_stream(Box::pin(progress.count(stream))).await.map_err(|e| e.to_string())?;
        if hex::encode(digest) != record.blake3 {
            return Err(format!("BLAKE3 {} differs from the recorded {}", hex::encode(digest), record.blake3));
        }
        Ok(size)
    }

    async fn verify_deep(&self, record: &ObjectRecord, progress: &Progress) -> std::result::Result<u64, String> {
        let mut stream = self.open_checked(record, true).await.map_err(|e| e.to_string())?;
        while let Some(chunk) = stream.next().await {
            progress.add_bytes(chunk.map_err(|e| e.to_string())?.len() as u64);
        }
        Ok(record.size)
    }
}

/// The keys of the format 2 objects `data` has decrypted and compared.
fn deep_objects(manifests: &[&Manifest], data: DataCheck) -> Result<HashSet<String>> {
    let records = manifests.iter().flat_map(|m| &m.objects);
    let picked: Vec<&ObjectRecord> = match data {
        DataCheck::Structure => Vec::new(),
        DataCheck::All => records.collect(),
        DataCheck::Subset(subset) => {
            let ids: Vec<(Vec<u8>, &ObjectRecord)> =
                records.map(|r| (r.object_id_bytes().unwrap_or_default().to_vec(), r)).collect();
            let keyed: Vec<ById<'_>> = ids.into_iter().map(|(id, r)| ById(id, r)).collect();
            subset.select(keyed)?.into_iter().map(|ById(_, r)| r).collect()
        }
    };
    Ok(picked.into_iter().map(|r| r.key.clone()).collect())
}

/// An object record selected by its raw id.
struct ById<'a>(Vec<u8>, &'a ObjectRecord);

impl AsRef<[u8]> for ById<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// How many objects `manifests` name and the sum of `size` over them (a plain function:
/// iterator closures over borrowed manifests inside an async fn make its future lose `Send`
/// for callers that need it for every lifetime).
pub(crate) fn totals(manifests: &[Manifest], size: impl Fn(&ObjectRecord) -> u64) -> (u64, u64) {
    let mut totals = (0u64, 0u64);
    for record in manifests.iter().flat_map(|m| &m.objects) {
        totals.0 += 1;
        totals.1 += size(record);
    }
    totals
}
