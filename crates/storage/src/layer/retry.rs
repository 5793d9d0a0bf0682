//! Retries with exponential backoff and jitter, for transient failures only.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use ring::rand::{SecureRandom, SystemRandom};

use crate::{
    ByteStream, Capabilities, MetaStream, ObjectMeta, PutOptions, PutOutcome, Retention, Storage, StorageError,
    StorageExt,
};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The delay before the first retry; it doubles with each further retry.
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 200 ms doubling up to 10 s.
    fn default() -> Self {
        Self { max_attempts: 5, base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (1-based): `base * 2^(retry-1)`, capped at
    /// `max_delay`, then drawn uniformly from its upper half ("equal jitter") so that many
    /// clients failing together do not come back together.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << retry.saturating_sub(1).min(20)).min(self.max_delay);
        let mut rnd = [0u8; 4];
        let _ = SystemRandom::new().fill(&mut rnd);
        let frac = f64::from(u32::from_le_bytes(rnd)) / f64::from(u32::MAX);
        exp / 2 + exp.mul_f64(frac / 2.0)
    }
}

/// Retries the calls of the wrapped storage that fail with a transient error
/// ([`StorageError::is_transient`]: timeouts, connection resets, 5xx, throttling), never
/// those that fail for good (authentication, other 4xx, missing objects, bad keys).
///
/// - `put` bodies are streams that cannot be replayed: the layer buffers up to
///   `replay_limit` bytes (default 8 MiB) and retries puts that fit; a larger put gets
///   one attempt here (the S3 backend retries each part of it on its own).
/// - A `get` that fails mid-stream resumes from the byte it stopped at.
/// - A `list` that fails before its first item is started again.
/// - A `put_if_absent` that is retried and then finds the object present reads it back:
///   if it holds our bytes, the earlier attempt succeeded and `Created` is reported.
#[derive(Debug, Clone)]
pub struct RetryLayer<S> {
    inner: Arc<S>,
    policy: RetryPolicy,
    replay_limit: usize,
}

impl<S: Storage + 'static> RetryLayer<S> {
    /// Wraps `inner` with the default [`RetryPolicy`].
    pub fn new(inner: S) -> Self {
        Self { inner: Arc::new(inner), policy: RetryPolicy::default(), replay_limit: 8 << 20 }
    }

    /// Uses `policy` instead of the default.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Buffers at most `bytes` of a put body for replay.
    pub fn with_replay_limit(mut self, bytes: usize) -> Self {
        self.replay_limit = bytes;
        self
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn retry<T, F, Fut>(&self, what: &'static str, key: &str, mut call: F) -> Result<T, StorageError>
    where
        F: FnMut(u32) -> Fut + Send,
        Fut: Future<Output = Result<T, StorageError>> + Send,
        T: Send,
    {
        let mut attempt = 1;
        loop {
            match call(attempt).await {
                Err(e) if e.is_transient() && attempt < self.policy.max_attempts => {
                    let pause = self.policy.delay(attempt);
                    tracing::warn!(op = what, key, attempt, ?pause, error = %e, "transient storage failure, retrying");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Reads a body into memory while it stays within `limit` bytes. On `Err` the buffered
/// chunks and the rest of the stream are handed back.
async fn buffer_body(mut body: ByteStream, limit: usize) -> Result<Vec<Bytes>, (Vec<Bytes>, ByteStream)> {
    let mut chunks = Vec::new();
    let mut total = 0usize;
    loop {
        match body.next().await {
            None => return Ok(chunks),
            Some(Ok(c)) => {
                total += c.len();
                chunks.push(c);
                if total > limit {
                    return Err((chunks, body));
                }
            }
            Some(Err(e)) => {
                let rest: ByteStream = Box::pin(futures::stream::once(async move { Err(e) }));
                return Err((chunks, rest));
            }
        }
    }
}

fn replay(chunks: &[Bytes]) -> ByteStream {
    Box::pin(futures::stream::iter(chunks.iter().cloned().map(Ok).collect::<Vec<_>>()))
}

#[async_trait]
impl<S: Storage + 'static> super::StorageLayer for RetryLayer<S> {
    type Inner = S;

    fn inner(&self) -> &S {
        &self.inner
    }

    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        if size_hint.is_some_and(|n| n > self.replay_limit as u64) {
            return self.inner.put_with_options(key, body, size_hint, options).await;
        }
        match buffer_body(body, self.replay_limit).await {
            Ok(chunks) => {
                self.retry("put", key, |_| self.inner.put_with_options(key, replay(&chunks), size_hint, options)).await
            }
            Err((head, rest)) => {
                let body: ByteStream = Box::pin(futures::stream::iter(head.into_iter().map(Ok)).chain(rest));
                self.inner.put_with_options(key, body, size_hint, options).await
            }
        }
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
        self.retry("put_if_absent", key, |attempt| {
            let body = body.clone();
            async move {
                match self.inner.put_if_absent(key, body.clone()).await? {
                    PutOutcome::AlreadyExists if attempt > 1 => {
                        // An earlier attempt may have succeeded with its reply lost.
                        let stored = self.inner.get_bytes(key).await?;
                        Ok(if stored == body { PutOutcome::Created } else { PutOutcome::AlreadyExists })
                    }
                    outcome => Ok(outcome),
                }
            }
        })
        .await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        let first = self.retry("get", key, |_| self.inner.get(key, range.clone())).await?;
        let state = Resume {
            inner: self.inner.clone(),
            policy: self.policy,
            key: key.to_owned(),
            pos: range.as_ref().map_or(0, |r| r.start),
            end: range.map(|r| r.end),
            stream: Some(first),
            failures: 0,
            done: false,
        };
        Ok(Box::pin(futures::stream::unfold(state, Resume::next)))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        self.retry("head", key, |_| self.inner.head(key)).await
    }

    fn list(&self, prefix: &str) -> MetaStream {
        let state = Relist {
            inner: self.inner.clone(),
            policy: self.policy,
            prefix: prefix.to_owned(),
            stream: None,
            yielded: false,
            attempt: 1,
            done: false,
        };
        Box::pin(futures::stream::unfold(state, Relist::next))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.retry("delete", key, |_| self.inner.delete(key)).await
    }

    async fn capabilities(&self) -> Result<Capabilities, StorageError> {
        self.retry("capabilities", "", |_| self.inner.capabilities()).await
    }

    async fn retention(&self, key: &str) -> Result<Option<Retention>, StorageError> {
        self.retry("retention", key, |_| self.inner.retention(key)).await
    }

    async fn extend_retention(&self, key: &str, retention: &Retention) -> Result<Retention, StorageError> {
        // Idempotent (it never shortens), so a retry after a lost answer is harmless.
        self.retry("extend_retention", key, |_| self.inner.extend_retention(key, retention)).await
    }

    async fn sweep_temp(
        &self,
        prefix: &str,
        older_than: std::time::Duration,
        dry_run: bool,
    ) -> Result<Vec<ObjectMeta>, StorageError> {
        self.retry("sweep_temp", prefix, |_| self.inner.sweep_temp(prefix, older_than, dry_run)).await
    }
}

/// A download that reopens the object at the current offset after a transient failure.
struct Resume<S> {
    inner: Arc<S>,
    policy: RetryPolicy,
    key: String,
    pos: u64,
    end: Option<u64>,
    stream: Option<ByteStream>,
    failures: u32,
    done: bool,
}

impl<S: Storage + 'static> Resume<S> {
    async fn next(mut self) -> Option<(Result<Bytes, StorageError>, Self)> {
        loop {
            if self.done {
                return None;
            }
            let step = match self.stream.as_mut() {
                None => self.reopen().await.map(|()| None),
                Some(stream) => match stream.next().await {
                    Some(Ok(chunk)) => Ok(Some(chunk)),
                    Some(Err(e)) => Err(e),
                    None => return None,
                },
            };
            match step {
                Ok(None) => continue,
                Ok(Some(chunk)) => {
                    self.pos += chunk.len() as u64;
                    self.failures = 0;
                    return Some((Ok(chunk), self));
                }
                Err(e) if e.is_transient() && self.failures + 1 < self.policy.max_attempts => {
                    self.stream = None;
                    self.failures += 1;
                    let pause = self.policy.delay(self.failures);
                    tracing::warn!(key = %self.key, offset = self.pos, ?pause, error = %e, "download interrupted, resuming");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => {
                    self.done = true;
                    return Some((Err(e), self));
                }
            }
        }
    }

    async fn reopen(&mut self) -> Result<(), StorageError> {
        let end = match self.end {
            Some(end) => end,
            None => match self.inner.head(&self.key).await? {
                Some(meta) => meta.size,
                None => {
                    return Err(StorageError::NotFound {
                        op: crate::Op::Get,
                        location: self.inner.location(),
                        key: self.key.clone(),
                    });
                }
            },
        };
        self.end = Some(end);
        self.stream = Some(if self.pos >= end {
            Box::pin(futures::stream::empty())
        } else {
            self.inner.get(&self.key, Some(self.pos..end)).await?
        });
        Ok(())
    }
}

/// A listing that starts again when it fails before yielding anything.
struct Relist<S> {
    inner: Arc<S>,
    policy: RetryPolicy,
    prefix: String,
    stream: Option<MetaStream>,
    yielded: bool,
    attempt: u32,
    done: bool,
}

impl<S: Storage + 'static> Relist<S> {
    async fn next(mut self) -> Option<(Result<ObjectMeta, StorageError>, Self)> {
        loop {
            if self.done {
                return None;
            }
            let stream = self.stream.get_or_insert_with(|| self.inner.list(&self.prefix));
            match stream.next().await {
                Some(Ok(meta)) => {
                    self.yielded = true;
                    return Some((Ok(meta), self));
                }
                Some(Err(e)) if !self.yielded && e.is_transient() && self.attempt < self.policy.max_attempts => {
                    let pause = self.policy.delay(self.attempt);
                    tracing::warn!(prefix = %self.prefix, ?pause, error = %e, "listing failed, starting again");
                    self.attempt += 1;
                    self.stream = None;
                    tokio::time::sleep(pause).await;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some((Err(e), self));
                }
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryStorage, Op};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A test double: a memory store whose calls fail on a script.
    #[derive(Debug, Default)]
    struct Flaky {
        store: MemoryStorage,
        calls: AtomicU32,
        /// Errors to return from the next calls, front first: `Some(transient)`.
        script: Mutex<Vec<bool>>,
        /// Fail a get stream after this many bytes once (transiently).
        cut_get_after: Mutex<Option<usize>>,
    }

    impl Flaky {
        fn fail_next(&self, transient: &[bool]) {
            *self.script.lock().unwrap() = transient.iter().rev().copied().collect();
        }
        fn check(&self, key: &str) -> Result<(), StorageError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match self.script.lock().unwrap().pop() {
                Some(transient) => Err(StorageError::Backend {
                    op: Op::Get,
                    location: "flaky://".into(),
                    key: key.into(),
                    message: if transient { "HTTP 503 SlowDown".into() } else { "HTTP 403 AccessDenied".into() },
                    transient,
                }),
                None => Ok(()),
            }
        }
    }

    #[async_trait]
    impl crate::layer::StorageLayer for Flaky {
        type Inner = MemoryStorage;
        fn inner(&self) -> &MemoryStorage {
            &self.store
        }
        fn location(&self) -> String {
            "flaky://".into()
        }
        async fn put_with_options(
            &self,
            key: &str,
            body: ByteStream,
            size_hint: Option<u64>,
            options: &PutOptions,
        ) -> Result<(), StorageError> {
            self.check(key)?;
            self.store.put_with_options(key, body, size_hint, options).await
        }
        async fn put_if_absent(&self, key: &str, body: Bytes) -> Result<PutOutcome, StorageError> {
            self.check(key)?;
            self.store.put_if_absent(key, body).await
        }
        async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
            self.check(key)?;
            let data = self.store.get(key, range).await?;
            let Some(cut) = self.cut_get_after.lock().unwrap().take() else { return Ok(data) };
            let bytes: Vec<u8> = data.map(|c| c.unwrap().to_vec()).concat().await;
            let head = Bytes::copy_from_slice(&bytes[..cut]);
            Ok(Box::pin(futures::stream::iter(vec![
                Ok(head),
                Err(StorageError::Backend {
                    op: Op::Get,
                    location: "flaky://".into(),
                    key: key.into(),
                    message: "connection reset".into(),
                    transient: true,
                }),
            ])))
        }
        async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
            self.check(key)?;
            self.store.head(key).await
        }
        fn list(&self, prefix: &str) -> MetaStream {
            match self.check(prefix) {
                Ok(()) => self.store.list(prefix),
                Err(e) => Box::pin(futures::stream::once(async move { Err(e) })),
            }
        }
        async fn delete(&self, key: &str) -> Result<(), StorageError> {
            self.check(key)?;
            self.store.delete(key).await
        }
    }

    fn layer() -> RetryLayer<Flaky> {
        RetryLayer::new(Flaky::default())
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_with_growing_pauses() {
        let s = layer();
        s.inner().store.put_bytes("k", Bytes::from_static(b"v")).await.unwrap();
        s.inner().fail_next(&[true, true, true]);
        let start = tokio::time::Instant::now();
        assert!(s.head("k").await.unwrap().is_some());
        assert_eq!(s.inner().calls.load(Ordering::SeqCst), 4, "3 failures + 1 success");
        // pauses of at least 100 + 200 + 400 ms (half of 200, 400, 800)
        assert!(start.elapsed() >= Duration::from_millis(700), "{:?}", start.elapsed());
        assert!(start.elapsed() <= Duration::from_millis(1400), "{:?}", start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried() {
        let s = layer();
        s.inner().fail_next(&[false, true]);
        let err = s.delete("k").await.unwrap_err();
        assert!(err.to_string().contains("403"), "{err}");
        assert_eq!(s.inner().calls.load(Ordering::SeqCst), 1, "one call, no retry");
        // Not-found is final too.
        let before = s.inner().calls.load(Ordering::SeqCst);
        s.inner().fail_next(&[]);
        assert!(s.get_bytes("missing").await.unwrap_err().is_not_found());
        assert_eq!(s.inner().calls.load(Ordering::SeqCst), before + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded() {
        let s = layer().with_policy(RetryPolicy { max_attempts: 3, ..RetryPolicy::default() });
        s.inner().fail_next(&[true; 10]);
        assert!(s.head("k").await.unwrap_err().is_transient());
        assert_eq!(s.inner().calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn small_puts_are_replayed_large_ones_are_not() {
        let s = layer().with_replay_limit(10);
        s.inner().fail_next(&[true]);
        s.put_bytes("small", Bytes::from_static(b"12345")).await.unwrap();
        assert_eq!(&s.inner().store.get_bytes("small").await.unwrap()[..], b"12345");
        assert_eq!(s.inner().calls.load(Ordering::SeqCst), 2);

        s.inner().fail_next(&[true]);
        let body: ByteStream = Box::pin(futures::stream::iter(
            [&b"0123456789"[..], b"abcdef"].into_iter().map(|c| Ok(Bytes::from_static(c))),
        ));
        assert!(s.put("big", body, None).await.unwrap_err().is_transient(), "a big stream gets one attempt");
        assert!(s.inner().store.head("big").await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn put_if_absent_recognises_its_own_earlier_success() {
        let s = layer();
        // Simulate a lost reply: the object is there with our bytes, the first call failed.
        s.inner().store.put_bytes("lock", Bytes::from_static(b"me")).await.unwrap();
        s.inner().fail_next(&[true]);
        assert_eq!(s.put_if_absent("lock", Bytes::from_static(b"me")).await.unwrap(), PutOutcome::Created);
        s.inner().fail_next(&[true]);
        assert_eq!(s.put_if_absent("lock", Bytes::from_static(b"you")).await.unwrap(), PutOutcome::AlreadyExists);
        assert_eq!(s.put_if_absent("lock", Bytes::from_static(b"me")).await.unwrap(), PutOutcome::AlreadyExists);
    }

    #[tokio::test(start_paused = true)]
    async fn downloads_resume_where_they_broke() {
        let s = layer();
        s.inner().store.put_bytes("obj", Bytes::from_static(b"0123456789")).await.unwrap();
        *s.inner().cut_get_after.lock().unwrap() = Some(4);
        assert_eq!(&s.get_bytes("obj").await.unwrap()[..], b"0123456789");
        *s.inner().cut_get_after.lock().unwrap() = Some(2);
        let mut st = s.get("obj", Some(3..8)).await.unwrap();
        let mut got = Vec::new();
        while let Some(c) = st.next().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"34567");
    }

    #[tokio::test(start_paused = true)]
    async fn listings_restart_when_they_fail_first() {
        let s = layer();
        s.inner().store.put_bytes("a/1", Bytes::from_static(b"1")).await.unwrap();
        s.inner().fail_next(&[true, true]);
        assert_eq!(s.list_all("a/").await.unwrap().len(), 1);
        s.inner().fail_next(&[false]);
        assert!(s.list_all("a/").await.is_err());
    }

    #[test]
    fn delays_grow_cap_and_jitter() {
        let p =
            RetryPolicy { max_attempts: 10, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        for _ in 0..50 {
            let d1 = p.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d3 = p.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
            let d9 = p.delay(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_secs(1), "{d9:?}");
        }
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| p.delay(5)).collect();
        assert!(distinct.len() > 1, "jitter varies the pauses");
    }
}
