//! Redis: an RDB snapshot read over the replication protocol, and a logical export
//! (`SCAN` + `DUMP` + `PTTL`) that restores into a live server with `RESTORE`.
//!
//! Both speak RESP directly over TCP; no client program is needed. The password goes in the
//! `AUTH` command on the connection (from the URL, or `REDISCLI_AUTH`).
//!
//! # RDB mode (`dump.rdb`)
//!
//! Lifeboat connects like a replica: `REPLCONF capa eof`, `REPLCONF rdb-only 1` (Redis 7+),
//! `PSYNC ? -1`. The server answers `+FULLRESYNC <replid> <offset>` and streams a snapshot of
//! every database, which becomes the dump stream unchanged (the file redis-server loads at
//! start). The snapshot is exact at that replication offset ([`Position::RedisReplication`]).
//! An RDB file cannot be loaded into a running server: restore it to a directory and start
//! `redis-server` on it, or use the logical mode.
//!
//! # Logical mode (`redis.logical`), format version 1
//!
//! ```text
//! stream  = magic record* end
//! magic   = "LBRLOG1\n"                                   (8 bytes)
//! record  = 'K' db:u32 klen:u32 key[klen] expire_at:i64 plen:u32 payload[plen]
//! end     = 'E' count:u64                                 (number of 'K' records)
//! ```
//! Integers are big-endian. `payload` is the server's `DUMP` serialization of the value (any
//! type: strings, hashes, lists, sets, sorted sets, streams ...), `expire_at` the absolute
//! expiry in Unix milliseconds by the server's clock (0: no expiry). Restoring issues
//! `RESTORE key ttl payload REPLACE ABSTTL` per record (keys whose expiry has passed are
//! skipped), pipelined. A stream without its end record is rejected as truncated.
//! The export is not a point-in-time snapshot: keys are read while the server keeps running.

use std::str::FromStr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;

use crate::RestoreReport;
use crate::conn::RedisConn;
use crate::error::{DumpError, Result};
use crate::metadata::{Position, SourceKind, SourceMetadata};
use crate::stream::{DumpStream, Dumps};

const MAGIC: &[u8; 8] = b"LBRLOG1\n";
const MAX_BULK: i64 = 1 << 32;
const PIPE_BUF: usize = 256 * 1024;

/// How to back up Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedisMode {
    /// The server's RDB snapshot over the replication protocol (every database, exact).
    #[default]
    Rdb,
    /// `SCAN`/`DUMP`/`PTTL` export in Lifeboat's logical format; restorable into a live server.
    Logical,
}

impl FromStr for RedisMode {
    type Err = DumpError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "rdb" => Ok(RedisMode::Rdb),
            "logical" => Ok(RedisMode::Logical),
            other => Err(DumpError::Unsupported(format!("unknown Redis mode `{other}` (expected rdb or logical)"))),
        }
    }
}

/// What to dump from a Redis server.
#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// RDB snapshot or logical export.
    pub mode: RedisMode,
    /// Logical mode: only keys matching this `SCAN MATCH` glob pattern.
    pub key_pattern: Option<String>,
}

/// How to restore a logical dump.
#[derive(Clone, Debug)]
pub struct RedisRestoreOptions {
    /// Overwrite keys that exist (`RESTORE ... REPLACE`); without it an existing key fails the
    /// restore.
    pub replace: bool,
}

impl Default for RedisRestoreOptions {
    fn default() -> Self {
        RedisRestoreOptions { replace: true }
    }
}

/// A RESP reply.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

struct Resp {
    rd: BufReader<OwnedReadHalf>,
    wr: BufWriter<OwnedWriteHalf>,
    target: String,
}

fn io_err(target: &str, what: &str, e: std::io::Error) -> DumpError {
    DumpError::io(what.to_string(), target.to_string(), e)
}

impl Resp {
    async fn connect(conn: &RedisConn) -> Result<Self> {
        let target = conn.to_string();
        let addr = (conn.host.as_str(), conn.port);
        let stream = match tokio::time::timeout(Duration::from_secs(15), TcpStream::connect(addr)).await {
            Err(_) => return Err(DumpError::ConnectFailed { target, detail: "timed out after 15 s".into() }),
            Ok(Err(e)) => return Err(DumpError::ConnectFailed { target, detail: e.to_string() }),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        let mut c =
            Resp { rd: BufReader::with_capacity(PIPE_BUF, r), wr: BufWriter::with_capacity(PIPE_BUF, w), target };
        if let Some(pw) = &conn.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(u) = &conn.user {
                args.push(u.as_bytes());
            }
            args.push(pw.expose().as_bytes());
            c.send(&args).await?;
            c.flush().await?;
            if let Reply::Error(e) = c.read().await? {
                return Err(DumpError::AuthFailed { target: c.target.clone(), detail: pw.scrub(&e) });
            }
        }
        match c.cmd(&[b"PING"], "checking the connection").await {
            Err(DumpError::Server { detail, .. }) if detail.starts_with("NOAUTH") => {
                return Err(DumpError::AuthFailed {
                    target: c.target.clone(),
                    detail: "the server requires a password (put it in the URL or REDISCLI_AUTH)".into(),
                });
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        // Visible in CLIENT LIST for operators; not essential.
        let _ = c.cmd(&[b"CLIENT", b"SETNAME", b"lifeboat"], "naming the connection").await;
        Ok(c)
    }

    async fn send(&mut self, args: &[&[u8]]) -> Result<()> {
        let mut head = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            head.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            if a.len() > 4096 {
                self.wr.write_all(&head).await.map_err(|e| io_err(&self.target, "sending a command", e))?;
                head.clear();
                self.wr.write_all(a).await.map_err(|e| io_err(&self.target, "sending a command", e))?;
            } else {
                head.extend_from_slice(a);
            }
            head.extend_from_slice(b"\r\n");
        }
        self.wr.write_all(&head).await.map_err(|e| io_err(&self.target, "sending a command", e))
    }

    async fn flush(&mut self) -> Result<()> {
        self.wr.flush().await.map_err(|e| io_err(&self.target, "sending a command", e))
    }

    async fn line(&mut self) -> Result<Vec<u8>> {
        let mut l = Vec::new();
        let n = self.rd.read_until(b'\n', &mut l).await.map_err(|e| io_err(&self.target, "reading a reply", e))?;
        if n == 0 {
            return Err(DumpError::ConnectFailed {
                target: self.target.clone(),
                detail: "the server closed the connection".into(),
            });
        }
        if l.ends_with(b"\r\n") {
            l.truncate(l.len() - 2);
        } else if l.ends_with(b"\n") {
            l.truncate(l.len() - 1);
        }
        Ok(l)
    }

    fn protocol(&self, what: &str) -> DumpError {
        DumpError::Server { target: self.target.clone(), operation: "reading a reply".into(), detail: what.into() }
    }

    async fn read(&mut self) -> Result<Reply> {
        self.read_inner().await
    }

    async fn read_inner(&mut self) -> Result<Reply> {
        let l = self.line().await?;
        let (&t, rest) = l.split_first().ok_or_else(|| self.protocol("empty reply line"))?;
        let text = String::from_utf8_lossy(rest).into_owned();
        match t {
            b'+' => Ok(Reply::Simple(text)),
            b'-' => Ok(Reply::Error(text)),
            b':' => text.parse().map(Reply::Int).map_err(|_| self.protocol("bad integer reply")),
            b'$' => {
                let n: i64 = text.parse().map_err(|_| self.protocol("bad bulk length"))?;
                if n < 0 {
                    return Ok(Reply::Bulk(None));
                }
                if n > MAX_BULK {
                    return Err(self.protocol("bulk reply too large"));
                }
                let mut v = vec![0u8; n as usize + 2];
                self.rd.read_exact(&mut v).await.map_err(|e| io_err(&self.target, "reading a reply", e))?;
                v.truncate(n as usize);
                Ok(Reply::Bulk(Some(v)))
            }
            b'*' => {
                let n: i64 = text.parse().map_err(|_| self.protocol("bad array length"))?;
                if n < 0 {
                    return Ok(Reply::Array(None));
                }
                let mut items = Vec::with_capacity(n.min(4096) as usize);
                for _ in 0..n {
                    items.push(Box::pin(self.read_inner()).await?);
                }
                Ok(Reply::Array(Some(items)))
            }
            _ => Err(self.protocol("unknown reply type")),
        }
    }

    async fn cmd(&mut self, args: &[&[u8]], operation: &str) -> Result<Reply> {
        self.send(args).await?;
        self.flush().await?;
        match self.read().await? {
            Reply::Error(e) => {
                Err(DumpError::Server { target: self.target.clone(), operation: operation.into(), detail: e })
            }
            r => Ok(r),
        }
    }

    async fn info(&mut self, section: &str) -> Result<Vec<(String, String)>> {
        let r = self.cmd(&[b"INFO", section.as_bytes()], "reading INFO").await?;
        let Reply::Bulk(Some(b)) = r else { return Err(self.protocol("INFO did not answer with text")) };
        Ok(String::from_utf8_lossy(&b)
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect())
    }

    async fn select(&mut self, db: u32) -> Result<()> {
        self.cmd(&[b"SELECT", db.to_string().as_bytes()], &format!("selecting database {db}")).await.map(|_| ())
    }

    /// The server's clock in Unix milliseconds.
    async fn server_time_ms(&mut self) -> Result<i64> {
        match self.cmd(&[b"TIME"], "reading the server time").await? {
            Reply::Array(Some(v)) if v.len() == 2 => {
                let num = |r: &Reply| match r {
                    Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).parse::<i64>().ok(),
                    _ => None,
                };
                match (num(&v[0]), num(&v[1])) {
                    (Some(s), Some(us)) => Ok(s * 1000 + us / 1000),
                    _ => Err(self.protocol("bad TIME reply")),
                }
            }
            _ => Err(self.protocol("bad TIME reply")),
        }
    }
}

fn get<'a>(info: &'a [(String, String)], key: &str) -> Option<&'a str> {
    info.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Aborts a task when dropped (a dropped dump stream must not keep reading from the server).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A Redis server to back up.
#[derive(Clone, Debug)]
pub struct RedisSource {
    conn: RedisConn,
    opts: RedisOptions,
}

impl RedisSource {
    /// A source for `conn`. In logical mode the URL's database number, if any, limits the dump
    /// to that database; otherwise every database holding keys is exported.
    pub fn new(conn: RedisConn, opts: RedisOptions) -> Result<Self> {
        if opts.mode == RedisMode::Rdb && opts.key_pattern.is_some() {
            return Err(DumpError::InvalidOptions {
                target: conn.to_string(),
                reason: "a key pattern needs the logical mode; an RDB snapshot holds every key".into(),
            });
        }
        Ok(RedisSource { conn, opts })
    }

    /// Connects, authenticates and returns the single stream: `dump.rdb` or `redis.logical`.
    pub async fn dump(&self) -> Result<Dumps> {
        let mut c = Resp::connect(&self.conn).await?;
        let server = c.info("server").await?;
        let version = get(&server, "redis_version").unwrap_or("unknown").to_string();
        let mut dumps = Dumps::new();
        let conn = self.conn.clone();
        let opts = self.opts.clone();
        match self.opts.mode {
            RedisMode::Rdb => {
                dumps.push("dump.rdb".into(), move || Box::pin(async move { rdb_stream(c, conn, version).await }))
            }
            RedisMode::Logical => dumps.push("redis.logical".into(), move || {
                Box::pin(async move { logical_stream(c, conn, opts, version).await })
            }),
        }
        Ok(dumps)
    }
}

async fn rdb_stream(mut c: Resp, conn: RedisConn, version: String) -> Result<DumpStream> {
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

async fn logical_stream(mut c: Resp, conn: RedisConn, opts: RedisOptions, version: String) -> Result<DumpStream> {
    let repl = c.info("replication").await?;
    let replid = get(&repl, "master_replid").unwrap_or("").to_string();
    let offset = get(&repl, "master_repl_offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let dbs: Vec<u32> = match conn.db {
        Some(d) => vec![d],
        None => c
            .info("keyspace")
            .await?
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("db").and_then(|n| n.parse().ok()))
            .collect(),
    };
    let server_ms = c.server_time_ms().await?;
    let clock = Instant::now();
    let (rd, wr) = tokio::io::duplex(PIPE_BUF);
    let pattern = opts.key_pattern.clone();
    let dbs_for_task = dbs.clone();
    let task = tokio::spawn(async move {
        let mut out = BufWriter::with_capacity(PIPE_BUF, wr);
        let r = export(&mut c, &mut out, &dbs_for_task, pattern.as_deref(), server_ms, clock).await;
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
            Ok(Ok(count)) => {
                meta.notes.push(format!("{count} keys"));
                Ok(meta)
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(DumpError::Unsupported(format!("the export task failed: {e}"))),
        }
    }))
}

async fn export<W: AsyncWrite + Unpin>(
    c: &mut Resp,
    out: &mut W,
    dbs: &[u32],
    pattern: Option<&str>,
    server_ms: i64,
    clock: Instant,
) -> Result<u64> {
    let target = c.target.clone();
    let werr = |e| DumpError::io("writing the logical dump", target.clone(), e);
    out.write_all(MAGIC).await.map_err(werr)?;
    let mut count: u64 = 0;
    for &db in dbs {
        c.select(db).await?;
        let mut cursor = b"0".to_vec();
        loop {
            let mut args: Vec<&[u8]> = vec![b"SCAN", &cursor];
            if let Some(p) = pattern {
                args.extend_from_slice(&[b"MATCH", p.as_bytes()]);
            }
            args.extend_from_slice(&[b"COUNT", b"500"]);
            let reply = c.cmd(&args, &format!("scanning database {db}")).await?;
            let Reply::Array(Some(mut parts)) = reply else { return Err(c.protocol("bad SCAN reply")) };
            if parts.len() != 2 {
                return Err(c.protocol("bad SCAN reply"));
            }
            let keys = match parts.pop() {
                Some(Reply::Array(Some(k))) => k,
                _ => return Err(c.protocol("bad SCAN reply")),
            };
            cursor = match parts.pop() {
                Some(Reply::Bulk(Some(cur))) => cur,
                _ => return Err(c.protocol("bad SCAN reply")),
            };
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter_map(|k| match k {
                    Reply::Bulk(Some(b)) => Some(b),
                    _ => None,
                })
                .collect();
            for k in &keys {
                c.send(&[b"PTTL", k]).await?;
                c.send(&[b"DUMP", k]).await?;
            }
            c.flush().await?;
            for k in &keys {
                let pttl = c.read().await?;
                let now_ms = server_ms + clock.elapsed().as_millis() as i64;
                let dump = c.read().await?;
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

/// A key for messages: text when printable, hex otherwise.
fn show_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("`{s}`"),
        _ => format!("0x{}", k.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    }
}

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

    #[test]
    fn keys_are_shown_safely() {
        assert_eq!(show_key(b"user:1"), "`user:1`");
        assert_eq!(show_key(b"\x00\xff"), "0x00ff");
    }

    #[test]
    fn modes_parse() {
        assert_eq!("logical".parse::<RedisMode>().unwrap(), RedisMode::Logical);
        assert!("x".parse::<RedisMode>().is_err());
    }
}
