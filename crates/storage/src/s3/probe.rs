//! What the server can do, asked once per handle: whether it honours `If-None-Match: *`
//! atomically (conditional creates, for locks) and whether the bucket has object lock.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::ObjectLockEnabled;
use bytes::Bytes;
use ring::rand::{SecureRandom, SystemRandom};

use super::client::Inner;
use super::errors::status_of;
use crate::{Op, PutOutcome, StorageError};

/// Keys of the one-off conditional-write probe live under this folder of the prefix.
pub(super) const PROBE_DIR: &str = ".lifeboat-probe";

impl Inner {
    /// Asks the server once whether it honours `If-None-Match: *` on PUT.
    pub(super) async fn conditional_put(&self) -> Result<bool, StorageError> {
        if let Some(known) = self.opts.conditional_put {
            return Ok(known);
        }
        self.conditional_put.get_or_try_init(|| self.probe_conditional_put()).await.copied()
    }

    /// Races a few conditional creates of one probe key: a server that honours
    /// `If-None-Match: *` atomically lets exactly one win. One that ignores the header, or
    /// checks it without atomicity (several winners), is reported as unsupported.
    async fn probe_conditional_put(&self) -> Result<bool, StorageError> {
        // A check-then-write server only shows its race when two creates overlap, so the
        // probe races many on warm connections; it still cannot prove atomicity, which is why
        // an operator who knows better declares `conditional_put=false|true` in the URL.
        const RACERS: u8 = 16;
        const ROUNDS: usize = 4;
        let mut rnd = [0u8; 12];
        let _ = SystemRandom::new().fill(&mut rnd);
        let probe = format!("{PROBE_DIR}/{}", hex::encode(rnd));
        let full = self.join(&probe);
        // Several rounds: the first also opens the connections, so that later rounds race
        // on warm connections, which is when a check-then-write server shows its race.
        let mut results = Vec::new();
        for round in 0..ROUNDS {
            let key = format!("{probe}-{round}");
            let full_key = format!("{full}-{round}");
            let (key, full_key) = (&key, &full_key);
            let racing = futures::future::join_all(
                (0..RACERS).map(|i| self.put_object(key, full_key, Bytes::from(vec![i]), None, true)),
            )
            .await;
            results.extend(racing);
            results.push(self.put_object(key, full_key, Bytes::from_static(b"again"), None, true).await);
            let _ = self.client().await.delete_object().bucket(&self.opts.bucket).key(full_key).send().await;
        }
        let (mut created, mut lost) = (0, 0);
        for r in results {
            match r {
                Ok(PutOutcome::Created) => created += 1,
                Ok(PutOutcome::AlreadyExists) => lost += 1,
                Err(StorageError::Backend { ref message, .. }) if message.contains("ConditionalRequestConflict") => {
                    lost += 1
                }
                Err(StorageError::Backend { ref message, .. })
                    if message.contains("NotImplemented") || message.contains("HTTP 501") =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        let supported = created == ROUNDS && lost == ROUNDS * usize::from(RACERS);
        if !supported {
            tracing::warn!(location = %self.location, created, "the S3 server does not honour If-None-Match on PUT atomically: conditional creates (locks) are refused");
        }
        Ok(supported)
    }

    /// Asks the server once whether the bucket has object lock enabled.
    pub(super) async fn object_lock(&self) -> Result<bool, StorageError> {
        self.object_lock
            .get_or_try_init(|| async {
                let res = self.client().await.get_object_lock_configuration().bucket(&self.opts.bucket).send().await;
                match res {
                    Ok(out) => Ok(out
                        .object_lock_configuration()
                        .and_then(|c| c.object_lock_enabled())
                        .is_some_and(|e| *e == ObjectLockEnabled::Enabled)),
                    Err(e) => {
                        let code = e.code().unwrap_or_default().to_owned();
                        let status = status_of(&e);
                        if code == "ObjectLockConfigurationNotFoundError"
                            || code == "NotImplemented"
                            || matches!(status, Some(404 | 501)) && code != "NoSuchBucket"
                        {
                            Ok(false)
                        } else {
                            Err(self.err(Op::Open, "", e))
                        }
                    }
                }
            })
            .await
            .copied()
    }
}
