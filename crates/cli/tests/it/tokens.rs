//! `lifeboat token create|list|revoke` on a state database: the text printed once, never
//! listed; revocation by name; bad input one clear error.

use crate::common::{EXIT_FAILURE, Out, lifeboat, run};

fn token(state: &std::path::Path, args: &[&str]) -> Out {
    let mut cmd = lifeboat();
    cmd.arg("token").args(args).arg("--state").arg(state);
    let out = run(cmd, b"");
    out.no_panic();
    out
}

#[test]
fn a_token_is_shown_once_listed_without_its_secret_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("lifeboatd.sqlite");
    let out = token(&state, &["create", "--name", "grafana", "--scope", "read,metrics", "--expires", "90d"]);
    out.ok();
    let text = out.text().trim().to_owned();
    assert!(text.starts_with("lbt_") && !text.contains('\n'), "{text:?}");
    out.stderr_has("grafana").stderr_has("shown only once");
    let secret = text.rsplit('_').next().unwrap().to_owned();

    let out = token(&state, &["create", "--name", "ci", "--scope", "operate", "--json"]);
    out.ok();
    let created = out.json();
    assert_eq!(created["token"]["scopes"], serde_json::json!(["operate"]));
    assert!(created["secret"].as_str().unwrap().starts_with("lbt_"));

    let out = token(&state, &["list", "--json"]);
    out.ok();
    let list = out.json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{list}");
    assert!(names.contains(&"grafana") && names.contains(&"ci"));
    let grafana = list.as_array().unwrap().iter().find(|t| t["name"] == "grafana").unwrap();
    assert_eq!(grafana["scopes"], serde_json::json!(["read", "metrics"]));
    assert!(grafana["expires_at"].is_string());
    assert!(!out.all().contains(&secret), "the list shows a secret");
    let table = token(&state, &["list"]);
    table.ok();
    assert!(table.text().contains("grafana") && table.text().contains("live"), "{}", table.text());
    assert!(!table.all().contains(&secret));

    let out = token(&state, &["revoke", "grafana"]);
    out.ok();
    assert!(out.text().contains("revoked token grafana"), "{}", out.text());
    let out = token(&state, &["list", "--json"]);
    let grafana = out.json().as_array().unwrap().iter().find(|t| t["name"] == "grafana").unwrap().clone();
    assert!(grafana["revoked_at"].is_string(), "{grafana}");

    // Bad input: one line, exit 1.
    let out = token(&state, &["revoke", "nobody"]);
    out.code(EXIT_FAILURE);
    out.stderr_has("nobody");
    let out = token(&state, &["create", "--name", "x", "--scope", "root"]);
    out.code(EXIT_FAILURE);
    out.stderr_has("root");
    let out = token(&state, &["create", "--name", "x", "--scope", "read", "--expires", "soon"]);
    out.code(EXIT_FAILURE);
    out.stderr_has("--expires");
}
