//! Envelope encryption: wrapping an object's data key into header slots, and finding the
//! slot a keyring can open.

use crate::CryptoError;
use crate::header::{FixedHeader, ObjectHeader, Slot};
use crate::keys::{SecretKey, unwrap_key, wrap_key};
use crate::recipient::{Identity, RecipientPublicKey};

/// Sub-key of a master key that wraps object data keys.
fn master_wrap_key(master: &SecretKey) -> SecretKey {
    master.derive(b"", "lifeboat/v1/master-wrap")
}

/// The keys a reader holds: master keys by id, and recipient identities.
#[derive(Debug, Default)]
pub struct Keyring {
    masters: Vec<([u8; 8], SecretKey)>,
    identities: Vec<std::sync::Arc<Identity>>,
}

impl Keyring {
    /// An empty keyring (opens nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a master key under its id.
    pub fn add_master(&mut self, id: [u8; 8], key: SecretKey) {
        self.masters.retain(|(i, _)| *i != id);
        self.masters.push((id, key));
    }

    /// Adds a recipient identity.
    pub fn add_identity(&mut self, identity: impl Into<std::sync::Arc<Identity>>) {
        self.identities.push(identity.into());
    }

    /// Looks up a master key by id.
    pub fn master(&self, id: &[u8; 8]) -> Option<&SecretKey> {
        self.masters.iter().find(|(i, _)| i == id).map(|(_, k)| k)
    }

    /// True when the keyring holds nothing that could open a slot.
    pub fn is_empty(&self) -> bool {
        self.masters.is_empty() && self.identities.is_empty()
    }

    /// Finds the data key of an object from its slots and checks it against the header's
    /// commitment.
    ///
    /// When no slot opens, tells damage from "not for us" (FORMAT.md 3.2): a master-key slot
    /// is damage ([`CryptoError::DamagedSlot`]) when this keyring holds any master key, since
    /// every master-key slot a repository writes is for its current or a retired key; so is
    /// a recipient slot addressed to an identity held here that does not open. Only an
    /// object without any slot this keyring could be meant to open is
    /// [`CryptoError::NoMatchingSlot`] (for a master-key holder: one with no master-key slot
    /// at all, sealed for recipients only).
    pub fn open(&self, header: &ObjectHeader) -> Result<SecretKey, CryptoError> {
        let aad = header.fixed.encode();
        let mut damaged = None;
        for slot in &header.slots {
            let dek = match slot {
                Slot::Master { key_id, nonce, wrapped } => match self.master(key_id) {
                    Some(master) => {
                        let dek = unwrap_key(&master_wrap_key(master), nonce, &aad, wrapped);
                        if dek.is_none() {
                            damaged.get_or_insert(("master-key", *key_id, "damaged or forged"));
                        }
                        dek
                    }
                    None if !self.masters.is_empty() => {
                        damaged.get_or_insert((
                            "master-key",
                            *key_id,
                            "damaged or forged: the repository has no master key with this id",
                        ));
                        None
                    }
                    None => None,
                },
                Slot::Recipient { recipient_id, ephemeral_public, nonce, wrapped } => {
                    let mut ours = self.identities.iter().filter(|id| id.public().id() == *recipient_id).peekable();
                    let addressed = ours.peek().is_some();
                    let dek = ours.find_map(|id| id.unwrap(ephemeral_public, nonce, wrapped, &aad));
                    if addressed && dek.is_none() {
                        damaged.get_or_insert(("recipient", *recipient_id, "damaged or forged"));
                    }
                    dek
                }
                Slot::Unknown { .. } => None,
            };
            if let Some(dek) = dek {
                header.fixed.check_key(&dek)?;
                return Ok(dek);
            }
        }
        match damaged {
            Some((kind, id, reason)) => Err(CryptoError::DamagedSlot { kind, id: hex::encode(id), reason }),
            None => Err(CryptoError::NoMatchingSlot),
        }
    }
}

/// Who a new object's data key is wrapped for.
#[derive(Debug, Default, Clone, Copy)]
pub struct Audience<'a> {
    /// The repository master key and its id, when the writer holds it.
    pub master: Option<(&'a [u8; 8], &'a SecretKey)>,
    /// Public recipients.
    pub recipients: &'a [RecipientPublicKey],
}

impl Audience<'_> {
    /// Builds the slots that wrap `dek` for this audience, bound to `fixed`.
    pub fn slots(&self, fixed: &FixedHeader, dek: &SecretKey) -> Result<Vec<Slot>, CryptoError> {
        let aad = fixed.encode();
        let mut slots = Vec::with_capacity(1 + self.recipients.len());
        if let Some((id, master)) = self.master {
            let (nonce, wrapped) = wrap_key(&master_wrap_key(master), &aad, dek)?;
            slots.push(Slot::Master { key_id: *id, nonce, wrapped });
        }
        for recipient in self.recipients {
            let w = recipient.wrap(dek, &aad)?;
            slots.push(Slot::Recipient {
                recipient_id: recipient.id(),
                ephemeral_public: w.ephemeral_public,
                nonce: w.nonce,
                wrapped: w.wrapped,
            });
        }
        if slots.is_empty() {
            return Err(CryptoError::InvalidKey {
                what: "audience",
                reason: "no master key and no recipient: nobody could read the object".into(),
            });
        }
        Ok(slots)
    }
}
