//! Cutting an upload body into multipart-upload parts.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::{ByteStream, StorageError};

/// Cuts a body stream into parts of exactly `part_size` bytes (the last one shorter),
/// knowing after each part whether the stream has ended.
pub(super) struct PartReader {
    body: ByteStream,
    part_size: usize,
    pending: Option<Bytes>,
    /// The body has ended (parts may still be pending).
    pub(super) eof: bool,
}

impl PartReader {
    pub(super) fn new(body: ByteStream, part_size: usize) -> Self {
        Self { body, part_size, pending: None, eof: false }
    }

    /// The next part, and whether it is the last.
    pub(super) async fn next_part(&mut self) -> Result<(Bytes, bool), StorageError> {
        let mut buf = BytesMut::new();
        while buf.len() < self.part_size {
            let chunk = match self.pending.take() {
                Some(c) => c,
                None => match self.body.next().await {
                    Some(c) => c?,
                    None => {
                        self.eof = true;
                        break;
                    }
                },
            };
            let room = self.part_size - buf.len();
            if chunk.len() > room {
                if buf.is_empty() && chunk.len() == self.part_size {
                    // exact fit, no copy
                    return self.finish(chunk).await;
                }
                buf.extend_from_slice(&chunk[..room]);
                self.pending = Some(chunk.slice(room..));
            } else {
                if buf.is_empty() && chunk.len() == room {
                    return self.finish(chunk).await;
                }
                if buf.capacity() == 0 {
                    buf.reserve(self.part_size.min(64 << 20));
                }
                buf.extend_from_slice(&chunk);
            }
        }
        let part = buf.freeze();
        if self.eof {
            return Ok((part, true));
        }
        self.finish(part).await
    }

    /// Peeks at the stream so the caller knows whether `part` is the last one.
    async fn finish(&mut self, part: Bytes) -> Result<(Bytes, bool), StorageError> {
        while self.pending.is_none() && !self.eof {
            match self.body.next().await {
                Some(c) => {
                    let c = c?;
                    if !c.is_empty() {
                        self.pending = Some(c);
                    }
                }
                None => self.eof = true,
            }
        }
        Ok((part, self.eof && self.pending.is_none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: Vec<&'static [u8]>) -> ByteStream {
        Box::pin(futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c)))))
    }

    #[tokio::test]
    async fn part_reader_cuts_exact_parts_and_knows_the_last() {
        let mut r = PartReader::new(body(vec![b"abc", b"defgh", b"", b"ij"]), 4);
        let mut parts = Vec::new();
        loop {
            let (p, last) = r.next_part().await.unwrap();
            parts.push(p);
            if last {
                break;
            }
        }
        assert_eq!(parts, [&b"abcd"[..], b"efgh", b"ij"]);
    }

    #[tokio::test]
    async fn part_reader_exact_multiple_ends_without_empty_part() {
        let mut r = PartReader::new(body(vec![b"abcd", b"efgh"]), 4);
        assert_eq!(r.next_part().await.unwrap(), (Bytes::from_static(b"abcd"), false));
        assert_eq!(r.next_part().await.unwrap(), (Bytes::from_static(b"efgh"), true));
        let mut small = PartReader::new(body(vec![b"ab"]), 4);
        assert_eq!(small.next_part().await.unwrap(), (Bytes::from_static(b"ab"), true));
        let mut empty = PartReader::new(body(vec![]), 4);
        assert_eq!(empty.next_part().await.unwrap(), (Bytes::new(), true));
    }

    #[tokio::test]
    async fn part_reader_passes_source_errors() {
        let s: ByteStream = Box::pin(futures::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(StorageError::Source { message: "boom".into(), source: None }),
        ]));
        let mut r = PartReader::new(s, 4);
        assert!(r.next_part().await.unwrap_err().to_string().contains("boom"));
    }
}
