//! HTTPS with rustls: a self-signed certificate made by the `openssl` command for the test,
//! a client trusting only it gets answers (401 without a token, 200 with one); plain HTTP
//! to the TLS port gets no answer; unusable certificate and key files are errors before
//! serving; and the plain-HTTP rule for listening addresses.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use lifeboat_http::{HttpErrorKind, Tls, check_listen, is_loopback, serve};
use reqwest::StatusCode;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::common::TestServer;

/// A self-signed certificate for `localhost` and 127.0.0.1, and its key, in `dir`.
fn self_signed(dir: &Path) -> Tls {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command runs");
    assert!(output.status.success(), "openssl req failed: {}", String::from_utf8_lossy(&output.stderr));
    Tls { cert, key }
}

fn client_trusting(cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&pem) {
        roots.add(der.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(config).timeout(Duration::from_secs(20)).build().unwrap()
}

#[tokio::test]
async fn https_serves_the_api_with_a_given_certificate() {
    let server = TestServer::start().await; // for its service and tokens
    let tls = self_signed(server.dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = lifeboat_http::router(server.service.clone());
    let served = tokio::spawn(serve(listener, app, Some(tls.clone()), async move {
        let _ = rx.await;
    }));
    let client = client_trusting(&tls.cert);
    let base = format!("https://localhost:{port}");
    let open = client.get(format!("{base}/api/v1/plans")).send().await.expect("a TLS answer");
    assert_eq!(open.status(), StatusCode::UNAUTHORIZED);
    let answer = client.get(format!("{base}/api/v1/plans")).bearer_auth(&server.tokens.read).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["plans"].as_array().map(Vec::len), Some(2));
    let health = client.get(format!("https://127.0.0.1:{port}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the IP is in the certificate too");

    // Plain HTTP to the TLS port: no HTTP answer at all.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let refused = plain.get(format!("http://127.0.0.1:{port}/healthz")).send().await;
    assert!(refused.is_err(), "plain HTTP was answered: {refused:?}");
    // A client that does not trust the certificate gets no answer either.
    std::fs::create_dir_all(server.path("other")).unwrap();
    let untrusting = client_trusting(&self_signed(&server.path("other")).cert);
    assert!(untrusting.get(format!("{base}/healthz")).send().await.is_err());

    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(15), served).await.expect("graceful shutdown").unwrap().unwrap();
    server.stop().await;
}

#[tokio::test]
async fn unusable_certificates_and_keys_are_errors_before_serving() {
    crate::common::init_once();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let good = self_signed(&dir.path().join("a"));
    let other = self_signed(&dir.path().join("b"));
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a pem file").unwrap();
    let cases = [
        ("missing cert", Tls { cert: dir.path().join("nope.pem"), key: good.key.clone() }),
        ("garbage cert", Tls { cert: garbage.clone(), key: good.key.clone() }),
        ("garbage key", Tls { cert: good.cert.clone(), key: garbage.clone() }),
        ("key of another cert", Tls { cert: good.cert.clone(), key: other.key.clone() }),
    ];
    let key_text = std::fs::read_to_string(&good.key).unwrap();
    for (what, tls) in cases {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = axum_free_router();
        let error =
            tokio::time::timeout(Duration::from_secs(10), serve(listener, app, Some(tls), std::future::pending()))
                .await
                .unwrap_or_else(|_| panic!("{what}: served instead of failing"))
                .expect_err(what);
        assert_eq!(error.kind(), HttpErrorKind::Tls, "{what}: {error}");
        let shown = error.to_string();
        assert!(!shown.contains(key_text.lines().nth(1).unwrap()), "{what}: the key's bytes are in {shown}");
    }
}

/// A router with no service behind it, for tests that never reach a request.
fn axum_free_router() -> axum::Router {
    axum::Router::new()
}

#[test]
fn plain_http_is_refused_off_loopback_unless_allowed() {
    let loopback = "127.0.0.1:8081".parse().unwrap();
    let loopback6 = "[::1]:8081".parse().unwrap();
    let any = "0.0.0.0:8081".parse().unwrap();
    let lan = "192.168.1.10:8081".parse().unwrap();
    assert!(is_loopback(&loopback) && is_loopback(&loopback6) && !is_loopback(&any));
    assert!(check_listen(loopback, false, false).is_ok());
    assert!(check_listen(loopback6, false, false).is_ok());
    for addr in [any, lan] {
        let error = check_listen(addr, false, false).unwrap_err();
        assert_eq!(error.kind(), HttpErrorKind::Refused, "{error}");
        assert!(error.to_string().contains(&addr.to_string()), "{error}");
        assert!(check_listen(addr, true, false).is_ok(), "TLS anywhere");
        assert!(check_listen(addr, false, true).is_ok(), "plain when allowed");
    }
}
