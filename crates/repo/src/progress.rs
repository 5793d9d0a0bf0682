//! Live counters of a long operation (backup, restore, verify, copy): the library advances
//! them, a frontend reads them when it draws. Nothing here prints.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, ReadBuf};

use crate::tarscan::{BLOCK, Extensions, is_extension, is_file, is_header, is_zero, kind, padded, size};

/// Counters shared between an operation, which advances them, and whoever shows them (a
/// progress bar reading them a few times a second). Cloning shares the counters; a
/// default `Progress` is one nobody reads, so passing one costs a few atomic adds.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    files: AtomicU64,
    bytes: AtomicU64,
    /// Totals plus one; 0 while unknown.
    files_total: AtomicU64,
    bytes_total: AtomicU64,
}

/// One reading of a [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Units done: files (backup, restore), objects (verify) or backups (copy).
    pub files: u64,
    /// Bytes done: read, written or sent.
    pub bytes: u64,
    /// How many units there are, when known in advance.
    pub files_total: Option<u64>,
    /// How many bytes there are, when known in advance.
    pub bytes_total: Option<u64>,
}

impl Progress {
    /// Fresh counters at zero, totals unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `n` more bytes done.
    pub fn add_bytes(&self, n: u64) {
        self.0.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one more unit (file, object, backup) done.
    pub fn add_file(&self) {
        self.0.files.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds to the totals (each starts unknown; the first call makes both known).
    pub fn add_totals(&self, files: u64, bytes: u64) {
        for (total, n) in [(&self.0.files_total, files), (&self.0.bytes_total, bytes)] {
            // 0 means unknown: the first addition adds the one that marks it known.
            let _ = total.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(t.max(1).saturating_add(n)));
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let total = |t: &AtomicU64| t.load(Ordering::Relaxed).checked_sub(1);
        ProgressSnapshot {
            files: self.0.files.load(Ordering::Relaxed),
            bytes: self.0.bytes.load(Ordering::Relaxed),
            files_total: total(&self.0.files_total),
            bytes_total: total(&self.0.bytes_total),
        }
    }

    /// `stream`, counting the bytes of every chunk that passes.
    pub(crate) fn count<S, E>(&self, stream: S) -> impl Stream<Item = Result<Bytes, E>> + use<S, E>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        let progress = self.clone();
        // `map` with the item by value, not `inspect`: a closure over `&Item` is higher-ranked,
        // and futures holding one are not `Send` for every lifetime (rust-lang/rust#102211).
        stream.map(move |item| {
            if let Ok(bytes) = &item {
                progress.add_bytes(bytes.len() as u64);
            }
            item
        })
    }
}

/// A reader that counts the bytes read through it, and with a [`FileCounter`] the regular
/// files of the tar stream it carries.
pub(crate) struct CountingReader<R> {
    inner: R,
    progress: Progress,
    files: Option<FileCounter>,
}

impl<R> CountingReader<R> {
    /// Counts the bytes of `inner`, and its files when it is a tar stream (`tar`).
    pub(crate) fn new(inner: R, progress: Progress, tar: bool) -> Self {
        let files = tar.then(|| FileCounter::new(progress.clone()));
        CountingReader { inner, progress, files }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for CountingReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let read = &buf.filled()[before..];
            self.progress.add_bytes(read.len() as u64);
            if let Some(files) = &mut self.files {
                files.feed(read);
            }
        }
        poll
    }
}

/// The largest extension data kept by [`FileCounter`] (a PAX header with a long path).
const MAX_EXTENSION: u64 = 1 << 20;

/// Counts the regular files of a tar stream fed to it in pieces, into a [`Progress`].
#[derive(Debug)]
pub(crate) struct FileCounter {
    progress: Progress,
    /// Bytes of the current entry's data still to pass.
    skip: u64,
    /// The header (or extension data) being gathered.
    gather: Vec<u8>,
    /// The extension whose data is being gathered, and its size.
    extension: Option<(u8, u64)>,
    pending: Extensions,
    ended: bool,
}

impl FileCounter {
    /// A counter at the start of a stream.
    pub(crate) fn new(progress: Progress) -> Self {
        FileCounter {
            progress,
            skip: 0,
            gather: Vec::new(),
            extension: None,
            pending: Extensions::default(),
            ended: false,
        }
    }

    /// Takes in the next bytes of the stream.
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.ended {
            if self.skip > 0 {
                let n = (self.skip.min(data.len() as u64)) as usize;
                if self.extension.is_some() {
                    self.gather.extend_from_slice(&data[..n]);
                }
                self.skip -= n as u64;
                data = &data[n..];
                if self.skip == 0
                    && let Some((kind, size)) = self.extension.take()
                {
                    let kept = self.gather.len().min(size as usize);
                    self.pending.add(kind, &self.gather[..kept]);
                    self.gather.clear();
                }
                continue;
            }
            let n = (BLOCK - self.gather.len()).min(data.len());
            self.gather.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.gather.len() == BLOCK {
                let block = std::mem::take(&mut self.gather);
                self.header(&block);
            }
        }
    }

    fn header(&mut self, block: &[u8]) {
        if is_zero(block) || !is_header(block) {
            // The end of the archive (or not a tar stream): nothing more to count.
            self.ended = true;
            return;
        }
        let kind = kind(block);
        // A PAX size applies to the entry after the extensions, not to another extension.
        let size = if is_extension(kind) {
            size(block)
        } else {
            std::mem::take(&mut self.pending).size.or_else(|| size(block))
        };
        let size = size.unwrap_or(0);
        if is_extension(kind) && size <= MAX_EXTENSION {
            self.extension = Some((kind, size));
        } else if is_file(kind) {
            self.progress.add_file();
        }
        self.skip = padded(size);
    }
}
