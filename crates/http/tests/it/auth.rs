//! Authentication and scopes on every endpoint: 401 without a token or with a bad one, 403
//! with too little scope, the open health endpoints, revocation taking effect at once, and
//! the access log naming the token but never showing it.

use reqwest::{Method, StatusCode};

use crate::common::{TestServer, access_log};

/// Every authenticated endpoint: method, path, body.
const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("GET", "/api/v1/status", ""),
    ("GET", "/api/status", ""),
    ("GET", "/api/v1/plans", ""),
    ("GET", "/api/v1/plans/web", ""),
    ("POST", "/api/v1/plans/web/run", "{\"kind\": \"backup\"}"),
    ("GET", "/api/v1/jobs", ""),
    ("GET", "/api/v1/jobs?plan=web&limit=5", ""),
    ("GET", "/api/v1/jobs/1", ""),
    ("GET", "/api/v1/jobs/1/log", ""),
    ("POST", "/api/v1/jobs/1/cancel", ""),
    ("GET", "/api/v1/backups", ""),
    ("GET", "/api/v1/backups?plan=web", ""),
    ("GET", "/api/v1/repositories", ""),
    ("POST", "/api/v1/reload", ""),
    ("GET", "/metrics", ""),
];

const OPERATE: &[(&str, &str)] = &[("POST", "/api/v1/plans/web/run"), ("POST", "/api/v1/jobs/1/cancel")];
const ADMIN: &[(&str, &str)] = &[("POST", "/api/v1/reload")];

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

#[tokio::test]
async fn every_endpoint_answers_401_without_a_valid_token() {
    let server = TestServer::start().await;
    let forged = format!("lbt_{}_{}", "0".repeat(16), "0".repeat(64));
    let revoked = server
        .service
        .state()
        .create_token("gone".into(), vec![lifeboat_ops::state::Scope::Admin], None, chrono::Utc::now())
        .await
        .unwrap();
    server.service.state().revoke_token("gone".into(), chrono::Utc::now()).await.unwrap();
    for (m, path, body) in ENDPOINTS {
        let what = format!("{m} {path}");
        let none = server.send(server.request(method(m), path, None).body(body.to_string())).await;
        none.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", &format!("{what} without a token"));
        let challenge = none.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{what}: WWW-Authenticate {challenge:?}");
        for (label, token) in
            [("forged", forged.as_str()), ("junk", "not-a-token"), ("revoked", revoked.secret.as_str())]
        {
            let answer = server.send(server.request(method(m), path, Some(token)).body(body.to_string())).await;
            answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", &format!("{what} with a {label} token"));
        }
        let basic =
            server.send(server.request(method(m), path, None).header("authorization", "Basic YWRtaW46YWRtaW4=")).await;
        basic.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", &format!("{what} with Basic auth"));
    }
    server.stop().await;
}

#[tokio::test]
async fn too_little_scope_is_403_and_enough_is_let_through() {
    let server = TestServer::start().await;
    let t = &server.tokens;
    for (m, path) in OPERATE.iter().chain(ADMIN) {
        for (label, token) in [("read", &t.read), ("metrics", &t.metrics)] {
            let answer = server.send(server.request(method(m), path, Some(token))).await;
            answer.assert_error(StatusCode::FORBIDDEN, "forbidden", &format!("{m} {path} with a {label} token"));
            let challenge = answer.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert!(challenge.contains("insufficient_scope"), "{challenge}");
        }
    }
    for (m, path) in ADMIN {
        let answer = server.send(server.request(method(m), path, Some(&t.operate))).await;
        answer.assert_error(StatusCode::FORBIDDEN, "forbidden", &format!("{m} {path} with an operate token"));
    }
    // A metrics token reads /metrics only.
    for (m, path, _) in ENDPOINTS.iter().filter(|(m, p, _)| *m == "GET" && *p != "/metrics") {
        let answer = server.send(server.request(method(m), path, Some(&t.metrics))).await;
        answer.assert_error(StatusCode::FORBIDDEN, "forbidden", &format!("{m} {path} with a metrics token"));
    }
    for token in [&t.metrics, &t.read, &t.operate, &t.admin] {
        let answer = server.get("/metrics", token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    // Higher scopes include the lower ones.
    for token in [&t.read, &t.operate, &t.admin] {
        let answer = server.get("/api/v1/plans", token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.json["plans"].as_array().map(Vec::len), Some(2), "{}", answer.text);
    }
    server.stop().await;
}

#[tokio::test]
async fn health_endpoints_need_no_token() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz"] {
        let answer = server.send(server.request(Method::GET, path, None)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
        assert!(answer.json["status"].is_string(), "{path}: {}", answer.text);
    }
    // A lifeboatd that is stopping is alive but no longer ready: it schedules nothing.
    server.service.shutdown(std::time::Duration::from_secs(1)).await;
    let answer = server.send(server.request(Method::GET, "/readyz", None)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.text);
    assert!(answer.text.contains("scheduler is stopped"), "{}", answer.text);
    let answer = server.send(server.request(Method::GET, "/healthz", None)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    server.stop().await;
}

#[tokio::test]
async fn a_revoked_token_is_refused_from_the_next_request_on() {
    let server = TestServer::start().await;
    let state = server.service.state();
    let token = state
        .create_token("short-lived".into(), vec![lifeboat_ops::state::Scope::Read], None, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(server.get("/api/v1/plans", &token.secret).await.status, StatusCode::OK);
    state.revoke_token(token.info.id.clone(), chrono::Utc::now()).await.unwrap();
    server.get("/api/v1/plans", &token.secret).await.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", "revoked");
    server.stop().await;
}

#[tokio::test]
async fn the_access_log_names_the_token_and_never_shows_it() {
    let server = TestServer::start().await;
    let answer = server
        .send(
            server
                .request(Method::GET, "/api/v1/plans?secret-looking=hunter2", Some(&server.tokens.read))
                .header("x-request-id", "trace-me-42"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.headers["x-request-id"], "trace-me-42", "a sane client id is kept");
    let denied = server
        .send(
            server
                .request(Method::POST, "/api/v1/reload", Some(&server.tokens.read))
                .header("x-request-id", "bad id\twith tab"),
        )
        .await;
    let generated = denied.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(generated, "bad id\twith tab");
    assert!(!generated.is_empty());
    server.stop().await;

    let log = access_log();
    let line = log.lines().find(|l| l.contains("trace-me-42")).unwrap_or_else(|| panic!("no access line in:\n{log}"));
    for field in ["method=GET", "path=/api/v1/plans", "status=200", "token=reader", "latency_ms="] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(!line.contains("hunter2"), "the query is not logged: {line}");
    let denied_line = log.lines().find(|l| l.contains(&generated)).expect("the denied request is logged");
    assert!(denied_line.contains("status=403") && denied_line.contains("token=reader"), "{denied_line}");
    let leaked = token_texts_in(&log);
    assert!(leaked.is_empty(), "a token's text is in the log: {leaked:?}");
}

/// Any `lbt_<16 hex>_<64 hex>` in the text (none may be in a log).
fn token_texts_in(log: &str) -> String {
    log.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("lbt_") && w.len() == 4 + 16 + 1 + 64)
        .collect::<Vec<_>>()
        .join(" ")
}
