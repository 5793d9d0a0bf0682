//! Downloads: one `GetObject` streamed, or, for whole large objects, ranged parts fetched
//! in parallel and delivered in order.

use std::ops::Range;
use std::sync::Arc;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::ChecksumMode;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::client::Inner;
use super::errors::status_of;
use crate::{ByteStream, Op, StorageError};

/// Reads an object, whole or the byte `range` of it. Whole large objects are read in
/// parallel ranged parts ([`parallel_get`]); everything else as the one response's body.
pub(super) async fn get(inner: &Arc<Inner>, key: &str, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
    let full = inner.full_key(key)?;
    let mut req = inner.client().await.get_object().bucket(&inner.opts.bucket).key(&full);
    match &range {
        Some(r) if r.start >= r.end => {
            // An empty range: nothing to read, but the object must exist.
            return match inner.head_raw(key).await? {
                Some(_) => Ok(Box::pin(futures::stream::empty())),
                None => {
                    Err(StorageError::NotFound { op: Op::Get, location: inner.location.clone(), key: key.to_owned() })
                }
            };
        }
        Some(r) => req = req.range(format!("bytes={}-{}", r.start, r.end - 1)),
        None => req = req.checksum_mode(ChecksumMode::Enabled),
    }
    let out = match req.send().await {
        Ok(out) => out,
        Err(e) if range.is_some() && (e.code() == Some("InvalidRange") || status_of(&e) == Some(416)) => {
            return Ok(Box::pin(futures::stream::empty()));
        }
        Err(e) => return Err(inner.err(Op::Get, key, e)),
    };
    let total = out.content_length().unwrap_or(0).max(0) as u64;
    let part = inner.opts.part_size as u64;
    if range.is_none() && inner.opts.parallel > 1 && total > 2 * part {
        return Ok(parallel_get(inner.clone(), key, &full, out.body, total));
    }
    let (location, key) = (inner.location.clone(), key.to_owned());
    let body = out.body;
    let stream = futures::stream::try_unfold(Some(body), move |state| {
        let (location, key) = (location.clone(), key.clone());
        async move {
            let Some(mut body) = state else { return Ok(None) };
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk, Some(body)))),
                Ok(None) => Ok(None),
                Err(e) => Err(StorageError::Backend {
                    op: Op::Get,
                    location,
                    key,
                    message: format!("reading the object body failed: {}", DisplayErrorContext(&e)),
                    transient: true,
                }),
            }
        }
    });
    Ok(Box::pin(stream))
}

/// A large object read as the first part of the already open response followed by
/// ranged GETs of one part each, `parallel` in flight, delivered in order. Memory is at
/// most about `part_size * (parallel + 1)`. (Whole-object checksums only exist for single-part
/// objects, which are never this large, so nothing is lost against one GET.)
fn parallel_get(inner: Arc<Inner>, key: &str, full: &str, first: SdkBody, total: u64) -> ByteStream {
    let (part, parallel) = (inner.opts.part_size as u64, inner.opts.parallel);
    let (location, owned) = (inner.location.clone(), key.to_owned());
    let head_err = {
        let (location, key) = (location.clone(), owned.clone());
        move |e: String| StorageError::Backend {
            op: Op::Get,
            location: location.clone(),
            key: key.clone(),
            message: format!("reading the object body failed: {e}"),
            transient: true,
        }
    };
    // The first part streams from the open response, which is dropped after it.
    let first = futures::stream::try_unfold((first, 0u64), move |(mut body, read)| {
        let head_err = head_err.clone();
        async move {
            if read >= part {
                return Ok(None);
            }
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    let keep = (part - read).min(chunk.len() as u64) as usize;
                    Ok(Some((chunk.slice(..keep), (body, read + keep as u64))))
                }
                Ok(None) => Err(head_err(format!("the body ended after {read} of {total} bytes"))),
                Err(e) => Err(head_err(DisplayErrorContext(&e).to_string())),
            }
        }
    });
    let full = full.to_owned();
    let ranges: Vec<(u64, u64)> = (1..total.div_ceil(part)).map(|i| (i * part, ((i + 1) * part).min(total))).collect();
    let rest = futures::stream::iter(ranges)
        .map(move |(start, end)| {
            let (inner, full, key) = (inner.clone(), full.clone(), owned.clone());
            async move { fetch_range(&inner, &key, &full, start, end).await }
        })
        .buffered(parallel)
        .map_ok(|segments| futures::stream::iter(segments.into_iter().map(Ok)))
        .try_flatten();
    let _ = location;
    Box::pin(first.chain(rest))
}

/// Reads `start..end` of an object whole, retrying a failed body read a few times.
/// The part comes back as the segments it arrived in (no copy into one buffer).
async fn fetch_range(inner: &Inner, key: &str, full: &str, start: u64, end: u64) -> Result<Vec<Bytes>, StorageError> {
    let mut attempt = 1;
    loop {
        let sent = inner
            .client()
            .await
            .get_object()
            .bucket(&inner.opts.bucket)
            .key(full)
            .range(format!("bytes={start}-{}", end - 1))
            .send()
            .await
            .map_err(|e| inner.err(Op::Get, key, e))?;
        let err = match sent.body.collect().await {
            Ok(data) => {
                let segments: Vec<Bytes> = data.into_segments().collect();
                let len: u64 = segments.iter().map(|b| b.len() as u64).sum();
                if len == end - start {
                    return Ok(segments);
                }
                format!("range {start}-{end} returned {len} bytes (the object changed while being read?)")
            }
            Err(e) => DisplayErrorContext(&e).to_string(),
        };
        if attempt >= inner.opts.max_attempts.max(1) {
            return Err(inner.backend(Op::Get, key, &format!("reading the object body failed: {err}"), true));
        }
        attempt += 1;
    }
}
