//! Logical mode: export every key (`SCAN` + `PTTL` + `DUMP`) in Lifeboat's logical format
//! (specified in the [module documentation](super)), while the server keeps running.

use std::time::Instant;

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

use super::digest::{Accumulator, databases, read_key, scan, send_key};
use super::options::RedisOptions;
use super::pipe::{AbortOnDrop, PIPE_BUF};
use super::resp::{Reply, Resp, get, show_key};
use crate::conn::RedisConn;
use crate::error::{DumpError, Result};
use crate::metadata::{Position, SourceKind, SourceMetadata};
use crate::stream::DumpStream;

/// The first 8 bytes of a logical dump (format version 1).
pub(super) const MAGIC: &[u8; 8] = b"LBRLOG1\n";

/// Exports the keys in the logical format as `redis.logical`.
pub(super) async fn logical_stream(
    mut c: Resp,
    conn: RedisConn,
    opts: RedisOptions,
    version: String,
    content: bool,
) -> Result<DumpStream> {
    let repl = c.info("replication").await?;
    let replid = get(&repl, "master_replid").unwrap_or("").to_string();
    let offset = get(&repl, "master_repl_offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let dbs = databases(&mut c, &conn).await?;
    let server_ms = c.server_time_ms().await?;
    let clock = Instant::now();
    let (rd, wr) = tokio::io::duplex(PIPE_BUF);
    let pattern = opts.key_pattern.clone();
    let dbs_for_task = dbs.clone();
    let task = tokio::spawn(async move {
        let mut out = BufWriter::with_capacity(PIPE_BUF, wr);
        let mut acc = content.then(Accumulator::default);
        let r = export(&mut c, &mut out, &dbs_for_task, pattern.as_deref(), server_ms, clock, acc.as_mut()).await;
        let r = r.map(|count| (count, acc.map(|a| a.finish())));
        let _ = out.shutdown().await;
        r
    });
    let guard = AbortOnDrop(task);
    let mut meta =
        SourceMetadata::new(SourceKind::Redis, "redis.logical", "lifeboat redis logical v1", conn.to_string());
    meta.server_version = version;
    meta.databases = dbs.iter().map(|d| d.to_string()).collect();
    if let Some(p) = &opts.key_pattern {
        meta.options.push(format!("keys:{p}"));
    }
    meta.position = Some(Position::RedisReplication { replid, offset, exact: false });
    meta.notes.push("logical export: keys were read with SCAN while the server kept running".into());
    Ok(DumpStream::new("redis.logical", rd, None, async move {
        let mut guard = guard;
        match (&mut guard.0).await {
            Ok(Ok((count, digest))) => {
                meta.notes.push(format!("{count} keys"));
                meta.content = digest;
                Ok(meta)
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(DumpError::Unsupported(format!("the export task failed: {e}"))),
        }
    }))
}

/// One key's expiry and `DUMP` payload (and its digest reads when `acc` is given).
struct Read {
    pttl: Reply,
    dump: Reply,
    value: Vec<Reply>,
}

async fn read_one(c: &mut Resp, digest: bool) -> Result<Read> {
    if digest {
        let mut v = read_key(c, true).await?.into_iter();
        let pttl = v.next().unwrap_or(Reply::Int(-2));
        let dump = v.next().unwrap_or(Reply::Bulk(None));
        Ok(Read { pttl, dump, value: v.collect() })
    } else {
        let pttl = c.read().await?;
        let dump = c.read().await?;
        Ok(Read { pttl, dump, value: Vec::new() })
    }
}

async fn export<W: AsyncWrite + Unpin>(
    c: &mut Resp,
    out: &mut W,
    dbs: &[u32],
    pattern: Option<&str>,
    server_ms: i64,
    clock: Instant,
    mut acc: Option<&mut Accumulator>,
) -> Result<u64> {
    let target = c.target.clone();
    let werr = |e| DumpError::io("writing the logical dump", target.clone(), e);
    out.write_all(MAGIC).await.map_err(werr)?;
    let mut count: u64 = 0;
    let digest = acc.is_some();
    for &db in dbs {
        c.select(db).await?;
        let mut cursor = b"0".to_vec();
        loop {
            let (next, keys) = scan(c, db, &cursor, pattern).await?;
            cursor = next;
            for k in &keys {
                if digest {
                    send_key(c, k, true).await?;
                } else {
                    c.send(&[b"PTTL", k]).await?;
                    c.send(&[b"DUMP", k]).await?;
                }
            }
            c.flush().await?;
            for k in &keys {
                let Read { pttl, dump, value } = read_one(c, digest).await?;
                let now_ms = server_ms + clock.elapsed().as_millis() as i64;
                let expire_at = match pttl {
                    Reply::Int(-2) => continue, // deleted meanwhile
                    Reply::Int(ms) if ms >= 0 => now_ms + ms.max(1),
                    Reply::Int(_) => 0,
                    Reply::Error(e) => {
                        return Err(DumpError::Server {
                            target: c.target.clone(),
                            operation: "reading a key's TTL".into(),
                            detail: e,
                        });
                    }
                    _ => return Err(c.protocol("bad PTTL reply")),
                };
                let payload = match dump {
                    Reply::Bulk(Some(p)) => p,
                    Reply::Bulk(None) => continue, // deleted meanwhile
                    Reply::Error(e) => {
                        return Err(DumpError::Server {
                            target: c.target.clone(),
                            operation: format!("dumping key {}", show_key(k)),
                            detail: e,
                        });
                    }
                    _ => return Err(c.protocol("bad DUMP reply")),
                };
                if let Some(acc) = acc.as_deref_mut() {
                    acc.add(db, k, &value);
                }
                let mut rec = Vec::with_capacity(21 + k.len());
                rec.push(b'K');
                rec.extend_from_slice(&db.to_be_bytes());
                rec.extend_from_slice(&(k.len() as u32).to_be_bytes());
                rec.extend_from_slice(k);
                rec.extend_from_slice(&expire_at.to_be_bytes());
                rec.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                out.write_all(&rec).await.map_err(werr)?;
                out.write_all(&payload).await.map_err(werr)?;
                count += 1;
            }
            if cursor == b"0" {
                break;
            }
        }
    }
    let mut end = vec![b'E'];
    end.extend_from_slice(&count.to_be_bytes());
    out.write_all(&end).await.map_err(werr)?;
    out.flush().await.map_err(werr)?;
    Ok(count)
}
