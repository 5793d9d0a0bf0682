//! `lifeboat token`: create, list and revoke lifeboatd's API tokens, written into its state
//! database through lifeboat-ops' state store (attached, so a running lifeboatd keeps it).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use chrono::Utc;
use lifeboat_ops::config::ServiceSettings;
use lifeboat_ops::schedule::Span;
use lifeboat_ops::state::{Scope, StateOptions, StateStore, TokenInfo};

use crate::flags::{Global, StateArg, TokenCommand};
use crate::render::{self, print_json};

/// Runs a `token` subcommand.
pub async fn run(global: &Global, command: TokenCommand) -> Result<ExitCode> {
    match command {
        TokenCommand::Create { name, scopes, expires, state } => {
            let scopes = scopes
                .iter()
                .map(|s| s.trim().parse::<Scope>().map_err(|e| anyhow!("--scope: {e}")))
                .collect::<Result<Vec<_>>>()?;
            let now = Utc::now();
            let expires_at = match &expires {
                Some(text) => Some(now + Span::parse("--expires", text)?.as_delta()),
                None => None,
            };
            let json = state.json;
            let created =
                with_store(global, &state, move |store| store.create_token(&name, &scopes, expires_at, now)).await?;
            if json {
                print_json(&serde_json::json!({ "token": created.info, "secret": created.secret.as_str() }))?;
            } else {
                println!("{}", created.secret.as_str());
                eprintln!(
                    "lifeboat: token {} (id {}, scopes {}) created; its text above is shown only once",
                    render::escape(&created.info.name),
                    created.info.id,
                    scope_names(&created.info)
                );
            }
        }
        TokenCommand::List { state } => {
            let json = state.json;
            let tokens = with_store(global, &state, |store| store.list_tokens()).await?;
            if json {
                print_json(&tokens)?;
            } else {
                print_tokens(&tokens);
            }
        }
        TokenCommand::Revoke { token, state } => {
            let json = state.json;
            let revoked = with_store(global, &state, move |store| store.revoke_token(&token, Utc::now())).await?;
            if json {
                print_json(&revoked)?;
            } else {
                println!("revoked token {} (id {})", render::escape(&revoked.name), revoked.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The state database: `--state`, else the config's `[service] state`, else lifeboatd's default.
pub(crate) fn state_path(global: &Global, state: &StateArg) -> Result<PathBuf> {
    if let Some(path) = &state.state {
        return Ok(path.clone());
    }
    if let Some(config) = &global.config {
        let config = lifeboat_ops::Config::load(config)?;
        if let Some(path) = config.service.state_path() {
            return Ok(path);
        }
    }
    ServiceSettings::default_state_path().context("no state database: pass --state PATH (or set HOME)")
}

/// Runs `f` on the state store off the reactor. The store is attached (no owner lock), so
/// this works beside a running lifeboatd and without one alike.
pub(crate) async fn with_store<T, F>(global: &Global, state: &StateArg, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut StateStore) -> Result<T, lifeboat_ops::state::StateError> + Send + 'static,
{
    let path = state_path(global, state)?;
    let result = tokio::task::spawn_blocking(move || {
        let mut store = StateStore::attach(&path, StateOptions::default())?;
        f(&mut store)
    })
    .await
    .context("the state database task failed")?;
    Ok(result?)
}

fn scope_names(info: &TokenInfo) -> String {
    info.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

fn print_tokens(tokens: &[TokenInfo]) {
    if tokens.is_empty() {
        println!("no tokens");
        return;
    }
    let when = |t: Option<chrono::DateTime<Utc>>| t.map(|t| t.format("%Y-%m-%d %H:%M").to_string());
    println!("{:<16}  {:<20}  {:<22}  {:<16}  {:<16}  STATE", "ID", "NAME", "SCOPES", "CREATED", "EXPIRES");
    for t in tokens {
        let state = match (t.revoked_at, t.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(e)) if e <= Utc::now() => "expired",
            _ => "live",
        };
        println!(
            "{:<16}  {:<20}  {:<22}  {:<16}  {:<16}  {state}",
            t.id,
            render::escape(&t.name),
            scope_names(t),
            when(Some(t.created_at)).unwrap_or_default(),
            when(t.expires_at).unwrap_or_else(|| "never".into()),
        );
    }
}
