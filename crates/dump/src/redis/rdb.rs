//! RDB mode: connect like a replica, take the server's snapshot and pass it on unchanged as
//! `dump.rdb` (see the [module documentation](super) for the protocol).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::pipe::{AbortOnDrop, PIPE_BUF};
use super::resp::{Reply, Resp, io_err};
use crate::conn::RedisConn;
use crate::error::{DumpError, Result};
use crate::metadata::{Position, SourceKind, SourceMetadata};
use crate::stream::DumpStream;

/// Requests a snapshot over the replication protocol and streams it as `dump.rdb`.
pub(super) async fn rdb_stream(mut c: Resp, conn: RedisConn, version: String) -> Result<DumpStream> {
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
    let task = tokio::spawn(async move {
        // Take the whole connection: capturing only `c.rd` would drop (and shut down) the write
        // half, which the server sees as the replica leaving.
        let mut c = c;
        let r = copy_snapshot(&mut c.rd, &mut wr, len, &target).await;
        let _ = wr.shutdown().await;
        r
    });
    let guard = AbortOnDrop(task);
    let mut meta = SourceMetadata::new(SourceKind::Redis, "dump.rdb", "redis rdb", conn.to_string());
    meta.server_version = version;
    meta.databases = vec!["all".into()];
    meta.position = Some(Position::RedisReplication { replid, offset, exact: true });
    if conn.db.is_some() {
        meta.notes.push("an RDB snapshot holds every database; the URL's database number was ignored".into());
    }
    Ok(DumpStream::new("dump.rdb", rd, None, async move {
        let mut guard = guard;
        let r = (&mut guard.0).await;
        match r {
            Ok(Ok(())) => Ok(meta),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(DumpError::Unsupported(format!("the snapshot task failed: {e}"))),
        }
    }))
}

enum Framing {
    Length(u64),
    Mark(Vec<u8>),
}

async fn copy_snapshot<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    rd: &mut R,
    wr: &mut W,
    framing: Framing,
    target: &str,
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
                    return Ok(());
                }
                if tail.len() > 40 {
                    let keep = tail.split_off(tail.len() - 40);
                    check(&tail, total)?;
                    wr.write_all(&tail).await.map_err(write_err)?;
                    total += tail.len() as u64;
                    tail = keep;
                }
            }
        }
    }
    Ok(())
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
        copy_snapshot(&mut &data[..], &mut out, Framing::Mark(mark.to_vec()), "t").await.unwrap();
        assert_eq!(out, b"REDIS0011 payload bytes");
    }

    #[tokio::test]
    async fn short_snapshot_is_an_error() {
        let data = b"REDIS0011 abc".to_vec();
        let mut out = Vec::new();
        let e = copy_snapshot(&mut &data[..], &mut out, Framing::Length(100), "t").await.unwrap_err();
        assert!(e.to_string().contains("after 13 bytes"), "{e}");
        let e = copy_snapshot(&mut &b"NOTRDB"[..], &mut Vec::new(), Framing::Length(6), "t").await.unwrap_err();
        assert!(e.to_string().contains("magic"), "{e}");
    }
}
