//! Repositories, and the clear errors for bad input, an unreachable cluster and bad credentials.

use std::collections::BTreeMap;

use crate::common::*;
use lifeboat_es::{Auth, ClusterConfig, EsClient, EsError, EsManager, RepositorySpec, Scope, StateStore};
use lifeboat_es_double::{DoubleAuth, DoubleConfig, TestCluster};

#[tokio::test]
async fn fs_repository_lifecycle() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        let name = c.name("lifecycle");
        let info = es.repositories().create(&name, &fs_repo(&c, "lifecycle"), true).await.unwrap();
        assert_eq!(info.repo_type, "fs");
        assert_eq!(info.setting("location").unwrap(), c.fs_location("lifecycle"));

        let listed = es.repositories().list().await.unwrap();
        assert!(listed.iter().any(|r| r.name == name), "[{}] {listed:?}", c.kind());

        let verified = es.repositories().verify(&name).await.unwrap();
        assert!(!verified.nodes.is_empty(), "[{}] verification lists the nodes", c.kind());

        let mut changes = BTreeMap::new();
        changes.insert("compress".to_string(), Some("true".to_string()));
        let updated = es.repositories().update_settings(&name, &changes, true).await.unwrap();
        assert_eq!(updated.setting("compress").as_deref(), Some("true"));
        assert_eq!(updated.setting("location").unwrap(), c.fs_location("lifecycle"), "other settings are kept");

        es.repositories().delete(&name).await.unwrap();
        let err = es.repositories().verify(&name).await.unwrap_err();
        assert!(matches!(err, EsError::RepositoryMissing { .. }), "[{}] {err:?}", c.kind());
        assert!(err.to_string().contains(&format!("[{name}] does not exist")), "{err}");
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn s3_repository_settings_reach_the_cluster() {
    let c = TestCluster::double().await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    let spec = RepositorySpec::S3 {
        bucket: "backups".into(),
        endpoint: Some("minio.local:9000".into()),
        path_style_access: Some(true),
        client: Some("minio".into()),
        base_path: Some("es/daily".into()),
        readonly: false,
        compress: Some(true),
    };
    let info = es.repositories().create("s3repo", &spec, true).await.unwrap();
    assert_eq!(info.repo_type, "s3");
    // Elasticsearch returns every setting as a string.
    assert_eq!(info.settings["bucket"], "backups");
    assert_eq!(info.settings["endpoint"], "minio.local:9000");
    assert_eq!(info.settings["path_style_access"], "true");
    assert_eq!(info.settings["client"], "minio");
    assert_eq!(info.settings["base_path"], "es/daily");
    assert!(!info.readonly());

    // Read-only registration (the second-cluster case).
    let ro = es.repositories().create("s3ro", &spec.clone().readonly(), false).await.unwrap();
    assert!(ro.readonly());
    assert_spec_clean(&c);
}

#[tokio::test]
async fn bad_input_gets_one_clear_error_before_any_request() {
    let c = TestCluster::double().await;
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    for bad in ["bad#name", "_hidden", "has space", ""] {
        let err = es.repositories().create(bad, &fs_repo(&c, "x"), true).await.unwrap_err();
        assert!(matches!(err, EsError::InvalidInput { what: "repository name", .. }), "{bad:?}: {err:?}");
    }
    let err = es.snapshots().create("repo", "UPPER", "logs-*", None).await.unwrap_err();
    assert!(err.to_string().contains("snapshot name") && err.to_string().contains("lowercase"), "{err}");
    let err = es.snapshots().create("repo", "snap", "*", None).await.unwrap_err();
    assert!(err.to_string().contains("index pattern"), "{err}");
    let err = es
        .repositories()
        .create(
            "r",
            &RepositorySpec::Fs { location: "/mnt/backups/../etc".into(), readonly: false, compress: None },
            true,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains(".."), "{err}");
    assert!(c.requests().is_empty(), "invalid input must not reach the cluster: {:?}", c.requests());
}

#[tokio::test]
async fn unknown_repository_is_named_in_the_error() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        let name = c.name("no-such-repo");
        let err = es.snapshots().list(&name).await.unwrap_err();
        assert!(matches!(&err, EsError::RepositoryMissing { repository, .. } if *repository == name), "{err:?}");
        let err = es.snapshots().delete(&name, "snap-1").await.unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn fs_location_outside_path_repo_is_refused_by_the_cluster() {
    for c in TestCluster::all().await {
        let state = tempfile::tempdir().unwrap();
        let es = manager(&c, &state);
        let spec =
            RepositorySpec::Fs { location: "/definitely/not/in/path/repo".into(), readonly: false, compress: None };
        let err = es.repositories().create(&c.name("outside"), &spec, true).await.unwrap_err();
        match &err {
            EsError::Api { status: 500, error_type, reason, .. } => {
                assert_eq!(error_type, "repository_exception");
                assert!(reason.contains("path.repo"), "{reason}");
            }
            other => panic!("[{}] unexpected {other:?}", c.kind()),
        }
        assert_spec_clean(&c);
        c.cleanup().await;
    }
}

#[tokio::test]
async fn verification_failure_is_reported() {
    let c = TestCluster::double().await;
    let d = c.as_double().unwrap();
    let state = tempfile::tempdir().unwrap();
    let es = manager(&c, &state);
    es.repositories().create("flaky", &fs_repo(&c, "flaky"), true).await.unwrap();
    d.inject_verify_failure("flaky");
    let err = es.repositories().verify("flaky").await.unwrap_err();
    assert_eq!(err.es_error_type(), Some("repository_verification_exception"), "{err:?}");
    assert!(err.to_string().contains("verify repository [flaky]"), "{err}");
}

#[tokio::test]
async fn unreachable_cluster_is_one_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let client = EsClient::new(&ClusterConfig::new("http://127.0.0.1:1").unwrap()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let es = EsManager::new(client, StateStore::new(state.path()), Scope::Admin);
    let err = es.repositories().list().await.unwrap_err();
    assert!(matches!(err, EsError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("cannot reach Elasticsearch at http://127.0.0.1:1"), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[tokio::test]
async fn bad_credentials_are_one_clear_error_without_the_secret() {
    let cfg = DoubleConfig {
        auth: Some(DoubleAuth::Basic { username: "elastic".into(), password: "right-secret".into() }),
        ..Default::default()
    };
    let c = TestCluster::double_with(cfg).await;
    let wrong =
        c.client_config().with_auth(Auth::Basic { username: "elastic".into(), password: "wrong-secret".into() });
    let err = EsClient::new(&wrong).unwrap().get_repositories(None).await.unwrap_err();
    match &err {
        EsError::Auth { status: 401, error_type, .. } => assert_eq!(error_type, "security_exception"),
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(!text.contains("wrong-secret") && !text.contains("right-secret"), "{text}");
    assert!(text.contains("HTTP 401"), "{text}");

    // No credentials at all.
    let err = c.client().info().await.unwrap_err();
    assert!(err.to_string().contains("missing authentication credentials"), "{err}");

    // The right ones work, also when given in the URL.
    let right =
        c.client_config().with_auth(Auth::Basic { username: "elastic".into(), password: "right-secret".into() });
    assert!(EsClient::new(&right).unwrap().info().await.is_ok());
    let in_url = c.url().replace("http://", "http://elastic:right-secret@");
    let cfg = ClusterConfig::new(&in_url).unwrap();
    assert!(!cfg.url.as_str().contains("secret"));
    assert!(EsClient::new(&cfg).unwrap().info().await.is_ok());
}

#[tokio::test]
async fn api_keys_authenticate() {
    let cfg = DoubleConfig {
        auth: Some(DoubleAuth::ApiKey { id: "kid".into(), key: "ksecret".into() }),
        ..Default::default()
    };
    let c = TestCluster::double_with(cfg).await;
    let ok = c.client_config().with_auth(Auth::ApiKey("kid:ksecret".into()));
    assert!(EsClient::new(&ok).unwrap().info().await.is_ok());
    // The base64 "encoded" form Elasticsearch hands out works the same.
    let encoded = c.client_config().with_auth(Auth::ApiKey("a2lkOmtzZWNyZXQ=".into()));
    assert!(EsClient::new(&encoded).unwrap().info().await.is_ok());
    let bad = c.client_config().with_auth(Auth::ApiKey("kid:nope".into()));
    let err = EsClient::new(&bad).unwrap().info().await.unwrap_err();
    assert!(matches!(err, EsError::Auth { status: 401, .. }), "{err:?}");
}

#[tokio::test]
async fn unreadable_ca_file_is_a_config_error() {
    let cfg = ClusterConfig::new("https://127.0.0.1:9200").unwrap().with_ca_file("/nonexistent/ca.pem");
    let err = EsClient::new(&cfg).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, b"not a certificate").unwrap();
    let err = EsClient::new(&ClusterConfig::new("https://127.0.0.1:9200").unwrap().with_ca_file(&junk)).unwrap_err();
    assert!(err.to_string().contains("junk.pem"), "{err}");
}

/// A web server on loopback that answers every request with `status`, `content_type` and `body`.
async fn web_server(status: &'static str, content_type: &'static str, body: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn a_server_that_is_not_elasticsearch_is_named_without_its_body() {
    let page =
        "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><p>secret-ish page</p></body></html>";
    for (status, ct, body, shown) in [
        ("404 Not Found", "text/html; charset=iso-8859-1", page, "HTTP 404 text/html"),
        ("200 OK", "text/html", page, "HTTP 200 text/html"),
        ("200 OK", "application/json", "{\"service\":\"billing\",\"ok\":true}", "HTTP 200 application/json"),
    ] {
        let url = web_server(status, ct, body).await;
        let client = EsClient::new(&ClusterConfig::new(&url).unwrap()).unwrap();
        let err = client.get_repositories(None).await.unwrap_err();
        assert!(matches!(err, EsError::NotElasticsearch { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{url} is not Elasticsearch: {shown} without the X-elastic-product header")),
            "{text}"
        );
        assert!(!text.contains("Not Found") && !text.contains("billing") && !text.contains('\n'), "{text}");
    }
}

#[tokio::test]
async fn elasticsearch_before_7_14_needs_no_product_header() {
    // 7.10 sends no X-elastic-product header: its `GET /` shows it is Elasticsearch.
    let c = TestCluster::double_with(DoubleConfig { version: "7.10.0".into(), ..Default::default() }).await;
    let client = c.client();
    assert!(client.get_repositories(None).await.unwrap().is_empty());
    assert_eq!(c.requests().iter().filter(|r| r.path == "/").count(), 1, "asked once: {:?}", c.requests());
    assert!(client.get_repositories(None).await.unwrap().is_empty());
    assert_eq!(c.requests().iter().filter(|r| r.path == "/").count(), 1, "the verdict is kept");
    // Its security errors are still reported as such.
    let cfg = DoubleConfig {
        version: "7.10.0".into(),
        auth: Some(DoubleAuth::Basic { username: "elastic".into(), password: "right".into() }),
        ..Default::default()
    };
    let c = TestCluster::double_with(cfg).await;
    let err = c.client().get_repositories(None).await.unwrap_err();
    assert!(matches!(err, EsError::Auth { status: 401, .. }), "{err:?}");
}
