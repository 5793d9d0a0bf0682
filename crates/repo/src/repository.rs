//! The repository handle: creating and opening it, checking its config against what this
//! host remembers (rollback protection), and what every operation on it shares.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use lifeboat_crypto::{
    Argon2Params, Audience, Keyring, PipelineOptions, RecipientPublicKey, SecretKey, WriterKey, random_bytes,
};
use lifeboat_storage::clock::{Clock, SystemClock};
use lifeboat_storage::{PutOutcome, Storage, StorageExt};

use crate::config::{CONFIG_VERSION, ConfigFile, FORMAT_NAME, make_slot, master_key_id};
use crate::credential::Credential;
use crate::error::{RepoError, Result};
use crate::layout::CONFIG_KEY;
use crate::lock::{Lock, LockKind, LockOwner};
use crate::release::LockReleases;
use crate::state::{KnownState, KnownStateStore};

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
    /// The format of new backups: 3 (the default: content-defined chunks stored once,
    /// docs/FORMAT.md 11) or 2 (one object per stream, a tar stream per files backup).
    pub data_format: u32,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            segment_size: lifeboat_crypto::DEFAULT_SEGMENT,
            compression_level: 3,
            kdf: Argon2Params::default(),
            label: None,
            data_format: 3,
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
    /// Where format 3 index objects are cached (docs/FORMAT.md 11.4).
    pub cache: CacheDir,
}

/// Where a handle caches format 3 index objects. The cache holds sealed copies checked
/// against the listing at each open, so it only saves downloads: removing it loses nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheDir {
    /// `$XDG_CACHE_HOME/lifeboat/<repository id>` (`~/.cache` when unset).
    #[default]
    UserCache,
    /// `<dir>/<repository id>` (the CLI's `--cache-dir`).
    At(PathBuf),
    /// No cache: every index object is downloaded at each open.
    Off,
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
        let created = crate::host::local_time(lock_owner(&trust).clock.as_ref());
        let (cred, m, kdf, label) = (credential.clone(), master.clone(), options.kdf, options.label.clone());
        let slot = blocking(move || make_slot(&repo_id, &m, &cred, kdf, label, created))
            .await?
            .map_err(RepoError::InvalidCredential)?;
        let mut config = ConfigFile {
            format: FORMAT_NAME.into(),
            version: CONFIG_VERSION,
            id: hex::encode(repo_id),
            created,
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
        match options.data_format {
            2 => {}
            3 => {
                config.extra.insert(crate::config::DATA_FORMAT_MEMBER.into(), serde_json::Value::from(3u32));
            }
            other => {
                return Err(RepoError::Unsupported(format!("data format {other}: this version writes format 2 or 3")));
            }
        }
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

    /// Stores `config` as the next generation, authenticated under `master`, and remembers it.
    pub(crate) async fn write_config(&self, config: &mut ConfigFile, master: &SecretKey) -> Result<()> {
        config.seal(master, config.generation).map_err(RepoError::Internal)?;
        let body = Bytes::from(serde_json::to_vec_pretty(config).map_err(|e| RepoError::Internal(e.to_string()))?);
        self.storage.put_bytes(CONFIG_KEY, body).await?;
        self.remember(config, true).await
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
