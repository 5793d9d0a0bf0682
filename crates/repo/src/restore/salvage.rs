//! `restore --salvage`: a files backup restored around its damaged segments.
//!
//! A v2 tree backup is one tar stream cut into sealed segments, every one but the last
//! holding exactly `segment_size` bytes of plaintext (FORMAT.md 3.3). So when a segment
//! fails authentication, which bytes of the stream are lost is known, and the segments
//! after it still open (each is sealed on its own; only the framing must hold). The
//! authenticated stream with its holes is turned back into a well-formed tar stream for
//! the ordinary unpack: an entry whose header was lost is left out (the next entry is
//! found again by its ustar header, at a 512-byte boundary), a file whose data has a hole
//! is unpacked with zeros there and removed before the tree is published, and a hard link
//! to a lost file is left out. What was lost is reported: the files by name, the stretches
//! whose entries' names were lost by their offsets in the stream.

use std::collections::{HashSet, VecDeque};
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use lifeboat_crypto::{CryptoError, ObjectHeader, ObjectKind, SegmentCipher};
use lifeboat_storage::ByteStream;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{RepoError, Result};
use crate::kind::BackupKind;
use crate::manifest::{Manifest, ObjectRecord};
use crate::progress::Progress;
use crate::repository::Repository;
use crate::tarscan::{self, BLOCK, Extensions};
use crate::tree::{RestoreOptions, Staging, unpack};

/// What a salvage restored and what it could not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SalvageReport {
    /// Where the tree was published.
    pub path: PathBuf,
    /// Regular files restored whole (every byte authenticated).
    pub files_restored: u64,
    /// Entries lost, by name.
    pub lost: Vec<LostEntry>,
    /// Segments that did not open, with the stretch of the tar stream each held.
    pub damaged: Vec<DamagedSegment>,
    /// Stretches of the tar stream where entries began whose headers were lost: their names
    /// are unknown.
    pub unnamed: Vec<Range<u64>>,
    /// Warnings of the unpack (owners not restored ...).
    pub warnings: Vec<String>,
}

impl SalvageReport {
    /// True when nothing was lost.
    pub fn is_complete(&self) -> bool {
        self.lost.is_empty() && self.damaged.is_empty() && self.unnamed.is_empty()
    }
}

/// An entry of the backup that was not restored.
#[derive(Debug, Clone, Serialize)]
pub struct LostEntry {
    /// Its path in the archive.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// A segment of the tree object that did not open.
#[derive(Debug, Clone, Serialize)]
pub struct DamagedSegment {
    /// The segment's index in the object.
    pub segment: u64,
    /// The bytes of the tar stream it held.
    pub range: Range<u64>,
    /// The failure (authentication, framing, truncation).
    pub reason: String,
}

/// A piece of the plaintext stream: authenticated bytes, or a stretch that was lost.
#[derive(Debug)]
enum Piece {
    Data(Bytes),
    Hole(u64),
}

impl Repository {
    /// Restores a files backup into `target` like [`Repository::restore_to_dir_with`], but
    /// around damaged segments: every file whose bytes all authenticate is restored, and the
    /// report names what was lost. Nothing half-written is left in the published tree.
    /// Fails (restoring nothing) when the object cannot be read at all: no such backup
    /// kind, storage unreachable, or a header that does not open.
    pub async fn restore_salvage(
        &self,
        manifest: &Manifest,
        target: &Path,
        options: &RestoreOptions,
        progress: &Progress,
    ) -> Result<SalvageReport> {
        if manifest.kind != BackupKind::Files {
            return Err(RepoError::Unsupported(format!(
                "backup {} is a {} backup; --salvage restores files backups",
                manifest.short_id(),
                manifest.kind
            )));
        }
        let record = super::pick_object(manifest, Some("tree"))?;
        let staging = Staging::prepare(target)?;
        let (pieces, damaged) = self.salvage_segments(record, progress).await?;
        let findings = Arc::new(Mutex::new(Findings::default()));
        let reader = SalvageTar::new(pieces, findings.clone());
        let dir = staging.dir.clone();
        let (options, guard) = (options.clone(), staging.guard());
        let warnings = tokio::task::spawn_blocking(move || unpack(reader, &dir, &options, guard))
            .await
            .map_err(|e| RepoError::Internal(e.to_string()))??;
        let findings = std::mem::take(&mut *findings.lock().unwrap_or_else(PoisonError::into_inner));
        let dir = staging.dir.clone();
        let lost = findings.lost.clone();
        tokio::task::spawn_blocking(move || remove_lost(&dir, &lost))
            .await
            .map_err(|e| RepoError::Internal(e.to_string()))??;
        let damaged = std::mem::take(&mut *damaged.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(SalvageReport {
            path: staging.publish()?,
            files_restored: findings.files_restored,
            lost: findings.lost,
            damaged,
            unnamed: findings.unnamed,
            warnings,
        })
    }

    /// Opens the object's header, then reads its segments on a task, sending what each
    /// holds: its plaintext, or a hole of its plaintext length when it does not open.
    async fn salvage_segments(
        &self,
        record: &ObjectRecord,
        progress: &Progress,
    ) -> Result<(mpsc::Receiver<Piece>, Arc<Mutex<Vec<DamagedSegment>>>)> {
        let fail = |e: CryptoError| RepoError::object(&record.key, &self.location(), e);
        let mut input = Frames { stream: self.storage.get(&record.key, None).await?, buf: BytesMut::new(), eof: false };
        let (header, used) = loop {
            if let Some(parsed) = ObjectHeader::parse(&input.buf).map_err(fail)? {
                break parsed;
            }
            if !input.fill(input.buf.len() + 1).await.map_err(fail)? {
                return Err(fail(CryptoError::BadHeader("object ends inside its header".into())));
            }
        };
        let expected = record.object_id_bytes().map_err(RepoError::Internal)?;
        if header.fixed.object_id != expected || header.fixed.kind != ObjectKind::Data {
            return Err(fail(CryptoError::BadHeader("not this backup's data object".into())));
        }
        let cipher = SegmentCipher::new(&header, &record.dek).map_err(fail)?;
        input.buf.advance(used);
        let (tx, rx) = mpsc::channel(4);
        let damaged = Arc::new(Mutex::new(Vec::new()));
        let reader =
            SegmentReader { input, cipher: Arc::new(cipher), plain_size: record.plain_size, damaged: damaged.clone() };
        tokio::spawn(reader.run(tx, progress.clone()));
        Ok((rx, damaged))
    }
}

/// The stored object as frames: bytes buffered from the storage stream.
struct Frames {
    stream: ByteStream,
    buf: BytesMut,
    eof: bool,
}

impl Frames {
    /// Reads until `n` bytes are buffered; false when the object ends first.
    async fn fill(&mut self, n: usize) -> std::result::Result<bool, CryptoError> {
        while self.buf.len() < n && !self.eof {
            match self.stream.next().await {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(e)) => return Err(CryptoError::Input(Arc::new(e))),
                None => self.eof = true,
            }
        }
        Ok(self.buf.len() >= n)
    }
}

/// Opens segments one after the other, turning each failure into a hole.
struct SegmentReader {
    input: Frames,
    cipher: Arc<SegmentCipher>,
    plain_size: u64,
    damaged: Arc<Mutex<Vec<DamagedSegment>>>,
}

impl SegmentReader {
    async fn run(mut self, tx: mpsc::Sender<Piece>, progress: Progress) {
        let segment = self.cipher.segment_size() as u64;
        let (mut index, mut offset) = (0u64, 0u64);
        loop {
            let rest = self.plain_size.saturating_sub(offset);
            let (piece, last) = match self.next_frame(index).await {
                Ok((frame, last)) => match open_segment(self.cipher.clone(), index, last, frame).await {
                    Ok(plain) => (Piece::Data(plain), last),
                    Err(e) => {
                        // Every segment but the last holds exactly `segment` bytes.
                        let len = if last { rest } else { segment.min(rest) };
                        self.damage(index, offset..offset + len, &e);
                        (Piece::Hole(len), last)
                    }
                },
                Err(e) => {
                    // The framing is lost: nothing after this point can be found again.
                    self.damage(index, offset..self.plain_size, &e);
                    (Piece::Hole(rest), true)
                }
            };
            let len = match &piece {
                Piece::Data(b) => b.len() as u64,
                Piece::Hole(n) => *n,
            };
            progress.add_bytes(len);
            offset += len;
            index += 1;
            if tx.send(piece).await.is_err() || last {
                return;
            }
        }
    }

    /// The next frame's sealed bytes, and whether the object ends after it.
    async fn next_frame(&mut self, index: u64) -> std::result::Result<(Bytes, bool), CryptoError> {
        if !self.input.fill(4).await? {
            return Err(CryptoError::Truncated { segments: index });
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.input.buf[..4]);
        let len = u32::from_le_bytes(len) as usize;
        self.cipher.check_sealed_len(index, len)?;
        if !self.input.fill(4 + len).await? {
            return Err(CryptoError::Truncated { segments: index });
        }
        self.input.buf.advance(4);
        let frame = self.input.buf.split_to(len).freeze();
        let last = !self.input.fill(1).await?;
        Ok((frame, last))
    }

    fn damage(&self, segment: u64, range: Range<u64>, e: &CryptoError) {
        tracing::warn!(segment, start = range.start, end = range.end, "salvage: {e}");
        let entry = DamagedSegment { segment, range, reason: e.to_string() };
        self.damaged.lock().unwrap_or_else(PoisonError::into_inner).push(entry);
    }
}

/// Opens one segment on a blocking thread (decryption and decompression are CPU-bound).
async fn open_segment(
    cipher: Arc<SegmentCipher>,
    index: u64,
    last: bool,
    frame: Bytes,
) -> std::result::Result<Bytes, CryptoError> {
    tokio::task::spawn_blocking(move || cipher.open(index, last, &frame))
        .await
        .unwrap_or_else(|e| Err(CryptoError::Worker(e.to_string())))
}

/// What the tar filter found, shared with the caller (the unpack owns the reader).
#[derive(Debug, Default)]
struct Findings {
    files_restored: u64,
    lost: Vec<LostEntry>,
    unnamed: Vec<Range<u64>>,
}

/// Where the filter is in the tar stream.
#[derive(Debug)]
enum State {
    /// At an entry's first header.
    Header,
    /// Inside an entry's data: bytes left (padding included), the regular file it is,
    /// whether a hole was in it, and whether it is passed on (a left-out entry is not).
    Data {
        left: u64,
        entry: Option<String>,
        damaged: bool,
        emit: bool,
    },
    /// After the end of the archive: the rest is read and dropped.
    Drain,
    Done,
}

/// The authenticated stream with its holes, read as a well-formed tar stream.
struct SalvageTar {
    pieces: mpsc::Receiver<Piece>,
    current: Option<Piece>,
    /// A header block read while looking for the next entry, to be used next.
    pushed_back: Option<Vec<u8>>,
    /// Offset in the stream of the next byte of input.
    pos: u64,
    out: VecDeque<u8>,
    state: State,
    /// Files restored whole so far (hard links to them are kept).
    whole: HashSet<String>,
    findings: Arc<Mutex<Findings>>,
}

/// What taking an exact number of bytes found.
enum Taken {
    Bytes(Vec<u8>),
    /// A hole begins before the bytes were all there (at the input's position now).
    Hole,
    Eof,
}

/// The most bytes of extension headers (PAX, long names) one entry may have.
const MAX_EXTENSIONS: u64 = 1 << 20;

impl SalvageTar {
    fn new(pieces: mpsc::Receiver<Piece>, findings: Arc<Mutex<Findings>>) -> Self {
        SalvageTar {
            pieces,
            current: None,
            pushed_back: None,
            pos: 0,
            out: VecDeque::new(),
            state: State::Header,
            whole: HashSet::new(),
            findings,
        }
    }

    fn findings(&self) -> std::sync::MutexGuard<'_, Findings> {
        self.findings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The piece at the input's position, if any is left.
    fn peek(&mut self) -> Option<&mut Piece> {
        loop {
            match &self.current {
                Some(Piece::Data(b)) if b.is_empty() => self.current = None,
                Some(Piece::Hole(0)) => self.current = None,
                Some(_) => break,
                None => self.current = Some(self.pieces.blocking_recv()?),
            }
        }
        self.current.as_mut()
    }

    /// Up to `max` bytes of data, or the length of the hole (up to `max`) at the position.
    fn take_some(&mut self, max: u64) -> Option<Piece> {
        let piece = match self.peek()? {
            Piece::Data(b) => Piece::Data(b.split_to(b.len().min(max as usize))),
            Piece::Hole(n) => {
                let taken = (*n).min(max);
                *n -= taken;
                Piece::Hole(taken)
            }
        };
        self.pos += match &piece {
            Piece::Data(b) => b.len() as u64,
            Piece::Hole(n) => *n,
        };
        Some(piece)
    }

    /// Exactly `n` bytes of data, unless a hole or the end comes first.
    fn take_exact(&mut self, n: u64) -> Taken {
        let mut got = Vec::new();
        while (got.len() as u64) < n {
            match self.peek() {
                None => return Taken::Eof,
                Some(Piece::Hole(_)) => return Taken::Hole,
                Some(Piece::Data(_)) => {
                    if let Some(Piece::Data(b)) = self.take_some(n - got.len() as u64) {
                        got.extend_from_slice(&b);
                    }
                }
            }
        }
        Taken::Bytes(got)
    }

    fn header_block(&mut self) -> Taken {
        match self.pushed_back.take() {
            Some(block) => Taken::Bytes(block),
            None => self.take_exact(BLOCK as u64),
        }
    }

    /// One step: the next entry's headers, some of its data, or the end.
    fn step(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Header => self.state = self.entry(),
            State::Data { left, entry, damaged, emit } => self.state = self.data(left, entry, damaged, emit),
            State::Drain => {
                self.state = if self.take_some(u64::MAX).is_some() { State::Drain } else { State::Done };
            }
            State::Done => {}
        }
    }

    /// Reads an entry's extension headers and header; emits them when all are intact.
    fn entry(&mut self) -> State {
        let start = self.pos;
        let mut group = Vec::new();
        let mut extensions = Extensions::default();
        loop {
            let block = match self.header_block() {
                Taken::Bytes(block) => block,
                Taken::Hole => return self.resync(start),
                Taken::Eof => return self.end(),
            };
            if tarscan::is_zero(&block) {
                return self.end();
            }
            if !tarscan::is_header(&block) {
                return self.resync(start);
            }
            let kind = tarscan::kind(&block);
            let size = if tarscan::is_extension(kind) {
                tarscan::size(&block)
            } else {
                extensions.size.or(tarscan::size(&block))
            };
            let Some(size) = size else { return self.resync(start) };
            if tarscan::is_extension(kind) {
                if group.len() as u64 + size > MAX_EXTENSIONS {
                    return self.resync(start);
                }
                let data = match self.take_exact(tarscan::padded(size)) {
                    Taken::Bytes(data) => data,
                    Taken::Hole => return self.resync(start),
                    Taken::Eof => return self.end(),
                };
                extensions.add(kind, &data[..size as usize]);
                group.extend_from_slice(&block);
                group.extend_from_slice(&data);
                continue;
            }
            let name = extensions.path.take().unwrap_or_else(|| tarscan::name(&block));
            if kind == b'1' {
                let link = extensions.link.take().unwrap_or_else(|| tarscan::link_name(&block));
                if !self.whole.contains(&normal(&link)) {
                    self.lose(&name, format!("a hard link to {link}, which was lost"));
                    return State::Data { left: tarscan::padded(size), entry: None, damaged: false, emit: false };
                }
            }
            self.out.extend(group);
            self.out.extend(block);
            let entry = tarscan::is_file(kind).then_some(name);
            return State::Data { left: tarscan::padded(size), entry, damaged: false, emit: true };
        }
    }

    /// Passes an entry's data on, zeros for the holes in it (the entry is then lost).
    fn data(&mut self, left: u64, entry: Option<String>, damaged: bool, emit: bool) -> State {
        if left == 0 {
            if let Some(name) = entry {
                if damaged {
                    self.lose(&name, "part of its data is in a damaged segment".into());
                } else {
                    self.findings().files_restored += 1;
                    self.whole.insert(normal(&name));
                }
            }
            return State::Header;
        }
        let (taken, hole) = match self.take_some(left.min(256 * 1024)) {
            Some(Piece::Data(b)) => {
                if emit {
                    self.out.extend(&b[..]);
                }
                (b.len() as u64, false)
            }
            // A hole, or the stream's end inside the entry: zeros keep the archive whole.
            Some(Piece::Hole(n)) => (n, true),
            None => (left, true),
        };
        if hole && emit {
            self.out.extend(std::iter::repeat_n(0u8, taken as usize));
        }
        State::Data { left: left - taken, entry, damaged: damaged || hole, emit }
    }

    /// Skips a lost stretch from `start` to the next intact ustar header at a block boundary.
    fn resync(&mut self, start: u64) -> State {
        loop {
            // Skip the hole, then to the next block boundary.
            while let Some(Piece::Hole(_)) = self.peek() {
                self.take_some(u64::MAX);
            }
            let misaligned = self.pos % BLOCK as u64;
            if misaligned != 0 {
                if self.take_some(BLOCK as u64 - misaligned).is_none() {
                    break;
                }
                continue;
            }
            let at = self.pos;
            match self.take_exact(BLOCK as u64) {
                Taken::Bytes(block) if tarscan::is_header(&block) => {
                    self.findings().unnamed.push(start..at);
                    self.pushed_back = Some(block);
                    return State::Header;
                }
                Taken::Bytes(_) | Taken::Hole => {}
                Taken::Eof => break,
            }
        }
        self.findings().unnamed.push(start..self.pos);
        self.end()
    }

    /// Ends the archive (two zero blocks), then drains the input.
    fn end(&mut self) -> State {
        self.out.extend([0u8; 2 * BLOCK]);
        State::Drain
    }

    fn lose(&mut self, name: &str, reason: String) {
        self.findings().lost.push(LostEntry { path: name.to_owned(), reason });
    }
}

impl Read for SalvageTar {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out.is_empty() && !matches!(self.state, State::Done) {
            self.step();
        }
        let n = buf.len().min(self.out.len());
        for (slot, byte) in buf.iter_mut().zip(self.out.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

/// An archive path as the unpack places it: without its root and `.` components.
fn normal(name: &str) -> String {
    relative(name).map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| name.to_owned())
}

fn relative(name: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Removes the lost files the unpack wrote (with zeros for their holes) from the staging
/// folder, so that nothing half-restored is published.
fn remove_lost(dir: &Path, lost: &[LostEntry]) -> Result<()> {
    for entry in lost {
        let Some(rel) = relative(&entry.path).filter(|r| !r.as_os_str().is_empty()) else { continue };
        let path = dir.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if !meta.is_dir() => std::fs::remove_file(&path)
                .map_err(|e| crate::error::local_io("cannot remove the lost file", &path, e))?,
            _ => {}
        }
    }
    Ok(())
}
