//! What to type next: the CLI's own hints for library errors.
//!
//! Library messages say what failed and where; which command or flag gets past it is this
//! frontend's business (a service would answer with a status and its own advice). Each hint
//! is the tail the message had before the hints moved here, so printing
//! `message + hint` gives the same line as before. The repository's hints are here; the
//! Elasticsearch and database libraries' are in `es` and `dump`.

mod dump;
mod es;
pub mod usage;

use lifeboat_dump::DumpError;
use lifeboat_es::EsError;
use lifeboat_repo::RepoError;

/// One library error found in a chain: the libraries whose errors the CLI has advice for.
enum LibraryError<'e> {
    Repo(&'e RepoError),
    Es(&'e EsError),
    Dump(&'e DumpError),
}

/// The hint for the first library error inside `err`, if it has one. The error may be the
/// top of the chain, under a context, or inside an [`lifeboat_ops::OpsError`] (whose
/// transparent variant hides it from the chain).
pub fn hint(err: &anyhow::Error) -> Option<String> {
    if let Some(lifeboat_ops::ConfigError::NoConfigFile { .. }) = err.downcast_ref::<lifeboat_ops::ConfigError>() {
        return Some(": pass --config FILE or set LIFEBOAT_CONFIG".into());
    }
    match err.chain().find_map(library_error)? {
        LibraryError::Repo(e) => hint_for(e),
        LibraryError::Es(e) => es::hint_for(e),
        LibraryError::Dump(e) => dump::hint_for(e),
    }
}

/// The note for `count` backups this handle could not open because none of their key slots
/// is for its key: what is true depends on the key. A password or key file opens every
/// backup sealed for the master key, so the others were written by write-only hosts for
/// recipients only; an identity opens only backups sealed for it, so the others were sealed
/// for the master key (before it was a recipient, or for other recipients), and the password
/// reads them. `action` is what they were not: "listed", "checked".
pub fn sealed_for_others_note(count: usize, action: &str, with_identity: bool) -> String {
    if with_identity {
        format!(
            "lifeboat: note: {count} backup(s) were not {action}: this identity is not among their recipients (they \
             are sealed for the master key, or for other recipients); use the password or key file to read them"
        )
    } else {
        format!(
            "lifeboat: note: {count} backup(s) are sealed for recipients only (written by write-only hosts) and were \
             not {action}; pass --identity-file to read them"
        )
    }
}

/// The advice for an error met with `--identity-file`: a backup without a slot for this
/// identity was sealed for the master key or other recipients, and the password reads it;
/// and such backups are not seen at all when looking for `latest` or an id prefix.
pub fn identity_hint(err: &anyhow::Error) -> Option<String> {
    let mut errors = err.chain().filter_map(repo_error);
    errors.find_map(|e| match e {
        e if e.is_recipients_only() => {
            Some("; this identity is not among the backup's recipients: use the password or key file".to_owned())
        }
        RepoError::NoSuchBackup(_) => Some(
            " among the backups sealed for this identity (those sealed only for the master key need the password \
             or key file)"
                .to_owned(),
        ),
        _ => None,
    })
}

/// The hint for one repository error (a warning about an unreadable manifest, say).
pub fn hint_for(err: &RepoError) -> Option<String> {
    Some(match err {
        RepoError::NotFound { .. } => " (run `lifeboat init` first)".into(),
        RepoError::ConfigRollback { .. } => " (pass --accept-config-rollback to accept it on purpose)".into(),
        RepoError::RecipientsRemoved { .. } => " (pass --accept-config-rollback to accept it on purpose)".into(),
        RepoError::Locked { lapses_in_minutes: Some(_), .. } => {
            " and `lifeboat unlock` removes it then; if you know that no lifeboat process uses this repository any \
             more, `lifeboat unlock --all` removes it now"
                .into()
        }
        RepoError::NeedsWriterKey => {
            " (--writer-key-file; create one with `lifeboat key writer generate` and have a master-key holder register \
             it with `lifeboat key writer add`)"
                .into()
        }
        RepoError::WriterNotRegistered { writer, .. } => {
            format!(
                ": a master-key holder must run `lifeboat key writer add {writer}` first, or readers would refuse these backups"
            )
        }
        RepoError::SignerNotPinned { .. } => {
            "; the config lists signers this host never saw in a config it could authenticate: open the repository \
             once with the password or key file on this host, or trust them with --trust-new-signers after checking \
             `lifeboat key list`"
                .into()
        }
        // The unpinned signer's advice used to sit inside the list of unreadable manifests;
        // it now follows the whole message, once however many manifests it concerns.
        RepoError::LatestUnknown { damaged, .. } => {
            return damaged.iter().find(|e| matches!(e, RepoError::SignerNotPinned { .. })).and_then(hint_for);
        }
        _ => return None,
    })
}

/// The library error `cause` is, if the CLI has advice for its library.
fn library_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<LibraryError<'e>> {
    if let Some(e) = repo_error(cause) {
        return Some(LibraryError::Repo(e));
    }
    if let Some(e) = cause.downcast_ref::<EsError>() {
        return Some(LibraryError::Es(e));
    }
    dump_error(cause).map(LibraryError::Dump)
}

/// The dump error `cause` is, or wraps transparently (as [`lifeboat_ops::OpsError::Dump`] does).
fn dump_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<&'e DumpError> {
    if let Some(e) = cause.downcast_ref::<DumpError>() {
        return Some(e);
    }
    match ops_error(cause) {
        Some(lifeboat_ops::OpsError::Dump(e)) => Some(e),
        _ => None,
    }
}

/// The repository error `cause` is, or wraps transparently (a transparent variant forwards
/// `source()` past the wrapped error, so the chain alone would never show it).
fn repo_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<&'e RepoError> {
    if let Some(e) = cause.downcast_ref::<RepoError>() {
        return Some(e);
    }
    if let Some(lifeboat_ops::OpsError::Repo(e)) = ops_error(cause) {
        return Some(e);
    }
    let forget = cause.downcast_ref::<lifeboat_ops::forget::ForgetError>();
    // lifeboat-ops' RunError holds its sources boxed.
    let forget = forget.or_else(|| cause.downcast_ref::<Box<lifeboat_ops::forget::ForgetError>>().map(|b| &**b));
    match forget {
        Some(lifeboat_ops::forget::ForgetError::Repo(e)) => Some(e),
        _ => None,
    }
}

/// The [`lifeboat_ops::OpsError`] `cause` is, also boxed (as lifeboat-ops' RunError holds it).
fn ops_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<&'e lifeboat_ops::OpsError> {
    cause
        .downcast_ref::<lifeboat_ops::OpsError>()
        .or_else(|| cause.downcast_ref::<Box<lifeboat_ops::OpsError>>().map(|b| &**b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(lapses_in_minutes: Option<u64>) -> RepoError {
        RepoError::Locked { holder: "a shared lock".into(), lapses_in_minutes }
    }

    #[test]
    fn hints_complete_the_message_as_it_read_before() {
        let err = anyhow::Error::new(RepoError::NotFound { location: "file:///r".into() });
        assert_eq!(
            format!("{err}{}", hint(&err).unwrap()),
            "no Lifeboat repository at file:///r (run `lifeboat init` first)"
        );
        let line = format!("{}{}", locked(Some(3)), hint_for(&locked(Some(3))).unwrap());
        assert!(line.ends_with("it lapses in 3 min and `lifeboat unlock` removes it then; if you know that no lifeboat process uses this repository any more, `lifeboat unlock --all` removes it now"), "{line}");
        let rollback = RepoError::ConfigRollback { location: "l".into(), found: 1, known: 2 };
        assert!(hint_for(&rollback).unwrap().contains("--accept-config-rollback"));
        let unpinned = RepoError::SignerNotPinned { key: "k".into(), location: "l".into(), reason: "r".into() };
        assert!(hint_for(&unpinned).unwrap().contains("--trust-new-signers"));
        let stranger =
            RepoError::WriterNotRegistered { writer: "lbwk1x".into(), id: "00".into(), location: "l".into() };
        assert!(hint_for(&stranger).unwrap().contains("`lifeboat key writer add lbwk1x`"));
        assert!(hint_for(&RepoError::NeedsWriterKey).unwrap().contains("--writer-key-file"));
    }

    #[test]
    fn hints_are_found_under_a_context_and_inside_ops_errors_and_only_where_they_apply() {
        let wrapped = anyhow::Error::new(RepoError::NotFound { location: "l".into() }).context("opening destination");
        assert!(hint(&wrapped).is_some());
        let ops = anyhow::Error::new(lifeboat_ops::OpsError::Repo(RepoError::NeedsWriterKey));
        assert!(hint(&ops).is_some());
        let forget = anyhow::Error::new(lifeboat_ops::forget::ForgetError::Repo(locked(Some(1))));
        assert!(hint(&forget).is_some_and(|h| h.contains("lifeboat unlock")), "forget and prune are refused by locks");
        // A holder running on this host is waited for, not unlocked.
        assert_eq!(hint_for(&locked(None)), None);
        assert_eq!(hint(&anyhow::anyhow!("anything else")), None);
    }

    #[test]
    fn es_and_dump_errors_get_their_frontend_hints_through_the_chain() {
        let es = anyhow::Error::new(EsError::NoClusterUrl).context("connecting");
        assert!(hint(&es).is_some_and(|h| h.contains("--es-url")));
        let missing =
            lifeboat_dump::DumpError::DatabaseMissing { target: "t".into(), database: "d".into(), creatable: true };
        let ops = anyhow::Error::new(lifeboat_ops::OpsError::Dump(missing)).context("restoring");
        assert_eq!(hint(&ops).as_deref(), Some(" (ask for it to be created: --create)"));
    }

    /// A `latest` refused because of a manifest signed by a signer this host never pinned:
    /// the advice to check and trust new signers follows the message (it once sat inside it).
    #[test]
    fn latest_unknown_over_an_unpinned_signer_advises_trusting_new_signers() {
        let unpinned = RepoError::SignerNotPinned { key: "k".into(), location: "l".into(), reason: "r".into() };
        let err = RepoError::LatestUnknown {
            damaged: vec![RepoError::NoSuchBackup("x".into()), unpinned],
            newest: Some("0123".into()),
        };
        let line = format!("{err}{}", hint_for(&err).unwrap());
        assert!(
            line.ends_with(
                "refused as possibly forged; name a backup by id to use it anyway (the newest readable one is 0123); \
                 the config lists signers this host never saw in a config it could authenticate: open the repository \
                 once with the password or key file on this host, or trust them with --trust-new-signers after \
                 checking `lifeboat key list`"
            ),
            "{line}"
        );
        let other = RepoError::LatestUnknown { damaged: vec![RepoError::NoSuchBackup("x".into())], newest: None };
        assert_eq!(hint_for(&other), None);
    }
}
