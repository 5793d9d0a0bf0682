//! Key management: slots, password changes, recipients and master-key rotation
//! (docs/FORMAT.md, section 7). None of these rewrite data objects.

use lifeboat_crypto::{Argon2Params, RecipientPublicKey, SecretKey, WriterPublicKey};

use crate::config::{
    ConfigFile, MAX_KEY_SLOTS, MAX_RECIPIENTS, MAX_WRITERS, SlotEntry, WriterEntry, make_slot, master_key_id,
};
use crate::credential::Credential;
use crate::error::{RepoError, Result};
use crate::lock::LockKind;
use crate::repository::{Repository, blocking};

/// What a rotation did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RotationReport {
    /// New master key id.
    pub new_key_id: String,
    /// Manifests re-sealed.
    pub manifests_resealed: usize,
    /// Slots dropped (other passwords and key files): re-add them with `key add`.
    pub slots_removed: Vec<String>,
}

/// What adding a recipient did to the format 3 dedup domains.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecipientAdded {
    /// Domain objects sealed again for the new recipient (with the master key and the
    /// recipients before it).
    pub domains_resealed: usize,
    /// Domains (16 hex) this handle could not open, left sealed as they were: write-only
    /// hosts' own domains, sealed for the recipients only.
    pub domains_skipped: Vec<String>,
}

impl Repository {
    fn master_or_err(&self) -> Result<([u8; 8], SecretKey)> {
        self.master
            .clone()
            .ok_or_else(|| RepoError::NeedsCredential("this needs the repository password or key file".into()))
    }

    /// Adds a slot for another password or key file. Returns the new slot's id.
    pub async fn add_slot(
        &mut self,
        credential: Credential,
        kdf: Argon2Params,
        label: Option<String>,
    ) -> Result<String> {
        let (_, master) = self.master_or_err()?;
        let lock = self.lock(LockKind::Exclusive, "key add").await?;
        let mut config = self.reread_config(&master).await?;
        if config.slots.len() >= MAX_KEY_SLOTS {
            return Err(RepoError::Key(format!(
                "the repository already has {MAX_KEY_SLOTS} key slots, the most allowed: remove one first"
            )));
        }
        let repo_id = self.config.repo_id().map_err(RepoError::Internal)?;
        let (m, now) = (master.clone(), self.now());
        let slot = blocking(move || make_slot(&repo_id, &m, &credential, kdf, label, now))
            .await?
            .map_err(RepoError::InvalidCredential)?;
        let id = slot.id.clone();
        config.slots.push(slot);
        self.write_config(&mut config, &master).await?;
        self.config = config;
        lock.release().await;
        Ok(id)
    }

    /// Replaces the slot that unlocked this handle with one for `credential` (a password
    /// change). Other slots stay.
    pub async fn change_credential(&mut self, credential: Credential, kdf: Argon2Params) -> Result<String> {
        let old = self.unlocked_slot.clone().ok_or_else(|| RepoError::NeedsCredential("no slot is unlocked".into()))?;
        let label = self.config.slots.iter().find(|s| s.id == old).and_then(|s| s.label.clone());
        let new = self.add_slot(credential.clone(), kdf, label).await?;
        self.remove_slot(&old).await?;
        self.unlocked_slot = Some(new.clone());
        self.credential = credential;
        Ok(new)
    }

    /// Removes a slot by id; the last slot cannot be removed.
    pub async fn remove_slot(&mut self, id: &str) -> Result<()> {
        let (_, master) = self.master_or_err()?;
        let lock = self.lock(LockKind::Exclusive, "key remove").await?;
        let mut config = self.reread_config(&master).await?;
        let before = config.slots.len();
        config.slots.retain(|s| s.id != id);
        if config.slots.len() == before {
            return Err(RepoError::NoSuchKey { what: "key slot", id: id.to_owned() });
        }
        if config.slots.is_empty() {
            return Err(RepoError::Key(
                "refusing to remove the last key slot: nothing could open the repository".into(),
            ));
        }
        self.write_config(&mut config, &master).await?;
        self.config = config;
        lock.release().await;
        Ok(())
    }

    /// The slots of the repository.
    pub fn slots(&self) -> &[SlotEntry] {
        &self.config.slots
    }

    /// Adds an X25519 recipient: every manifest written from now on is also sealed for it,
    /// and so is every format 3 dedup domain this handle opens (the main domain and carried
    /// ones), so that it reads the v3 backups written from now on, whose chunks are mostly
    /// those of earlier backups. A write-only host's domain is sealed for the recipients
    /// alone and does not open with the master key: it is left as it is and named in
    /// [`RecipientAdded::domains_skipped`] (the host's packs are wrapped for the recipients
    /// it was given, so the new recipient does not read what the host wrote before).
    pub async fn add_recipient(&mut self, public: RecipientPublicKey, label: Option<String>) -> Result<RecipientAdded> {
        let (_, master) = self.master_or_err()?;
        let lock = self.lock(LockKind::Exclusive, "recipient add").await?;
        let mut config = self.reread_config(&master).await?;
        if config.recipients.iter().any(|r| r.public_key == public.to_string()) {
            return Err(RepoError::Key(format!("{public} is already a recipient")));
        }
        if config.recipients.len() >= MAX_RECIPIENTS {
            return Err(RepoError::Key(format!(
                "the repository already has {MAX_RECIPIENTS} recipients, the most allowed"
            )));
        }
        config.recipients.push(crate::config::RecipientEntry {
            id: hex::encode(public.id()),
            public_key: public.to_string(),
            label,
        });
        self.write_config(&mut config, &master).await?;
        self.config = config;
        self.recipients.push(public);
        let resealed = self.reseal_domains().await;
        lock.release().await;
        let (domains_resealed, domains_skipped) = resealed.map_err(|e| {
            RepoError::Key(format!(
                "{public} was added as a recipient, but sealing the dedup domains for it failed (run `lifeboat key \
                 rotate` to seal them again): {e}"
            ))
        })?;
        for domain in &domains_skipped {
            tracing::warn!(%domain, "a write-only host's dedup domain was not sealed for the new recipient");
        }
        Ok(RecipientAdded { domains_resealed, domains_skipped })
    }

    /// Registers the Ed25519 key of a host that writes backups without the master key:
    /// readers accept recipient manifests it signs. The registration is covered by the
    /// config's MAC, so only a master-key holder can make it.
    pub async fn add_writer(&mut self, public: WriterPublicKey, label: Option<String>) -> Result<()> {
        let (_, master) = self.master_or_err()?;
        let lock = self.lock(LockKind::Exclusive, "writer add").await?;
        let mut config = self.reread_config(&master).await?;
        if config.writers.iter().any(|w| w.public_key == public.to_string()) {
            return Err(RepoError::Key(format!("{public} is already a registered writer")));
        }
        if config.writers.len() >= MAX_WRITERS {
            return Err(RepoError::Key(format!("the repository already has {MAX_WRITERS} writers, the most allowed")));
        }
        config.writers.push(WriterEntry { id: hex::encode(public.id()), public_key: public.to_string(), label });
        self.write_config(&mut config, &master).await?;
        self.config = config;
        lock.release().await;
        Ok(())
    }

    /// Unregisters a writer by id: manifests it signed are refused from then on.
    pub async fn remove_writer(&mut self, id: &str) -> Result<()> {
        let (_, master) = self.master_or_err()?;
        let lock = self.lock(LockKind::Exclusive, "writer remove").await?;
        let mut config = self.reread_config(&master).await?;
        let before = config.writers.len();
        config.writers.retain(|w| w.id != id);
        if config.writers.len() == before {
            return Err(RepoError::NoSuchKey { what: "registered writer", id: id.to_owned() });
        }
        self.write_config(&mut config, &master).await?;
        self.config = config;
        lock.release().await;
        Ok(())
    }

    /// Replaces the master key. Every manifest is re-sealed with the new key (data objects
    /// are untouched: their keys live inside the manifests), and every slot but the one
    /// that unlocked this handle is dropped, so an old password or key file opens nothing.
    /// An interrupted rotation is finished by running it again.
    pub async fn rotate_master_key(&mut self) -> Result<RotationReport> {
        let (old_id, old_master) = self.master_or_err()?;
        let lock = self.lock(LockKind::Exclusive, "key rotate").await?;
        let config = self.reread_config(&old_master).await?;
        let new_master = SecretKey::generate().map_err(|e| RepoError::Internal(e.to_string()))?;
        let new_id = master_key_id(&new_master);
        let kdf = match self.config.slots.iter().find(|s| Some(&s.id) == self.unlocked_slot.as_ref()).map(|s| &s.kdf) {
            Some(crate::config::Kdf::Argon2id { memory_kib, iterations, parallelism, .. }) => {
                Argon2Params { memory_kib: *memory_kib, iterations: *iterations, parallelism: *parallelism }
            }
            _ => Argon2Params::default(),
        };
        let repo_id = config.repo_id().map_err(RepoError::Internal)?;
        let (cred, m, now) = (self.credential.clone(), new_master.clone(), self.now());
        let slot = blocking(move || make_slot(&repo_id, &m, &cred, kdf, Some("rotated".into()), now))
            .await?
            .map_err(RepoError::InvalidCredential)?;
        // Every slot but the one that unlocked this handle (which the new slot replaces).
        let slots_removed: Vec<String> =
            config.slots.iter().filter(|s| Some(&s.id) != self.unlocked_slot.as_ref()).map(|s| s.id.clone()).collect();

        // Step 1: the new key becomes current; all older keys stay reachable through it.
        let mut retired = vec![config.retire(&new_master, old_id, &old_master).map_err(RepoError::Internal)?];
        for (id, key) in self.retired_keys(&config)? {
            retired.push(config.retire(&new_master, id, &key).map_err(RepoError::Internal)?);
        }
        let mut next = ConfigFile {
            master_key_id: hex::encode(new_id),
            slots: vec![slot.clone()],
            retired_master_keys: retired,
            ..config.clone()
        };
        self.write_config(&mut next, &new_master).await?;
        self.keyring.add_master(new_id, new_master.clone());
        self.master = Some((new_id, new_master));
        self.unlocked_slot = Some(slot.id.clone());
        self.config = next.clone();

        // Step 2: re-seal every manifest for the new key.
        let (manifests, unreadable) = self.list().await?;
        // Manifests a write-only host sealed for recipients alone do not depend on the master
        // key: they stay as they are. Anything else unreadable stops the rotation.
        let sealed_elsewhere =
            |e: &RepoError| matches!(e, RepoError::Object { source: lifeboat_crypto::CryptoError::NoMatchingSlot, .. });
        if let Some(e) = unreadable.into_iter().find(|e| !sealed_elsewhere(e)) {
            return Err(RepoError::Key(format!(
                "rotation stopped, a manifest cannot be read (run it again once fixed): {e}"
            )));
        }
        for manifest in &manifests {
            self.write_manifest(manifest, true).await?;
        }
        // Records (audit heads) are sealed for the master key too: re-seal them, or they
        // would stop opening once the old key is forgotten below.
        self.reseal_records().await?;
        // So are format 3 dedup domains: re-wrapping them is all a rotation does to v3 data
        // (pack keys derive from the domain secret, not from the master key).
        self.reseal_domains().await?;

        // Step 3: forget the old keys.
        next.retired_master_keys.clear();
        self.write_config(&mut next, &current_master(&self.master)?).await?;
        self.config = next;
        lock.release().await;
        Ok(RotationReport { new_key_id: hex::encode(new_id), manifests_resealed: manifests.len(), slots_removed })
    }

    /// The master keys of an unfinished earlier rotation, as unlocked when opening.
    fn retired_keys(&self, config: &ConfigFile) -> Result<Vec<([u8; 8], SecretKey)>> {
        config
            .retired_master_keys
            .iter()
            .map(|r| {
                let id = crate::config::decode_hex::<8>(&r.id, "retired key id").map_err(RepoError::Internal)?;
                let key = self
                    .keyring
                    .master(&id)
                    .cloned()
                    .ok_or_else(|| RepoError::Key(format!("retired key {} is not unlocked", r.id)))?;
                Ok((id, key))
            })
            .collect()
    }
}

fn current_master(master: &Option<([u8; 8], SecretKey)>) -> Result<SecretKey> {
    master.as_ref().map(|(_, k)| k.clone()).ok_or_else(|| RepoError::Internal("the new master key is gone".into()))
}
