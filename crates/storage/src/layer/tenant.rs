//! Tenant isolation: a handle that sees only one tenant's prefix of a shared storage.

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::key::validate_prefix;
use crate::{
    ByteStream, MetaStream, ObjectMeta, PutOptions, PutOutcome, Retention, Storage, StorageError, validate_key,
};

/// Checks a tenant name: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn validate_tenant(tenant: &str) -> Result<(), StorageError> {
    let reject = |reason| Err(StorageError::InvalidKey { key: tenant.to_owned(), reason });
    if tenant.is_empty() || tenant.len() > 64 {
        return reject("a tenant name has 1 to 64 characters");
    }
    if !tenant.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')) {
        return reject("a tenant name uses only a-z, 0-9, `.`, `_` and `-`");
    }
    if !tenant.as_bytes()[0].is_ascii_alphanumeric() {
        return reject("a tenant name starts with a letter or digit");
    }
    Ok(())
}

/// A storage handle confined to the prefix `tenants/<tenant>/` of the storage it wraps.
///
/// Whatever key it is handed, it cannot read, list, write or delete outside that prefix:
/// keys are checked with [`validate_key`] (no `..`, `.`, empty components, absolute
/// paths, backslashes, NUL or control characters) and additionally after every level of
/// percent-decoding, so `%2e%2e%2f` and doubly-encoded variants are refused too, in case
/// some layer below decodes keys before use.
#[derive(Debug, Clone)]
pub struct TenantLayer<S> {
    inner: S,
    tenant: String,
    prefix: String,
}

impl<S: Storage> TenantLayer<S> {
    /// Confines `inner` to tenant `tenant`'s prefix.
    pub fn new(inner: S, tenant: &str) -> Result<Self, StorageError> {
        validate_tenant(tenant)?;
        Ok(Self { inner, tenant: tenant.to_owned(), prefix: format!("tenants/{tenant}/") })
    }

    /// The tenant this handle serves.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The prefix of the wrapped storage this handle is confined to.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn map_key(&self, key: &str) -> Result<String, StorageError> {
        check_tenant_key(key)?;
        Ok(format!("{}{key}", self.prefix))
    }
}

/// Validates a key as given and after each round of percent-decoding.
fn check_tenant_key(key: &str) -> Result<(), StorageError> {
    validate_key(key)?;
    let mut current = key.to_owned();
    for _ in 0..4 {
        if !current.contains('%') {
            return Ok(());
        }
        let decoded = percent_decode(&current).ok_or_else(|| StorageError::InvalidKey {
            key: key.to_owned(),
            reason: "percent-encoded bytes that are not UTF-8",
        })?;
        if decoded == current {
            return Ok(());
        }
        validate_key(&decoded).map_err(|_| StorageError::InvalidKey {
            key: key.to_owned(),
            reason: "percent-encoded path escape (`..`, `/`, `\\`, NUL or control characters once decoded)",
        })?;
        current = decoded;
    }
    Err(StorageError::InvalidKey { key: key.to_owned(), reason: "too many levels of percent-encoding" })
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[async_trait]
impl<S: Storage> super::StorageLayer for TenantLayer<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    fn location(&self) -> String {
        format!("{} (tenant {})", self.inner.location(), self.tenant)
    }

    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        self.inner.put_with_options(&self.map_key(key)?, body, size_hint, options).await
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        self.inner.put_if_absent(&self.map_key(key)?, body).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        self.inner.get(&self.map_key(key)?, range).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let meta = self.inner.head(&self.map_key(key)?).await?;
        Ok(meta.map(|m| ObjectMeta { key: key.to_owned(), ..m }))
    }

    fn list(&self, prefix: &str) -> MetaStream {
        let checked = validate_prefix(prefix).and_then(|()| {
            let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
            if trimmed.is_empty() { Ok(()) } else { check_tenant_key(trimmed) }
        });
        if let Err(e) = checked {
            return Box::pin(futures::stream::once(async move { Err(e) }));
        }
        let own = self.prefix.clone();
        Box::pin(self.inner.list(&format!("{own}{prefix}")).filter_map(move |item| {
            let out = match item {
                // Defence in depth: anything not under our prefix is dropped, never shown.
                Ok(m) => m.key.strip_prefix(&own).map(|k| Ok(ObjectMeta { key: k.to_owned(), ..m.clone() })),
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(out)
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(&self.map_key(key)?).await
    }

    async fn retention(&self, key: &str) -> Result<Option<Retention>, StorageError> {
        self.inner.retention(&self.map_key(key)?).await
    }

    async fn extend_retention(&self, key: &str, retention: &Retention) -> Result<Retention, StorageError> {
        self.inner.extend_retention(&self.map_key(key)?, retention).await
    }

    async fn sweep_temp(
        &self,
        prefix: &str,
        older_than: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        // Only this tenant's debris, reported under this tenant's keys.
        let own = &self.prefix;
        let swept = self.inner.sweep_temp(&format!("{own}{prefix}"), older_than, dry_run).await?;
        Ok(swept
            .into_iter()
            .filter_map(|m| m.key.strip_prefix(own.as_str()).map(|k| ObjectMeta { key: k.to_owned(), ..m.clone() }))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStorage, StorageExt};

    #[test]
    fn tenant_names() {
        for ok in ["acme", "a", "acme-2", "x.y_z", "0day"] {
            assert!(validate_tenant(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "../x", "a/b", ".hidden", "-x", "a b", "a\0", &"x".repeat(65)] {
            assert!(validate_tenant(bad).is_err(), "{bad:?}");
        }
    }

    const HOSTILE: &[&str] = &[
        "..",
        "../other/config",
        "a/../../other/config",
        "./config",
        "/tenants/other/config",
        "/etc/passwd",
        "%2e%2e/other/config",
        "%2E%2E%2Fother%2Fconfig",
        "..%2fother%2fconfig",
        "%252e%252e%252fother",
        "%25252e%25252e%25252fother",
        "a%00b",
        "a%0ab",
        "a\0b",
        "a\nb",
        "a\rb",
        "a\u{7f}b",
        "a\u{85}b",
        "a\\..\\..\\other",
        "%5c..%5cother",
        "a//b",
        "",
        "%ff%fe",
    ];

    async fn seeded() -> (MemoryStorage, TenantLayer<MemoryStorage>) {
        let shared = MemoryStorage::new();
        shared.put_bytes("tenants/other/config", Bytes::from_static(b"secret")).await.unwrap();
        shared.put_bytes("tenants/acme2/config", Bytes::from_static(b"secret2")).await.unwrap();
        shared.put_bytes("config", Bytes::from_static(b"root")).await.unwrap();
        let acme = TenantLayer::new(shared.clone(), "acme").unwrap();
        (shared, acme)
    }

    #[tokio::test]
    async fn hostile_keys_are_refused_for_every_operation() {
        let (shared, acme) = seeded().await;
        let before = shared.list_all("").await.unwrap();
        for key in HOSTILE {
            let invalid = |e: StorageError| matches!(e, StorageError::InvalidKey { .. });
            assert!(invalid(acme.put_bytes(key, Bytes::from_static(b"x")).await.unwrap_err()), "put {key:?}");
            assert!(invalid(acme.put_if_absent(key, Bytes::from_static(b"x")).await.unwrap_err()), "pia {key:?}");
            assert!(invalid(acme.get(key, None).await.err().unwrap()), "get {key:?}");
            assert!(invalid(acme.head(key).await.unwrap_err()), "head {key:?}");
            assert!(invalid(acme.delete(key).await.unwrap_err()), "delete {key:?}");
            assert!(invalid(acme.retention(key).await.unwrap_err()), "retention {key:?}");
            let opts = PutOptions::default();
            let body: ByteStream = Box::pin(futures::stream::empty());
            assert!(invalid(acme.put_with_options(key, body, None, &opts).await.unwrap_err()), "pwo {key:?}");
            if !key.is_empty() {
                let listed = acme.list_all(key).await;
                assert!(listed.is_err(), "list {key:?} -> {listed:?}");
            }
        }
        assert_eq!(shared.list_all("").await.unwrap(), before, "nothing outside was touched");
    }

    #[tokio::test]
    async fn a_tenant_sees_only_its_prefix() {
        let (shared, acme) = seeded().await;
        acme.put_bytes("config", Bytes::from_static(b"mine")).await.unwrap();
        acme.put_bytes("data/ab/1", Bytes::from_static(b"1")).await.unwrap();
        assert_eq!(&shared.get_bytes("tenants/acme/config").await.unwrap()[..], b"mine");
        assert_eq!(&acme.get_bytes("config").await.unwrap()[..], b"mine");
        let keys: Vec<_> = acme.list_all("").await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(keys, ["config", "data/ab/1"], "acme2's and other's objects are invisible");
        let keys: Vec<_> = acme.list_all("data/").await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(keys, ["data/ab/1"]);
        assert_eq!(acme.head("config").await.unwrap().unwrap().key, "config");
        acme.delete("config").await.unwrap();
        assert_eq!(&shared.get_bytes("config").await.unwrap()[..], b"root", "the root config is untouched");
        assert_eq!(&shared.get_bytes("tenants/acme2/config").await.unwrap()[..], b"secret2");
        // Harmless percent signs stay usable.
        acme.put_bytes("100%25done", Bytes::from_static(b"ok")).await.unwrap();
        acme.put_bytes("50%", Bytes::from_static(b"ok")).await.unwrap();
    }
}
