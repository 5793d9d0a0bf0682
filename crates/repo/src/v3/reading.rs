//! The archiver's file reads, on blocking threads: small files (at most one maximum
//! chunk) are read whole, many per thread hop, and chunked from memory; a larger file is
//! streamed through the chunker with bounded memory.

use std::fs::Metadata;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use lifeboat_chunker::Chunker;

use crate::tree::open_no_follow;

/// A file read whole, with its chunk boundaries.
pub(crate) struct WholeFile {
    /// Every byte read.
    pub data: Bytes,
    /// The chunks of `data`, in order.
    pub chunks: Vec<Range<usize>>,
    /// The descriptor's stat before reading.
    pub before: Metadata,
    /// And after.
    pub after: Metadata,
}

/// The descriptor's stats around a streamed read.
pub(crate) struct Stamps {
    /// Before reading.
    pub before: Metadata,
    /// After reading to the end.
    pub after: Metadata,
}

/// Opens a file without following a symlink and checks that it is still a regular file
/// (else `InvalidData`).
fn open_regular(path: &Path) -> io::Result<(std::fs::File, Metadata)> {
    let file = open_no_follow(path)?;
    let before = file.metadata()?;
    if !before.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "it stopped being a regular file while being backed up",
        ));
    }
    Ok((file, before))
}

/// Reads each file of a batch whole and cuts it into chunks (blocking). Each file has its
/// own outcome: one that cannot be read does not stop the others.
pub(crate) fn read_batch(paths: &[PathBuf], chunker: &Chunker) -> Vec<io::Result<WholeFile>> {
    paths.iter().map(|path| read_whole(path, chunker)).collect()
}

/// Reads one file to its end (not to its stat size: `/proc` files say 0) and chunks it.
fn read_whole(path: &Path, chunker: &Chunker) -> io::Result<WholeFile> {
    let (mut file, before) = open_regular(path)?;
    // One byte more than the stat size, so that the end is seen without growing the buffer.
    let mut data = Vec::with_capacity(usize::try_from(before.len()).unwrap_or(0).saturating_add(1));
    file.read_to_end(&mut data)?;
    let after = file.metadata()?;
    let mut chunks = Vec::new();
    let mut at = 0;
    for len in chunker.split(&data) {
        chunks.push(at..at + len);
        at += len;
    }
    Ok(WholeFile { data: Bytes::from(data), chunks, before, after })
}

/// Streams a file's chunks into `tx` until its end (blocking). A file that is no longer a
/// regular file is `InvalidData`.
pub(crate) fn stream_chunks(
    path: &Path,
    chunker: &Chunker,
    tx: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> io::Result<Stamps> {
    let (file, before) = open_regular(path)?;
    for chunk in chunker.chunks(&file) {
        if tx.blocking_send(chunk?).is_err() {
            // The async side failed and stopped listening; its error is the one reported.
            return Err(io::Error::other("archive abandoned"));
        }
    }
    let after = file.metadata()?;
    Ok(Stamps { before, after })
}
