//! The opendal backend against a real WebDAV server (rclone serve webdav) on loopback.
//! Start it with `scripts/webdav-server.sh`; without it these tests fail, they never skip.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use lifeboat_storage::layer::TenantLayer;
use lifeboat_storage::{OpendalStorage, Storage, StorageError, StorageExt, StorageUrl};
use lifeboat_testkit::names::unique_dashed as unique;
use lifeboat_testkit::server_env;

use crate::common::{Suite, conformance};

fn env() -> HashMap<String, String> {
    server_env("test-webdav.env", "scripts/webdav-server.sh", &["LIFEBOAT_TEST_WEBDAV_URL", "LIFEBOAT_WEBDAV_PASSWORD"])
}

fn open(env: &HashMap<String, String>, root: &str, password: Option<&str>) -> OpendalStorage {
    let url = format!("{}/{root}", env["LIFEBOAT_TEST_WEBDAV_URL"]);
    let StorageUrl::Opendal(loc) = StorageUrl::parse(&url).unwrap() else { panic!("{url}") };
    let pw = password.map(str::to_owned).unwrap_or_else(|| env["LIFEBOAT_WEBDAV_PASSWORD"].clone());
    OpendalStorage::from_location_with(&loc, &move |name| (name == "LIFEBOAT_WEBDAV_PASSWORD").then(|| pw.clone()))
        .unwrap()
}

#[tokio::test]
async fn webdav_conformance() {
    let env = env();
    let s = open(&env, &unique("repo"), None);
    let caps = s.capabilities().await.unwrap();
    assert!(!caps.conditional_put, "WebDAV through opendal has no conditional create");
    conformance(Arc::new(s), Suite { large: 5 << 20, racers: 4 }).await;
}

#[tokio::test]
async fn webdav_tenants_are_isolated() {
    let env = env();
    let s = open(&env, &unique("shared"), None);
    s.put_bytes("tenants/other/config", Bytes::from_static(b"theirs")).await.unwrap();
    let acme = TenantLayer::new(s.clone(), "acme").unwrap();
    for key in ["../other/config", "%2e%2e/other/config", "..%2fother", "/tenants/other/config", "a\0b"] {
        assert!(acme.get(key, None).await.is_err(), "{key:?}");
        assert!(acme.put_bytes(key, Bytes::new()).await.is_err(), "{key:?}");
        assert!(acme.delete(key).await.is_err(), "{key:?}");
    }
    acme.put_bytes("config", Bytes::from_static(b"mine")).await.unwrap();
    let keys: Vec<_> = acme.list_all("").await.unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(keys, ["config"]);
    assert_eq!(&s.get_bytes("tenants/other/config").await.unwrap()[..], b"theirs");
}

#[tokio::test]
async fn webdav_wrong_password_is_a_clear_permanent_error() {
    let env = env();
    let s = open(&env, &unique("auth"), Some("wrong-password"));
    let err = s.put_bytes("x", Bytes::from_static(b"x")).await.unwrap_err();
    assert!(matches!(err, StorageError::Backend { transient: false, .. }), "{err}");
    assert!(!err.to_string().contains("wrong-password"), "{err}");
}
