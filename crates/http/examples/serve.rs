//! Runs lifeboatd's API over a throw-away setup: a repository, a state file and one stdin
//! plan (`hello`) in a temporary directory, an admin token printed once, the API on
//! 127.0.0.1:8081 (or the address given) until Ctrl-C.
//!
//! ```text
//! cargo run -p lifeboat-http --example serve [ADDR] [--once]
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/api/v1/status
//! curl -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/api/v1/plans/hello/run
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/metrics
//! ```
//!
//! `--once` runs the plan through the API, prints the finished job and the status, and exits.

use std::sync::Arc;
use std::time::Duration;

use lifeboat_crypto::Argon2Params;
use lifeboat_http::{check_listen, router, serve, tokens};
use lifeboat_ops::Config;
use lifeboat_ops::service::{DefaultOpener, Service, ServiceOptions};
use lifeboat_ops::state::AsyncStateStore;
use lifeboat_repo::{Credential, InitOptions, Repository};
use lifeboat_storage::FsStorage;
use lifeboat_storage::clock::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let once = args.iter().any(|a| a == "--once");
    let addr = args.iter().find(|a| !a.starts_with("--")).cloned().unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let password = "example repository password";
    std::fs::write(root.join("repo.pw"), format!("{password}\n"))?;
    let init = InitOptions { kdf: Argon2Params::MINIMUM, ..Default::default() };
    Repository::init(Arc::new(FsStorage::new(root.join("repo"))), Credential::password(password), init).await?;
    let config_path = root.join("lifeboat.toml");
    std::fs::write(
        &config_path,
        format!(
            "[plans.hello]\nrepository = \"{d}/repo\"\npassword-file = \"{d}/repo.pw\"\nschedule = {{ every = \"1h\" }}\n\
             [plans.hello.source]\nkind = \"stdin\"\ncommand = [\"echo\", \"hello from lifeboat\"]\nname = \"hello.txt\"\n",
            d = root.display()
        ),
    )?;
    let origin = config_path.display().to_string();
    let config = Config::load(&config_path)?;
    let state = AsyncStateStore::open(root.join("lifeboatd.sqlite")).await?;
    let token = tokens::create(&state, "example-admin", &[tokens::Scope::Admin], None).await?;
    let service = Service::start(ServiceOptions {
        config,
        origin,
        state,
        clock: Arc::new(SystemClock),
        opener: Arc::new(DefaultOpener::default()),
        run_scheduler: true,
    })
    .await?;

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    check_listen(local, false, false)?;
    println!("lifeboatd API on http://{local}");
    println!("TOKEN={}", token.secret.as_str());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router(service.clone()), None, async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stopped => {}
        }
    }));

    if once {
        let client = reqwest::Client::new();
        let base = format!("http://{local}");
        let job: serde_json::Value = client
            .post(format!("{base}/api/v1/plans/hello/run"))
            .bearer_auth(token.secret.as_str())
            .send()
            .await?
            .json()
            .await?;
        let id = job["id"].as_i64().ok_or("no job id in the answer")?;
        let finished = loop {
            let job: serde_json::Value = client
                .get(format!("{base}/api/v1/jobs/{id}"))
                .bearer_auth(token.secret.as_str())
                .send()
                .await?
                .json()
                .await?;
            if matches!(job["state"].as_str(), Some("succeeded" | "failed" | "cancelled")) {
                break job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        println!("job: {finished}");
        let status =
            client.get(format!("{base}/api/status")).bearer_auth(token.secret.as_str()).send().await?.text().await?;
        println!("status: {status}");
        let _ = stop.send(());
    }
    server.await??;
    service.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
