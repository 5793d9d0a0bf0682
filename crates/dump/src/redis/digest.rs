//! The Redis content digest ([`crate::digest::REDIS_ALGORITHM`]): each key's type and value
//! read in one `MULTI`/`EXEC` (so a key is read atomically), hashed with BLAKE3 and summed, so
//! that the order keys are scanned in does not matter. Used by the logical export (the same
//! transaction also holds the key's `PTTL` and `DUMP`: the digest is of exactly what the
//! stream holds) and to measure a live server.

use super::resp::{Reply, Resp};
use crate::conn::RedisConn;
use crate::digest::{ContentDigest, REDIS_ALGORITHM};
use crate::error::{DumpError, Result};

/// The value reads of one key, in the order [`canonical`] expects after `TYPE`.
const READS: &[&[&[u8]]] = &[
    &[b"GET"],
    &[b"HGETALL"],
    &[b"LRANGE", b"0", b"-1"],
    &[b"SMEMBERS"],
    &[b"ZRANGE", b"0", b"-1", b"WITHSCORES"],
    &[b"XRANGE", b"-", b"+"],
];

/// Queues one key's reads: `MULTI`, (`PTTL`, `DUMP` when `with_dump`), `TYPE`, the value reads,
/// `EXEC`. Read the answer with [`read_key`].
pub(super) async fn send_key(c: &mut Resp, key: &[u8], with_dump: bool) -> Result<()> {
    c.send(&[b"MULTI"]).await?;
    if with_dump {
        c.send(&[b"PTTL", key]).await?;
        c.send(&[b"DUMP", key]).await?;
    }
    c.send(&[b"TYPE", key]).await?;
    for read in READS {
        let mut args: Vec<&[u8]> = vec![read[0], key];
        args.extend_from_slice(&read[1..]);
        c.send(&args).await?;
    }
    c.send(&[b"EXEC"]).await
}

/// Reads the answer to [`send_key`]: the `EXEC` array (`PTTL`, `DUMP` first when sent).
pub(super) async fn read_key(c: &mut Resp, with_dump: bool) -> Result<Vec<Reply>> {
    let queued = 1 + READS.len() + if with_dump { 2 } else { 0 };
    let mut failed = None;
    for _ in 0..=queued {
        if let Reply::Error(e) = c.read().await? {
            failed.get_or_insert(e);
        }
    }
    match c.read().await? {
        Reply::Array(Some(v)) if v.len() == queued && failed.is_none() => Ok(v),
        Reply::Error(e) => Err(server(c, e)),
        _ => Err(server(c, failed.unwrap_or_else(|| "unexpected EXEC answer".into()))),
    }
}

fn server(c: &Resp, detail: String) -> DumpError {
    DumpError::Server { target: c.target.clone(), operation: "reading a key for the content digest".into(), detail }
}

/// Sums the keys' hashes.
#[derive(Default)]
pub(super) struct Accumulator {
    keys: u64,
    sum: u128,
}

fn put(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn bulks(r: &Reply) -> Vec<&[u8]> {
    match r {
        Reply::Array(Some(items)) => items
            .iter()
            .filter_map(|i| match i {
                Reply::Bulk(Some(b)) => Some(b.as_slice()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Any reply, tagged and length-prefixed (stream entries are nested arrays).
fn put_reply(h: &mut blake3::Hasher, r: &Reply) {
    match r {
        Reply::Bulk(Some(b)) => {
            h.update(b"b");
            put(h, b);
        }
        Reply::Array(Some(items)) => {
            h.update(b"a");
            h.update(&(items.len() as u64).to_be_bytes());
            for i in items {
                put_reply(h, i);
            }
        }
        Reply::Int(i) => {
            h.update(b"i");
            h.update(&i.to_be_bytes());
        }
        Reply::Simple(s) => {
            h.update(b"s");
            put(h, s.as_bytes());
        }
        Reply::Bulk(None) | Reply::Array(None) | Reply::Error(_) => {
            h.update(b"n");
        }
    }
}

impl Accumulator {
    /// Adds a key from its `TYPE` and value reads (`replies`, starting with `TYPE`); false
    /// (nothing added) when the key no longer exists.
    pub(super) fn add(&mut self, db: u32, key: &[u8], replies: &[Reply]) -> bool {
        let kind = match replies.first() {
            Some(Reply::Simple(t)) => t.as_str(),
            _ => return false,
        };
        if kind == "none" {
            return false;
        }
        let value = |i: usize| replies.get(1 + i).unwrap_or(&Reply::Bulk(None));
        let mut h = blake3::Hasher::new();
        h.update(&db.to_be_bytes());
        put(&mut h, key);
        put(&mut h, kind.as_bytes());
        match kind {
            "string" => put_reply(&mut h, value(0)),
            "hash" => {
                let flat = bulks(value(1));
                let mut pairs: Vec<(&[u8], &[u8])> = flat.chunks(2).filter_map(|p| Some((p[0], *p.get(1)?))).collect();
                pairs.sort();
                h.update(&(pairs.len() as u64).to_be_bytes());
                for (f, v) in pairs {
                    put(&mut h, f);
                    put(&mut h, v);
                }
            }
            "list" | "zset" => put_reply(&mut h, value(if kind == "list" { 2 } else { 4 })),
            "set" => {
                let mut members = bulks(value(3));
                members.sort();
                h.update(&(members.len() as u64).to_be_bytes());
                for m in members {
                    put(&mut h, m);
                }
            }
            "stream" => put_reply(&mut h, value(5)),
            // Module types: the type alone (their values have no generic read).
            _ => {}
        }
        let hash = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&hash.as_bytes()[..16]);
        self.sum = self.sum.wrapping_add(u128::from_be_bytes(first));
        self.keys += 1;
        true
    }

    /// The digest.
    pub(super) fn finish(&self) -> ContentDigest {
        ContentDigest::Keys {
            algorithm: REDIS_ALGORITHM.to_string(),
            keys: self.keys,
            digest: format!("{:032x}", self.sum),
        }
    }
}

/// The databases holding keys (`INFO keyspace`), or `conn`'s database number.
pub(super) async fn databases(c: &mut Resp, conn: &RedisConn) -> Result<Vec<u32>> {
    Ok(match conn.db {
        Some(d) => vec![d],
        None => c
            .info("keyspace")
            .await?
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("db").and_then(|n| n.parse().ok()))
            .collect(),
    })
}

/// One `SCAN` step: the next cursor and the keys.
pub(super) async fn scan(
    c: &mut Resp,
    db: u32,
    cursor: &[u8],
    pattern: Option<&str>,
) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut args: Vec<&[u8]> = vec![b"SCAN", cursor];
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
    let cursor = match parts.pop() {
        Some(Reply::Bulk(Some(cur))) => cur,
        _ => return Err(c.protocol("bad SCAN reply")),
    };
    let keys = keys
        .into_iter()
        .filter_map(|k| match k {
            Reply::Bulk(Some(b)) => Some(b),
            _ => None,
        })
        .collect();
    Ok((cursor, keys))
}

/// Measures every key of the server (or of `conn`'s database number).
pub(crate) async fn measure(conn: &RedisConn) -> Result<ContentDigest> {
    let mut c = Resp::connect(conn).await?;
    let mut acc = Accumulator::default();
    for db in databases(&mut c, conn).await? {
        c.select(db).await?;
        let mut cursor = b"0".to_vec();
        loop {
            let (next, keys) = scan(&mut c, db, &cursor, None).await?;
            for k in &keys {
                send_key(&mut c, k, false).await?;
            }
            c.flush().await?;
            for k in &keys {
                let replies = read_key(&mut c, false).await?;
                acc.add(db, k, &replies);
            }
            cursor = next;
            if cursor == b"0" {
                break;
            }
        }
    }
    Ok(acc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[test]
    fn hashes_and_sets_do_not_depend_on_order() {
        let mut a = Accumulator::default();
        let mut b = Accumulator::default();
        let none = Reply::Error("WRONGTYPE".into());
        let hash = |pairs: &[&str]| Reply::Array(Some(pairs.iter().map(|p| bulk(p)).collect()));
        let t = Reply::Simple("hash".into());
        assert!(a.add(0, b"h", &[t.clone(), none.clone(), hash(&["f1", "v1", "f2", "v2"])]));
        assert!(b.add(0, b"h", &[t.clone(), none.clone(), hash(&["f2", "v2", "f1", "v1"])]));
        a.add(0, b"s", &[Reply::Simple("string".into()), bulk("x")]);
        b.add(0, b"s", &[Reply::Simple("string".into()), bulk("x")]);
        assert_eq!(a.finish(), b.finish());
        b.add(1, b"s", &[Reply::Simple("string".into()), bulk("x")]);
        assert_ne!(a.finish(), b.finish());
        assert!(!a.add(0, b"gone", &[Reply::Simple("none".into())]));
    }
}
