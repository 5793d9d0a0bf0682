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
//! start). The snapshot is exact at that replication offset ([`Position::RedisReplication`](crate::Position::RedisReplication)).
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
//!
//! # Content digest
//!
//! The logical export records the key count and digest ([`crate::digest::REDIS_ALGORITHM`])
//! of exactly the keys it wrote: each key's `PTTL`, `DUMP`, `TYPE` and value are read in one
//! `MULTI`/`EXEC`. The RDB snapshot's digest is exact too: the snapshot is spooled to a
//! private temporary file as it streams past, loaded by a private `redis-server` (loopback,
//! random password, no persistence) once complete, measured, and both are removed. That needs
//! `redis-server` on the backup host, disk for one more copy of the snapshot and memory for
//! its dataset; without `redis-server` the stream records a note instead (and
//! `skip_content` avoids the cost).

mod admin;
mod digest;
mod logical;
mod options;
mod pipe;
mod rdb;
pub(crate) mod resp;
mod restore;
mod server;

pub use options::{RedisMode, RedisOptions, RedisRestoreOptions};
pub use restore::RedisRestorer;

pub(crate) use admin::{flush_all, key_counts};
pub(crate) use digest::measure;
pub(crate) use server::RedisServer;

use crate::conn::RedisConn;
use crate::error::{DumpError, Result};
use crate::stream::Dumps;

/// A Redis server to back up.
#[derive(Clone, Debug)]
pub struct RedisSource {
    conn: RedisConn,
    opts: RedisOptions,
    skip_content: bool,
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
        Ok(RedisSource { conn, opts, skip_content: false })
    }

    /// Leaves out the content digest (key count and digest) the dump records by default.
    pub fn skip_content(mut self, skip: bool) -> Self {
        self.skip_content = skip;
        self
    }

    /// Connects, authenticates and returns the single stream: `dump.rdb` or `redis.logical`.
    pub async fn dump(&self) -> Result<Dumps> {
        let mut c = resp::Resp::connect(&self.conn).await?;
        let server = c.info("server").await?;
        let version = resp::get(&server, "redis_version").unwrap_or("unknown").to_string();
        let mut dumps = Dumps::new();
        let conn = self.conn.clone();
        let opts = self.opts.clone();
        let content = !self.skip_content;
        match self.opts.mode {
            RedisMode::Rdb => dumps.push("dump.rdb".into(), move || {
                Box::pin(async move { rdb::rdb_stream(c, conn, version, content).await })
            }),
            RedisMode::Logical => dumps.push("redis.logical".into(), move || {
                Box::pin(async move { logical::logical_stream(c, conn, opts, version, content).await })
            }),
        }
        Ok(dumps)
    }
}
