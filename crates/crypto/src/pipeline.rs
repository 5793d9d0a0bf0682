//! The streaming hot path: plaintext source -> chunks -> (zstd, AES-256-GCM) on every core
//! -> framed segments in order; and the reverse. Memory stays bounded by
//! `parallelism x 4 x segment_size` (each of `2 x parallelism` segments in flight holds its
//! input and its output) whatever the size of the stream.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::digest::{SegmentHash, SegmentTree, hash_segment, tree_hashable};
use crate::envelope::{Audience, Keyring};
use crate::header::{Compression, FixedHeader, ObjectHeader, ObjectKind, parse_complete_header};
use crate::keys::{SecretKey, random_bytes};
use crate::segment::SegmentCipher;

/// How to encode objects.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Plaintext bytes per segment.
    pub segment_size: u32,
    /// zstd level (1..=22); 0 stores segments uncompressed.
    pub compression_level: i32,
    /// Cores to compress and seal (or open) on; defaults to all of them. Twice this many
    /// segments are in flight at once.
    pub parallelism: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            segment_size: crate::header::DEFAULT_SEGMENT,
            compression_level: 3,
            parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

impl PipelineOptions {
    fn compression(&self) -> Compression {
        if self.compression_level == 0 { Compression::None } else { Compression::Zstd }
    }
}

/// Sizes and BLAKE3 digests of an object and of its plaintext.
///
/// BLAKE3 rather than SHA-256: both digests are computed on every backup and restore, and
/// at SHA-256's ~1 GB/s (even with SHA-NI) they cost more CPU than AES-GCM and a good
/// share of zstd; BLAKE3, a 256-bit cryptographic hash too, runs at several GB/s on one core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDigests {
    /// Bytes of the stored object.
    pub size: u64,
    /// BLAKE3 of the stored object: always computed when sealing; when opening, only if
    /// [`OpenOptions::stored_digest`] asked for it.
    pub blake3: Option<[u8; 32]>,
    /// Bytes of plaintext.
    pub plain_size: u64,
    /// BLAKE3 of the plaintext.
    pub plain_blake3: [u8; 32],
    /// Number of segments.
    pub segments: u64,
}

/// A stream of bytes produced by a pipeline.
pub type PipelineStream = Pin<Box<dyn Stream<Item = Result<Bytes, CryptoError>> + Send + 'static>>;

/// A running pipeline: its output stream, and a handle that yields the digests once the
/// stream has been consumed to its end. Dropping the handle stops the pipeline.
pub struct Running {
    /// The output. Consume it to the end, then await [`Completion::finish`] (the handle
    /// [`Running::into_parts`] returns).
    pub stream: PipelineStream,
    task: AbortOnDrop<Result<ObjectDigests, CryptoError>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Running { .. }")
    }
}

impl Running {
    /// Splits into the stream and the completion handle.
    pub fn into_parts(self) -> (PipelineStream, Completion) {
        (self.stream, Completion(self.task))
    }
}

/// Resolves to the digests of a finished pipeline, or the error that stopped it.
pub struct Completion(AbortOnDrop<Result<ObjectDigests, CryptoError>>);

impl Completion {
    /// Waits for the pipeline to finish.
    pub async fn finish(mut self) -> Result<ObjectDigests, CryptoError> {
        match (&mut self.0.0).await {
            Ok(result) => result,
            Err(e) => Err(CryptoError::Worker(e.to_string())),
        }
    }
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts sealing `reader` into a data object with a fresh data key. Returns the running
/// pipeline together with the object id and data key (to be recorded in a manifest).
pub fn seal_data_stream<R>(reader: R, options: PipelineOptions) -> Result<(Running, [u8; 16], SecretKey), CryptoError>
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let object_id = random_bytes::<16>()?;
    let dek = SecretKey::generate()?;
    let fixed = FixedHeader::new(ObjectKind::Data, options.compression(), options.segment_size, object_id, &dek)?;
    let header = ObjectHeader { fixed, slots: Vec::new() };
    let running = seal_stream(reader, header, &dek, options)?;
    Ok((running, object_id, dek))
}

/// Starts sealing `reader` as an object with the given header, keyed by `dek`.
pub fn seal_stream<R>(
    reader: R,
    header: ObjectHeader,
    dek: &SecretKey,
    options: PipelineOptions,
) -> Result<Running, CryptoError>
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let cipher = Arc::new(SegmentCipher::new(&header, dek)?);
    let (tx, rx) = mpsc::channel(2);
    let task = tokio::spawn(async move {
        let result = run_seal(reader, header, cipher, options, &tx).await;
        if let Err(e) = &result {
            let _ = tx.send(Err(e.clone())).await;
        }
        result
    });
    Ok(Running { stream: receiver_stream(rx), task: AbortOnDrop(task) })
}

async fn run_seal<R: AsyncRead + Unpin>(
    mut reader: R,
    header: ObjectHeader,
    cipher: Arc<SegmentCipher>,
    options: PipelineOptions,
    tx: &mpsc::Sender<Result<Bytes, CryptoError>>,
) -> Result<ObjectDigests, CryptoError> {
    let segment_size = cipher.segment_size();
    let depth = in_flight(options.parallelism);
    let mut hasher = Hasher::spawn(segment_size, true);
    let per_segment = hasher.per_segment();
    let head = Bytes::from(header.encode());
    hasher.stored(head.clone()).await?;
    tx.send(Ok(head)).await.map_err(|_| CryptoError::Cancelled)?;

    let mut inflight = FuturesOrdered::new();
    let mut pending = Some(read_chunk(&mut reader, segment_size).await?);
    let mut index = 0u64;
    loop {
        while inflight.len() < depth {
            let Some(chunk) = pending.take() else { break };
            // A full chunk may be followed by more: read ahead to learn whether it is the last.
            let next =
                if chunk.len() == segment_size { read_chunk(&mut reader, segment_size).await? } else { Bytes::new() };
            let last = next.is_empty();
            let (cipher, level, i) = (cipher.clone(), options.compression_level, index);
            inflight.push_back(tokio::task::spawn_blocking(move || {
                let frame = cipher.seal(i, last, &chunk, level)?;
                let hash = per_segment.then(|| hash_segment(i, last, segment_size, &chunk));
                Ok::<_, CryptoError>(Done { bytes: Bytes::from(frame), plain: chunk, hash, last })
            }));
            index += 1;
            if !last {
                pending = Some(next);
            }
        }
        let Some(joined) = inflight.next().await else { break };
        let done = joined.map_err(|e| CryptoError::Worker(e.to_string()))??;
        hasher.plain(&done.plain, done.hash, done.last).await?;
        hasher.stored(done.bytes.clone()).await?;
        tx.send(Ok(done.bytes)).await.map_err(|_| CryptoError::Cancelled)?;
    }
    hasher.finish(index).await
}

/// Segments handed to workers at once: twice the workers, so that a core that finishes a
/// fast (say, incompressible) segment finds the next one waiting instead of idling until
/// a slower segment ahead of it in stream order is done.
fn in_flight(parallelism: usize) -> usize {
    parallelism.max(1) * 2
}

/// A segment a worker finished: its output bytes, its plaintext and, when segments are
/// hashed where they are processed, the plaintext's hash.
struct Done {
    bytes: Bytes,
    plain: Bytes,
    hash: Option<SegmentHash>,
    last: bool,
}

/// Reads until `size` bytes or end of input; a short chunk means the input ended.
async fn read_chunk<R: AsyncRead + Unpin>(reader: &mut R, size: usize) -> Result<Bytes, CryptoError> {
    // Reads into spare capacity: no zero-filling of a buffer about to be overwritten.
    let mut buf = BytesMut::with_capacity(size);
    while buf.len() < size {
        let want = size - buf.len();
        let mut rest = (&mut buf).limit(want);
        let n = reader.read_buf(&mut rest).await.map_err(|e| CryptoError::Source(Arc::new(e)))?;
        if n == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}

/// How to open a data object.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Cores to open on; defaults to all of them (twice this many segments in flight).
    pub parallelism: usize,
    /// Also hash the stored bytes. Opening authenticates every stored byte anyway (AEAD
    /// tags over header and segments, the key commitment, the segment counter), so a
    /// restore can skip this; a verify that reports stored digests wants it.
    pub stored_digest: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self { parallelism: PipelineOptions::default().parallelism, stored_digest: true }
    }
}

/// Starts opening a data object streamed from storage. `expected_id` is the object id the
/// manifest names; `dek` its data key. The output stream yields plaintext in order; no
/// byte is yielded before the segment holding it has been authenticated. Computes both
/// digests; see [`open_data_stream_with`] to skip the stored one.
pub fn open_data_stream<S, E>(input: S, expected_id: [u8; 16], dek: SecretKey, parallelism: usize) -> Running
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    open_data_stream_with(input, expected_id, dek, OpenOptions { parallelism, stored_digest: true })
}

/// [`open_data_stream`] with options.
pub fn open_data_stream_with<S, E>(input: S, expected_id: [u8; 16], dek: SecretKey, options: OpenOptions) -> Running
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::channel(2);
    let task = tokio::spawn(async move {
        let result = run_open(input, expected_id, dek, options, &tx).await;
        if let Err(e) = &result {
            let _ = tx.send(Err(e.clone())).await;
        }
        result
    });
    Running { stream: receiver_stream(rx), task: AbortOnDrop(task) }
}

/// The most bytes a header may take (1024 slots of the largest known kind, rounded up).
const MAX_HEADER: usize = 256 * 1024;

/// Cuts the input into header and frames. Input chunks are queued as they arrive and a
/// frame that lies within one chunk is a slice of it; only frames that straddle chunks are
/// copied.
struct FrameReader<S> {
    input: S,
    chunks: VecDeque<Bytes>,
    buffered: usize,
    eof: bool,
}

impl<S, E> FrameReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    fn new(input: S) -> Self {
        Self { input, chunks: VecDeque::new(), buffered: 0, eof: false }
    }

    /// Pulls input until at least `n` bytes are buffered or the input ends.
    async fn fill(&mut self, n: usize) -> Result<bool, CryptoError> {
        while self.buffered < n && !self.eof {
            match self.input.next().await {
                Some(Ok(bytes)) if bytes.is_empty() => {}
                Some(Ok(bytes)) => {
                    self.buffered += bytes.len();
                    self.chunks.push_back(bytes);
                }
                Some(Err(e)) => return Err(CryptoError::Input(Arc::new(e))),
                None => self.eof = true,
            }
        }
        Ok(self.buffered >= n)
    }

    /// The first `n` buffered bytes (`n <= buffered`) as one slice, joining chunks only
    /// when they span more than one.
    fn front(&mut self, n: usize) -> &[u8] {
        if self.chunks.front().map_or(0, Bytes::len) < n {
            let mut joined = BytesMut::with_capacity(n);
            while joined.len() < n {
                let Some(mut chunk) = self.chunks.pop_front() else { break };
                let need = n - joined.len();
                if chunk.len() > need {
                    joined.extend_from_slice(&chunk.split_to(need));
                    self.chunks.push_front(chunk);
                } else {
                    joined.extend_from_slice(&chunk);
                }
            }
            self.chunks.push_front(joined.freeze());
        }
        self.chunks.front().map_or(&[], |c| &c[..n.min(c.len())])
    }

    /// Removes and returns the first `n` buffered bytes (`n <= buffered`).
    fn take(&mut self, n: usize) -> Bytes {
        self.front(n);
        let Some(first) = self.chunks.front_mut() else { return Bytes::new() };
        let taken = first.split_to(n.min(first.len()));
        if first.is_empty() {
            self.chunks.pop_front();
        }
        self.buffered -= taken.len();
        taken
    }
}

async fn run_open<S, E>(
    input: S,
    expected_id: [u8; 16],
    dek: SecretKey,
    options: OpenOptions,
    tx: &mpsc::Sender<Result<Bytes, CryptoError>>,
) -> Result<ObjectDigests, CryptoError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut reader = FrameReader::new(input);
    let (header, head) = loop {
        let buffered = reader.buffered;
        if let Some((header, used)) = ObjectHeader::parse(reader.front(buffered))? {
            break (header, reader.take(used));
        }
        if reader.buffered > MAX_HEADER {
            return Err(CryptoError::BadHeader("header larger than 256 KiB".into()));
        }
        let want = reader.buffered + 1;
        if !reader.fill(want).await? {
            return Err(CryptoError::BadHeader("object ends inside its header".into()));
        }
    };
    if header.fixed.object_id != expected_id {
        return Err(CryptoError::ObjectIdMismatch {
            found: hex::encode(header.fixed.object_id),
            expected: hex::encode(expected_id),
        });
    }
    // FORMAT.md 3.2: a data object's key lives in its manifest, never in slots.
    if header.fixed.kind != ObjectKind::Data {
        return Err(CryptoError::BadHeader("the object is a manifest, not a data object".into()));
    }
    if !header.slots.is_empty() {
        return Err(CryptoError::BadHeader(format!(
            "a data object has no key slots, this one has {}",
            header.slots.len()
        )));
    }
    let cipher = Arc::new(SegmentCipher::new(&header, &dek)?);
    let segment_size = cipher.segment_size();
    let mut hasher = Hasher::spawn(segment_size, options.stored_digest);
    let per_segment = hasher.per_segment();
    hasher.stored(head).await?;
    let depth = in_flight(options.parallelism);
    let mut inflight = FuturesOrdered::new();
    let (mut index, mut done) = (0u64, false);
    loop {
        while !done && inflight.len() < depth {
            if !reader.fill(4).await? {
                if reader.buffered == 0 {
                    return Err(CryptoError::Truncated { segments: index });
                }
                return Err(CryptoError::SegmentFrame { index, reason: "object ends inside a length field".into() });
            }
            let Ok(len) = <[u8; 4]>::try_from(reader.front(4)) else {
                return Err(CryptoError::SegmentFrame { index, reason: "object ends inside a length field".into() });
            };
            let len = u32::from_le_bytes(len) as usize;
            cipher.check_sealed_len(index, len)?;
            if !reader.fill(4 + len).await? {
                return Err(CryptoError::Truncated { segments: index });
            }
            let frame = reader.take(4 + len);
            hasher.stored(frame.clone()).await?;
            // The final segment is the one the object ends with.
            let last = !reader.fill(1).await?;
            let (c, i) = (cipher.clone(), index);
            inflight.push_back(tokio::task::spawn_blocking(move || {
                let plain = c.open(i, last, frame.get(4..).unwrap_or_default())?;
                let hash = per_segment.then(|| hash_segment(i, last, segment_size, &plain));
                Ok::<_, CryptoError>(Done { bytes: plain.clone(), plain, hash, last })
            }));
            index += 1;
            done = last;
        }
        let Some(joined) = inflight.next().await else { break };
        let done = joined.map_err(|e| CryptoError::Worker(e.to_string()))??;
        hasher.plain(&done.plain, done.hash, done.last).await?;
        tx.send(Ok(done.bytes)).await.map_err(|_| CryptoError::Cancelled)?;
    }
    hasher.finish(index).await
}

/// Seals a small plaintext held in memory (a manifest) into a complete object whose data
/// key is wrapped for `audience`. Runs synchronously: call it from a blocking context for
/// large inputs.
pub fn seal_bytes(
    plaintext: &[u8],
    kind: ObjectKind,
    object_id: [u8; 16],
    audience: Audience<'_>,
    options: PipelineOptions,
) -> Result<Vec<u8>, CryptoError> {
    let dek = SecretKey::generate()?;
    let fixed = FixedHeader::new(kind, options.compression(), options.segment_size, object_id, &dek)?;
    let slots = audience.slots(&fixed, &dek)?;
    let header = ObjectHeader { fixed, slots };
    reseal_bytes(plaintext, header, &dek, options.compression_level)
}

/// [`seal_bytes`] with a writer's signature slot (type 3, docs/FORMAT.md 3.2) after the key
/// slots: Ed25519 over the fixed header and the plaintext, so that a reader who opens the
/// object through a recipient slot can tell who wrote it (anyone can wrap a key for a
/// recipient; only a registered writer can sign).
pub fn seal_bytes_signed(
    plaintext: &[u8],
    kind: ObjectKind,
    object_id: [u8; 16],
    audience: Audience<'_>,
    options: PipelineOptions,
    signer: &crate::signing::WriterKey,
) -> Result<Vec<u8>, CryptoError> {
    let dek = SecretKey::generate()?;
    let fixed = FixedHeader::new(kind, options.compression(), options.segment_size, object_id, &dek)?;
    let mut slots = audience.slots(&fixed, &dek)?;
    slots.push(crate::signing::signature_slot(&fixed, plaintext, signer));
    reseal_bytes(plaintext, ObjectHeader { fixed, slots }, &dek, options.compression_level)
}

fn reseal_bytes(plaintext: &[u8], header: ObjectHeader, dek: &SecretKey, level: i32) -> Result<Vec<u8>, CryptoError> {
    let cipher = SegmentCipher::new(&header, dek)?;
    let mut out = header.encode();
    let size = cipher.segment_size();
    let count = plaintext.len().div_ceil(size).max(1);
    for i in 0..count {
        let chunk = &plaintext[(i * size).min(plaintext.len())..((i + 1) * size).min(plaintext.len())];
        out.extend_from_slice(&cipher.seal(i as u64, i + 1 == count, chunk, level)?);
    }
    Ok(out)
}

/// Opens a complete object held in memory with a keyring, returning its header and its
/// plaintext (at most `max_plain` bytes, so a hostile object cannot exhaust memory).
pub fn open_bytes(
    object: &[u8],
    keyring: &Keyring,
    max_plain: usize,
) -> Result<(ObjectHeader, Zeroizing<Vec<u8>>), CryptoError> {
    let (header, mut pos) = parse_complete_header(object)?;
    let dek = keyring.open(&header)?;
    let cipher = SegmentCipher::new(&header, &dek)?;
    let mut plain = Zeroizing::new(Vec::new());
    let mut index = 0u64;
    loop {
        let Some(Ok(len)) = object.get(pos..pos + 4).map(<[u8; 4]>::try_from) else {
            return Err(if pos == object.len() {
                CryptoError::Truncated { segments: index }
            } else {
                CryptoError::SegmentFrame { index, reason: "object ends inside a length field".into() }
            });
        };
        let len = u32::from_le_bytes(len) as usize;
        cipher.check_sealed_len(index, len)?;
        let Some(sealed) = object.get(pos + 4..pos + 4 + len) else {
            return Err(CryptoError::Truncated { segments: index });
        };
        pos += 4 + len;
        let last = pos == object.len();
        let chunk = cipher.open(index, last, sealed)?;
        if plain.len() + chunk.len() > max_plain {
            return Err(CryptoError::SegmentFrame { index, reason: format!("plaintext exceeds {max_plain} bytes") });
        }
        plain.extend_from_slice(&chunk);
        index += 1;
        if last {
            return Ok((header, plain));
        }
    }
}

/// Rewrites the key slots of an object held in memory for a new audience, with a fresh data
/// key (used when rotating keys or copying manifests between repositories).
pub fn reseal_for(
    object: &[u8],
    keyring: &Keyring,
    audience: Audience<'_>,
    options: PipelineOptions,
    max_plain: usize,
) -> Result<Vec<u8>, CryptoError> {
    let (header, plain) = open_bytes(object, keyring, max_plain)?;
    seal_bytes(&plain, header.fixed.kind, header.fixed.object_id, audience, options)
}

fn receiver_stream(rx: mpsc::Receiver<Result<Bytes, CryptoError>>) -> PipelineStream {
    Box::pin(ReceiverStream(rx))
}

struct ReceiverStream(mpsc::Receiver<Result<Bytes, CryptoError>>);

impl Stream for ReceiverStream {
    type Item = Result<Bytes, CryptoError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// BLAKE3 and length of one byte sequence, computed in order on its own blocking thread,
/// so that hashing never runs on the async reactor.
struct DigestWorker {
    tx: mpsc::Sender<Bytes>,
    task: JoinHandle<(u64, [u8; 32])>,
}

impl DigestWorker {
    fn spawn() -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(8);
        let task = tokio::task::spawn_blocking(move || {
            let mut hasher = blake3::Hasher::new();
            let mut size = 0u64;
            while let Some(b) = rx.blocking_recv() {
                size += b.len() as u64;
                hasher.update(&b);
            }
            (size, *hasher.finalize().as_bytes())
        });
        Self { tx, task }
    }

    async fn add(&self, b: Bytes) -> Result<(), CryptoError> {
        self.tx.send(b).await.map_err(|_| CryptoError::Worker("hasher stopped".into()))
    }

    async fn finish(self) -> Result<(u64, [u8; 32]), CryptoError> {
        drop(self.tx);
        self.task.await.map_err(|e| CryptoError::Worker(e.to_string()))
    }
}

/// BLAKE3 of the plaintext and of the stored bytes. The stored bytes are hashed in order
/// on a thread of their own; the plaintext, where the segment size allows, segment by
/// segment by the workers (see `digest`), else on a second thread.
struct Hasher {
    /// `None` when the stored bytes are only counted.
    stored: Option<DigestWorker>,
    size: u64,
    plain: PlainDigest,
    plain_size: u64,
}

enum PlainDigest {
    Segments(SegmentTree),
    Stream(DigestWorker),
}

impl Hasher {
    fn spawn(segment_size: usize, stored_digest: bool) -> Self {
        let plain = if tree_hashable(segment_size) {
            PlainDigest::Segments(SegmentTree::default())
        } else {
            PlainDigest::Stream(DigestWorker::spawn())
        };
        Self { stored: stored_digest.then(DigestWorker::spawn), size: 0, plain, plain_size: 0 }
    }

    /// Whether workers should hash each segment's plaintext.
    fn per_segment(&self) -> bool {
        matches!(self.plain, PlainDigest::Segments(_))
    }

    /// Takes the next segment of plaintext, in stream order, with the hash a worker
    /// computed for it when [`Hasher::per_segment`].
    async fn plain(&mut self, chunk: &Bytes, hash: Option<SegmentHash>, last: bool) -> Result<(), CryptoError> {
        self.plain_size += chunk.len() as u64;
        match (&mut self.plain, hash) {
            (PlainDigest::Segments(tree), Some(hash)) => {
                tree.push(hash, last).map_err(|e| CryptoError::Worker(format!("plaintext digest: {e}")))
            }
            (PlainDigest::Stream(worker), None) => worker.add(chunk.clone()).await,
            _ => Err(CryptoError::Worker("plaintext digest: segment hash missing or unexpected".into())),
        }
    }

    async fn stored(&mut self, b: Bytes) -> Result<(), CryptoError> {
        self.size += b.len() as u64;
        match &self.stored {
            Some(worker) => worker.add(b).await,
            None => Ok(()),
        }
    }

    async fn finish(self, segments: u64) -> Result<ObjectDigests, CryptoError> {
        let blake3 = match self.stored {
            Some(worker) => Some(worker.finish().await?.1),
            None => None,
        };
        let plain_blake3 = match self.plain {
            PlainDigest::Segments(tree) => {
                tree.finish().ok_or_else(|| CryptoError::Worker("plaintext digest: stream ended early".into()))?
            }
            PlainDigest::Stream(worker) => worker.finish().await?.1,
        };
        Ok(ObjectDigests { size: self.size, blake3, plain_size: self.plain_size, plain_blake3, segments })
    }
}

/// Size and BLAKE3 of a byte stream, hashed off the async reactor.
pub async fn digest_stream<S, E>(mut input: S) -> Result<(u64, [u8; 32]), CryptoError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let hasher = DigestWorker::spawn();
    while let Some(chunk) = input.next().await {
        hasher.add(chunk.map_err(|e| CryptoError::Input(Arc::new(e)))?).await?;
    }
    hasher.finish().await
}
