//! Draining an async stream of chunks into a blocking writer (a file, standard output).

use std::io::{self, Write};

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// Why [`drain_into`] stopped.
#[derive(Debug)]
pub enum DrainError<E> {
    /// The stream yielded an error; it is reported even if the writer failed after it.
    Stream(E),
    /// The writer failed, or its thread died.
    Write(io::Error),
}

/// Writes every chunk of `stream` to `out` on a blocking thread, straight from the chunks'
/// buffers (no copy), with a few chunks queued in between, and flushes `out` at the end.
/// `after_write(&mut out, total)` runs on that thread after each chunk (a file uses it to
/// start writeback). Returns the bytes written and the writer.
pub async fn drain_into<S, E, W, F>(mut stream: S, out: W, mut after_write: F) -> Result<(u64, W), DrainError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    W: Write + Send + 'static,
    F: FnMut(&mut W, u64) + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = out;
        let mut written = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
            written += chunk.len() as u64;
            after_write(&mut out, written);
        }
        out.flush()?;
        Ok::<_, io::Error>((written, out))
    });
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(|e| DrainError::Write(io::Error::other(e)));
    if let Some(e) = failure {
        return Err(DrainError::Stream(e));
    }
    written?.map_err(DrainError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_every_chunk_in_order() {
        let chunks = ["ab", "", "cde"].map(|s| Ok::<_, io::Error>(Bytes::from_static(s.as_bytes())));
        let (n, out) = drain_into(futures::stream::iter(chunks), Vec::new(), |_, _| {}).await.unwrap();
        assert_eq!((n, &out[..]), (5, &b"abcde"[..]));
    }

    #[tokio::test]
    async fn a_stream_error_wins_and_stops_the_writer() {
        let chunks = vec![Ok(Bytes::from_static(b"ab")), Err("broken"), Ok(Bytes::from_static(b"never"))];
        let err = drain_into(futures::stream::iter(chunks), Vec::new(), |_, _| {}).await.unwrap_err();
        assert!(matches!(err, DrainError::Stream("broken")), "{err:?}");
    }

    #[tokio::test]
    async fn a_writer_error_is_reported() {
        #[derive(Debug)]
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let chunks = (0..100).map(|_| Ok::<_, io::Error>(Bytes::from_static(b"x")));
        let err = drain_into(futures::stream::iter(chunks), Full, |_, _| {}).await.unwrap_err();
        assert!(matches!(err, DrainError::Write(ref e) if e.kind() == io::ErrorKind::StorageFull), "{err:?}");
    }
}
