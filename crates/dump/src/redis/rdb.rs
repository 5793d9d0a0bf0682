//! RDB mode: connect like a replica, take the server's snapshot and pass it on unchanged as
//! `dump.rdb` (see the [module documentation](super) for the protocol).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::pipe::{AbortOnDrop, PIPE_BUF};
use super::resp::{Reply, Resp, io_err};
use super::server::RedisServer;
use crate::conn::RedisConn;
use crate::error::{DumpError, Result};
use crate::metadata::{Position, SourceKind, SourceMetadata};
use crate::stream::DumpStream;

/// Requests a snapshot over the replication protocol and streams it as `dump.rdb`.
pub(super) async fn rdb_stream(mut c: Resp, conn: RedisConn, version: String, content: bool) -> Result<DumpStream> {
    c.cmd(&[b"REPLCONF", b"capa", b"eof"], "announcing replica capabilities").await?;
    // Redis 7+: the server forgets us after the snapshot instead of keeping a replica.
    let _ = c.cmd(&[b"REPLCONF", b"rdb-only", b"1"], "asking for a snapshot only").await;
    c.send(&[b"PSYNC", b"?", b"-1"]).await?;
    c.flush().await?;
    // While the server waits to start the snapshot (repl-diskless-sync-delay) it sends bare
    // newlines to keep the link alive, before and after the FULLRESYNC line.
    let first = loop {
        let l = c.line().await?;
        if !l.is_empty() {
            break l;
        }
    };
    let reply = match first.split_first() {
        Some((b'+', rest)) => Reply::Simple(String::from_utf8_lossy(rest).into_owned()),
        Some((b'-', rest)) => Reply::Error(String::from_utf8_lossy(rest).into_owned()),
        _ => return Err(c.protocol("unexpected PSYNC answer")),
    };
    let (replid, offset) = match reply {
        Reply::Simple(s) if s.starts_with("FULLRESYNC") => {
            let mut p = s.split_whitespace().skip(1);
            let replid = p.next().unwrap_or("").to_string();
            let offset = p.next().and_then(|o| o.parse::<u64>().ok()).unwrap_or(0);
            (replid, offset)
        }
        Reply::Error(e) => {
            return Err(DumpError::Server {
                target: c.target.clone(),
                operation: "requesting a snapshot (PSYNC)".into(),
                detail: e,
            });
        }
        other => return Err(c.protocol(&format!("unexpected PSYNC answer {other:?}"))),
    };
    // Newlines keep the link alive while the server forks and writes its snapshot.
    let header = loop {
        let l = c.line().await?;
        if !l.is_empty() {
            break l;
        }
    };
    let len = if let Some(mark) = header.strip_prefix(b"$EOF:") {
        if mark.len() != 40 {
            return Err(c.protocol("bad EOF mark in the snapshot header"));
        }
        Framing::Mark(mark.to_vec())
    } else if let Some(n) = header.strip_prefix(b"$") {
        Framing::Length(String::from_utf8_lossy(n).parse::<u64>().map_err(|_| c.protocol("bad snapshot length"))?)
    } else {
        return Err(c.protocol("unexpected snapshot header"));
    };
    let (rd, mut wr) = tokio::io::duplex(PIPE_BUF);
    let target = c.target.clone();
    // The content digest: the snapshot is spooled to a private file, measured after its end.
    let mut notes = Vec::new();
    let spool = if content {
        match tokio::task::spawn_blocking(|| tempfile::Builder::new().prefix("lifeboat-rdb-").tempfile()).await {
            Ok(Ok(f)) => Some(f),
            Ok(Err(e)) => {
                notes.push(format!("no content digest: cannot create a spool file: {e}"));
                None
            }
            Err(e) => {
                notes.push(format!("no content digest: cannot create a spool file: {e}"));
                None
            }
        }
    } else {
        None
    };
    let task = tokio::spawn(async move {
        // Take the whole connection: capturing only `c.rd` would drop (and shut down) the write
        // half, which the server sees as the replica leaving.
        let mut c = c;
        let mut file = match &spool {
            Some(f) => f.reopen().ok().map(tokio::fs::File::from_std),
            None => None,
        };
        let r = copy_snapshot(&mut c.rd, &mut wr, len, &target, &mut file).await;
        let _ = wr.shutdown().await;
        let spooled = match file {
            Some(mut f) => f.flush().await.is_ok(),
            None => false,
        };
        r.map(|()| spool.filter(|_| spooled))
    });
    let guard = AbortOnDrop(task);
    let mut meta = SourceMetadata::new(SourceKind::Redis, "dump.rdb", "redis rdb", conn.to_string());
    meta.server_version = version;
    meta.databases = vec!["all".into()];
    meta.position = Some(Position::RedisReplication { replid, offset, exact: true });
    if conn.db.is_some() {
        meta.notes.push("an RDB snapshot holds every database; the URL's database number was ignored".into());
    }
    meta.notes.extend(notes);
    Ok(DumpStream::new("dump.rdb", rd, None, async move {
        let mut guard = guard;
        let r = (&mut guard.0).await;
        match r {
            Ok(Ok(spool)) => {
                if let Some(spool) = spool {
                    match measure_snapshot(spool.path()).await {
                        Ok(d) => meta.content = Some(d),
                        Err(e) => meta.notes.push(format!("no content digest: {e}")),
                    }
                } else if content && meta.notes.iter().all(|n| !n.starts_with("no content digest")) {
                    meta.notes.push("no content digest: the spool file could not be written".into());
                }
                Ok(meta)
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(DumpError::Unsupported(format!("the snapshot task failed: {e}"))),
        }
    }))
}

/// Loads the spooled snapshot into a private redis-server and measures it.
async fn measure_snapshot(path: &std::path::Path) -> Result<crate::digest::ContentDigest> {
    let server = RedisServer::start(None, None, Some(path)).await?;
    let measured = super::digest::measure(&server.conn).await;
    let stopped = server.stop().await;
    let d = measured?;
    stopped?;
    Ok(d)
}

enum Framing {
    Length(u64),
    Mark(Vec<u8>),
}

/// Copies the snapshot to `wr`, and to `spool` while writing it works (a failing spool is
/// dropped: the dump goes on without a content digest).
async fn copy_snapshot<R: AsyncRead + Unpin, W: AsyncWrite + Unpin, S: AsyncWrite + Unpin>(
    rd: &mut R,
    wr: &mut W,
    framing: Framing,
    target: &str,
    spool: &mut Option<S>,
) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    let mut checked_magic = false;
    let mut check = |data: &[u8], total: u64| -> Result<()> {
        if !checked_magic && total == 0 && data.len() >= 5 {
            checked_magic = true;
            if &data[..5] != b"REDIS" {
                return Err(DumpError::Server {
                    target: target.to_string(),
                    operation: "reading the snapshot".into(),
                    detail: "the snapshot does not start with the RDB magic".into(),
                });
            }
        }
        Ok(())
    };
    let write_err = |e| DumpError::io("passing the snapshot on", target.to_string(), e);
    let cut = |total: u64, expect: &str| DumpError::ConnectFailed {
        target: target.to_string(),
        detail: format!("the server closed the connection after {total} bytes of the snapshot ({expect})"),
    };
    match framing {
        Framing::Length(len) => {
            while total < len {
                let want = (len - total).min(buf.len() as u64) as usize;
                let n = rd.read(&mut buf[..want]).await.map_err(|e| io_err(target, "reading the snapshot", e))?;
                if n == 0 {
                    return Err(cut(total, &format!("expected {len}")));
                }
                check(&buf[..n], total)?;
                wr.write_all(&buf[..n]).await.map_err(write_err)?;
                spool_write(spool, &buf[..n]).await;
                total += n as u64;
            }
        }
        Framing::Mark(mark) => {
            let mut tail: Vec<u8> = Vec::with_capacity(80);
            loop {
                let n = rd.read(&mut buf).await.map_err(|e| io_err(target, "reading the snapshot", e))?;
                if n == 0 {
                    return Err(cut(total, "no end mark"));
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() >= 40 && tail[tail.len() - 40..] == mark[..] {
                    let body = &tail[..tail.len() - 40];
                    check(body, total)?;
                    wr.write_all(body).await.map_err(write_err)?;
                    spool_write(spool, body).await;
                    return Ok(());
                }
                if tail.len() > 40 {
                    let keep = tail.split_off(tail.len() - 40);
                    check(&tail, total)?;
                    wr.write_all(&tail).await.map_err(write_err)?;
                    spool_write(spool, &tail).await;
                    total += tail.len() as u64;
                    tail = keep;
                }
            }
        }
    }
    Ok(())
}

async fn spool_write<S: AsyncWrite + Unpin>(spool: &mut Option<S>, data: &[u8]) {
    if let Some(s) = spool
        && s.write_all(data).await.is_err()
    {
        *spool = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn snapshot_with_eof_mark_is_unframed() {
        let mark = [b'x'; 40];
        let mut data = b"REDIS0011 payload bytes".to_vec();
        data.extend_from_slice(&mark);
        let mut out = Vec::new();
        let mut spool = Some(Vec::new());
        copy_snapshot(&mut &data[..], &mut out, Framing::Mark(mark.to_vec()), "t", &mut spool).await.unwrap();
        assert_eq!(out, b"REDIS0011 payload bytes");
        assert_eq!(spool.unwrap(), out);
    }

    #[tokio::test]
    async fn short_snapshot_is_an_error() {
        let data = b"REDIS0011 abc".to_vec();
        let mut out = Vec::new();
        let e =
            copy_snapshot(&mut &data[..], &mut out, Framing::Length(100), "t", &mut None::<Vec<u8>>).await.unwrap_err();
        assert!(e.to_string().contains("after 13 bytes"), "{e}");
        let e = copy_snapshot(&mut &b"NOTRDB"[..], &mut Vec::new(), Framing::Length(6), "t", &mut None::<Vec<u8>>)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("magic"), "{e}");
    }
}
