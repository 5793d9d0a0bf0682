//! The API's bearer tokens, as stored in the state database (the CLI's `lifeboat token`
//! writes the same table through `lifeboat_ops::state` directly).
//!
//! A token's text is `lbt_<id>_<secret>` (16 + 64 hex digits, 256 random secret bits),
//! shown once at creation; the database keeps a keyed BLAKE3 hash of it, and the check is
//! constant-time. Scopes nest: admin ⊇ operate ⊇ read ⊇ metrics.
//!
//! ```
//! use lifeboat_http::tokens::{self, Scope};
//! use lifeboat_ops::state::{AsyncStateStore, StateStore};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), lifeboat_ops::state::StateError> {
//! let state = AsyncStateStore::new(StateStore::open_in_memory()?);
//! let new = tokens::create(&state, "grafana", &[Scope::Read], None).await?;
//! println!("export LIFEBOAT_TOKEN={}", new.secret.as_str()); // shown once
//! assert_eq!(tokens::list(&state).await?[0].name, "grafana");
//! tokens::revoke(&state, "grafana").await?;
//! # Ok(()) }
//! ```

use chrono::{DateTime, Utc};
use lifeboat_ops::state::{AsyncStateStore, StateError};

pub use lifeboat_ops::state::{NewToken, Scope, TokenInfo, UnknownScope};

/// Creates a token named `name` with `scopes`, valid until `expires_at` (or forever), now.
pub async fn create(
    state: &AsyncStateStore,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<DateTime<Utc>>,
) -> Result<NewToken, StateError> {
    state.create_token(name.to_owned(), scopes.to_vec(), expires_at, Utc::now()).await
}

/// Every token, revoked and expired ones included (never a secret).
pub async fn list(state: &AsyncStateStore) -> Result<Vec<TokenInfo>, StateError> {
    state.list_tokens().await
}

/// Revokes the token with this id, or the unrevoked one with this name, now.
pub async fn revoke(state: &AsyncStateStore, id_or_name: &str) -> Result<TokenInfo, StateError> {
    state.revoke_token(id_or_name.to_owned(), Utc::now()).await
}
