//! The repository: opening, backing up, listing, reading manifests.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use lifeboat_crypto::{
    Argon2Params, Audience, Keyring, ObjectKind, PipelineOptions, RecipientPublicKey, SecretKey, WriterKey, open_bytes,
    random_bytes, seal_bytes_signed, seal_data_stream,
};
use lifeboat_storage::clock::{Clock, SystemClock};
use lifeboat_storage::{ByteStream, PutOptions, PutOutcome, Retention, Storage, StorageError, StorageExt};
use tokio::io::AsyncRead;

use crate::config::{CONFIG_VERSION, ConfigFile, FORMAT_NAME, make_slot, master_key_id};
use crate::credential::Credential;
use crate::error::{RepoError, Result};
use crate::host::hostname;
use crate::kind::BackupKind;
use crate::layout::{BACKUPS_PREFIX, CONFIG_KEY, MAX_MANIFEST, data_key};
use crate::lock::{Lock, LockKind, LockOwner};
use crate::manifest::{MANIFEST_VERSION, Manifest, ObjectRecord};
use crate::release::LockReleases;
use crate::state::{KnownState, KnownStateStore};
use crate::view::BackupSummary;

/// Options for `init`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Plaintext bytes per segment.
    pub segment_size: u32,
    /// zstd level for new objects (0 = none).
    pub compression_level: i32,
    /// Argon2id cost for the password slot.
    pub kdf: Argon2Params,
    /// Label of the first slot.
    pub label: Option<String>,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            segment_size: lifeboat_crypto::DEFAULT_SEGMENT,
            compression_level: 3,
            kdf: Argon2Params::default(),
            label: None,
        }
    }
}

/// How a handle checks the config against what this host remembers, and how it signs.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Remembers, per repository, the highest config generation, its master key id and its
    /// recipients; `None` means no rollback protection (a put-back old config goes unnoticed).
    pub state: Option<Arc<dyn KnownStateStore>>,
    /// Accept a config older than the one remembered, or one that lost recipients: the
    /// CLI's `--accept-config-rollback`, for restoring an old config on purpose.
    pub accept_config_rollback: bool,
    /// For handles without the master key: trust the signers the config lists now instead
    /// of those this host pinned (the CLI's `--trust-new-signers`).
    pub trust_new_signers: bool,
    /// The registered writer key a handle without the master key signs its manifests with
    /// (`lifeboat key writer add`); readers refuse recipient manifests nobody signed.
    pub writer_key: Option<Arc<WriterKey>>,
    /// The clock manifests, the config and lock leases are dated by (shown in this host's
    /// time zone); `None` is the system clock.
    pub clock: Option<Arc<dyn Clock>>,
    /// Where the handle's dropped locks hand their removal: share one among the
    /// repositories a program opens and [`settle`](LockReleases::settle) it before exiting.
    /// The default is a set of the handle's own ([`Repository::settle`]).
    pub releases: LockReleases,
}

/// What a new backup is.
#[derive(Debug, Clone, Default)]
pub struct BackupRequest {
    /// `stream` (the default), `files`, `postgres` ...
    pub kind: BackupKind,
    /// What is backed up (a stream name, paths ...).
    pub name: String,
    /// Plan name.
    pub plan: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Host name; the local one when `None`.
    pub host: Option<String>,
    /// Parent backup (incrementals).
    pub parent: Option<String>,
    /// Write every object of the backup under this object-lock retention (needs a bucket
    /// with object lock); the backup cannot be deleted before it ends.
    pub retention: Option<Retention>,
}

/// An open repository.
pub struct Repository {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) config: ConfigFile,
    pub(crate) keyring: Keyring,
    pub(crate) master: Option<([u8; 8], SecretKey)>,
    pub(crate) recipients: Vec<RecipientPublicKey>,
    pub(crate) unlocked_slot: Option<String>,
    pub(crate) options: PipelineOptions,
    pub(crate) credential: Credential,
    pub(crate) trust: OpenOptions,
    /// For a handle without the master key and with a state store: the signers this host
    /// pinned (see [`KnownState::signers`]), trusted instead of the config's own list.
    pub(crate) pinned_signers: Option<Vec<lifeboat_crypto::WriterPublicKey>>,
    /// The clock and the release tracker of the locks this handle takes.
    pub(crate) owner: LockOwner,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository").field("location", &self.location()).field("id", &self.config.id).finish()
    }
}

pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| RepoError::Internal(e.to_string()))
}

impl Repository {
    /// Creates a repository in `storage`, protected by `credential` (a password or key file).
    pub async fn init(storage: Arc<dyn Storage>, credential: Credential, options: InitOptions) -> Result<Repository> {
        Self::init_with(storage, credential, options, OpenOptions::default()).await
    }

    /// [`init`](Self::init), remembering the new repository in `trust.state`.
    pub async fn init_with(
        storage: Arc<dyn Storage>,
        credential: Credential,
        options: InitOptions,
        trust: OpenOptions,
    ) -> Result<Repository> {
        let location = storage.location();
        if storage.head(CONFIG_KEY).await?.is_some() {
            return Err(RepoError::AlreadyInitialized { location });
        }
        let repo_id = random_bytes::<16>().map_err(|e| RepoError::Internal(e.to_string()))?;
        let master = SecretKey::generate().map_err(|e| RepoError::Internal(e.to_string()))?;
        let master_id = master_key_id(&master);
        let (cred, m, kdf, label) = (credential.clone(), master.clone(), options.kdf, options.label.clone());
        let slot = blocking(move || make_slot(&repo_id, &m, &cred, kdf, label))
            .await?
            .map_err(RepoError::InvalidCredential)?;
        let mut config = ConfigFile {
            format: FORMAT_NAME.into(),
            version: CONFIG_VERSION,
            id: hex::encode(repo_id),
            created: crate::host::local_time(lock_owner(&trust).clock.as_ref()),
            generation: 0,
            segment_size: options.segment_size,
            compression_level: options.compression_level,
            master_key_id: hex::encode(master_id),
            signing_key: String::new(),
            slots: vec![slot],
            recipients: Vec::new(),
            writers: Vec::new(),
            retired_master_keys: Vec::new(),
            mac: String::new(),
            extra: Default::default(),
            signed: Vec::new(),
        };
        config.seal(&master, 0).map_err(RepoError::Internal)?;
        let body = Bytes::from(serde_json::to_vec_pretty(&config).map_err(|e| RepoError::Internal(e.to_string()))?);
        if lifeboat_storage::create_new(storage.as_ref(), CONFIG_KEY, body.clone()).await? == PutOutcome::AlreadyExists
        {
            return Err(RepoError::AlreadyInitialized { location });
        }
        // Without a conditional create, two racing inits could both think they won: read the
        // config back, so that at least the one whose config was overwritten finds out.
        if storage.get_bytes(CONFIG_KEY).await? != body {
            return Err(RepoError::AlreadyInitialized { location });
        }
        tracing::info!(repository = %config.id, %location, "initialised repository");
        // Room that forget and prune can free to take their lock on a full disk.
        crate::lock::ensure_reserve(storage.as_ref()).await;
        let mut keyring = Keyring::new();
        keyring.add_master(master_id, master.clone());
        let unlocked_slot = Some(config.slots[0].id.clone());
        let options = pipeline_options(&config);
        let repo = Repository {
            storage,
            config,
            keyring,
            master: Some((master_id, master)),
            recipients: Vec::new(),
            unlocked_slot,
            options,
            credential,
            owner: lock_owner(&trust),
            trust,
            pinned_signers: None,
        };
        repo.remember(&repo.config, true).await?;
        Ok(repo)
    }

    /// Opens the repository in `storage` with `credential`, without rollback protection
    /// (see [`open_with`](Self::open_with)).
    pub async fn open(storage: Arc<dyn Storage>, credential: Credential) -> Result<Repository> {
        Self::open_with(storage, credential, OpenOptions::default()).await
    }

    /// Opens the repository in `storage` with `credential`. A password or key file must
    /// unlock a master key whose derived id is the config's, and the whole config must be
    /// authenticated by it. With `trust.state`, a config older than one seen before (or, for
    /// handles that cannot check the MAC, one that lost recipients) is refused.
    pub async fn open_with(
        storage: Arc<dyn Storage>,
        credential: Credential,
        trust: OpenOptions,
    ) -> Result<Repository> {
        let location = storage.location();
        let config = read_config(storage.as_ref()).await?;
        let options = pipeline_options(&config);
        let mut repo = Repository {
            storage,
            config,
            keyring: Keyring::new(),
            master: None,
            recipients: Vec::new(),
            unlocked_slot: None,
            options,
            credential: credential.clone(),
            owner: lock_owner(&trust),
            trust,
            pinned_signers: None,
        };
        let verified = matches!(credential, Credential::Password(_) | Credential::KeyFile(_));
        match credential {
            Credential::Password(_) | Credential::KeyFile(_) => {
                let (config, cred) = (repo.config.clone(), credential);
                let unlocked = blocking(move || config.unlock(&cred))
                    .await?
                    .map_err(|reason| RepoError::CorruptConfig { location: location.clone(), reason })?
                    .ok_or(RepoError::WrongCredential { location: location.clone() })?;
                repo.recipients = repo
                    .config
                    .recipient_keys()
                    .map_err(|reason| RepoError::CorruptConfig { location: location.clone(), reason })?;
                repo.keyring.add_master(unlocked.master_id, unlocked.master.clone());
                for (id, key) in unlocked.retired {
                    repo.keyring.add_master(id, key);
                }
                repo.master = Some((unlocked.master_id, unlocked.master));
                repo.unlocked_slot = Some(unlocked.slot_id);
            }
            Credential::Identity(identity) => {
                repo.recipients = vec![identity.public()];
                repo.keyring.add_identity(identity);
            }
            Credential::WriteOnly(recipients) => {
                if recipients.is_empty() {
                    return Err(RepoError::NeedsCredential("write-only access needs at least one recipient".into()));
                }
                repo.recipients = recipients;
            }
        }
        if let Some(pinned) = repo.remember_with_signers(&repo.config, verified).await? {
            let location = repo.location();
            let corrupt = |reason: String| RepoError::CorruptConfig { location, reason };
            let keys =
                pinned.iter().map(|text| lifeboat_crypto::WriterPublicKey::parse(text).map_err(|e| e.to_string()));
            repo.pinned_signers = Some(keys.collect::<std::result::Result<_, _>>().map_err(corrupt)?);
        }
        Ok(repo)
    }

    /// Checks `config` against the known state (refusing a rollback, or lost recipients when
    /// `verified` is false) and records it. Without a store, does nothing.
    pub(crate) async fn remember(&self, config: &ConfigFile, verified: bool) -> Result<()> {
        self.remember_with_signers(config, verified).await.map(drop)
    }

    /// [`Repository::remember`], returning for an unverified handle the signers it may trust.
    async fn remember_with_signers(&self, config: &ConfigFile, verified: bool) -> Result<Option<BTreeSet<String>>> {
        let Some(store) = self.trust.state.clone() else { return Ok(None) };
        let trust = Trust {
            verified,
            accept_rollback: self.trust.accept_config_rollback,
            new_signers: self.trust.trust_new_signers,
        };
        let (config, location) = (config.clone(), self.location());
        blocking(move || check_known_state(store.as_ref(), &config, trust, location)).await?
    }

    /// Re-reads `config` (under a lock the caller holds) and checks it as [`open_with`]
    /// did: authenticated by the master key this handle holds, same master key, not older
    /// than what this host knows. Key operations edit this copy, never a stale one.
    pub(crate) async fn reread_config(&self, master: &SecretKey) -> Result<ConfigFile> {
        let config = read_config(self.storage.as_ref()).await?;
        let corrupt = |reason: String| RepoError::CorruptConfig { location: self.location(), reason };
        if config.master_key_id != self.config.master_key_id {
            return Err(RepoError::Key(format!(
                "the master key changed from {} to {} since this handle opened the repository (a concurrent \
                 `key rotate`?): run the command again",
                self.config.master_key_id, config.master_key_id
            )));
        }
        config.verify_mac(master).map_err(corrupt)?;
        self.remember(&config, true).await?;
        Ok(config)
    }

    /// The time by this handle's clock, in this host's time zone.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::FixedOffset> {
        crate::host::local_time(self.owner.clock.as_ref())
    }

    /// Takes a lock on this repository for this handle (its clock, its release tracker).
    pub(crate) async fn lock(&self, kind: LockKind, operation: &str) -> Result<Lock> {
        Lock::acquire_for(self.storage.clone(), kind, operation, &self.owner).await
    }

    /// The removals of this handle's dropped locks (those of an operation that failed or
    /// was cancelled) still under way.
    pub fn lock_releases(&self) -> &LockReleases {
        &self.owner.releases
    }

    /// Waits until every lock this handle dropped has been removed: call it before the
    /// handle goes away when nothing else settles [`OpenOptions::releases`].
    pub async fn settle(&self) {
        self.owner.releases.settle().await;
    }

    /// Where the repository lives.
    pub fn location(&self) -> String {
        self.storage.location()
    }

    /// The repository id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The parsed config.
    pub fn config(&self) -> &ConfigFile {
        &self.config
    }

    /// The storage underneath.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Changes how many segments are processed at once (defaults to the core count).
    pub fn set_parallelism(&mut self, parallelism: usize) {
        self.options.parallelism = parallelism.max(1);
    }

    /// True when this handle can decrypt manifests.
    pub fn can_read(&self) -> bool {
        !self.keyring.is_empty()
    }

    pub(crate) fn audience(&self) -> Audience<'_> {
        Audience { master: self.master.as_ref().map(|(id, k)| (id, k)), recipients: &self.recipients }
    }

    /// Starts a backup. Objects are added with [`BackupWriter::add_stream`]; nothing is
    /// listed until [`BackupWriter::commit`] writes the manifest.
    pub async fn start_backup(&self, request: BackupRequest) -> Result<BackupWriter<'_>> {
        if request.retention.is_some() && !self.storage.capabilities().await?.object_lock {
            return Err(RepoError::Unsupported(format!(
                "{} has no object lock: a locked backup needs a bucket created with object lock enabled",
                self.location()
            )));
        }
        if self.master.is_none() {
            self.check_writer_key()?;
        }
        let lock = self.lock(LockKind::Shared, &format!("backup {}", request.kind)).await?;
        let id = hex::encode(random_bytes::<16>().map_err(|e| RepoError::Internal(e.to_string()))?);
        Ok(BackupWriter {
            repo: self,
            id,
            request,
            started: self.now(),
            objects: Vec::new(),
            warnings: Vec::new(),
            stats: Default::default(),
            source: serde_json::Value::Null,
            lock: Some(lock),
        })
    }

    /// Backs up one byte stream (object `stream`; the kind is the request's, `stream` by
    /// default).
    pub async fn backup_stream<R>(&self, reader: R, request: BackupRequest) -> Result<Manifest>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let mut writer = self.start_backup(request).await?;
        writer.add_stream("stream", reader).await?;
        writer.commit().await
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

    /// Resolves `latest`, a full id, or a unique id prefix, optionally within one plan.
    ///
    /// `latest` is refused ([`RepoError::LatestUnknown`]) while any manifest cannot be read
    /// for another reason than being sealed for recipients only (damaged, forged, a storage
    /// error): it might be the newest, and silently restoring an older backup instead is
    /// what the operator must not get (restic's `latest` fails the same way). The error
    /// names the damaged manifests and the newest readable backup, which can be named by id.
    pub async fn resolve(&self, selector: &str, plan: Option<&str>) -> Result<Manifest> {
        let selector = selector.trim();
        if selector == "latest" {
            if !self.can_read() {
                return Err(RepoError::NeedsCredential(
                    "finding the latest backup needs the repository password, a key file or an identity (this handle \
                     is write-only)"
                        .into(),
                ));
            }
            let (all, unreadable) = self.list().await?;
            let newest = all.into_iter().rev().find(|m| plan.is_none_or(|p| m.plan.as_deref() == Some(p)));
            let damaged: Vec<String> =
                unreadable.iter().filter(|e| !e.is_recipients_only()).map(ToString::to_string).collect();
            if !damaged.is_empty() {
                return Err(RepoError::LatestUnknown { damaged: damaged.join("; "), newest: newest.map(|m| m.id) });
            }
            return newest.ok_or_else(|| RepoError::NoSuchBackup("latest".into()));
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

    /// Seals and stores a manifest (never overwriting one).
    pub(crate) async fn write_manifest(&self, manifest: &Manifest, replace: bool) -> Result<()> {
        self.write_manifest_with(manifest, replace, None).await
    }

    pub(crate) async fn write_manifest_with(
        &self,
        manifest: &Manifest,
        replace: bool,
        retention: Option<Retention>,
    ) -> Result<()> {
        self.write_manifest_for(manifest, replace, retention, self.audience()).await
    }

    /// Seals `manifest` for `audience` and stores it. Manifests are always signed: with the
    /// signing key derived from the master key when the audience has it, else with this
    /// handle's writer key (readers who open it through a recipient slot check the signature).
    async fn write_manifest_for(
        &self,
        manifest: &Manifest,
        replace: bool,
        retention: Option<Retention>,
        audience: Audience<'_>,
    ) -> Result<()> {
        let key = format!("{BACKUPS_PREFIX}{}", manifest.id);
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(manifest).map_err(|e| RepoError::Internal(e.to_string()))?);
        let object_id = crate::config::decode_hex::<16>(&manifest.id, "backup id").map_err(RepoError::Internal)?;
        let derived;
        let signer: &WriterKey = match (audience.master, &self.trust.writer_key) {
            (Some((_, master)), _) => {
                derived = WriterKey::derive_from(master).map_err(|e| RepoError::Internal(e.to_string()))?;
                &derived
            }
            (None, Some(writer)) => writer,
            (None, None) => {
                return Err(self
                    .check_writer_key()
                    .err()
                    .unwrap_or_else(|| RepoError::Internal("no writer key".into())));
            }
        };
        let sealed = seal_bytes_signed(&plain, ObjectKind::Manifest, object_id, audience, self.options, signer)
            .map_err(|e| RepoError::object(&key, &self.location(), e))?;
        if let Some(retention) = retention {
            // Conditional create cannot carry a retention; ids are random, so a check first suffices.
            if !replace && self.storage.head(&key).await?.is_some() {
                return Err(RepoError::Internal(format!("manifest {key} already exists")));
            }
            let body: ByteStream = Box::pin(futures::stream::once(async move { Ok(Bytes::from(sealed)) }));
            self.storage.put_with_options(&key, body, None, &PutOptions { retention: Some(retention) }).await?;
        } else if replace {
            self.storage.put_bytes(&key, Bytes::from(sealed)).await?;
        } else if lifeboat_storage::create_new(self.storage.as_ref(), &key, Bytes::from(sealed)).await?
            == PutOutcome::AlreadyExists
        {
            return Err(RepoError::Internal(format!("manifest {key} already exists")));
        }
        Ok(())
    }

    /// Stores `config` as the next generation, authenticated under `master`, and remembers it.
    pub(crate) async fn write_config(&self, config: &mut ConfigFile, master: &SecretKey) -> Result<()> {
        config.seal(master, config.generation).map_err(RepoError::Internal)?;
        let body = Bytes::from(serde_json::to_vec_pretty(config).map_err(|e| RepoError::Internal(e.to_string()))?);
        self.storage.put_bytes(CONFIG_KEY, body).await?;
        self.remember(config, true).await
    }

    /// A handle without the master key can write backups only with a writer key the config
    /// registers: readers refuse recipient manifests that are unsigned or signed by a stranger.
    fn check_writer_key(&self) -> Result<()> {
        let Some(writer) = &self.trust.writer_key else { return Err(RepoError::NeedsWriterKey) };
        let public = writer.public();
        let registered = self
            .config
            .writer_keys()
            .map_err(|reason| RepoError::CorruptConfig { location: self.location(), reason })?;
        if !registered.contains(&public) {
            return Err(RepoError::WriterNotRegistered {
                writer: public.to_string(),
                id: hex::encode(public.id()),
                location: self.location(),
            });
        }
        Ok(())
    }

    /// Item 9 of issue 9: the master key the manifest of a backup must be sealed for, read
    /// again under the backup's lock. `None` when it is still the one this handle opened
    /// (or the handle has no master key: its manifests do not depend on it).
    async fn master_for_commit(&self, backup: &str) -> Result<Option<(([u8; 8], SecretKey), Vec<RecipientPublicKey>)>> {
        let Some((id, master)) = &self.master else { return Ok(None) };
        let config = read_config(self.storage.as_ref()).await?;
        let corrupt = |reason: String| RepoError::CorruptConfig { location: self.location(), reason };
        if config.master_key_id == hex::encode(id) {
            config.verify_mac(master).map_err(corrupt)?;
            self.remember(&config, true).await?;
            return Ok(None);
        }
        let (cred, candidate) = (self.credential.clone(), config.clone());
        let unlocked = blocking(move || candidate.unlock(&cred)).await?.map_err(corrupt)?;
        let Some(unlocked) = unlocked else {
            return Err(RepoError::Key(format!(
                "the master key changed from {} to {} while backup {backup} ran (a `key rotate` finished \
                 meanwhile), and this password or key file does not open the new key: the backup was NOT committed \
                 (its data objects are left for `prune`); run it again with the current credential",
                hex::encode(id),
                config.master_key_id
            )));
        };
        self.remember(&config, true).await?;
        let recipients = config.recipient_keys().map_err(corrupt)?;
        tracing::warn!(
            backup,
            old = %hex::encode(id),
            new = %config.master_key_id,
            "the master key was rotated while the backup ran; its manifest is sealed for the new key"
        );
        Ok(Some(((unlocked.master_id, unlocked.master), recipients)))
    }
}

/// How [`check_known_state`] may judge a config.
#[derive(Debug, Clone, Copy)]
struct Trust {
    /// The config's MAC was checked under the master key.
    verified: bool,
    /// `--accept-config-rollback`.
    accept_rollback: bool,
    /// `--trust-new-signers`.
    new_signers: bool,
}

/// The rollback check of [`Repository::remember`], blocking (file I/O). Returns, for a
/// handle that could not check the MAC, the signers it may trust: those pinned on this
/// host (from the last authenticated config, or from the first sight of the repository),
/// never merely those the stored config lists now.
fn check_known_state(
    store: &dyn KnownStateStore,
    config: &ConfigFile,
    trust: Trust,
    location: String,
) -> Result<Option<BTreeSet<String>>> {
    let (verified, accept) = (trust.verified, trust.accept_rollback);
    let listed: BTreeSet<String> = config
        .trusted_signers()
        .map_err(|reason| RepoError::CorruptConfig { location: location.clone(), reason })?
        .iter()
        .map(ToString::to_string)
        .collect();
    let known = store.load(&config.id)?;
    let recipients: std::collections::BTreeSet<String> = config.recipients.iter().map(|r| r.id.clone()).collect();
    if let Some(known) = known.as_ref().filter(|_| !accept) {
        if config.generation < known.generation {
            return Err(RepoError::ConfigRollback { location, found: config.generation, known: known.generation });
        }
        if config.generation == known.generation && config.master_key_id != known.master_key_id {
            return Err(RepoError::CorruptConfig {
                location,
                reason: format!(
                    "generation {} names master key {}, but this host saw generation {} with master key {}",
                    config.generation, config.master_key_id, known.generation, known.master_key_id
                ),
            });
        }
        let missing: Vec<&str> = known.recipients.difference(&recipients).map(String::as_str).collect();
        if !verified && !missing.is_empty() {
            return Err(RepoError::RecipientsRemoved {
                location,
                missing: missing.join(", "),
                known: known.generation,
            });
        }
    }
    let pinned = known.as_ref().map(|k| &k.signers).filter(|s| !s.is_empty());
    let signers = match pinned {
        Some(pinned) if !verified && !trust.new_signers => pinned.clone(),
        _ => listed,
    };
    let next = KnownState {
        generation: config.generation,
        master_key_id: config.master_key_id.clone(),
        recipients,
        signers: signers.clone(),
    };
    let newer = known.as_ref().is_none_or(|k| accept || config.generation >= k.generation);
    if newer && known.as_ref() != Some(&next) {
        store.save(&config.id, &next)?;
    }
    Ok((!verified).then_some(signers))
}

fn lock_owner(trust: &OpenOptions) -> LockOwner {
    LockOwner { clock: trust.clock.clone().unwrap_or_else(|| Arc::new(SystemClock)), releases: trust.releases.clone() }
}

fn pipeline_options(config: &ConfigFile) -> PipelineOptions {
    PipelineOptions {
        segment_size: config.segment_size,
        compression_level: config.compression_level,
        ..PipelineOptions::default()
    }
}

/// Reads and parses the `config` object.
pub async fn read_config(storage: &dyn Storage) -> Result<ConfigFile> {
    let location = storage.location();
    let bytes = match storage.get_bytes(CONFIG_KEY).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Err(RepoError::NotFound { location }),
        Err(e) => return Err(e.into()),
    };
    ConfigFile::parse(&bytes).map_err(|reason| RepoError::CorruptConfig { location, reason })
}

/// A backup being written. Dropping it without [`commit`](BackupWriter::commit) leaves
/// only unreferenced data objects, which are never listed and which `prune` removes.
pub struct BackupWriter<'r> {
    repo: &'r Repository,
    id: String,
    request: BackupRequest,
    started: chrono::DateTime<chrono::FixedOffset>,
    objects: Vec<ObjectRecord>,
    warnings: Vec<String>,
    stats: std::collections::BTreeMap<String, u64>,
    source: serde_json::Value,
    lock: Option<Lock>,
}

impl BackupWriter<'_> {
    /// The id the backup will have.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Streams `reader` into a new data object called `name`.
    pub async fn add_stream<R>(&mut self, name: &str, reader: R) -> Result<&ObjectRecord>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        if self.objects.iter().any(|o| o.name == name) {
            return Err(RepoError::Internal(format!("object name {name:?} used twice in one backup")));
        }
        let location = self.repo.location();
        let (running, object_id, dek) =
            seal_data_stream(reader, self.repo.options).map_err(|e| RepoError::object(name, &location, e))?;
        let object_id = hex::encode(object_id);
        let key = data_key(&object_id);
        let (stream, completion) = running.into_parts();
        let body: ByteStream = Box::pin(stream.map_err(StorageError::source));
        let put = match self.request.retention {
            None => self.repo.storage.put(&key, body, None).await,
            Some(retention) => {
                let options = PutOptions { retention: Some(retention) };
                self.repo.storage.put_with_options(&key, body, None, &options).await
            }
        };
        let sealed = completion.finish().await;
        let digests = match (put, sealed) {
            (Ok(()), Ok(d)) => d,
            // The pipeline failed first (unreadable source ...): its error is the cause.
            (Ok(()) | Err(StorageError::Source { .. }), Err(e)) => {
                self.repo.storage.delete(&key).await.ok();
                return Err(match e {
                    lifeboat_crypto::CryptoError::Source(io) => {
                        RepoError::Source(format!("reading {name} for backup: {io}"))
                    }
                    other => RepoError::object(&key, &location, other),
                });
            }
            (Err(e), _) => return Err(e.into()),
        };
        self.objects.push(ObjectRecord {
            name: name.to_owned(),
            key,
            object_id,
            dek,
            size: digests.size,
            blake3: hex::encode(
                digests.blake3.ok_or_else(|| RepoError::Internal("sealing produced no stored digest".into()))?,
            ),
            plain_size: digests.plain_size,
            plain_blake3: hex::encode(digests.plain_blake3),
        });
        Ok(self.objects.last().expect("just pushed"))
    }

    /// Records something noticed during the backup.
    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    /// Sets a counter.
    pub fn stat(&mut self, name: &str, value: u64) {
        self.stats.insert(name.to_owned(), value);
    }

    /// Describes the source (never put secrets here).
    pub fn set_source(&mut self, source: serde_json::Value) {
        self.source = source;
    }

    /// Gives the backup up: deletes the objects stored so far and releases the lock.
    /// Nothing was listed, and nothing is left for `prune`.
    pub async fn abort(mut self) {
        for record in std::mem::take(&mut self.objects) {
            if let Err(e) = self.repo.storage.delete(&record.key).await {
                tracing::warn!(object = %record.key, "could not delete object of an abandoned backup: {e}");
            }
        }
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
    }

    /// Writes the manifest: from now on the backup is listed.
    pub async fn commit(mut self) -> Result<Manifest> {
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            id: self.id.clone(),
            repository: self.repo.config.id.clone(),
            kind: self.request.kind.clone(),
            name: self.request.name.clone(),
            plan: self.request.plan.clone(),
            host: self.request.host.clone().unwrap_or_else(hostname),
            tags: self.request.tags.clone(),
            started: self.started,
            finished: self.repo.now(),
            tool: concat!("lifeboat ", env!("CARGO_PKG_VERSION")).to_owned(),
            parent: self.request.parent.clone(),
            source: std::mem::take(&mut self.source),
            objects: std::mem::take(&mut self.objects),
            warnings: std::mem::take(&mut self.warnings),
            stats: std::mem::take(&mut self.stats),
            locked_until: self.request.retention.map(|r| chrono::DateTime::<chrono::Utc>::from(r.until).fixed_offset()),
        };
        match self.repo.master_for_commit(&manifest.id).await? {
            None => self.repo.write_manifest_with(&manifest, false, self.request.retention).await?,
            Some(((id, master), recipients)) => {
                let audience = Audience { master: Some((&id, &master)), recipients: &recipients };
                self.repo.write_manifest_for(&manifest, false, self.request.retention, audience).await?
            }
        }
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
        tracing::info!(backup = %manifest.id, kind = %manifest.kind, "backup committed");
        Ok(manifest)
    }
}
