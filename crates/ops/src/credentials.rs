//! Which credential opens a repository, and what else a handle takes from its host (the
//! known-state store, the writer key, the trust overrides).
//!
//! The order is the CLI's since the first release, and a service must follow it too or the
//! same flags would open a repository differently: a key file, else an identity file, else
//! a password file, else a password the frontend offers without asking, else (when
//! recipients are given) a write-only handle, else the frontend is asked for a password.
//! The library reads files but never a terminal: offering and asking are the frontend's
//! [`PasswordSource`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lifeboat_crypto::{CryptoError, Identity, RecipientPublicKey, WriterKey};
use lifeboat_repo::{Credential, FileStateStore, OpenOptions};
use zeroize::Zeroizing;

/// An error of the frontend's own (reading its environment or its terminal), carried
/// through unchanged so its message reaches the user as the frontend wrote it.
pub type PasswordError = Box<dyn std::error::Error + Send + Sync>;

/// Why no credential (or no open options) could be made.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A key, identity, writer key or password file could not be read.
    #[error("cannot read {what} {}", path.display())]
    Read {
        /// `key file`, `identity file`, `writer key file` or `password file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An identity or writer key file does not hold a key.
    #[error("{what} {}", path.display())]
    Parse {
        /// `identity file` or `writer key file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with its content (never the content).
        #[source]
        source: CryptoError,
    },
    /// The password file's first line is empty.
    #[error("password file {} is empty", path.display())]
    EmptyPasswordFile {
        /// The file.
        path: PathBuf,
    },
    /// A recipient is not an `lbpk1...` public key.
    #[error("recipient {value:?} is not a public key")]
    BadRecipient {
        /// What was given (a public key is no secret).
        value: String,
        /// Why it does not parse.
        #[source]
        source: CryptoError,
    },
    /// The frontend failed to offer or ask for the password.
    #[error("{0}")]
    Password(#[source] PasswordError),
    /// Nothing gave a credential and the frontend cannot ask for a password.
    #[error("no repository password given, and none can be asked for")]
    NoPassword,
}

/// How a frontend hands over a password that is not in a file.
pub trait PasswordSource {
    /// A password handed over without asking (the CLI's `$LIFEBOAT_PASSWORD`, a service's
    /// secret store), or `None` when none is on offer. One that is on offer but unusable
    /// (empty, not UTF-8) is `Some(Err(..))`, not `None`: a broken password must fail, not
    /// quietly turn the handle write-only.
    fn offered(&mut self) -> Option<Result<Zeroizing<String>, PasswordError>>;

    /// Asks for the password (the CLI: on the terminal), called only when nothing else gave
    /// a credential; `None` when this frontend cannot ask.
    fn ask(&mut self) -> Option<Result<Zeroizing<String>, PasswordError>>;
}

/// A password held by value, or none; never asks. What a service passes.
#[derive(Default)]
pub struct GivenPassword(pub Option<Zeroizing<String>>);

impl PasswordSource for GivenPassword {
    fn offered(&mut self) -> Option<Result<Zeroizing<String>, PasswordError>> {
        self.0.take().map(Ok)
    }

    fn ask(&mut self) -> Option<Result<Zeroizing<String>, PasswordError>> {
        None
    }
}

/// The places a repository credential may come from (see the module doc for the order).
#[derive(Debug, Clone, Default)]
pub struct CredentialSource {
    /// A key file for a key-file slot.
    pub key_file: Option<PathBuf>,
    /// An X25519 identity file (`lbsk1...`), to read backups sealed for it.
    pub identity_file: Option<PathBuf>,
    /// A file whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// Public keys (`lbpk1...`) for a write-only handle; parsed only when they are used.
    pub recipients: Vec<String>,
}

/// The credential `source` names, in the documented order; `password` is consulted only
/// when no file gives one.
pub fn resolve(source: &CredentialSource, password: &mut dyn PasswordSource) -> Result<Credential, CredentialError> {
    if let Some(path) = &source.key_file {
        return read_key_file(path);
    }
    if let Some(path) = &source.identity_file {
        let text = read_text(path, "identity file")?;
        let identity = Identity::parse(&text).map_err(|e| CredentialError::Parse {
            what: "identity file",
            path: path.clone(),
            source: e,
        })?;
        return Ok(Credential::Identity(Arc::new(identity)));
    }
    if let Some(path) = &source.password_file {
        return Ok(Credential::Password(read_password_file(path)?));
    }
    if let Some(offered) = password.offered() {
        return Ok(Credential::Password(offered.map_err(CredentialError::Password)?));
    }
    if !source.recipients.is_empty() {
        let recipients = source
            .recipients
            .iter()
            .map(|r| {
                RecipientPublicKey::parse(r).map_err(|e| CredentialError::BadRecipient { value: r.clone(), source: e })
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Credential::WriteOnly(recipients));
    }
    match password.ask() {
        Some(asked) => Ok(Credential::Password(asked.map_err(CredentialError::Password)?)),
        None => Err(CredentialError::NoPassword),
    }
}

/// A key-file credential: the file's whole content is the key.
pub fn read_key_file(path: &Path) -> Result<Credential, CredentialError> {
    let content = std::fs::read(path).map_err(|e| read_error("key file", path, e))?;
    Ok(Credential::KeyFile(Zeroizing::new(content)))
}

/// The first line of a password file, which must not be empty.
pub fn read_password_file(path: &Path) -> Result<Zeroizing<String>, CredentialError> {
    let text = read_text(path, "password file")?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(CredentialError::EmptyPasswordFile { path: path.to_owned() });
    }
    Ok(Zeroizing::new(line.to_owned()))
}

/// What a repository handle takes from its host besides the credential.
#[derive(Debug, Clone, Default)]
pub struct OpenSettings {
    /// Where each repository's known state (config generation, master key id, recipients,
    /// pinned signers) is remembered; `None`: the per-user default, if there is one.
    pub state_dir: Option<PathBuf>,
    /// The writer key (`lbws1...`) a write-only handle signs its manifests with.
    pub writer_key_file: Option<PathBuf>,
    /// Accept a config older than the one remembered (restoring one on purpose).
    pub accept_config_rollback: bool,
    /// Trust the signers the config lists now instead of those this host pinned.
    pub trust_new_signers: bool,
}

impl OpenSettings {
    /// The [`OpenOptions`] these settings describe (reads the writer key file). The rest
    /// (clock, lock releases) keep their defaults for the frontend to set.
    pub fn open_options(&self) -> Result<OpenOptions, CredentialError> {
        let state_dir = self.state_dir.clone().or_else(FileStateStore::default_dir);
        if state_dir.is_none() {
            tracing::info!("no state directory given and no default (HOME unset): config rollbacks cannot be detected");
        }
        let writer_key = match &self.writer_key_file {
            Some(path) => {
                let text = read_text(path, "writer key file")?;
                let key = WriterKey::parse(&text).map_err(|e| CredentialError::Parse {
                    what: "writer key file",
                    path: path.clone(),
                    source: e,
                })?;
                Some(Arc::new(key))
            }
            None => None,
        };
        Ok(OpenOptions {
            state: state_dir.map(|d| Arc::new(FileStateStore::new(d)) as _),
            accept_config_rollback: self.accept_config_rollback,
            trust_new_signers: self.trust_new_signers,
            writer_key,
            ..Default::default()
        })
    }

    /// The options for the destination of a copy or sync: this host's known-state store
    /// and trust overrides, but no writer key. The destination is opened with its own
    /// password and written with its master key; the source's writer key means nothing there.
    pub fn copy_destination_options(&self) -> Result<OpenOptions, CredentialError> {
        Ok(OpenOptions { writer_key: None, ..self.open_options()? })
    }
}

fn read_text(path: &Path, what: &'static str) -> Result<Zeroizing<String>, CredentialError> {
    std::fs::read_to_string(path).map(Zeroizing::new).map_err(|e| read_error(what, path, e))
}

fn read_error(what: &'static str, path: &Path, source: std::io::Error) -> CredentialError {
    CredentialError::Read { what, path: path.to_owned(), source }
}
