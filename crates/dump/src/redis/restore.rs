//! Restoring a logical dump into a live server: `RESTORE ... ABSTTL` per record, pipelined,
//! one database at a time. RDB snapshots are refused (a running server cannot load one).

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, BufReader};

use super::logical::MAGIC;
use super::options::RedisRestoreOptions;
use super::pipe::PIPE_BUF;
use super::resp::{Reply, Resp, show_key};
use crate::RestoreReport;
use crate::conn::RedisConn;
use crate::error::{DumpError, Result};

/// Restores Redis logical dumps into a live server.
#[derive(Clone, Debug)]
pub struct RedisRestorer {
    conn: RedisConn,
    opts: RedisRestoreOptions,
}

impl RedisRestorer {
    /// A restorer into `conn`. With a database number in the URL every key goes into that
    /// database; without, each key goes back into the database it came from.
    pub fn new(conn: RedisConn, opts: RedisRestoreOptions) -> Self {
        RedisRestorer { conn, opts }
    }

    /// Restores `redis.logical`; `dump.rdb` is refused (it needs a server restart).
    pub async fn restore<R: AsyncRead + Unpin + Send + ?Sized>(
        &self,
        name: &str,
        reader: &mut R,
    ) -> Result<RestoreReport> {
        if name.ends_with(".rdb") {
            return Err(DumpError::Unsupported(format!(
                "`{name}` is an RDB snapshot, which a running Redis server cannot load: restore it to a \
                 directory, place it as the server's dbfilename in its dir and restart redis-server \
                 (or back up with the logical mode to restore into a live server)"
            )));
        }
        if !name.ends_with(".logical") {
            return Err(DumpError::Unsupported(format!("`{name}` is not a Redis dump stream")));
        }
        let mut c = Resp::connect(&self.conn).await?;
        let mut rd = BufReader::with_capacity(PIPE_BUF, reader);
        let bad = |reason: String| DumpError::InvalidStream { name: name.to_string(), reason };
        let trunc = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                DumpError::InvalidStream { name: name.to_string(), reason: "truncated (no end record)".into() }
            } else {
                DumpError::io("reading the dump stream", name.to_string(), e)
            }
        };
        let mut magic = [0u8; 8];
        rd.read_exact(&mut magic).await.map_err(trunc)?;
        if &magic != MAGIC {
            return Err(bad("not a Lifeboat Redis logical dump (bad magic)".into()));
        }
        let server_ms = c.server_time_ms().await?;
        let clock = Instant::now();
        let mut current_db: Option<u32> = None;
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut restored: u64 = 0;
        let mut expired: u64 = 0;
        let mut bytes: u64 = 8;
        let mut records: u64 = 0;
        loop {
            let mut tag = [0u8; 1];
            rd.read_exact(&mut tag).await.map_err(trunc)?;
            bytes += 1;
            match tag[0] {
                b'K' => {
                    let db = rd.read_u32().await.map_err(trunc)?;
                    let klen = rd.read_u32().await.map_err(trunc)? as usize;
                    let mut key = vec![0u8; klen];
                    rd.read_exact(&mut key).await.map_err(trunc)?;
                    let expire_at = rd.read_i64().await.map_err(trunc)?;
                    let plen = rd.read_u32().await.map_err(trunc)? as usize;
                    let mut payload = vec![0u8; plen];
                    rd.read_exact(&mut payload).await.map_err(trunc)?;
                    bytes += 20 + klen as u64 + plen as u64;
                    records += 1;
                    let db = self.conn.db.unwrap_or(db);
                    if current_db != Some(db) {
                        drain(&mut c, &mut pending, &mut restored).await?;
                        pending_bytes = 0;
                        c.select(db).await?;
                        current_db = Some(db);
                    }
                    let now_ms = server_ms + clock.elapsed().as_millis() as i64;
                    if expire_at != 0 && expire_at <= now_ms {
                        expired += 1;
                        continue;
                    }
                    let ttl = expire_at.to_string();
                    let mut args: Vec<&[u8]> = vec![b"RESTORE", &key, ttl.as_bytes(), &payload];
                    if self.opts.replace {
                        args.push(b"REPLACE");
                    }
                    if expire_at != 0 {
                        args.push(b"ABSTTL");
                    }
                    c.send(&args).await?;
                    pending_bytes += key.len() + payload.len();
                    pending.push(key);
                    if pending.len() >= 512 || pending_bytes >= 8 << 20 {
                        drain(&mut c, &mut pending, &mut restored).await?;
                        pending_bytes = 0;
                    }
                }
                b'E' => {
                    let count = rd.read_u64().await.map_err(trunc)?;
                    bytes += 8;
                    if count != records {
                        return Err(bad(format!("the end record counts {count} keys but the stream held {records}")));
                    }
                    let mut extra = [0u8; 1];
                    if rd.read(&mut extra).await.map_err(trunc)? != 0 {
                        return Err(bad("data after the end record".into()));
                    }
                    drain(&mut c, &mut pending, &mut restored).await?;
                    break;
                }
                other => return Err(bad(format!("unknown record tag 0x{other:02x} at byte {}", bytes - 1))),
            }
        }
        let mut warnings = Vec::new();
        if expired > 0 {
            warnings.push(format!("{expired} keys had expired since the dump and were not restored"));
        }
        Ok(RestoreReport {
            name: name.to_string(),
            target: self.conn.to_string(),
            database: self.conn.db.map(|d| d.to_string()),
            bytes,
            warnings,
        })
    }
}

async fn drain(c: &mut Resp, pending: &mut Vec<Vec<u8>>, restored: &mut u64) -> Result<()> {
    c.flush().await?;
    let mut first_err = None;
    for key in pending.drain(..) {
        match c.read().await? {
            Reply::Error(e) if first_err.is_none() => {
                first_err = Some(DumpError::Server {
                    target: c.target.clone(),
                    operation: format!("restoring key {}", show_key(&key)),
                    detail: e,
                });
            }
            Reply::Error(_) => {}
            _ => *restored += 1,
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
