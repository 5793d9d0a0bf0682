//! From a parsed [`OpendalLocation`] to a configured opendal [`Operator`]: one builder per
//! service, each behind its cargo feature, credentials from the environment only.

use opendal::Operator;

use crate::{OpendalLocation, OpendalService, StorageError};

/// An operator with what the storage needs to know about it.
pub(super) struct Built {
    pub(super) op: Operator,
    /// The location for messages (no credentials).
    pub(super) location: String,
    /// Whether a plain write publishes atomically (object stores) or needs a temporary
    /// name and a rename (file-like services).
    pub(super) atomic: bool,
}

/// Builds the operator `loc` names, with credentials looked up through `lookup`.
pub(super) fn operator_for(
    loc: &OpendalLocation,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Built, StorageError> {
    let env = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let root = format!("/{}", loc.root);
    let scheme = match loc.service {
        OpendalService::Webdav if loc.tls => "webdavs",
        OpendalService::Webdav => "webdav",
        s => s.feature(),
    };
    let location = format!("{scheme}://{}/{}", loc.authority, loc.root);
    let invalid = |reason: String| StorageError::InvalidUrl { url: location.clone(), reason };
    let not_built = || {
        invalid(format!(
            "this build has no {scheme} support (cargo feature `{}` of lifeboat-storage)",
            loc.service.feature()
        ))
    };
    let endpoint = loc.params.get("endpoint").cloned();
    let map = |e: opendal::Error| invalid(e.to_string());
    let (op, atomic) = match loc.service {
        OpendalService::Webdav => {
            #[cfg(feature = "webdav")]
            {
                let proto = if loc.tls { "https" } else { "http" };
                let mut b =
                    opendal::services::Webdav::default().endpoint(&format!("{proto}://{}", loc.authority)).root(&root);
                if let Some(u) = &loc.user {
                    b = b.username(u);
                }
                if let Some(pw) = env("LIFEBOAT_WEBDAV_PASSWORD") {
                    b = b.password(&pw);
                }
                (Operator::new(b).map_err(map)?, false)
            }
            #[cfg(not(feature = "webdav"))]
            return Err(not_built());
        }
        OpendalService::Sftp => {
            #[cfg(feature = "sftp")]
            {
                let mut b = opendal::services::Sftp::default()
                    .endpoint(&format!("ssh://{}", loc.authority))
                    .root(&root)
                    .known_hosts_strategy(loc.params.get("known_hosts").map_or("strict", String::as_str));
                if let Some(u) = &loc.user {
                    b = b.user(u);
                }
                if let Some(k) = loc.params.get("key") {
                    b = b.key(k);
                }
                (Operator::new(b).map_err(map)?, false)
            }
            #[cfg(not(feature = "sftp"))]
            return Err(not_built());
        }
        OpendalService::Cos => {
            #[cfg(feature = "cos")]
            {
                let mut b = opendal::services::Cos::default().bucket(&loc.authority).root(&root);
                if let Some(ep) = &endpoint {
                    b = b.endpoint(ep);
                }
                if let (Some(id), Some(key)) = (env("TENCENTCLOUD_SECRET_ID"), env("TENCENTCLOUD_SECRET_KEY")) {
                    b = b.secret_id(&id).secret_key(&key);
                }
                (Operator::new(b).map_err(map)?, true)
            }
            #[cfg(not(feature = "cos"))]
            return Err(not_built());
        }
        OpendalService::Obs => {
            #[cfg(feature = "obs")]
            {
                let mut b = opendal::services::Obs::default().bucket(&loc.authority).root(&root);
                if let Some(ep) = &endpoint {
                    b = b.endpoint(ep);
                }
                if let (Some(id), Some(key)) = (env("OBS_ACCESS_KEY_ID"), env("OBS_SECRET_ACCESS_KEY")) {
                    b = b.access_key_id(&id).secret_access_key(&key);
                }
                (Operator::new(b).map_err(map)?, true)
            }
            #[cfg(not(feature = "obs"))]
            return Err(not_built());
        }
        OpendalService::Oss => {
            #[cfg(feature = "oss")]
            {
                let mut b = opendal::services::Oss::default().bucket(&loc.authority).root(&root);
                if let Some(ep) = &endpoint {
                    b = b.endpoint(ep);
                }
                if let (Some(id), Some(key)) =
                    (env("ALIBABA_CLOUD_ACCESS_KEY_ID"), env("ALIBABA_CLOUD_ACCESS_KEY_SECRET"))
                {
                    b = b.access_key_id(&id).access_key_secret(&key);
                }
                (Operator::new(b).map_err(map)?, true)
            }
            #[cfg(not(feature = "oss"))]
            return Err(not_built());
        }
        OpendalService::Gcs => {
            #[cfg(feature = "gcs")]
            {
                let mut b = opendal::services::Gcs::default().bucket(&loc.authority).root(&root);
                if let Some(ep) = &endpoint {
                    b = b.endpoint(ep);
                }
                if let Some(path) =
                    loc.params.get("credential_path").cloned().or_else(|| env("GOOGLE_APPLICATION_CREDENTIALS"))
                {
                    b = b.credential_path(&path);
                }
                (Operator::new(b).map_err(map)?, true)
            }
            #[cfg(not(feature = "gcs"))]
            return Err(not_built());
        }
        OpendalService::Azblob => {
            #[cfg(feature = "azblob")]
            {
                let account = env("AZURE_STORAGE_ACCOUNT");
                let mut b = opendal::services::Azblob::default().container(&loc.authority).root(&root);
                match (&endpoint, &account) {
                    (Some(ep), _) => b = b.endpoint(ep),
                    (None, Some(a)) => b = b.endpoint(&format!("https://{a}.blob.core.windows.net")),
                    (None, None) => {
                        return Err(invalid("set ?endpoint= or AZURE_STORAGE_ACCOUNT".into()));
                    }
                }
                if let Some(a) = &account {
                    b = b.account_name(a);
                }
                if let Some(k) = env("AZURE_STORAGE_KEY") {
                    b = b.account_key(&k);
                }
                (Operator::new(b).map_err(map)?, true)
            }
            #[cfg(not(feature = "azblob"))]
            return Err(not_built());
        }
    };
    #[allow(unreachable_code)]
    {
        let _ = (&endpoint, &not_built);
        Ok(Built { op, location, atomic })
    }
}
