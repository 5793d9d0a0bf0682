//! The conformance suite every backend must pass, and the body helpers it and the backend
//! tests share. (Where the test servers are, unique names and test data come from
//! lifeboat-testkit.)

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use lifeboat_storage::{ByteStream, PutOutcome, Storage, StorageError, StorageExt};
use lifeboat_testkit::files::random_bytes as pattern;
use ring::digest::{SHA256, digest};

/// A body that yields `data` in chunks of `chunk` bytes.
pub fn chunked(data: Vec<u8>, chunk: usize) -> ByteStream {
    let data = Bytes::from(data);
    let n = data.len().div_ceil(chunk.max(1));
    Box::pin(futures::stream::iter((0..n).map(move |i| Ok(data.slice(i * chunk..((i + 1) * chunk).min(data.len()))))))
}

pub async fn read_range<S: Storage + ?Sized>(s: &S, key: &str, range: std::ops::Range<u64>) -> Vec<u8> {
    let mut st = s.get(key, Some(range)).await.unwrap();
    let mut out = Vec::new();
    while let Some(c) = st.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

fn sha(b: &[u8]) -> Vec<u8> {
    digest(&SHA256, b).as_ref().to_vec()
}

/// What a conformance run should exercise beyond the basics.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Size of the large streamed object (should exceed the multipart part size on S3).
    pub large: usize,
    /// Number of concurrent contenders for one put_if_absent key.
    pub racers: usize,
}

impl Default for Suite {
    fn default() -> Self {
        Self { large: 3 << 20, racers: 8 }
    }
}

/// The storage contract, checked against a backend whose namespace is empty.
pub async fn conformance(s: Arc<dyn Storage>, suite: Suite) {
    let loc = s.location();
    // Empty store.
    assert!(s.list_all("").await.unwrap().is_empty(), "{loc}: starts empty");
    let err = s.get_bytes("config").await.unwrap_err();
    assert!(err.is_not_found(), "{loc}: missing object is NotFound: {err}");
    assert!(s.head("config").await.unwrap().is_none());

    // Put, get, head, overwrite.
    s.put_bytes("config", Bytes::from_static(b"version 1")).await.unwrap();
    assert_eq!(&s.get_bytes("config").await.unwrap()[..], b"version 1");
    assert_eq!(s.head("config").await.unwrap().unwrap().size, 9);
    s.put_bytes("config", Bytes::from_static(b"v2")).await.unwrap();
    assert_eq!(&s.get_bytes("config").await.unwrap()[..], b"v2", "{loc}: overwrite replaces");
    assert_eq!(s.head("config").await.unwrap().unwrap().size, 2);

    // Empty object.
    s.put_bytes("empty", Bytes::new()).await.unwrap();
    assert_eq!(s.head("empty").await.unwrap().unwrap().size, 0);
    assert!(s.get_bytes("empty").await.unwrap().is_empty());

    // Ranges.
    s.put_bytes("digits", Bytes::from_static(b"0123456789")).await.unwrap();
    assert_eq!(read_range(&*s, "digits", 2..5).await, b"234");
    assert_eq!(read_range(&*s, "digits", 0..10).await, b"0123456789");
    assert_eq!(read_range(&*s, "digits", 9..10).await, b"9");
    assert_eq!(read_range(&*s, "digits", 8..100).await, b"89", "{loc}: a range past the end is cut short");
    assert!(read_range(&*s, "digits", 4..4).await.is_empty());
    assert!(read_range(&*s, "digits", 20..30).await.is_empty(), "{loc}: a range after the end is empty");
    assert!(s.get("nothing", Some(0..5)).await.err().unwrap().is_not_found());

    // A large streamed object, digest-checked, with ranged reads across chunk borders.
    let large = pattern(suite.large, 42);
    s.put("data/large", chunked(large.clone(), 100_003), Some(large.len() as u64)).await.unwrap();
    assert_eq!(s.head("data/large").await.unwrap().unwrap().size, large.len() as u64);
    assert_eq!(sha(&s.get_bytes("data/large").await.unwrap()), sha(&large), "{loc}: large round trip");
    let (a, b) = (suite.large as u64 / 3, suite.large as u64 / 3 + 1_000_000);
    assert_eq!(read_range(&*s, "data/large", a..b).await, &large[a as usize..b as usize]);
    // ... and one without a size hint.
    s.put("data/large2", chunked(large[..suite.large / 2].to_vec(), 65_536), None).await.unwrap();
    assert_eq!(s.head("data/large2").await.unwrap().unwrap().size, (suite.large / 2) as u64);

    // A failing body leaves nothing behind, not even debris in listings.
    let before = s.list_all("").await.unwrap();
    let body: ByteStream = Box::pin(futures::stream::iter(vec![
        Ok(Bytes::from(pattern(200_000, 1))),
        Err(StorageError::Source { message: "source died".into(), source: None }),
    ]));
    let err = s.put("data/broken", body, None).await.unwrap_err();
    assert!(err.to_string().contains("source died"), "{loc}: {err}");
    assert!(s.head("data/broken").await.unwrap().is_none(), "{loc}: no partial object");
    assert_eq!(s.list_all("").await.unwrap(), before, "{loc}: no debris");
    // A failure on a big body (multipart on S3) too.
    let big_then_fail: ByteStream =
        Box::pin(chunked(pattern(suite.large, 3), 1 << 20).chain(futures::stream::once(async {
            Err(StorageError::Source { message: "late death".into(), source: None })
        })));
    assert!(s.put("data/broken", big_then_fail, None).await.is_err());
    assert!(s.head("data/broken").await.unwrap().is_none(), "{loc}: no partial large object");
    // ... and a failed overwrite keeps the old object.
    let body: ByteStream =
        Box::pin(futures::stream::iter(vec![Err(StorageError::Source { message: "nope".into(), source: None })]));
    assert!(s.put("config", body, None).await.is_err());
    assert_eq!(&s.get_bytes("config").await.unwrap()[..], b"v2", "{loc}: failed overwrite keeps the old object");

    // Listing.
    for k in ["data/ab/1", "data/ab/2", "data/cd/3", "database", "locks/x"] {
        s.put_bytes(k, Bytes::from(k.as_bytes().to_vec())).await.unwrap();
    }
    let keys = |v: Vec<lifeboat_storage::ObjectMeta>| v.into_iter().map(|m| m.key).collect::<Vec<_>>();
    assert_eq!(
        keys(s.list_all("data/").await.unwrap()),
        ["data/ab/1", "data/ab/2", "data/cd/3", "data/large", "data/large2"],
        "{loc}"
    );
    assert_eq!(keys(s.list_all("data/a").await.unwrap()), ["data/ab/1", "data/ab/2"], "{loc}");
    assert_eq!(keys(s.list_all("data").await.unwrap()).len(), 6, "{loc}: `data` also matches `database`");
    assert!(s.list_all("nothing/").await.unwrap().is_empty());
    let sizes: Vec<_> = s.list_all("data/ab/").await.unwrap().into_iter().map(|m| m.size).collect();
    assert_eq!(sizes, [9, 9]);
    assert!(s.list_all("../").await.is_err(), "{loc}: hostile prefix refused");

    // Conditional create.
    let caps = s.capabilities().await.unwrap();
    if caps.conditional_put {
        assert_eq!(s.put_if_absent("locks/a", Bytes::from_static(b"first")).await.unwrap(), PutOutcome::Created);
        assert_eq!(s.put_if_absent("locks/a", Bytes::from_static(b"second")).await.unwrap(), PutOutcome::AlreadyExists);
        assert_eq!(&s.get_bytes("locks/a").await.unwrap()[..], b"first", "{loc}: never overwritten");
        let mut racers = Vec::new();
        for i in 0..suite.racers {
            let s = s.clone();
            racers.push(tokio::spawn(async move {
                s.put_if_absent("locks/race", Bytes::from(format!("racer {i}"))).await.unwrap()
            }));
        }
        let mut created = 0;
        for r in racers {
            if r.await.unwrap() == PutOutcome::Created {
                created += 1;
            }
        }
        assert_eq!(created, 1, "{loc}: exactly one racer wins");
    } else {
        let err = s.put_if_absent("locks/a", Bytes::from_static(b"first")).await.unwrap_err();
        assert!(matches!(err, StorageError::Unsupported { .. }), "{loc}: refuses rather than races: {err}");
        assert!(s.head("locks/a").await.unwrap().is_none());
    }

    // Invalid keys never reach the backend.
    for key in ["", "../x", "/abs", "a//b", "a/./b", "a\0b"] {
        assert!(
            matches!(s.put_bytes(key, Bytes::new()).await.unwrap_err(), StorageError::InvalidKey { .. }),
            "{key:?}"
        );
        assert!(matches!(s.delete(key).await.unwrap_err(), StorageError::InvalidKey { .. }), "{key:?}");
    }

    // Delete, and delete of a missing object.
    s.delete("data/ab/1").await.unwrap();
    s.delete("data/ab/1").await.unwrap();
    s.delete("never/existed").await.unwrap();
    assert!(s.head("data/ab/1").await.unwrap().is_none());
    assert!(s.get_bytes("data/ab/1").await.unwrap_err().is_not_found());
    assert_eq!(keys(s.list_all("data/ab/").await.unwrap()), ["data/ab/2"]);

    // Clean up, leaving the namespace empty.
    for m in s.list_all("").await.unwrap() {
        s.delete(&m.key).await.unwrap();
    }
    assert!(s.list_all("").await.unwrap().is_empty(), "{loc}: empty after deleting everything");
}
