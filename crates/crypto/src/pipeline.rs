//! The streaming hot path: plaintext source -> chunks -> (zstd, AES-256-GCM) on every core
//! -> framed segments in order; and the reverse. Memory stays bounded by
//! `parallelism x 2 x segment_size` whatever the size of the stream.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt};
use ring::digest;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::CryptoError;
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
    /// Segments compressed/sealed (or opened) at once; defaults to the number of cores.
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

/// Sizes and SHA-256 digests of an object and of its plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectDigests {
    /// Bytes of the stored object.
    pub size: u64,
    /// SHA-256 of the stored object.
    pub sha256: [u8; 32],
    /// Bytes of plaintext.
    pub plain_size: u64,
    /// SHA-256 of the plaintext.
    pub plain_sha256: [u8; 32],
    /// Number of segments.
    pub segments: u64,
}

/// A stream of bytes produced by a pipeline.
pub type PipelineStream = Pin<Box<dyn Stream<Item = Result<Bytes, CryptoError>> + Send + 'static>>;

/// A running pipeline: its output stream, and a handle that yields the digests once the
/// stream has been consumed to its end. Dropping the handle stops the pipeline.
pub struct Running {
    /// The output. Consume it to the end, then await [`Running::finish`].
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
    let cipher = Arc::new(SegmentCipher::new(&header.fixed, dek)?);
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
    let parallelism = options.parallelism.max(1);
    let hasher = Hasher::spawn();
    let head = Bytes::from(header.encode());
    hasher.stored(head.clone()).await?;
    tx.send(Ok(head)).await.map_err(|_| CryptoError::Cancelled)?;

    let mut inflight = FuturesOrdered::new();
    let mut pending = Some(read_chunk(&mut reader, segment_size).await?);
    let mut index = 0u64;
    loop {
        while inflight.len() < parallelism {
            let Some(chunk) = pending.take() else { break };
            // A full chunk may be followed by more: read ahead to learn whether it is the last.
            let next =
                if chunk.len() == segment_size { read_chunk(&mut reader, segment_size).await? } else { Bytes::new() };
            let last = next.is_empty();
            hasher.plain(chunk.clone()).await?;
            let (cipher, level, i) = (cipher.clone(), options.compression_level, index);
            inflight.push_back(tokio::task::spawn_blocking(move || cipher.seal(i, last, &chunk, level)));
            index += 1;
            if !last {
                pending = Some(next);
            }
        }
        let Some(joined) = inflight.next().await else { break };
        let frame = Bytes::from(joined.map_err(|e| CryptoError::Worker(e.to_string()))??);
        hasher.stored(frame.clone()).await?;
        tx.send(Ok(frame)).await.map_err(|_| CryptoError::Cancelled)?;
    }
    hasher.finish(index).await
}

/// Reads until `size` bytes or end of input; a short chunk means the input ended.
async fn read_chunk<R: AsyncRead + Unpin>(reader: &mut R, size: usize) -> Result<Bytes, CryptoError> {
    let mut buf = BytesMut::zeroed(size);
    let mut filled = 0;
    while filled < size {
        let n = reader.read(&mut buf[filled..]).await.map_err(|e| CryptoError::Source(Arc::new(e)))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}

/// Starts opening a data object streamed from storage. `expected_id` is the object id the
/// manifest names; `dek` its data key. The output stream yields plaintext in order; no
/// byte is yielded before the segment holding it has been authenticated.
pub fn open_data_stream<S, E>(input: S, expected_id: [u8; 16], dek: SecretKey, parallelism: usize) -> Running
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::channel(2);
    let task = tokio::spawn(async move {
        let result = run_open(input, expected_id, dek, parallelism.max(1), &tx).await;
        if let Err(e) = &result {
            let _ = tx.send(Err(e.clone())).await;
        }
        result
    });
    Running { stream: receiver_stream(rx), task: AbortOnDrop(task) }
}

/// The most bytes a header may take (1024 slots of the largest known kind, rounded up).
const MAX_HEADER: usize = 256 * 1024;

struct FrameReader<S> {
    input: S,
    buf: BytesMut,
    eof: bool,
}

impl<S, E> FrameReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    /// Pulls input until at least `n` bytes are buffered or the input ends.
    async fn fill(&mut self, n: usize) -> Result<bool, CryptoError> {
        while self.buf.len() < n && !self.eof {
            match self.input.next().await {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(e)) => return Err(CryptoError::Input(Arc::new(e))),
                None => self.eof = true,
            }
        }
        Ok(self.buf.len() >= n)
    }
}

async fn run_open<S, E>(
    input: S,
    expected_id: [u8; 16],
    dek: SecretKey,
    parallelism: usize,
    tx: &mpsc::Sender<Result<Bytes, CryptoError>>,
) -> Result<ObjectDigests, CryptoError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut reader = FrameReader { input, buf: BytesMut::new(), eof: false };
    let hasher = Hasher::spawn();
    let header = loop {
        if let Some((header, used)) = ObjectHeader::parse(&reader.buf)? {
            hasher.stored(reader.buf.split_to(used).freeze()).await?;
            break header;
        }
        if reader.buf.len() > MAX_HEADER {
            return Err(CryptoError::BadHeader("header larger than 256 KiB".into()));
        }
        let want = reader.buf.len() + 1;
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
    let cipher = Arc::new(SegmentCipher::new(&header.fixed, &dek)?);
    let mut inflight = FuturesOrdered::new();
    let (mut index, mut done) = (0u64, false);
    loop {
        while !done && inflight.len() < parallelism {
            if !reader.fill(4).await? {
                if reader.buf.is_empty() {
                    return Err(CryptoError::Truncated { segments: index });
                }
                return Err(CryptoError::SegmentFrame { index, reason: "object ends inside a length field".into() });
            }
            let len = u32::from_le_bytes(reader.buf[..4].try_into().expect("4 bytes")) as usize;
            cipher.check_sealed_len(index, len)?;
            if !reader.fill(4 + len).await? {
                return Err(CryptoError::Truncated { segments: index });
            }
            let frame = reader.buf.split_to(4 + len).freeze();
            hasher.stored(frame.clone()).await?;
            // The final segment is the one the object ends with.
            let last = !reader.fill(1).await?;
            let (c, i) = (cipher.clone(), index);
            inflight.push_back(tokio::task::spawn_blocking(move || c.open(i, last, &frame[4..])));
            index += 1;
            done = last;
        }
        let Some(joined) = inflight.next().await else { break };
        let chunk = joined.map_err(|e| CryptoError::Worker(e.to_string()))??;
        hasher.plain(chunk.clone()).await?;
        tx.send(Ok(chunk)).await.map_err(|_| CryptoError::Cancelled)?;
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

fn reseal_bytes(plaintext: &[u8], header: ObjectHeader, dek: &SecretKey, level: i32) -> Result<Vec<u8>, CryptoError> {
    let cipher = SegmentCipher::new(&header.fixed, dek)?;
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
    let cipher = SegmentCipher::new(&header.fixed, &dek)?;
    let mut plain = Zeroizing::new(Vec::new());
    let mut index = 0u64;
    loop {
        let Some(len) = object.get(pos..pos + 4) else {
            return Err(if pos == object.len() {
                CryptoError::Truncated { segments: index }
            } else {
                CryptoError::SegmentFrame { index, reason: "object ends inside a length field".into() }
            });
        };
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
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

/// SHA-256 and length of one byte sequence, computed in order on its own blocking thread,
/// so that hashing never runs on the async reactor.
struct DigestWorker {
    tx: mpsc::Sender<Bytes>,
    task: JoinHandle<(u64, [u8; 32])>,
}

impl DigestWorker {
    fn spawn() -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(8);
        let task = tokio::task::spawn_blocking(move || {
            let mut context = digest::Context::new(&digest::SHA256);
            let mut size = 0u64;
            while let Some(b) = rx.blocking_recv() {
                size += b.len() as u64;
                context.update(&b);
            }
            (size, context.finish().as_ref().try_into().expect("32-byte digest"))
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

/// SHA-256 of the plaintext and of the stored bytes. The two digests are independent, so
/// each gets its own thread: on a restore they are otherwise the slowest serial stage.
struct Hasher {
    plain: DigestWorker,
    stored: DigestWorker,
}

impl Hasher {
    fn spawn() -> Self {
        Self { plain: DigestWorker::spawn(), stored: DigestWorker::spawn() }
    }

    async fn plain(&self, b: Bytes) -> Result<(), CryptoError> {
        self.plain.add(b).await
    }

    async fn stored(&self, b: Bytes) -> Result<(), CryptoError> {
        self.stored.add(b).await
    }

    async fn finish(self, segments: u64) -> Result<ObjectDigests, CryptoError> {
        let (size, sha256) = self.stored.finish().await?;
        let (plain_size, plain_sha256) = self.plain.finish().await?;
        Ok(ObjectDigests { size, sha256, plain_size, plain_sha256, segments })
    }
}

/// Size and SHA-256 of a byte stream, hashed off the async reactor.
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
