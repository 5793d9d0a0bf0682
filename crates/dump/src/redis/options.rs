//! What to dump from a Redis server and how to restore into one: plain option types, shared by
//! the source, the two dump modes and the restorer.

use std::str::FromStr;

use crate::error::{DumpError, Result};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("logical".parse::<RedisMode>().unwrap(), RedisMode::Logical);
        assert!("x".parse::<RedisMode>().is_err());
    }
}
