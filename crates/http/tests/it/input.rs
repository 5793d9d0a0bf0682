//! Bad input is a 4xx in the API's JSON shape with its stable code, never a 500 and never a
//! dropped connection: unknown plans, jobs and paths, wrong methods, bad JSON, wrong types,
//! unknown fields, huge bodies (declared and chunked), bad query parameters and job ids.

use reqwest::{Body, Method, StatusCode};

use crate::common::TestServer;

#[tokio::test]
async fn unknown_things_are_404_and_wrong_methods_405() {
    let server = TestServer::start().await;
    let (read, operate) = (&server.tokens.read, &server.tokens.operate);
    let cases: Vec<(Method, &str, &str, StatusCode, &str)> = vec![
        (Method::GET, "/api/v1/plans/nope", read, StatusCode::NOT_FOUND, "not_found"),
        (Method::POST, "/api/v1/plans/nope/run", operate, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/api/v1/jobs/987654", read, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/api/v1/jobs/987654/log", read, StatusCode::NOT_FOUND, "not_found"),
        (Method::POST, "/api/v1/jobs/987654/cancel", operate, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/api/v1/backups?plan=nope", read, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/api/v1/nothing", read, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/index.html", read, StatusCode::NOT_FOUND, "not_found"), // "/" is the dashboard
        (Method::GET, "/api/v1/plans/web/run", operate, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::DELETE, "/api/v1/plans", read, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::GET, "/api/v1/reload", read, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::PUT, "/metrics", read, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ];
    for (method, path, token, status, code) in cases {
        let what = format!("{method} {path}");
        server.send(server.request(method, path, Some(token))).await.assert_error(status, code, &what);
    }
    // Unknown paths answer 404 even without a token (nothing to protect, nothing revealed).
    server.send(server.request(Method::GET, "/nope", None)).await.assert_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no token",
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_bodies_are_400_or_413() {
    let server = TestServer::start().await;
    let token = &server.tokens.operate;
    let run = "/api/v1/plans/web/run";
    let json = |body: &str| {
        server.request(Method::POST, run, Some(token)).header("content-type", "application/json").body(body.to_owned())
    };
    for (body, what) in [
        ("{", "truncated JSON"),
        ("not json", "not JSON"),
        ("{\"kind\": 5}", "a number for kind"),
        ("{\"kind\": \"explode\"}", "an unknown kind"),
        ("{\"kind\": \"forget\"}", "a kind the API does not run"),
        ("{\"kind\": \"backup\", \"force\": true}", "an unknown field"),
        ("[1, 2]", "an array"),
        ("\"backup\"", "a string"),
    ] {
        server.send(json(body)).await.assert_error(StatusCode::BAD_REQUEST, "invalid_request", what);
    }
    let xml = server.request(Method::POST, run, Some(token)).header("content-type", "application/xml").body("<run/>");
    server.send(xml).await.assert_error(StatusCode::BAD_REQUEST, "invalid_request", "not JSON by content type");

    let huge = format!("{{\"kind\": \"backup\", \"pad\": \"{}\"}}", "x".repeat(200 * 1024));
    server.send(json(&huge)).await.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "declared");
    // The same without a Content-Length: a chunked stream cut by the body limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..100).map(|_| Ok(vec![b' '; 4096])).collect();
    let chunked = server
        .request(Method::POST, run, Some(token))
        .header("content-type", "application/json")
        .body(Body::wrap_stream(futures::stream::iter(chunks)));
    server.send(chunked).await.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "chunked");
    // A huge body on an endpoint that reads none is refused on its declared length too.
    let cancel = server.request(Method::POST, "/api/v1/jobs/1/cancel", Some(token)).body(huge.clone());
    server.send(cancel).await.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "cancel");
    // The server still answers after all that.
    assert_eq!(server.get("/api/v1/plans", &server.tokens.read).await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_and_job_ids_are_400() {
    let server = TestServer::start().await;
    let (read, operate) = (&server.tokens.read, &server.tokens.operate);
    for query in [
        "limit=abc",
        "limit=0",
        "limit=1001",
        "limit=-3",
        "state=sleeping",
        "kind=dance",
        "before=zero",
        "before=0",
        "before=-5",
        "plan=web&colour=blue",
        "limit=99999999999999999999",
    ] {
        let path = format!("/api/v1/jobs?{query}");
        server.get(&path, read).await.assert_error(StatusCode::BAD_REQUEST, "invalid_request", &path);
    }
    server.get("/api/v1/backups?plan=web&x=1", read).await.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "backups with an unknown parameter",
    );
    for id in ["abc", "0", "-1", "1.5", "99999999999999999999", "%FF"] {
        for (method, path, token) in [
            (Method::GET, format!("/api/v1/jobs/{id}"), read),
            (Method::GET, format!("/api/v1/jobs/{id}/log"), read),
            (Method::POST, format!("/api/v1/jobs/{id}/cancel"), operate),
        ] {
            let what = format!("{method} {path}");
            server.send(server.request(method, &path, Some(token))).await.assert_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &what,
            );
        }
    }
    // Good parameters pass.
    let page = server.get("/api/v1/jobs?plan=web&state=succeeded&kind=backup&limit=10&before=5", read).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.json["jobs"], serde_json::json!([]));
    server.stop().await;
}
