//! A real lifeboatd API for each test: a real [`Service`] over a state file and a repository
//! in a temporary directory (a files plan `web` and a stdin plan `slow` that sleeps), the
//! router served on a free loopback port, tokens of each scope, and a real HTTP client.
//! The access log of every test goes to one captured buffer ([`access_log`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use lifeboat_crypto::Argon2Params;
use lifeboat_ops::Config;
use lifeboat_ops::service::{DefaultOpener, Service, ServiceOptions};
use lifeboat_ops::state::{AsyncStateStore, Scope};
use lifeboat_repo::{Credential, InitOptions, Repository};
use lifeboat_storage::FsStorage;
use lifeboat_storage::clock::SystemClock;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const REPO_PASSWORD: &str = "http test repository password";

/// Tokens of each scope, by their text.
pub struct Tokens {
    pub read: String,
    pub operate: String,
    pub admin: String,
    pub metrics: String,
}

/// A running API and what it runs on.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub tokens: Tokens,
    pub service: Service,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<Result<(), lifeboat_http::HttpError>>>,
}

/// The config of the test plans, for a directory.
pub fn config_text(dir: &Path, extra: &str) -> String {
    let d = dir.display();
    format!(
        r#"
[plans.web]
repository = "{d}/repo"
password-file = "{d}/repo.pw"
tags = ["api-test"]
schedule = {{ every = "1d" }}
[plans.web.source]
kind = "files"
paths = ["{d}/data"]

[plans.slow]
repository = "{d}/repo"
password-file = "{d}/repo.pw"
[plans.slow.source]
kind = "stdin"
command = ["sleep", "60"]
name = "slow.out"
{extra}"#
    )
}

impl TestServer {
    /// A server with the two test plans, plain HTTP.
    pub async fn start() -> TestServer {
        TestServer::start_with(lifeboat_http::ApiOptions::default()).await
    }

    /// [`TestServer::start`] with options.
    pub async fn start_with(options: lifeboat_http::ApiOptions) -> TestServer {
        init_once();
        let dir = tempfile::Builder::new().prefix("lifeboat-http-test-").tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("data/sub")).unwrap();
        std::fs::write(root.join("data/a.txt"), "alpha\n".repeat(100)).unwrap();
        std::fs::write(root.join("data/sub/b.bin"), (0..=255u8).cycle().take(100_000).collect::<Vec<u8>>()).unwrap();
        std::fs::write(root.join("repo.pw"), format!("{REPO_PASSWORD}\n")).unwrap();
        let storage = Arc::new(FsStorage::new(root.join("repo")));
        let init = InitOptions { kdf: Argon2Params::MINIMUM, segment_size: 64 * 1024, ..Default::default() };
        Repository::init(storage, Credential::password(REPO_PASSWORD), init).await.unwrap();
        let config_path = root.join("lifeboat.toml");
        std::fs::write(&config_path, config_text(root, "")).unwrap();
        let origin = config_path.display().to_string();
        let config = Config::parse(&std::fs::read_to_string(&config_path).unwrap(), &origin).unwrap();

        let state = AsyncStateStore::open(root.join("state/lifeboatd.sqlite")).await.unwrap();
        let now = chrono::Utc::now();
        let mut texts = Vec::new();
        for (name, scope) in [
            ("reader", Scope::Read),
            ("operator", Scope::Operate),
            ("admin", Scope::Admin),
            ("scraper", Scope::Metrics),
        ] {
            let token = state.create_token(name.into(), vec![scope], None, now).await.unwrap();
            texts.push(token.secret.as_str().to_owned());
        }
        let [read, operate, admin, metrics]: [String; 4] = texts.try_into().unwrap();

        let service = Service::start(ServiceOptions {
            config,
            origin,
            state,
            clock: Arc::new(SystemClock),
            opener: Arc::new(DefaultOpener::default()),
            run_scheduler: false,
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let app = lifeboat_http::router_with(service.clone(), options);
        let served = tokio::spawn(lifeboat_http::serve(listener, app, None, async move {
            let _ = rx.await;
        }));
        TestServer {
            base,
            client: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap(),
            tokens: Tokens { read, operate, admin, metrics },
            service,
            dir,
            shutdown: Some(tx),
            served: Some(served),
        }
    }

    pub fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// A request to `path` with `token` (none: no Authorization header).
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends and returns the status, the headers and the body as JSON (`Null` if not JSON).
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Answer {
        let response = builder.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, headers, json, text }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(self.request(Method::GET, path, Some(token))).await
    }

    /// Polls job `id` until it is in a final state (at most `limit`), and returns it.
    pub async fn wait_final(&self, id: i64, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let answer = self.get(&format!("/api/v1/jobs/{id}"), &self.tokens.read).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            let state = answer.json["state"].as_str().unwrap_or_default().to_owned();
            if matches!(state.as_str(), "succeeded" | "failed" | "cancelled") {
                return answer.json;
            }
            assert!(tokio::time::Instant::now() < deadline, "job {id} still {state} after {limit:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops serving and the service.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap().unwrap();
        }
        self.service.shutdown(Duration::from_secs(5)).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// One answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Answer {
    /// Asserts an error answer of the API's shape with `status` and `code`.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.text);
        assert_eq!(self.json["error"]["code"], code, "{what}: {}", self.text);
        assert!(self.json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {}", self.text);
        let id = self.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(!id.is_empty(), "{what}: no x-request-id");
        assert_eq!(self.json["error"]["request_id"], id, "{what}: the body's request id is the header's");
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "{what}: content type {content_type}");
    }
}

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log capture and the client's TLS provider, once per test binary.
pub fn init_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // reqwest is built without a TLS provider of its own: ring, as the server uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("lifeboat_http=debug,info"))
            .with_writer(|| Capture)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    });
}

/// Everything logged so far by every test of this binary.
pub fn access_log() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}
