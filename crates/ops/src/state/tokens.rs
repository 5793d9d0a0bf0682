//! The api_tokens table: the bearer tokens of lifeboatd's HTTP API, with their scopes.
//!
//! A token's text is `lbt_<id>_<secret>`: `id` is 16 lower-case hex digits (64 random bits,
//! public: it names the token in lists, logs and `revoke`), `secret` 64 hex digits (256
//! random bits from the operating system). The text is returned once, by
//! [`StateStore::create_token`], in a [`NewToken`] whose memory is wiped when dropped; the
//! database keeps only a keyed BLAKE3 hash of it, under a 256-bit key made at random for
//! each database (table `api_token_key`). As the secrets are 256-bit random values, a
//! fast keyed hash is enough: there is no password to guess, and a copy of the database
//! (hashes and key) gives nobody a token. Hashes are compared in constant time
//! (`blake3::Hash`'s equality), and no error, log line or [`TokenInfo`] ever holds a secret
//! or a hash.
//!
//! [`StateStore::authenticate_token`] answers `None` for anything that is not a live token
//! (malformed text, unknown id, wrong secret, revoked, expired), and records `last_used_at`
//! at most once a minute per token ([`LAST_USED_RESOLUTION`]), so a busy API does not write
//! the database on every request.
//!
//! Names are 1 to 64 characters of `A-Z a-z 0-9 . _ - @`; no two unrevoked tokens share a
//! name (a rotation creates the new token under another name, or revokes the old one first).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::async_store::AsyncStateStore;
use super::columns::{millis, opt_time, time};
use super::error::StateError;
use super::handle::StateStore;

/// What a token may do. Serialised lower-case (`read`, `operate`, `admin`, `metrics`).
///
/// `admin` ⊇ `operate` ⊇ `read` ⊇ `metrics`: [`Scope::grants`] says which scope covers
/// which. `metrics` alone lets a scraper read `/metrics` and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every GET of the API (status, plans, jobs, logs, backups, repositories, metrics).
    Read,
    /// Read, plus running plans and cancelling jobs.
    Operate,
    /// Operate, plus reloading the configuration.
    Admin,
    /// Only `GET /metrics`.
    Metrics,
}

impl Scope {
    /// Every scope, in the order they are stored and shown.
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Operate, Scope::Admin, Scope::Metrics];

    /// The scope's name (`read`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Admin => "admin",
            Scope::Metrics => "metrics",
        }
    }

    /// True when a token holding `self` may do what `needed` allows.
    pub fn grants(self, needed: Scope) -> bool {
        fn rank(scope: Scope) -> u8 {
            match scope {
                Scope::Metrics => 0,
                Scope::Read => 1,
                Scope::Operate => 2,
                Scope::Admin => 3,
            }
        }
        rank(self) >= rank(needed)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is none of `read`, `operate`, `admin`, `metrics`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token scope {0:?} (expected read, operate, admin or metrics)")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.chars().take(32).collect()))
    }
}

/// A token as listed: never its secret nor its hash. Serialises as the API's and the CLI's
/// JSON for a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The public id (16 hex digits), the middle part of the token's text.
    pub id: String,
    /// The name it was created with (who or what uses it).
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last accepted, to the minute ([`LAST_USED_RESOLUTION`]).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
    /// True when one of the token's scopes [grants](Scope::grants) `needed`.
    pub fn allows(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|scope| scope.grants(needed))
    }

    /// True when the token is neither revoked nor expired at `at`.
    pub fn is_live(&self, at: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expires| expires > at)
    }
}

/// A token just created: its listing and its text, which is shown once and never again.
/// The text's memory is wiped when this is dropped; `Debug` does not show it.
pub struct NewToken {
    /// The token as listed.
    pub info: TokenInfo,
    /// The token's text, `lbt_<id>_<secret>`: what a client sends as `Authorization: Bearer`.
    pub secret: Zeroizing<String>,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken").field("info", &self.info).field("secret", &"<redacted>").finish()
    }
}

/// How often `last_used_at` is written for one token at most.
pub const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

/// The longest token name.
pub const MAX_TOKEN_NAME: usize = 64;

const PREFIX: &str = "lbt_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
const TABLE: &str = "api_tokens";
const COLUMNS: &str = "id, name, scopes, created_at, expires_at, last_used_at, revoked_at";

impl StateStore {
    /// Creates a token named `name` with `scopes`, valid until `expires_at` (or forever),
    /// created at `at`. The returned [`NewToken::secret`] is the only copy of its text.
    ///
    /// Refused ([`InvalidInput`](super::ErrorKind::InvalidInput)): a bad name, no scope, an
    /// expiry not after `at`; ([`Conflict`](super::ErrorKind::Conflict)): an unrevoked
    /// token with the same name exists.
    pub fn create_token(
        &mut self,
        name: &str,
        scopes: &[Scope],
        expires_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<NewToken, StateError> {
        let op = "create an API token";
        check_name(&self.path, op, name)?;
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(self.invalid(op, "a token needs at least one scope".to_owned()));
        }
        if expires_at.is_some_and(|expires| expires <= at) {
            return Err(self.invalid(op, "the expiry time is not in the future".to_owned()));
        }
        let id = hex(&random::<ID_BYTES>(&self.path, op)?);
        let secret = Zeroizing::new(hex(&*Zeroizing::new(random::<SECRET_BYTES>(&self.path, op)?)));
        let path = self.path.clone();
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        let key = token_key(&tx, &path)?;
        let taken: Option<String> = tx
            .query_row("SELECT id FROM api_tokens WHERE name = ?1 AND revoked_at IS NULL", [name], |row| row.get(0))
            .optional()
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        if let Some(other) = taken {
            return Err(StateError::TokenConflict {
                path,
                reason: format!("an unrevoked token named {name:?} exists already (id {other})"),
            });
        }
        let hash = secret_hash(&key, &id, &secret);
        tx.execute(
            "INSERT INTO api_tokens (id, name, scopes, secret_hash, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, name, scopes_text(&scopes), hash.as_bytes().as_slice(), millis(at), expires_at.map(millis)],
        )
        .map_err(|e| StateError::sqlite(&path, op, e))?;
        tx.commit().map_err(|e| StateError::sqlite(&path, op, e))?;
        let info = TokenInfo {
            id: id.clone(),
            name: name.to_owned(),
            scopes,
            created_at: DateTime::from_timestamp_millis(millis(at)).unwrap_or(at),
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        let mut text = Zeroizing::new(String::with_capacity(PREFIX.len() + id.len() + 1 + secret.len()));
        text.push_str(PREFIX);
        text.push_str(&id);
        text.push('_');
        text.push_str(&secret);
        Ok(NewToken { info, secret: text })
    }

    /// Every token, revoked and expired ones included, oldest first.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>, StateError> {
        let op = "list the API tokens";
        let sql = format!("SELECT {COLUMNS} FROM api_tokens ORDER BY created_at, id");
        let mut statement = self.connection.prepare(&sql).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let rows = statement.query_map([], RawToken::read).map_err(|e| StateError::sqlite(&self.path, op, e))?;
        let mut tokens = Vec::new();
        for row in rows {
            let raw = row.map_err(|e| StateError::sqlite(&self.path, op, e))?;
            tokens.push(raw.into_info(&self.path)?);
        }
        Ok(tokens)
    }

    /// Revokes the token whose id is `id_or_name`, else the unrevoked one named so, at `at`,
    /// and returns it. Revoking a revoked token changes nothing and returns it as it is.
    /// Neither found: [`StateError::NoSuchToken`] ([`NotFound`](super::ErrorKind::NotFound)).
    pub fn revoke_token(&mut self, id_or_name: &str, at: DateTime<Utc>) -> Result<TokenInfo, StateError> {
        let op = "revoke an API token";
        let path = self.path.clone();
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        let by_id = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1");
        let by_name = format!("SELECT {COLUMNS} FROM api_tokens WHERE name = ?1 AND revoked_at IS NULL");
        let mut found = tx.query_row(&by_id, [id_or_name], RawToken::read).optional();
        if matches!(found, Ok(None)) {
            found = tx.query_row(&by_name, [id_or_name], RawToken::read).optional();
        }
        let raw = found.map_err(|e| StateError::sqlite(&path, op, e))?.ok_or_else(|| StateError::NoSuchToken {
            path: path.clone(),
            token: id_or_name.chars().take(MAX_TOKEN_NAME).collect(),
        })?;
        let mut info = raw.into_info(&path)?;
        if info.revoked_at.is_none() {
            tx.execute("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1", params![info.id, millis(at)])
                .map_err(|e| StateError::sqlite(&path, op, e))?;
            tx.commit().map_err(|e| StateError::sqlite(&path, op, e))?;
            info.revoked_at = Some(time(&path, TABLE, "revoked_at", millis(at))?);
        }
        Ok(info)
    }

    /// The live token whose text is `presented` at `at`, or `None` (malformed, unknown,
    /// wrong secret, revoked, expired: the caller cannot tell which, and neither can a
    /// client from the time it takes). Records `last_used_at` when the stored one is older
    /// than [`LAST_USED_RESOLUTION`].
    pub fn authenticate_token(&mut self, presented: &str, at: DateTime<Utc>) -> Result<Option<TokenInfo>, StateError> {
        let op = "check an API token";
        let path = self.path.clone();
        let (id, secret) = split_token(presented).unwrap_or(("", ""));
        let key = {
            let stored: Option<Vec<u8>> = self
                .connection
                .query_row("SELECT key FROM api_token_key WHERE id = 1", [], |row| row.get(0))
                .optional()
                .map_err(|e| StateError::sqlite(&path, op, e))?;
            match stored {
                Some(bytes) => key_from(&path, bytes)?,
                None => return Ok(None), // no token was ever created
            }
        };
        let sql = format!("SELECT {COLUMNS}, secret_hash FROM api_tokens WHERE id = ?1");
        let found = self
            .connection
            .query_row(&sql, [id], |row| Ok((RawToken::read(row)?, row.get::<_, Vec<u8>>(7)?)))
            .optional()
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        // Hash and compare even when the id is unknown, so the time taken says nothing.
        let presented_hash = secret_hash(&key, id, secret);
        let (raw, stored) = match found {
            Some((raw, stored)) => (Some(raw), stored),
            None => (None, vec![0; 32]),
        };
        let stored: [u8; 32] = stored.try_into().map_err(|_| StateError::BadValue {
            path: path.clone(),
            table: TABLE,
            column: "secret_hash",
            value: "(not 32 bytes)".to_owned(),
        })?;
        let matches = presented_hash == blake3::Hash::from_bytes(stored);
        let Some(raw) = raw.filter(|_| matches) else { return Ok(None) };
        let mut info = raw.into_info(&path)?;
        if !info.is_live(at) {
            return Ok(None);
        }
        if info.last_used_at.is_none_or(|last| at - last >= LAST_USED_RESOLUTION) {
            self.connection
                .execute("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1", params![info.id, millis(at)])
                .map_err(|e| StateError::sqlite(&path, "record an API token's use", e))?;
            info.last_used_at = Some(time(&path, TABLE, "last_used_at", millis(at))?);
        }
        Ok(Some(info))
    }

    fn invalid(&self, op: &'static str, reason: String) -> StateError {
        StateError::InvalidInput { path: self.path.clone(), op, reason }
    }
}

impl AsyncStateStore {
    /// [`StateStore::create_token`].
    pub async fn create_token(
        &self,
        name: String,
        scopes: Vec<Scope>,
        expires_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<NewToken, StateError> {
        self.call(move |s| s.create_token(&name, &scopes, expires_at, at)).await
    }

    /// [`StateStore::list_tokens`].
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StateError> {
        self.call(|s| s.list_tokens()).await
    }

    /// [`StateStore::revoke_token`].
    pub async fn revoke_token(&self, id_or_name: String, at: DateTime<Utc>) -> Result<TokenInfo, StateError> {
        self.call(move |s| s.revoke_token(&id_or_name, at)).await
    }

    /// [`StateStore::authenticate_token`]; the text is wiped from memory after the check.
    pub async fn authenticate_token(
        &self,
        presented: Zeroizing<String>,
        at: DateTime<Utc>,
    ) -> Result<Option<TokenInfo>, StateError> {
        self.call(move |s| s.authenticate_token(&presented, at)).await
    }
}

/// `(id, secret)` of a well-formed token text.
fn split_token(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_of =
        |s: &str, bytes: usize| s.len() == bytes * 2 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex_of(id, ID_BYTES) && hex_of(secret, SECRET_BYTES)).then_some((id, secret))
}

fn secret_hash(key: &[u8; 32], id: &str, secret: &str) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(b"lifeboat api token v1\0");
    hasher.update(id.as_bytes());
    hasher.update(b"\0");
    hasher.update(secret.as_bytes());
    hasher.finalize()
}

/// The database's token key, made (at random) and stored on first use, inside the caller's
/// transaction.
fn token_key(tx: &rusqlite::Transaction<'_>, path: &str) -> Result<Zeroizing<[u8; 32]>, StateError> {
    let op = "read the API token key";
    let stored: Option<Vec<u8>> = tx
        .query_row("SELECT key FROM api_token_key WHERE id = 1", [], |row| row.get(0))
        .optional()
        .map_err(|e| StateError::sqlite(path, op, e))?;
    if let Some(bytes) = stored {
        return key_from(path, bytes);
    }
    let key = Zeroizing::new(random::<32>(path, "make the API token key")?);
    tx.execute("INSERT INTO api_token_key (id, key) VALUES (1, ?1)", [key.as_slice()])
        .map_err(|e| StateError::sqlite(path, "store the API token key", e))?;
    Ok(key)
}

fn key_from(path: &str, bytes: Vec<u8>) -> Result<Zeroizing<[u8; 32]>, StateError> {
    let bytes = Zeroizing::new(bytes);
    let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| StateError::BadValue {
        path: path.to_owned(),
        table: "api_token_key",
        column: "key",
        value: "(not 32 bytes)".to_owned(),
    })?;
    Ok(Zeroizing::new(key))
}

fn random<const N: usize>(path: &str, op: &'static str) -> Result<[u8; N], StateError> {
    lifeboat_crypto::random_bytes::<N>()
        .map_err(|e| StateError::Internal { path: path.to_owned(), reason: format!("cannot {op}: {e}") })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

fn check_name(path: &str, op: &'static str, name: &str) -> Result<(), StateError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TOKEN_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        return Ok(());
    }
    Err(StateError::InvalidInput {
        path: path.to_owned(),
        op,
        reason: format!(
            "a token name is 1 to {MAX_TOKEN_NAME} characters of A-Z a-z 0-9 . _ - @, not {:?}",
            name.chars().take(MAX_TOKEN_NAME + 1).collect::<String>()
        ),
    })
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

/// A row as read, before its values are checked.
struct RawToken {
    id: String,
    name: String,
    scopes: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl RawToken {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawToken {
            id: row.get(0)?,
            name: row.get(1)?,
            scopes: row.get(2)?,
            created_at: row.get(3)?,
            expires_at: row.get(4)?,
            last_used_at: row.get(5)?,
            revoked_at: row.get(6)?,
        })
    }

    fn into_info(self, path: &str) -> Result<TokenInfo, StateError> {
        let scopes = self
            .scopes
            .split(',')
            .map(|s| {
                s.parse::<Scope>().map_err(|_| StateError::BadValue {
                    path: path.to_owned(),
                    table: TABLE,
                    column: "scopes",
                    value: self.scopes.chars().take(64).collect(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TokenInfo {
            id: self.id,
            name: self.name,
            scopes,
            created_at: time(path, TABLE, "created_at", self.created_at)?,
            expires_at: opt_time(path, TABLE, "expires_at", self.expires_at)?,
            last_used_at: opt_time(path, TABLE, "last_used_at", self.last_used_at)?,
            revoked_at: opt_time(path, TABLE, "revoked_at", self.revoked_at)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_metrics_is_only_metrics() {
        assert!(Scope::Admin.grants(Scope::Operate) && Scope::Operate.grants(Scope::Read));
        assert!(Scope::Read.grants(Scope::Metrics));
        assert!(!Scope::Metrics.grants(Scope::Read) && !Scope::Read.grants(Scope::Operate));
        assert_eq!("operate".parse::<Scope>(), Ok(Scope::Operate));
        assert!("root".parse::<Scope>().is_err());
    }

    #[test]
    fn only_well_formed_texts_split() {
        let id = "0123456789abcdef";
        let secret = "ab".repeat(32);
        assert_eq!(split_token(&format!("lbt_{id}_{secret}")), Some((id, secret.as_str())));
        assert_eq!(split_token(&format!("lbt_{id}_{}", secret.to_uppercase())), None);
        assert_eq!(split_token(&format!("lbt_{id}{secret}")), None);
        assert_eq!(split_token(&format!("xyz_{id}_{secret}")), None);
        assert_eq!(split_token(""), None);
    }
}
