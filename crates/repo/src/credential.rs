//! What unlocks a repository.

use std::sync::Arc;

use lifeboat_crypto::{Identity, RecipientPublicKey};
use zeroize::Zeroizing;

/// A secret (or public recipients) given to open a repository. `Debug` shows the kind only.
#[derive(Clone)]
pub enum Credential {
    /// A password for a `password` slot.
    Password(Zeroizing<String>),
    /// The content of a key file for a `keyfile` slot.
    KeyFile(Zeroizing<Vec<u8>>),
    /// An X25519 identity: reads backups sealed for its public key.
    Identity(Arc<Identity>),
    /// Public recipients only: the repository can be written, not read.
    WriteOnly(Vec<RecipientPublicKey>),
}

impl Credential {
    /// A password credential.
    pub fn password(p: impl Into<String>) -> Self {
        Credential::Password(Zeroizing::new(p.into()))
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Password(_) => "Credential::Password(<redacted>)",
            Credential::KeyFile(_) => "Credential::KeyFile(<redacted>)",
            Credential::Identity(_) => "Credential::Identity(<redacted>)",
            Credential::WriteOnly(_) => "Credential::WriteOnly",
        })
    }
}
