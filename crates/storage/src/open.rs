//! From a parsed [`StorageUrl`] to the backend it names.

use std::sync::Arc;

use crate::{FsStorage, MemoryStorage, OpendalLocation, Storage, StorageError, StorageUrl};

/// Opens the backend a URL names. For `file://` the directory need not exist yet:
/// creating it is the repository's decision (`init`), not the backend's. Remote backends
/// connect lazily: a wrong endpoint or missing credentials surface on the first operation.
pub fn open_url(input: &str) -> Result<Arc<dyn Storage>, StorageError> {
    open_parsed(StorageUrl::parse(input)?, input)
}

/// Opens the backend `url` (parsed from `input`, which error messages quote redacted) names.
pub(crate) fn open_parsed(url: StorageUrl, input: &str) -> Result<Arc<dyn Storage>, StorageError> {
    match url {
        StorageUrl::File(path) => Ok(Arc::new(FsStorage::new(path))),
        StorageUrl::Memory => Ok(Arc::new(MemoryStorage::new())),
        #[cfg(feature = "s3")]
        StorageUrl::S3(opts) => Ok(Arc::new(crate::S3Storage::new(opts))),
        #[cfg(not(feature = "s3"))]
        StorageUrl::S3(_) => Err(StorageError::InvalidUrl {
            url: crate::redact_url(input),
            reason: "this build has no S3 support (cargo feature `s3` of lifeboat-storage)".into(),
        }),
        StorageUrl::Opendal(loc) => open_opendal(input, loc),
    }
}

#[cfg(feature = "opendal-core")]
fn open_opendal(_input: &str, loc: OpendalLocation) -> Result<Arc<dyn Storage>, StorageError> {
    Ok(Arc::new(crate::OpendalStorage::from_location(&loc)?))
}

#[cfg(not(feature = "opendal-core"))]
fn open_opendal(input: &str, loc: OpendalLocation) -> Result<Arc<dyn Storage>, StorageError> {
    Err(StorageError::InvalidUrl {
        url: crate::redact_url(input),
        reason: format!(
            "this build has no {:?} support (cargo feature `{}` of lifeboat-storage)",
            loc.service,
            loc.service.feature()
        ),
    })
}
