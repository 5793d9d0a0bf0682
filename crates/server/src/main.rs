//! `lifeboatd`: the Lifeboat service. A thin binary: it reads the config, opens the state,
//! starts the scheduler and job runner of `lifeboat-ops` and serves the HTTP API of
//! `lifeboat-http`, and turns signals into shutdown (SIGTERM, SIGINT) and reload (SIGHUP).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use lifeboat_ops::Config;
use lifeboat_ops::credentials::OpenSettings;
use lifeboat_ops::service::{DefaultOpener, Service, ServiceError, ServiceOptions};
use lifeboat_ops::state::{AsyncStateStore, StateError};
use lifeboat_storage::clock::SystemClock;
use lifeboatd::args::Args;
use lifeboatd::listen::Listen;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

/// How long the HTTP server gets, after the service has stopped, to finish answering.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    lifeboatd::logging::init(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // Jobs cancelled at shutdown may leave blocking work behind (a state call): give it a
    // moment, never forever.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// What the config and the flags resolve to.
struct Settings {
    listen: Listen,
    state: PathBuf,
    tls: Option<lifeboat_http::Tls>,
    grace: Duration,
}

fn settings(args: &Args, config: &Config) -> Result<Settings> {
    let service = &config.service;
    let listen = Listen::parse(args.listen.as_deref().unwrap_or(service.listen_address()))?;
    // The config's checks refuse one of the two without the other.
    let tls = match (&service.tls_cert, &service.tls_key) {
        (Some(cert), Some(key)) => {
            for (key_name, path) in [("tls-cert", cert), ("tls-key", key)] {
                std::fs::File::open(path)
                    .with_context(|| format!("[service] {key_name}: cannot read {}", path.display()))?;
            }
            Some(lifeboat_http::Tls { cert: cert.clone(), key: key.clone() })
        }
        _ => None,
    };
    lifeboat_http::check_listen(listen.addr, tls.is_some(), args.allow_plain_http)
        .context("pass --allow-plain-http to serve plain HTTP there anyway")?;
    let state = match &args.state {
        Some(path) => path.clone(),
        None => {
            service.state_path().context("cannot tell where the state database goes; set [service] state or --state")?
        }
    };
    let grace = service.grace.as_delta().to_std().unwrap_or(Duration::ZERO);
    Ok(Settings { listen, state, tls, grace })
}

async fn load_config(path: &Path) -> Result<Config> {
    let owned = path.to_owned();
    let config =
        tokio::task::spawn_blocking(move || Config::load(&owned)).await.context("reading the config failed")?;
    Ok(config?)
}

async fn run(args: Args) -> Result<()> {
    let origin = args.config.display().to_string();
    let config = load_config(&args.config).await?;
    let settings = settings(&args, &config)?;
    if args.check {
        println!(
            "{origin}: valid; {} plan(s): {}; would listen on {} ({}), state {}",
            config.plans.len(),
            config.plans.keys().cloned().collect::<Vec<_>>().join(", "),
            settings.listen.addr,
            if settings.tls.is_some() { "HTTPS" } else { "plain HTTP" },
            settings.state.display()
        );
        return Ok(());
    }

    // The first line says how it will serve; the bound address follows once it is bound.
    let scheme = match (&settings.tls, settings.listen.is_loopback()) {
        (Some(_), _) => "HTTPS (TLS)".to_owned(),
        (None, true) => "plain HTTP on loopback only (set [service] tls-cert and tls-key to serve HTTPS)".to_owned(),
        (None, false) => "PLAIN HTTP off loopback, allowed by --allow-plain-http".to_owned(),
    };
    info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %origin,
        state = %settings.state.display(),
        "lifeboatd starting: {scheme} on {}",
        settings.listen.addr
    );
    let state = match AsyncStateStore::open(&settings.state).await {
        Ok(state) => state,
        Err(e @ StateError::InUse { .. }) => {
            bail!("{e}: another lifeboatd is running on this state; stop it first or give this one --state")
        }
        Err(e) => return Err(e).context("cannot open the state database"),
    };
    let listener = tokio::net::TcpListener::bind(settings.listen.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen.addr))?;
    let bound = listener.local_addr().context("cannot read the bound address")?;
    let url = format!("{}://{bound}", if settings.tls.is_some() { "https" } else { "http" });
    info!(listen = %bound, "lifeboatd listening on {url}");

    let options = ServiceOptions {
        config,
        origin: origin.clone(),
        state,
        clock: Arc::new(SystemClock),
        opener: Arc::new(opener(&settings.state)),
        run_scheduler: true,
    };
    let service = Service::start(options).await.context("cannot start the service")?;
    info!(plans = service.plans().len(), state = %settings.state.display(), config = %origin, "service started");

    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let app = lifeboat_http::router(service.clone());
    let mut server = tokio::spawn(lifeboat_http::serve(listener, app, settings.tls, async move {
        let _ = http_stopped.await;
    }));

    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    let why = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => reload(&service).await,
            ended = &mut server => {
                // The server stopped by itself: that is a failure (a bad certificate, ...).
                service.shutdown(settings.grace).await;
                match ended {
                    Ok(Ok(())) => bail!("the HTTP server stopped unexpectedly"),
                    Ok(Err(e)) => return Err(e).context("the HTTP server failed"),
                    Err(e) => bail!("the HTTP server task failed: {e}"),
                }
            }
        }
    };
    info!(
        signal = why,
        grace_seconds = settings.grace.as_secs(),
        "shutting down: no new jobs; running jobs get the grace period"
    );
    let _ = stop_http.send(());
    service.shutdown(settings.grace).await;
    match tokio::time::timeout(HTTP_DRAIN, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => warn!("the HTTP server ended with an error: {e}"),
        Ok(Err(e)) => warn!("the HTTP server task failed: {e}"),
        Err(_) => warn!("open HTTP connections did not close within {}s; leaving them", HTTP_DRAIN.as_secs()),
    }
    info!("lifeboatd stopped");
    Ok(())
}

/// The repository opener: lifeboatd remembers each repository's newest config generation
/// (rollback detection) in `repositories/` beside its state file, which is the one directory
/// it may write under systemd's `ProtectSystem=strict`.
fn opener(state: &Path) -> DefaultOpener {
    let dir = state.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("repositories");
    DefaultOpener {
        settings: OpenSettings { state_dir: Some(dir), ..OpenSettings::default() },
        ..DefaultOpener::default()
    }
}

/// SIGHUP: re-reads the config file; an invalid one is refused (each problem logged) and the
/// old one kept.
async fn reload(service: &Service) {
    info!("SIGHUP: reloading the config");
    let reloaded = service.reload_from_file().await;
    let record = lifeboat_ops::audit::AuditRecord {
        actor: "service".to_owned(),
        operation: "config_reload".to_owned(),
        target: None,
        parameters: serde_json::json!({ "signal": "SIGHUP" }),
        result: lifeboat_ops::audit::result_text(&reloaded),
    };
    lifeboat_ops::audit::record_at(service.state(), record, service.clock().now()).await;
    match reloaded {
        Ok(report) => {
            info!(
                added = ?report.added,
                removed = ?report.removed,
                changed = ?report.changed,
                "config reloaded; running jobs finish under the config they started with"
            );
            if !report.needs_restart.is_empty() {
                warn!(keys = ?report.needs_restart, "these [service] settings take effect at the next start only");
            }
        }
        Err(e) => {
            error!("config reload refused, the old config stays in force: {e}");
            if let ServiceError::Config { source } = &e {
                for problem in source.problems() {
                    error!(plan = ?problem.plan, key = %problem.key, line = ?problem.line, "config problem: {problem}");
                }
            }
        }
    }
}

fn error_chain(e: &anyhow::Error) -> String {
    e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ")
}
