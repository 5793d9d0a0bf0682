//! Errors of repository operations, and the [`ErrorKind`] a frontend maps them by.
//!
//! Messages say what failed and where, never what to type: a frontend adds its own hints
//! (the CLI's are in `crates/cli/src/hints.rs`), matching on the variant or the kind.

use lifeboat_crypto::CryptoError;
use lifeboat_storage::StorageError;

/// What sort of failure a [`RepoError`] is, for a frontend that answers by category: an
/// HTTP API maps these to statuses (noted on each), a CLI to exit codes or hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The credential is wrong, missing, or cannot read this object (401).
    Unauthorized,
    /// No such repository, backup, key slot or writer (404).
    NotFound,
    /// The repository's state refuses the request: already initialised, a config rollback,
    /// a concurrent key rotation, a duplicate (409).
    Conflict,
    /// A lock or an object-lock retention holds what the request needs (423).
    Locked,
    /// The storage cannot be reached or used now: I/O, a backend failure, no space, a
    /// clock too far off (503).
    Unavailable,
    /// Stored data is damaged, forged or inconsistent (500, and alert: this is evidence).
    Damaged,
    /// The request itself is unusable: an ambiguous id, a bad target, an empty password (422).
    InvalidInput,
    /// The data being backed up could not be read (the source's fault, 502).
    Source,
    /// The storage cannot do what was asked safely (501).
    Unsupported,
    /// A bug or a failed worker inside Lifeboat (500).
    Internal,
}

/// Why a repository operation failed. Each variant names the repository object involved.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No `config` object at the location.
    #[error("no Lifeboat repository at {location}")]
    NotFound {
        /// Where we looked.
        location: String,
    },
    /// `init` on a location that already holds a repository.
    #[error("a repository already exists at {location}")]
    AlreadyInitialized {
        /// Where.
        location: String,
    },
    /// The config exists but cannot be understood.
    #[error("the repository config at {location} is corrupt: {reason}")]
    CorruptConfig {
        /// Where.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The config is older than one this host has already seen.
    #[error(
        "the repository config at {location} is generation {found}, but this host has already seen generation \
         {known}: an older config was put back, which would undo a key rotation or a recipient change"
    )]
    ConfigRollback {
        /// Where.
        location: String,
        /// The generation read now.
        found: u64,
        /// The highest generation seen before.
        known: u64,
    },
    /// Recipients the config listed before are gone, and this handle cannot check the MAC.
    #[error(
        "the repository config at {location} no longer lists recipient(s) {missing}, which generation {known} \
         listed when this host last saw it; without the master key the change cannot be authenticated, so it is \
         refused"
    )]
    RecipientsRemoved {
        /// Where.
        location: String,
        /// The missing recipient ids.
        missing: String,
        /// The generation that listed them.
        known: u64,
    },
    /// No key slot opened with the credential.
    #[error("wrong password or key file for the repository at {location}")]
    WrongCredential {
        /// Where.
        location: String,
    },
    /// The operation needs a credential that was not given.
    #[error("{0}")]
    NeedsCredential(String),
    /// A handle without the master key was asked to write a backup but holds no writer key.
    #[error("writing a backup without the master key needs a writer key")]
    NeedsWriterKey,
    /// The writer key of a handle without the master key is not registered in the config.
    #[error("writer {writer} (id {id}) is not registered in the repository at {location}")]
    WriterNotRegistered {
        /// The writer's public key (`lbwk1...`).
        writer: String,
        /// Its id (hex).
        id: String,
        /// Where.
        location: String,
    },
    /// A password or key file that cannot protect a key slot (empty, wrong kind).
    #[error("{0}")]
    InvalidCredential(String),
    /// A storage operation failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Decrypting or authenticating an object failed.
    #[error("object {key} in {location}: {source}")]
    Object {
        /// Object key.
        key: String,
        /// Where.
        location: String,
        /// The crypto failure.
        #[source]
        source: CryptoError,
    },
    /// A manifest decrypted but its content is invalid.
    #[error("manifest {key} in {location} is invalid: {reason}")]
    BadManifest {
        /// Object key.
        key: String,
        /// Where.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A record (`records/<kind>/<name>`) does not open, is not bound to its key, or is not
    /// signed by a trusted signer.
    #[error("record {key} in {location} is invalid: {reason}")]
    BadRecord {
        /// Object key.
        key: String,
        /// Where.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A record's kind or name is not one a record may have.
    #[error("invalid record {what}: {reason}")]
    RecordName {
        /// `kind` or `name`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A manifest opened through a recipient slot is signed by a writer the config lists
    /// now but that this host never saw in a config it could authenticate (pinned signers).
    #[error("manifest {key} in {location} is invalid: {reason}: refused as possibly forged")]
    SignerNotPinned {
        /// Object key.
        key: String,
        /// Where.
        location: String,
        /// Why the signature check failed.
        reason: String,
    },
    /// The stream or files being backed up could not be read.
    #[error("{0}")]
    Source(String),
    /// A files backup's exclude patterns, tags or exclude files are unusable.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// No backup matches an id, prefix or `latest`.
    #[error("no backup matches {0:?}")]
    NoSuchBackup(String),
    /// `latest` within a scope (plan, host, tags) found no backup.
    #[error("no backup {scope}")]
    NoBackupInScope {
        /// The scope, as `of plan "web" on host "db1" with tags "nightly"`.
        scope: String,
    },
    /// A backup named by id is not within the scope given with it.
    #[error("backup {id} is not a backup {scope}")]
    OutOfScope {
        /// The backup's id.
        id: String,
        /// The scope, as `of plan "web"`.
        scope: String,
    },
    /// `latest` cannot be decided: a manifest that cannot be read might be the newest.
    #[error(
        "cannot tell which backup is the latest, since a manifest that cannot be read may be newer: {}; {}",
        damaged.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        match newest {
            Some(id) => format!("name a backup by id to use it anyway (the newest readable one is {id})"),
            None => "no other backup can be read either".to_owned(),
        }
    )]
    LatestUnknown {
        /// The error of each manifest that could not be read (none is merely sealed for others).
        damaged: Vec<RepoError>,
        /// The newest backup that could be read (within the plan asked for).
        newest: Option<String>,
    },
    /// An id prefix matches several backups.
    #[error("backup id prefix {prefix:?} is ambiguous: it matches {candidates}")]
    AmbiguousId {
        /// The prefix given.
        prefix: String,
        /// Matching ids.
        candidates: String,
    },
    /// Restoring found damage or a mismatch.
    #[error("{0}")]
    Integrity(String),
    /// A restore target is not usable.
    #[error("restore target {path}: {reason}")]
    Target {
        /// Target path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Local file I/O failed (restore, tree walk).
    #[error("{what} {path}: {source}")]
    LocalIo {
        /// What was being done.
        what: &'static str,
        /// Which path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds a conflicting lock.
    #[error(
        "the repository is locked: {holder}; {}",
        match lapses_in_minutes {
            Some(minutes) => format!(
                "this host cannot check that process. Unless it renews the lock, it lapses in {minutes} min"
            ),
            None => "that process is running on this host: wait for it to finish, or stop it, and retry".to_owned(),
        }
    )]
    Locked {
        /// The lock and its holder: kind, key, pid, host, since when, for what.
        holder: String,
        /// `None` when the holder runs on this host; else the minutes left of its lease.
        lapses_in_minutes: Option<u64>,
    },
    /// A backup is under an object-lock retention, so it cannot be deleted yet. (The text
    /// keeps the prefix it had when this was a [`RepoError::Locked`].)
    #[error("the repository is locked: backup {backup} is held by object lock until {until}; it is kept")]
    ObjectLocked {
        /// Backup id.
        backup: String,
        /// When the retention ends.
        until: String,
    },
    /// This host's clock disagrees with the storage's by more than leases allow.
    #[error("{0}")]
    ClockSkew(String),
    /// The lock's lease lapsed before a write that needs it (an index object, a manifest):
    /// the write is refused, since a prune may have judged the lock dead.
    #[error("{0}")]
    LeaseLapsed(String),
    /// The storage is full and the operation cannot make room for what it must write.
    #[error("{0}")]
    NoSpace(String),
    /// A key operation was refused by the repository's state (a duplicate, a limit, the
    /// last slot, a concurrent rotation).
    #[error("{0}")]
    Key(String),
    /// No key slot, or no registered writer, has the id given.
    #[error("no {what} with id {id}")]
    NoSuchKey {
        /// `key slot` or `registered writer`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The storage cannot do what was asked safely.
    #[error("{0}")]
    Unsupported(String),
    /// Something inside Lifeboat failed (a worker panicked, a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl RepoError {
    /// The category of the failure, for a frontend that answers by category (an HTTP
    /// status, an exit code). Storage and crypto failures are classified by their cause.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind as K;
        match self {
            RepoError::WrongCredential { .. }
            | RepoError::NeedsCredential(_)
            | RepoError::NeedsWriterKey
            | RepoError::WriterNotRegistered { .. } => K::Unauthorized,
            RepoError::NotFound { .. }
            | RepoError::NoSuchBackup(_)
            | RepoError::NoBackupInScope { .. }
            | RepoError::OutOfScope { .. }
            | RepoError::NoSuchKey { .. } => K::NotFound,
            RepoError::AlreadyInitialized { .. }
            | RepoError::ConfigRollback { .. }
            | RepoError::RecipientsRemoved { .. }
            | RepoError::Key(_) => K::Conflict,
            RepoError::Locked { .. } | RepoError::ObjectLocked { .. } => K::Locked,
            RepoError::ClockSkew(_) | RepoError::LeaseLapsed(_) | RepoError::NoSpace(_) => K::Unavailable,
            RepoError::CorruptConfig { .. }
            | RepoError::BadManifest { .. }
            | RepoError::BadRecord { .. }
            | RepoError::SignerNotPinned { .. }
            | RepoError::LatestUnknown { .. }
            | RepoError::Integrity(_) => K::Damaged,
            RepoError::InvalidCredential(_)
            | RepoError::AmbiguousId { .. }
            | RepoError::Target { .. }
            | RepoError::RecordName { .. }
            | RepoError::Filter(_) => K::InvalidInput,
            RepoError::Source(_) => K::Source,
            RepoError::Unsupported(_) => K::Unsupported,
            RepoError::LocalIo { .. } | RepoError::Internal(_) => K::Internal,
            RepoError::Storage(e) => storage_kind(e),
            RepoError::Object { source, .. } => match source {
                CryptoError::NoMatchingSlot | CryptoError::WrongPassword => K::Unauthorized,
                CryptoError::Source(_) | CryptoError::Input(_) => K::Source,
                _ => K::Damaged,
            },
        }
    }

    pub(crate) fn object(key: &str, location: &str, source: CryptoError) -> Self {
        RepoError::Object { key: key.to_owned(), location: location.to_owned(), source }
    }

    /// True when a manifest could not be opened only because it was sealed for recipients
    /// whose identity this handle lacks (no slot for our keys at all): not ours to read,
    /// and not damage. A master-key slot that does not open is damage (FORMAT.md 3.2).
    pub fn is_recipients_only(&self) -> bool {
        matches!(self, RepoError::Object { source: CryptoError::NoMatchingSlot, .. })
    }

    /// The storage key of the object an error is about, when it is about one.
    pub fn object_key(&self) -> Option<&str> {
        match self {
            RepoError::Object { key, .. }
            | RepoError::BadManifest { key, .. }
            | RepoError::BadRecord { key, .. }
            | RepoError::SignerNotPinned { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A local file operation (`what`, e.g. "cannot create") on `path` failed.
pub(crate) fn local_io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> RepoError {
    RepoError::LocalIo { what, path: path.display().to_string(), source }
}

fn storage_kind(e: &StorageError) -> ErrorKind {
    match e {
        StorageError::NotFound { .. } => ErrorKind::NotFound,
        StorageError::Retained { .. } => ErrorKind::Locked,
        StorageError::InvalidKey { .. } | StorageError::InvalidUrl { .. } => ErrorKind::InvalidInput,
        StorageError::Unsupported { .. } => ErrorKind::Unsupported,
        StorageError::Source { .. } => ErrorKind::Source,
        // No space, permission denied (the storage's own credentials), I/O, a backend failure.
        _ => ErrorKind::Unavailable,
    }
}

/// Result alias of this crate.
pub type Result<T, E = RepoError> = std::result::Result<T, E>;

/// Why a files filter cannot be used (it lives here, beside [`RepoError`] which wraps it, so
/// the tree module depends on this one and not the other way round).
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A pattern does not parse.
    #[error("bad exclude pattern {pattern:?} ({origin}): {reason}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// Where it came from: `--exclude`, `--iexclude`, or `<file> line <n>`.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `exclude-if-present` spec does not parse.
    #[error("bad exclude-if-present tag {spec:?}: {reason}")]
    BadTag {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An exclude file cannot be read.
    #[error("cannot read exclude file {path}: {source}")]
    ExcludeFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(kind: std::io::ErrorKind) -> RepoError {
        RepoError::Storage(StorageError::from_io(lifeboat_storage::Op::Get, "mem://", "k", kind.into()))
    }

    /// One case per kind: a wrong mapping would answer an API client with the wrong status
    /// (a damaged backup as "try again later", a wrong password as "not found" ...).
    #[test]
    fn every_kind_has_its_variants() {
        let l = || "file:///r".to_owned();
        let cases: Vec<(RepoError, ErrorKind)> = vec![
            (RepoError::WrongCredential { location: l() }, ErrorKind::Unauthorized),
            (RepoError::NeedsWriterKey, ErrorKind::Unauthorized),
            (RepoError::object("k", "l", CryptoError::NoMatchingSlot), ErrorKind::Unauthorized),
            (RepoError::NotFound { location: l() }, ErrorKind::NotFound),
            (RepoError::NoSuchBackup("latest".into()), ErrorKind::NotFound),
            (RepoError::NoBackupInScope { scope: "of plan \"web\"".into() }, ErrorKind::NotFound),
            (RepoError::OutOfScope { id: "ab".into(), scope: "of plan \"web\"".into() }, ErrorKind::NotFound),
            (RepoError::NoSuchKey { what: "key slot", id: "1".into() }, ErrorKind::NotFound),
            (storage(std::io::ErrorKind::NotFound), ErrorKind::NotFound),
            (RepoError::AlreadyInitialized { location: l() }, ErrorKind::Conflict),
            (RepoError::ConfigRollback { location: l(), found: 1, known: 2 }, ErrorKind::Conflict),
            (RepoError::Key("already a recipient".into()), ErrorKind::Conflict),
            (RepoError::Locked { holder: "h".into(), lapses_in_minutes: None }, ErrorKind::Locked),
            (RepoError::ObjectLocked { backup: "b".into(), until: "t".into() }, ErrorKind::Locked),
            (storage(std::io::ErrorKind::ConnectionRefused), ErrorKind::Unavailable),
            (storage(std::io::ErrorKind::StorageFull), ErrorKind::Unavailable),
            (RepoError::ClockSkew("off".into()), ErrorKind::Unavailable),
            (RepoError::BadManifest { key: "k".into(), location: l(), reason: "r".into() }, ErrorKind::Damaged),
            (RepoError::SignerNotPinned { key: "k".into(), location: l(), reason: "r".into() }, ErrorKind::Damaged),
            (RepoError::CorruptConfig { location: l(), reason: "r".into() }, ErrorKind::Damaged),
            (RepoError::LatestUnknown { damaged: Vec::new(), newest: None }, ErrorKind::Damaged),
            (RepoError::object("k", "l", CryptoError::TrailingData), ErrorKind::Damaged),
            (RepoError::AmbiguousId { prefix: "a".into(), candidates: "ab, ac".into() }, ErrorKind::InvalidInput),
            (RepoError::InvalidCredential("the password is empty".into()), ErrorKind::InvalidInput),
            (RepoError::Source("reading x".into()), ErrorKind::Source),
            (RepoError::Unsupported("no If-None-Match".into()), ErrorKind::Unsupported),
            (RepoError::Internal("bug".into()), ErrorKind::Internal),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
    }

    /// Verify and copy name the manifest of every variant about one (the backup's id comes
    /// from it), so splitting a variant off `BadManifest` must not lose it.
    #[test]
    fn manifest_errors_name_their_object() {
        let key = || "backups/00112233445566778899aabbccddeeff".to_owned();
        for error in [
            RepoError::BadManifest { key: key(), location: "l".into(), reason: "r".into() },
            RepoError::SignerNotPinned { key: key(), location: "l".into(), reason: "r".into() },
            RepoError::object(&key(), "l", CryptoError::TrailingData),
        ] {
            assert_eq!(error.object_key(), Some(key().as_str()), "{error}");
        }
    }

    /// Library messages carry no CLI advice: hints are the frontend's.
    #[test]
    fn messages_name_no_command_or_flag() {
        let messages = [
            RepoError::NotFound { location: "l".into() }.to_string(),
            RepoError::ConfigRollback { location: "l".into(), found: 1, known: 2 }.to_string(),
            RepoError::RecipientsRemoved { location: "l".into(), missing: "r".into(), known: 2 }.to_string(),
            RepoError::Locked { holder: "h".into(), lapses_in_minutes: Some(3) }.to_string(),
            RepoError::NeedsWriterKey.to_string(),
            RepoError::WriterNotRegistered { writer: "w".into(), id: "i".into(), location: "l".into() }.to_string(),
            RepoError::SignerNotPinned { key: "k".into(), location: "l".into(), reason: "r".into() }.to_string(),
        ];
        for message in messages {
            assert!(!message.contains("lifeboat ") && !message.contains(" --"), "{message}");
        }
    }
}
