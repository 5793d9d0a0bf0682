//! [`DumpStream`]: one dump artifact as a byte stream plus a completion handle.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Notify;

use crate::error::{DumpError, Result};
use crate::metadata::SourceMetadata;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

#[derive(Default)]
struct ReadState {
    eof: AtomicBool,
    closed: AtomicBool,
    notify: Notify,
}

/// The bytes of one dump, as produced by the database tool (no temporary file).
///
/// Read it to the end (EOF), then await [`DumpStream::finish`]. Dropping it early closes the
/// pipe; the tool is then killed when the [`DumpFinish`] is dropped or awaited.
pub struct DumpReader {
    inner: Pin<Box<dyn AsyncRead + Send>>,
    state: Arc<ReadState>,
}

impl AsyncRead for DumpReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let had_room = buf.remaining() > 0;
        let this = &mut *self;
        let r = this.inner.as_mut().poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r
            && had_room
            && buf.filled().len() == before
            && !this.state.eof.swap(true, Ordering::SeqCst)
        {
            this.state.notify.notify_waiters();
        }
        r
    }
}

impl Drop for DumpReader {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::SeqCst);
        self.state.notify.notify_waiters();
    }
}

/// Completes a [`DumpStream`]: waits for the tool to exit, checks its exit status and error
/// output, and yields the stream's [`SourceMetadata`].
///
/// It fails when the tool failed (a dump that died midway never becomes a good backup), and with
/// [`DumpError::Incomplete`] when the reader was dropped before its end. Dropping a `DumpFinish`
/// before it completes kills the tool and reaps it. It may be awaited after the reader reached
/// EOF or concurrently with reading; awaiting it *instead of* reading would wait forever for a
/// tool blocked on a full pipe.
pub struct DumpFinish {
    fut: BoxFuture<Result<SourceMetadata>>,
}

impl Future for DumpFinish {
    type Output = Result<SourceMetadata>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
    }
}

/// One dump artifact: a name (the object name in a backup), its bytes, and its completion.
///
/// Names in use: `globals.sql` (pg_dumpall `--globals-only`), `db/<name>.pgdump` (pg_dump custom
/// format), `db/<name>.sql` (mysqldump of one database), `all-databases.sql` (mysqldump of
/// several databases with their `CREATE DATABASE`/`USE`), `dump.rdb` (Redis RDB snapshot),
/// `redis.logical` (Lifeboat's Redis logical format, specified in the `redis` module).
pub struct DumpStream {
    /// The artifact's name: a relative path that restorers use to route the stream.
    pub name: String,
    /// The bytes; read to EOF before awaiting `finish`.
    pub reader: DumpReader,
    /// Resolves once the producer finished; fails if it failed.
    pub finish: DumpFinish,
    /// The process id of the dump tool, when the stream comes from a child process.
    pub pid: Option<u32>,
}

impl std::fmt::Debug for DumpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpStream").field("name", &self.name).field("pid", &self.pid).finish_non_exhaustive()
    }
}

impl DumpStream {
    /// Builds a stream from a reader and the future that completes it. The future's resources
    /// (child guards, tasks) are released, and children killed, when the `DumpFinish` is dropped.
    pub(crate) fn new(
        name: impl Into<String>,
        reader: impl AsyncRead + Send + 'static,
        pid: Option<u32>,
        done: impl Future<Output = Result<SourceMetadata>> + Send + 'static,
    ) -> Self {
        let name = name.into();
        let state = Arc::new(ReadState::default());
        let reader = DumpReader { inner: Box::pin(reader), state: state.clone() };
        let stream_name = name.clone();
        let fut = Box::pin(async move {
            let meta = done.await?;
            loop {
                let notified = state.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if state.eof.load(Ordering::SeqCst) {
                    return Ok(meta);
                }
                if state.closed.load(Ordering::SeqCst) {
                    return Err(DumpError::Incomplete { name: stream_name });
                }
                notified.await;
            }
        });
        DumpStream { name, reader, finish: DumpFinish { fut }, pid }
    }

    /// Copies the whole stream into `out`, then awaits `finish`. Returns the byte count and
    /// the metadata. On any error the tool is killed and the error returned.
    pub async fn copy_to<W: AsyncWrite + Unpin + ?Sized>(self, out: &mut W) -> Result<(u64, SourceMetadata)> {
        let DumpStream { name, mut reader, finish, .. } = self;
        let copy = async {
            let n = tokio::io::copy(&mut reader, out).await;
            drop(reader);
            n
        };
        // Run both: `finish` may return a tool failure before the copy notices anything.
        let (copied, meta) = tokio::join!(copy, finish);
        // A failed write is the root cause when both failed (the tool then dies of a broken pipe).
        let n = match (copied, meta) {
            (Err(e), _) => return Err(DumpError::io(format!("writing dump stream `{name}`"), name.clone(), e)),
            (_, Err(e)) => return Err(e),
            (Ok(n), Ok(meta)) => (n, meta),
        };
        out.flush().await.map_err(|e| DumpError::io(format!("writing dump stream `{name}`"), name.clone(), e))?;
        Ok(n)
    }

    /// Reads the whole stream into memory (tests and small dumps).
    pub async fn into_vec(self) -> Result<(Vec<u8>, SourceMetadata)> {
        let mut v = Vec::new();
        let (_, m) = self.copy_to(&mut v).await?;
        Ok((v, m))
    }
}

/// The dumps of one backup, produced lazily and in order (for PostgreSQL `--all`: `globals.sql`
/// then one `db/<name>.pgdump` per database).
///
/// Take one stream with [`Dumps::next`], consume it (read to EOF, await `finish`), then take the
/// next. The names are known up front ([`Dumps::names`]).
pub struct Dumps {
    names: Vec<String>,
    pending: VecDeque<Box<dyn FnOnce() -> BoxFuture<Result<DumpStream>> + Send>>,
}

impl std::fmt::Debug for Dumps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dumps").field("names", &self.names).field("remaining", &self.pending.len()).finish()
    }
}

impl Dumps {
    pub(crate) fn new() -> Self {
        Dumps { names: Vec::new(), pending: VecDeque::new() }
    }

    pub(crate) fn push<F>(&mut self, name: String, start: F)
    where
        F: FnOnce() -> BoxFuture<Result<DumpStream>> + Send + 'static,
    {
        self.names.push(name);
        self.pending.push_back(Box::new(start));
    }

    /// The names of all streams of this backup, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Starts the next dump; `None` when all were produced.
    pub async fn next(&mut self) -> Result<Option<DumpStream>> {
        match self.pending.pop_front() {
            None => Ok(None),
            Some(start) => start().await.map(Some),
        }
    }

    /// Reads every stream into memory: `(name, bytes, metadata)` (tests and small dumps).
    pub async fn collect_all(mut self) -> Result<Vec<(String, Vec<u8>, SourceMetadata)>> {
        let mut out = Vec::new();
        while let Some(s) = self.next().await? {
            let name = s.name.clone();
            let (bytes, meta) = s.into_vec().await?;
            out.push((name, bytes, meta));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{SourceKind, SourceMetadata};
    use tokio::io::AsyncReadExt;

    fn meta() -> SourceMetadata {
        SourceMetadata::new(SourceKind::Redis, "x", "test", "redis://h:1".into())
    }

    #[tokio::test]
    async fn finish_after_eof_succeeds() {
        let s = DumpStream::new("x", &b"hello"[..], None, async { Ok(meta()) });
        let (v, m) = s.into_vec().await.unwrap();
        assert_eq!(v, b"hello");
        assert_eq!(m.stream, "x");
    }

    #[tokio::test]
    async fn dropping_the_reader_early_is_incomplete() {
        let s = DumpStream::new("x", &b"hello world"[..], None, async { Ok(meta()) });
        let DumpStream { mut reader, finish, .. } = s;
        let mut b = [0u8; 3];
        reader.read_exact(&mut b).await.unwrap();
        drop(reader);
        let e = finish.await.unwrap_err();
        assert!(matches!(e, DumpError::Incomplete { .. }), "{e}");
    }

    #[tokio::test]
    async fn producer_failure_wins() {
        let s = DumpStream::new("x", &b""[..], None, async { Err(DumpError::Unsupported("boom".into())) });
        let e = s.into_vec().await.unwrap_err();
        assert!(e.to_string().contains("boom"));
    }
}
