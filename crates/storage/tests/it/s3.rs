//! The S3 backend against real servers on loopback: s3s-fs (SigV4, checksums, data on
//! disk) and moto_server (versioning, object lock). Start them with
//! `scripts/s3-server.sh`; without them these tests fail, they never skip.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use lifeboat_storage::layer::{RetryLayer, TenantLayer};
use lifeboat_storage::{
    ByteStream, PutOptions, Retention, RetentionMode, S3Options, S3Storage, Storage, StorageError, StorageExt,
    StorageUrl,
};
use lifeboat_testkit::files::random_bytes as pattern;
use lifeboat_testkit::names::unique_dashed as unique;
use lifeboat_testkit::server_env;

use crate::common::{Suite, chunked, conformance};

const VARS: &[&str] = &[
    "LIFEBOAT_TEST_S3_ENDPOINT",
    "LIFEBOAT_TEST_MOTO_ENDPOINT",
    "LIFEBOAT_TEST_S3S_BIN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];

fn env() -> HashMap<String, String> {
    server_env("test-s3.env", "scripts/s3-server.sh", VARS)
}

fn options(endpoint: &str, bucket: &str, prefix: &str) -> S3Options {
    let url = format!("s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1&part_size=5MiB&parallel=3");
    match StorageUrl::parse(&url).unwrap() {
        StorageUrl::S3(o) => o,
        other => panic!("{other:?}"),
    }
}

fn store(env: &HashMap<String, String>, endpoint: &str, opts: S3Options) -> S3Storage {
    let _ = endpoint;
    S3Storage::with_static_credentials(opts, &env["AWS_ACCESS_KEY_ID"], &env["AWS_SECRET_ACCESS_KEY"])
}

/// A fresh bucket on the server at `endpoint`; a store on `prefix` in it.
async fn fresh(endpoint_var: &str, prefix: &str, object_lock: bool) -> (S3Storage, String) {
    let env = env();
    let endpoint = env[endpoint_var].clone();
    let bucket = unique("lb");
    let s = store(&env, &endpoint, options(&endpoint, &bucket, prefix));
    let mut req = s.sdk_client().await.create_bucket().bucket(&bucket);
    if object_lock {
        req = req.object_lock_enabled_for_bucket(true);
    }
    req.send().await.unwrap_or_else(|e| panic!("create bucket {bucket} on {endpoint}: {e:?}"));
    (s, bucket)
}

/// s3s-fs 0.14 checks `If-None-Match` without atomicity, and a probe that races creates can
/// only catch that when the race shows (see `capabilities_are_probed`). Its conformance runs
/// declare what is known, so the suite checks the refusal path instead of a coin toss.
async fn s3s_declared_racy(prefix: &str) -> S3Storage {
    let env = env();
    let endpoint = env["LIFEBOAT_TEST_S3_ENDPOINT"].clone();
    let (probe, bucket) = fresh("LIFEBOAT_TEST_S3_ENDPOINT", prefix, false).await;
    drop(probe);
    let mut opts = options(&endpoint, &bucket, prefix);
    opts.conditional_put = Some(false);
    store(&env, &endpoint, opts)
}

#[tokio::test]
async fn s3s_conformance_with_prefix() {
    let s = s3s_declared_racy("team/prod").await;
    // 12 MiB with 5 MiB parts: a 3-part multipart upload.
    conformance(Arc::new(s), Suite { large: 12 << 20, racers: 8 }).await;
}

#[tokio::test]
async fn s3s_conformance_bucket_root() {
    let s = s3s_declared_racy("").await;
    conformance(Arc::new(s), Suite { large: 6 << 20, racers: 4 }).await;
}

#[tokio::test]
async fn moto_conformance() {
    let (s, _) = fresh("LIFEBOAT_TEST_MOTO_ENDPOINT", "repo", false).await;
    conformance(Arc::new(s), Suite { large: 11 << 20, racers: 6 }).await;
}

#[tokio::test]
async fn capabilities_are_probed() {
    // s3s-fs 0.14 checks If-None-Match but not atomically: racing creates can all win. The
    // probe races creates, so it can miss the race when the server happens to serialise
    // them; on fresh handles it must see it within a dozen tries (4 were not always enough
    // on a loaded 2-core CI machine; each try is a few dozen small PUTs).
    let mut detected = None;
    for _ in 0..12 {
        let (s, _) = fresh("LIFEBOAT_TEST_S3_ENDPOINT", "p", false).await;
        let caps = s.capabilities().await.unwrap();
        assert!(!caps.object_lock);
        if !caps.conditional_put {
            detected = Some(s);
            break;
        }
    }
    let s = detected.expect("s3s-fs's racy If-None-Match is detected");
    let err = s.put_if_absent("locks/x", Bytes::from_static(b"me")).await.unwrap_err();
    assert!(matches!(err, StorageError::Unsupported { .. }), "refuses rather than races: {err}");
    assert!(err.to_string().contains("If-None-Match"), "{err}");
    assert!(s.list_all("").await.unwrap().is_empty(), "the probe leaves nothing behind");
    let (m, _) = fresh("LIFEBOAT_TEST_MOTO_ENDPOINT", "p", true).await;
    let caps = m.capabilities().await.unwrap();
    assert!(caps.conditional_put && caps.object_lock, "{caps:?}");
}

#[tokio::test]
async fn the_operator_can_declare_conditional_create_support() {
    let env = env();
    let endpoint = env["LIFEBOAT_TEST_S3_ENDPOINT"].clone();
    let (probe, bucket) = fresh("LIFEBOAT_TEST_S3_ENDPOINT", "", false).await;
    drop(probe);
    let url = format!("s3://{bucket}/p?endpoint={endpoint}&region=us-east-1&conditional_put=false");
    let StorageUrl::S3(opts) = StorageUrl::parse(&url).unwrap() else { panic!("{url}") };
    let s = store(&env, &endpoint, opts);
    assert!(!s.capabilities().await.unwrap().conditional_put);
    let err = s.put_if_absent("locks/x", Bytes::from_static(b"me")).await.unwrap_err();
    assert!(matches!(err, StorageError::Unsupported { .. }), "{err}");
    assert!(s.list_all("").await.unwrap().is_empty(), "no probe ran, nothing was written");
    let bad = format!("s3://{bucket}/p?endpoint={endpoint}&conditional_put=maybe");
    assert!(StorageUrl::parse(&bad).is_err());
}

#[tokio::test]
async fn multipart_objects_are_whole_and_checksummed() {
    let (s, bucket) = fresh("LIFEBOAT_TEST_S3_ENDPOINT", "mp", false).await;
    let data = pattern((16 << 20) + 12345, 7);
    s.put("big", chunked(data.clone(), 1 << 20), None).await.unwrap();
    let got = s.get_bytes("big").await.unwrap();
    assert!(got == data, "multipart round trip");
    let head = s
        .sdk_client()
        .await
        .head_object()
        .bucket(&bucket)
        .key("mp/big")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    let etag = head.e_tag().unwrap_or_default().to_owned();
    assert!(etag.contains("-4"), "4 parts of 5 MiB: {etag}");
}

#[tokio::test]
async fn failed_multipart_upload_is_aborted() {
    // moto, because s3s-fs does not implement ListMultipartUploads.
    let (s, bucket) = fresh("LIFEBOAT_TEST_MOTO_ENDPOINT", "abort", false).await;
    let body: ByteStream = Box::pin(chunked(pattern(12 << 20, 9), 1 << 20).chain(futures::stream::once(async {
        Err(StorageError::Source { message: "disk read error".into(), source: None })
    })));
    let err = s.put("obj", body, None).await.unwrap_err();
    assert!(err.to_string().contains("disk read error"), "{err}");
    assert!(s.head("obj").await.unwrap().is_none());
    let open = s.sdk_client().await.list_multipart_uploads().bucket(&bucket).send().await.unwrap();
    assert!(open.uploads().is_empty(), "upload aborted: {:?}", open.uploads());
}

#[tokio::test]
async fn listing_paginates_past_1000_keys() {
    for var in ["LIFEBOAT_TEST_S3_ENDPOINT", "LIFEBOAT_TEST_MOTO_ENDPOINT"] {
        let (s, _) = fresh(var, "many", false).await;
        let s = Arc::new(s);
        let keys: Vec<String> = (0..1100).map(|i| format!("k/{i:05}")).collect();
        futures::stream::iter(keys.clone())
            .for_each_concurrent(16, |k| {
                let s = s.clone();
                async move { s.put_bytes(&k, Bytes::from_static(b"x")).await.unwrap() }
            })
            .await;
        s.put_bytes("other", Bytes::from_static(b"y")).await.unwrap();
        let listed: Vec<String> = s.list_all("k/").await.unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(listed, keys, "{var}: every key exactly once");
        assert_eq!(s.list_all("").await.unwrap().len(), 1101);
    }
}

#[tokio::test]
async fn tenant_isolation_on_s3() {
    let (s, _) = fresh("LIFEBOAT_TEST_S3_ENDPOINT", "", false).await;
    s.put_bytes("tenants/other/config", Bytes::from_static(b"theirs")).await.unwrap();
    let acme = TenantLayer::new(s.clone(), "acme").unwrap();
    for key in ["../other/config", "%2e%2e/other/config", "/tenants/other/config", "a\0b", "..%2fother%2fconfig"] {
        assert!(acme.get(key, None).await.is_err(), "{key:?}");
        assert!(acme.delete(key).await.is_err(), "{key:?}");
        assert!(acme.put_bytes(key, Bytes::new()).await.is_err(), "{key:?}");
    }
    acme.put_bytes("config", Bytes::from_static(b"mine")).await.unwrap();
    assert_eq!(acme.list_all("").await.unwrap().len(), 1);
    assert_eq!(&s.get_bytes("tenants/other/config").await.unwrap()[..], b"theirs");
}

#[tokio::test]
async fn object_lock_retention_on_moto() {
    let (s, _) = fresh("LIFEBOAT_TEST_MOTO_ENDPOINT", "locked", true).await;
    assert!(s.capabilities().await.unwrap().object_lock);
    let opts = PutOptions { retention: Some(Retention::days_from_now(RetentionMode::Compliance, 1)) };
    s.put_with_options("backup/small", chunked(b"immutable".to_vec(), 4), None, &opts).await.unwrap();
    // A multipart object under retention too.
    let gov = PutOptions { retention: Some(Retention::days_from_now(RetentionMode::Governance, 2)) };
    s.put_with_options("backup/large", chunked(pattern(11 << 20, 5), 1 << 20), None, &gov).await.unwrap();

    let r = s.retention("backup/small").await.unwrap().expect("retention recorded");
    assert_eq!(r.mode, RetentionMode::Compliance);
    let left = r.until.duration_since(SystemTime::now()).unwrap();
    assert!(left > Duration::from_secs(86_000) && left <= Duration::from_secs(86_400), "{left:?}");
    let r = s.retention("backup/large").await.unwrap().expect("retention recorded");
    assert_eq!(r.mode, RetentionMode::Governance);

    for key in ["backup/small", "backup/large"] {
        let err = s.delete(key).await.unwrap_err();
        assert!(matches!(err, StorageError::Retained { .. }), "{err}");
        assert!(err.to_string().contains("retained"), "{err}");
        assert!(s.head(key).await.unwrap().is_some(), "still there");
    }
    // Objects without retention delete as usual.
    s.put_bytes("scratch", Bytes::from_static(b"x")).await.unwrap();
    assert!(s.retention("scratch").await.unwrap().is_none());
    s.delete("scratch").await.unwrap();
    assert!(s.head("scratch").await.unwrap().is_none());
}

#[tokio::test]
async fn extend_retention_lengthens_and_never_shortens() {
    let (s, _) = fresh("LIFEBOAT_TEST_MOTO_ENDPOINT", "extend", true).await;
    let one_day = Retention::days_from_now(RetentionMode::Compliance, 1);
    s.put_with_options("data/p1", chunked(b"pack".to_vec(), 4), None, &PutOptions { retention: Some(one_day) })
        .await
        .unwrap();
    s.put_bytes("data/p2", Bytes::from_static(b"unlocked pack")).await.unwrap();

    // Longer: the date moves, through the layers a repository stacks on the backend too.
    let three_days = Retention::days_from_now(RetentionMode::Compliance, 3);
    let layered = RetryLayer::new(Arc::new(s.clone()));
    let got = layered.extend_retention("data/p1", &three_days).await.unwrap();
    let stored = s.retention("data/p1").await.unwrap().expect("retained");
    assert_eq!(stored.mode, RetentionMode::Compliance);
    assert!(stored.until >= three_days.until - Duration::from_secs(1), "{stored:?} vs {three_days:?}");
    assert_eq!(got.until, three_days.until);

    // Shorter, or a weaker mode: nothing changes, and the answer is the stored retention.
    let shorter = Retention::days_from_now(RetentionMode::Governance, 2);
    let kept = s.extend_retention("data/p1", &shorter).await.unwrap();
    assert_eq!(kept.mode, RetentionMode::Compliance);
    assert!(kept.reaches(three_days.until - Duration::from_secs(1)), "{kept:?}");
    let after = s.retention("data/p1").await.unwrap().unwrap();
    assert_eq!(after, stored, "never shortened");

    // An object without retention gets the requested one and can no longer be deleted.
    let gov = Retention::days_from_now(RetentionMode::Governance, 1);
    s.extend_retention("data/p2", &gov).await.unwrap();
    assert_eq!(s.retention("data/p2").await.unwrap().map(|r| r.mode), Some(RetentionMode::Governance));
    let err = s.delete("data/p2").await.unwrap_err();
    assert!(matches!(err, StorageError::Retained { .. }), "{err}");

    let err = s.extend_retention("data/missing", &gov).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err}");

    // Under a tenant prefix the tenant's object is the one extended.
    s.put_bytes("tenants/acme/data/p3", Bytes::from_static(b"x")).await.unwrap();
    let acme = TenantLayer::new(s.clone(), "acme").unwrap();
    acme.extend_retention("data/p3", &gov).await.unwrap();
    assert!(s.retention("tenants/acme/data/p3").await.unwrap().is_some());
}

#[tokio::test]
async fn extend_retention_without_object_lock_is_refused() {
    let (s, _) = fresh("LIFEBOAT_TEST_S3_ENDPOINT", "noextend", false).await;
    s.put_bytes("x", Bytes::from_static(b"x")).await.unwrap();
    let want = Retention::days_from_now(RetentionMode::Compliance, 1);
    let err = s.extend_retention("x", &want).await.unwrap_err();
    assert!(matches!(err, StorageError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("object lock"), "{err}");
    let memory = lifeboat_storage::MemoryStorage::new();
    memory.put_bytes("x", Bytes::from_static(b"x")).await.unwrap();
    let err = memory.extend_retention("x", &want).await.unwrap_err();
    assert!(matches!(err, StorageError::Unsupported { .. }), "the default refuses: {err}");
}

#[tokio::test]
async fn retention_without_object_lock_is_refused() {
    let (s, _) = fresh("LIFEBOAT_TEST_S3_ENDPOINT", "nolock", false).await;
    let opts = PutOptions { retention: Some(Retention::days_from_now(RetentionMode::Compliance, 1)) };
    let err = s.put_with_options("x", chunked(b"data".to_vec(), 4), None, &opts).await.unwrap_err();
    assert!(matches!(err, StorageError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("object lock"), "{err}");
    assert!(s.head("x").await.unwrap().is_none());
}

#[tokio::test]
async fn wrong_credentials_give_one_clear_error() {
    let env = env();
    let endpoint = env["LIFEBOAT_TEST_S3_ENDPOINT"].clone();
    let (good, bucket) = fresh("LIFEBOAT_TEST_S3_ENDPOINT", "", false).await;
    drop(good);
    let secret = "definitely-not-the-secret-0123456789";
    let bad = S3Storage::with_static_credentials(options(&endpoint, &bucket, ""), &env["AWS_ACCESS_KEY_ID"], secret);
    let retried = RetryLayer::new(bad);
    let start = Instant::now();
    let err = retried.put_bytes("x", Bytes::from_static(b"x")).await.unwrap_err();
    let msg = err.to_string();
    assert!(!err.is_transient(), "auth errors are final: {msg}");
    assert!(msg.contains("SignatureDoesNotMatch") || msg.contains("AccessDenied"), "{msg}");
    assert!(msg.contains("credentials"), "says what to check: {msg}");
    assert!(!msg.contains(secret), "no secret in messages");
    assert!(start.elapsed() < Duration::from_secs(3), "no retry storm: {:?}", start.elapsed());
    let unknown = S3Storage::with_static_credentials(options(&endpoint, &bucket, ""), "nobody", secret);
    let msg = unknown.head("x").await.unwrap_err().to_string();
    assert!(msg.contains("credentials") || msg.contains("403"), "{msg}");
}

#[tokio::test]
async fn missing_bucket_is_named() {
    // moto, because s3s-fs 0.14 accepts a PutObject into a bucket that does not exist.
    let env = env();
    let endpoint = env["LIFEBOAT_TEST_MOTO_ENDPOINT"].clone();
    let s = store(&env, &endpoint, options(&endpoint, "no-such-bucket-lifeboat", "x"));
    let err = s.put_bytes("k", Bytes::from_static(b"x")).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("NoSuchBucket") && msg.contains("no-such-bucket-lifeboat"), "{msg}");
    assert!(!err.is_transient());
    let err = s.list_all("").await.unwrap_err();
    assert!(err.to_string().contains("NoSuchBucket"), "{err}");
    let err = s.get_bytes("k").await.unwrap_err();
    assert!(!err.is_not_found(), "a missing bucket is not a missing object: {err}");
}

#[tokio::test]
async fn network_timeout_is_transient_and_bounded() {
    let env = env();
    // A server that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let url = format!("s3://b/p?endpoint=http://{addr}&region=us-east-1&timeout=1&max_attempts=1");
    let StorageUrl::S3(opts) = StorageUrl::parse(&url).unwrap() else { panic!() };
    let s = store(&env, "", opts);
    let start = Instant::now();
    let err = s.head("x").await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("timed out") || err.to_string().contains("timeout"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    hold.abort();
}

/// A private s3s-fs instance this test can kill.
struct Private {
    child: std::process::Child,
}

impl Private {
    fn start(env: &HashMap<String, String>, dir: &std::path::Path, port: u16) -> Self {
        let child = std::process::Command::new(&env["LIFEBOAT_TEST_S3S_BIN"])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &env["AWS_ACCESS_KEY_ID"], "--secret-key", &env["AWS_SECRET_ACCESS_KEY"]])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child }
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn server_killed_mid_upload() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Private::start(&env, dir.path(), port);
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut opts = options(&endpoint, "victim", "");
    opts.max_attempts = 1;
    opts.timeout = Duration::from_secs(5);
    let s = store(&env, &endpoint, opts);
    s.sdk_client().await.create_bucket().bucket("victim").send().await.unwrap();

    // A slow 64 MiB body: the server dies after some parts have gone up.
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let body: ByteStream = Box::pin(futures::stream::iter(0u64..64).then(move |i| {
        let counter = counter.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Bytes::from(pattern(1 << 20, i)))
        }
    }));
    let upload = tokio::spawn(async move { s.put("data/big", body, None).await.map(|_| s) });
    while sent.load(std::sync::atomic::Ordering::SeqCst) < 14 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let err = upload.await.unwrap().unwrap_err();
    let msg = err.to_string();
    assert!(err.is_transient(), "a dead server is worth a retry later: {msg}");
    assert!(msg.contains("data/big") && msg.contains("victim"), "names key and bucket: {msg}");
    assert!(!msg.contains(&env["AWS_SECRET_ACCESS_KEY"]));

    // The server comes back on the same data: no object, complete or partial.
    let _server = Private::start(&env, dir.path(), port);
    let s = store(&env, &endpoint, options(&endpoint, "victim", ""));
    assert!(s.head("data/big").await.unwrap().is_none(), "no partial object");
    assert!(s.list_all("").await.unwrap().is_empty());
}

#[tokio::test]
async fn open_url_uses_the_aws_chain() {
    // The URL carries no credentials: they come from the AWS chain, never from the URL.
    let env = env();
    let url = format!("s3://b/p?endpoint={}", env["LIFEBOAT_TEST_S3_ENDPOINT"]);
    let s = lifeboat_storage::open_url(&url).unwrap();
    assert!(s.location().starts_with("s3://b/p"), "{}", s.location());
    assert!(lifeboat_storage::open_url("s3://AK:SECRET@b/p").is_err());
}
