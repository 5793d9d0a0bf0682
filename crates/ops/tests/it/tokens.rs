//! API tokens in the state store, on real SQLite files: creation and the text shown once,
//! what is stored (a hash, never the secret), authentication of good, wrong, malformed,
//! revoked and expired tokens, last use, names, scopes, the async wrapper, and a token made
//! by an attached handle (the CLI next to a running lifeboatd) accepted by the owner.

use chrono::{DateTime, Duration, Utc};
use lifeboat_ops::state::{
    AsyncStateStore, ErrorKind, LAST_USED_RESOLUTION, Scope, StateOptions, StateStore, TokenInfo,
};
use zeroize::Zeroizing;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_232_800 + seconds, 0).expect("a valid test time")
}

fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("a raw connection")
}

#[test]
fn a_created_token_authenticates_and_only_its_hash_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut state = StateStore::open(&path).unwrap();
    let token = state.create_token("prometheus", &[Scope::Metrics, Scope::Read, Scope::Read], None, at(0)).unwrap();
    let text = token.secret.as_str().to_owned();
    let parts: Vec<&str> = text.split('_').collect();
    assert_eq!(parts.len(), 3, "{}", token.info.id);
    assert_eq!((parts[0], parts[1]), ("lbt", token.info.id.as_str()));
    assert_eq!((parts[1].len(), parts[2].len()), (16, 64));
    assert_eq!(token.info.scopes, vec![Scope::Read, Scope::Metrics], "sorted, deduplicated");
    assert!(!format!("{token:?}").contains(parts[2]), "Debug shows no secret");

    let found = state.authenticate_token(&text, at(5)).unwrap().expect("the token is accepted");
    assert_eq!(found.name, "prometheus");
    assert_eq!(found.last_used_at, Some(at(5)));
    assert!(found.allows(Scope::Read) && found.allows(Scope::Metrics) && !found.allows(Scope::Operate));
    drop(state);

    // The file holds neither the secret nor the token text, in any table.
    let bytes = std::fs::read(&path).unwrap();
    let wal = std::fs::read(dir.path().join("state.db-wal")).unwrap_or_default();
    for haystack in [&bytes, &wal] {
        assert!(!haystack.windows(parts[2].len()).any(|w| w == parts[2].as_bytes()), "secret stored in clear");
    }
    let hash: Vec<u8> =
        raw(&path).query_row("SELECT secret_hash FROM api_tokens", [], |r| r.get(0)).expect("one token row");
    assert_eq!(hash.len(), 32);
    let key: Vec<u8> = raw(&path).query_row("SELECT key FROM api_token_key", [], |r| r.get(0)).unwrap();
    assert_eq!(key.len(), 32);
    assert_ne!(hash, blake3::hash(parts[2].as_bytes()).as_bytes().to_vec(), "the hash is keyed");
}

#[test]
fn wrong_malformed_unknown_revoked_and_expired_tokens_are_refused() {
    let mut state = StateStore::open_in_memory().unwrap();
    assert_eq!(state.authenticate_token("lbt_0123456789abcdef_".to_owned().as_str(), at(0)).unwrap(), None);
    let live = state.create_token("ci", &[Scope::Operate], None, at(0)).unwrap();
    let brief = state.create_token("brief", &[Scope::Read], Some(at(60)), at(0)).unwrap();
    let text = live.secret.as_str();

    // One flipped secret digit, the other token's secret under this id, junk, case, spaces.
    let mut flipped = text.to_owned();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    let other_secret = brief.secret.rsplit('_').next().unwrap();
    let swapped = format!("lbt_{}_{other_secret}", live.info.id);
    let unknown_id = format!("lbt_ffffffffffffffff_{}", text.rsplit('_').next().unwrap());
    for bad in [
        flipped.as_str(),
        swapped.as_str(),
        unknown_id.as_str(),
        "",
        "lbt_",
        "Bearer x",
        &text.to_uppercase(),
        &format!(" {text}"),
        &format!("{text}0"),
    ] {
        assert_eq!(state.authenticate_token(bad, at(1)).unwrap(), None, "{bad:?} accepted");
    }
    assert!(state.authenticate_token(text, at(1)).unwrap().is_some());

    // Expiry: accepted before, refused at and after the expiry time.
    assert!(state.authenticate_token(&brief.secret, at(59)).unwrap().is_some());
    assert_eq!(state.authenticate_token(&brief.secret, at(60)).unwrap(), None);

    // Revocation by name: refused from then on; the listing shows when.
    let revoked = state.revoke_token("ci", at(100)).unwrap();
    assert_eq!(revoked.revoked_at, Some(at(100)));
    assert_eq!(state.authenticate_token(text, at(101)).unwrap(), None);
    // Revoking again (by id) changes nothing.
    assert_eq!(state.revoke_token(&live.info.id, at(200)).unwrap().revoked_at, Some(at(100)));
    let error = state.revoke_token("ci", at(200)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert!(error.to_string().contains("\"ci\""), "{error}");
}

#[test]
fn last_use_is_written_at_most_once_a_minute() {
    let mut state = StateStore::open_in_memory().unwrap();
    let token = state.create_token("dash", &[Scope::Read], None, at(0)).unwrap();
    let seen = |state: &StateStore| state.list_tokens().unwrap()[0].last_used_at;
    assert_eq!(seen(&state), None);
    state.authenticate_token(&token.secret, at(10)).unwrap().unwrap();
    assert_eq!(seen(&state), Some(at(10)));
    state.authenticate_token(&token.secret, at(30)).unwrap().unwrap();
    assert_eq!(seen(&state), Some(at(10)), "within the resolution: not written");
    let later = at(10) + LAST_USED_RESOLUTION;
    state.authenticate_token(&token.secret, later).unwrap().unwrap();
    assert_eq!(seen(&state), Some(later));
}

#[test]
fn names_scopes_and_expiry_are_checked_and_a_live_name_is_unique() {
    let mut state = StateStore::open_in_memory().unwrap();
    for name in ["", "has space", "new\nline", "ünï", &"x".repeat(65)] {
        let error = state.create_token(name, &[Scope::Read], None, at(0)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{name:?}: {error}");
    }
    let error = state.create_token("none", &[], None, at(0)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    let error = state.create_token("past", &[Scope::Read], Some(at(0)), at(0)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");

    let first = state.create_token("ops-team@site.a", &[Scope::Admin], None, at(0)).unwrap();
    let error = state.create_token("ops-team@site.a", &[Scope::Read], None, at(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
    assert!(!error.to_string().contains(first.secret.rsplit('_').next().unwrap()), "{error}");
    state.revoke_token(&first.info.id, at(2)).unwrap();
    let second = state.create_token("ops-team@site.a", &[Scope::Read], None, at(3)).unwrap();
    let listed: Vec<TokenInfo> = state.list_tokens().unwrap();
    assert_eq!(listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [&first.info.id, &second.info.id]);
    assert!(listed[0].revoked_at.is_some() && listed[1].revoked_at.is_none());
    let json = serde_json::to_string(&listed).unwrap();
    assert!(!json.contains("hash") && !json.contains(second.secret.as_str()), "{json}");
    assert!(json.contains("\"scopes\":[\"read\"]"), "{json}");
}

#[test]
fn a_token_made_by_an_attached_handle_is_accepted_by_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut owner = StateStore::open(&path).unwrap();
    let mut cli = StateStore::attach(&path, StateOptions::default()).unwrap();
    let token = cli.create_token("cli-made", &[Scope::Operate], Some(at(0) + Duration::days(90)), at(0)).unwrap();
    let found = owner.authenticate_token(&token.secret, at(1)).unwrap().expect("accepted by the owner");
    assert_eq!(found.expires_at, Some(at(0) + Duration::days(90)));
    // Both handles made the key lazily in one transaction: there is one key.
    owner.create_token("owner-made", &[Scope::Read], None, at(2)).unwrap();
    let keys: i64 = raw(&path).query_row("SELECT count(*) FROM api_token_key", [], |r| r.get(0)).unwrap();
    assert_eq!(keys, 1);
    assert!(owner.authenticate_token(&token.secret, at(3)).unwrap().is_some());
}

#[tokio::test]
async fn the_async_store_creates_checks_lists_and_revokes() {
    let state = AsyncStateStore::new(StateStore::open_in_memory().unwrap());
    let token = state.create_token("async".into(), vec![Scope::Read], None, at(0)).await.unwrap();
    let text = Zeroizing::new(token.secret.as_str().to_owned());
    assert!(state.authenticate_token(text.clone(), at(1)).await.unwrap().is_some());
    assert_eq!(state.list_tokens().await.unwrap().len(), 1);
    state.revoke_token("async".into(), at(2)).await.unwrap();
    assert_eq!(state.authenticate_token(text, at(3)).await.unwrap(), None);
}
