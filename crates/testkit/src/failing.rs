//! Injected failures: a writer that fails mid-stream (a repository that becomes unavailable).

use std::pin::Pin;
use std::task::{Context, Poll};

/// An AsyncWrite that accepts `limit` bytes and then fails every write.
pub struct FailingWriter {
    /// Bytes accepted so far.
    pub written: usize,
    /// Bytes accepted before the failure.
    pub limit: usize,
}

impl tokio::io::AsyncWrite for FailingWriter {
    fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.written >= self.limit {
            return Poll::Ready(Err(std::io::Error::other("repository unavailable (injected)")));
        }
        let n = buf.len().min(self.limit - self.written);
        self.written += n;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
