//! Uploads: one `PutObject` for small bodies, a bounded-memory parallel multipart upload
//! for large ones, aborted on any failure so that no partial object is published.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream as SdkBody, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockMode};
use bytes::Bytes;
use tokio::task::JoinSet;

use super::client::Inner;
use super::errors::{map_sdk_error, status_of};
use super::parts::PartReader;
use crate::{ByteStream, Op, PutOutcome, Retention, RetentionMode, StorageError};

/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: i32 = 10_000;

impl Inner {
    /// One `PutObject` of `data` (conditional with `if_none_match`), CRC32C-checked.
    pub(super) async fn put_object(
        &self,
        op_key: &str,
        full: &str,
        data: Bytes,
        retention: Option<&Retention>,
        if_none_match: bool,
    ) -> Result<PutOutcome, StorageError> {
        let len = data.len() as i64;
        let mut req = self
            .client()
            .await
            .put_object()
            .bucket(&self.opts.bucket)
            .key(full)
            .content_length(len)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(SdkBody::from(data));
        if let Some(r) = retention {
            req = req.object_lock_mode(lock_mode(r.mode)).object_lock_retain_until_date(DateTime::from(r.until));
        }
        if if_none_match {
            req = req.if_none_match("*");
        }
        match req.send().await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if if_none_match && status_of(&e) == Some(412) => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(self.err(Op::Put, op_key, e)),
        }
    }

    /// Uploads a body of any size under `key`, with an object-lock retention when given.
    pub(super) async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        retention: Option<&Retention>,
    ) -> Result<(), StorageError> {
        let full = self.full_key(key)?;
        let mut part_size = self.opts.part_size;
        if let Some(hint) = size_hint {
            // Keep within S3's 10 000 parts when the size is known up front.
            let needed = hint.div_ceil((MAX_PARTS - 1) as u64) as usize;
            part_size = part_size.max(needed);
        }
        let mut reader = PartReader::new(body, part_size);
        let (first, eof) = reader.next_part().await?;
        if eof {
            self.put_object(key, &full, first, retention, false).await?;
            return Ok(());
        }
        self.multipart(key, &full, first, reader, retention).await
    }

    async fn multipart(
        &self,
        key: &str,
        full: &str,
        first: Bytes,
        mut reader: PartReader,
        retention: Option<&Retention>,
    ) -> Result<(), StorageError> {
        let client = self.client().await.clone();
        let mut create = client
            .create_multipart_upload()
            .bucket(&self.opts.bucket)
            .key(full)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C);
        if let Some(r) = retention {
            create = create.object_lock_mode(lock_mode(r.mode)).object_lock_retain_until_date(DateTime::from(r.until));
        }
        let created = create.send().await.map_err(|e| self.err(Op::Put, key, e))?;
        let Some(upload_id) = created.upload_id().map(str::to_owned) else {
            return Err(self.backend(
                Op::Put,
                key,
                "the server started a multipart upload without an upload id",
                false,
            ));
        };
        let mut guard = AbortGuard {
            client: client.clone(),
            bucket: self.opts.bucket.clone(),
            key: full.to_owned(),
            upload_id: upload_id.clone(),
            armed: true,
        };
        let result = self.upload_parts(key, full, &client, &upload_id, first, &mut reader).await;
        let result = match result {
            Ok((parts, total)) => {
                let count = parts.len();
                let completed = client
                    .complete_multipart_upload()
                    .bucket(&self.opts.bucket)
                    .key(full)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await;
                match completed {
                    Ok(_) => Ok(()),
                    // A 200 whose body is no error document but does not parse either
                    // (moto answers `CompleteMultipartUploadResponse`): trust it only if
                    // the object is now there with our size and our part count.
                    Err(e) if status_of(&e) == Some(200) && e.code().is_none() => match self.head_full(full).await {
                        Ok(Some(h))
                            if h.content_length() == Some(total as i64)
                                && h.e_tag().is_some_and(|t| t.trim_matches('"').ends_with(&format!("-{count}"))) =>
                        {
                            Ok(())
                        }
                        _ => Err(self.err(Op::Put, key, e)),
                    },
                    Err(e) => Err(self.err(Op::Put, key, e)),
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                guard.armed = false;
                if let Some(r) = retention {
                    self.ensure_retention(key, full, r).await?;
                }
                Ok(())
            }
            Err(e) => {
                // Abort now (not in the background) so that nothing is left once we return.
                guard.armed = false;
                if let Err(abort) = guard.abort().await {
                    tracing::warn!(location = %self.location, key, error = %DisplayErrorContext(&abort),
                        "could not abort the failed multipart upload; a bucket lifecycle rule should clean it up");
                }
                Err(e)
            }
        }
    }

    /// Some servers (moto) drop the object-lock headers of `CreateMultipartUpload`: set
    /// the retention explicitly when the completed object does not carry it.
    async fn ensure_retention(&self, key: &str, full: &str, r: &Retention) -> Result<(), StorageError> {
        let has = self.head_full(full).await?.is_some_and(|h| h.object_lock_retain_until_date().is_some());
        if has {
            return Ok(());
        }
        self.set_retention(key, full, r).await
    }

    /// `PutObjectRetention` of the object under the full key `full` (storage key `key`).
    pub(super) async fn set_retention(&self, key: &str, full: &str, r: &Retention) -> Result<(), StorageError> {
        let retention = aws_sdk_s3::types::ObjectLockRetention::builder()
            .mode(match r.mode {
                RetentionMode::Compliance => aws_sdk_s3::types::ObjectLockRetentionMode::Compliance,
                RetentionMode::Governance => aws_sdk_s3::types::ObjectLockRetentionMode::Governance,
            })
            .retain_until_date(DateTime::from(r.until))
            .build();
        self.client()
            .await
            .put_object_retention()
            .bucket(&self.opts.bucket)
            .key(full)
            .retention(retention)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(Op::Put, key, e))
    }

    async fn upload_parts(
        &self,
        key: &str,
        full: &str,
        client: &Client,
        upload_id: &str,
        first: Bytes,
        reader: &mut PartReader,
    ) -> Result<(Vec<CompletedPart>, u64), StorageError> {
        let mut total = 0u64;
        let mut tasks: JoinSet<Result<CompletedPart, StorageError>> = JoinSet::new();
        let mut done = Vec::new();
        let mut next = Some(first);
        let mut number: i32 = 0;
        while let Some(data) = next.take() {
            while tasks.len() >= self.opts.parallel {
                done.push(join_part(tasks.join_next().await)?);
            }
            number += 1;
            total += data.len() as u64;
            if number > MAX_PARTS {
                return Err(self.backend(
                    Op::Put,
                    key,
                    "more than 10000 parts: raise part_size in the URL or give a size hint",
                    false,
                ));
            }
            let req = client
                .upload_part()
                .bucket(&self.opts.bucket)
                .key(full)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(data.len() as i64)
                .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                .body(SdkBody::from(data));
            let (location, bucket, op_key) = (self.location.clone(), self.opts.bucket.clone(), key.to_owned());
            tasks.spawn(async move {
                let out = req.send().await.map_err(|e| map_sdk_error(&location, &bucket, Op::Put, &op_key, e))?;
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_owned))
                    .build())
            });
            // Finished parts are collected while the next one is read.
            while let Some(joined) = tasks.try_join_next() {
                done.push(join_part(Some(joined))?);
            }
            if !reader.eof {
                let (data, _) = reader.next_part().await?;
                if !data.is_empty() {
                    next = Some(data);
                }
            }
        }
        while let Some(joined) = tasks.join_next().await {
            done.push(join_part(Some(joined))?);
        }
        done.sort_by_key(|p| p.part_number());
        Ok((done, total))
    }
}

/// Collects one finished part upload.
fn join_part(
    joined: Option<Result<Result<CompletedPart, StorageError>, tokio::task::JoinError>>,
) -> Result<CompletedPart, StorageError> {
    match joined {
        Some(Ok(part)) => part,
        Some(Err(join)) => {
            Err(StorageError::Source { message: format!("part upload task failed: {join}"), source: None })
        }
        None => Err(StorageError::Source { message: "part upload task vanished".into(), source: None }),
    }
}

fn lock_mode(mode: RetentionMode) -> ObjectLockMode {
    match mode {
        RetentionMode::Compliance => ObjectLockMode::Compliance,
        RetentionMode::Governance => ObjectLockMode::Governance,
    }
}

/// Aborts a multipart upload that was neither completed nor aborted, e.g. because the
/// future driving it was dropped.
struct AbortGuard {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    async fn abort(
        &self,
    ) -> Result<(), SdkError<aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadError, HttpResponse>>
    {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await
            .map(|_| ())
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let req =
                self.client.abort_multipart_upload().bucket(&self.bucket).key(&self.key).upload_id(&self.upload_id);
            handle.spawn(async move {
                let _ = req.send().await;
            });
        }
    }
}
