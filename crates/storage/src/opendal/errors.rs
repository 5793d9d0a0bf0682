//! opendal errors as [`StorageError`]s: not found, refused (credentials), or transient.

use opendal::ErrorKind;

use crate::{Op, StorageError};

/// The service refused a conditional create because the object exists.
pub(super) fn is_exists(e: &opendal::Error) -> bool {
    matches!(e.kind(), ErrorKind::ConditionNotMatch | ErrorKind::AlreadyExists)
}

/// An opendal error of `op` on `key` as a [`StorageError`], transient where a retry can help.
pub(super) fn map_error(location: &str, op: Op, key: &str, e: opendal::Error) -> StorageError {
    let (location, key) = (location.to_owned(), key.to_owned());
    match e.kind() {
        ErrorKind::NotFound => StorageError::NotFound { op, location, key },
        ErrorKind::PermissionDenied => StorageError::Backend {
            op,
            location,
            key,
            message: format!("permission denied — check the service credentials: {e}"),
            transient: false,
        },
        ErrorKind::RateLimited => {
            StorageError::Backend { op, location, key, message: format!("rate limited: {e}"), transient: true }
        }
        _ => StorageError::Backend { op, location, key, message: e.to_string(), transient: e.is_temporary() },
    }
}
