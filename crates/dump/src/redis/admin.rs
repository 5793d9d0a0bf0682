//! The few server commands scratch targets need: is a Redis empty, flush it, is it up.

use super::resp::{Resp, get};
use crate::conn::RedisConn;
use crate::error::{DumpError, Result};

/// The key counts of the databases holding keys (`INFO keyspace`), e.g. `("db0", 5)`.
pub(crate) async fn key_counts(conn: &RedisConn) -> Result<Vec<(String, u64)>> {
    let mut c = Resp::connect(conn).await?;
    let info = c.info("keyspace").await?;
    Ok(info
        .iter()
        .filter(|(k, _)| k.starts_with("db"))
        .map(|(k, v)| {
            let keys = v.split(',').find_map(|p| p.strip_prefix("keys=")).and_then(|n| n.parse().ok()).unwrap_or(0);
            (k.clone(), keys)
        })
        .collect())
}

/// `FLUSHALL`.
pub(crate) async fn flush_all(conn: &RedisConn) -> Result<()> {
    let mut c = Resp::connect(conn).await?;
    c.cmd(&[b"FLUSHALL"], "flushing every database").await.map(|_| ())
}

/// Whether the server answers `PING` with its dataset loaded (`Ok(false)`: still loading).
pub(crate) async fn ready(conn: &RedisConn) -> Result<bool> {
    match Resp::connect(conn).await {
        Ok(mut c) => {
            let info = c.info("persistence").await?;
            Ok(get(&info, "loading") != Some("1"))
        }
        Err(DumpError::Server { detail, .. }) if detail.starts_with("LOADING") => Ok(false),
        Err(e) => Err(e),
    }
}
