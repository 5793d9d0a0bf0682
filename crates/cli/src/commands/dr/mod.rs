//! `lifeboat dr`: assess, recover, drill (logic in lifeboat-ops `dr`; this renders it).
//!
//! Every command works from the configuration file (`--config` / `LIFEBOAT_CONFIG`): each
//! plan's repository is opened with the plan's own credential reference (never a prompt, as
//! lifeboatd does), and the state is the config's `[service] state`, else lifeboatd's default
//! state file, when that file exists (the last verify and drill come from it, and drill and
//! recovery reports go into it). Progress goes to standard error, the result to standard
//! output (`--json`: one JSON document).

mod assess;
mod drill;
mod recover;
mod show;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use lifeboat_ops::config::ServiceSettings;
use lifeboat_ops::dr::{DrEnv, DrError, DrProgress, DrillReport, StepReport};
use lifeboat_ops::opener::DefaultOpener;
use lifeboat_ops::state::{AsyncStateStore, StateOptions, StateStore};
use lifeboat_storage::clock::SystemClock;

use crate::flags::{DrCommand, Global};
use crate::render;

/// Exit code of `dr drill` when the drill passed but missed an objective.
pub const EXIT_OBJECTIVE_MISSED: u8 = 4;

/// Exit code after Ctrl-C (SIGTERM: 143), once the scratch targets are removed.
const EXIT_INTERRUPTED: u8 = 130;

/// Runs a `lifeboat dr` command.
pub async fn run(global: &Global, command: DrCommand) -> Result<ExitCode> {
    match command {
        DrCommand::Assess(args) => assess::run(global, args).await,
        DrCommand::Recover(args) => recover::run(global, args).await,
        DrCommand::Drill(args) => drill::run(global, args).await,
    }
}

/// The environment of a disaster-recovery call: the config, the plans' own credentials, the
/// system clock and the state (if this host has one).
async fn dr_env(global: &Global) -> Result<DrEnv> {
    let path = global.config.clone().context(
        "lifeboat dr works from the plans of a configuration file: pass --config FILE or set LIFEBOAT_CONFIG",
    )?;
    let config = lifeboat_ops::Config::load(&path)?;
    let state = match state_path(&config.service) {
        Some(path) => Some(attach_state(path).await?),
        None => None,
    };
    let opener = DefaultOpener { settings: crate::open::open_settings(global), retry: None, layer: None };
    Ok(DrEnv {
        config: Arc::new(config),
        origin: path.display().to_string(),
        opener: Arc::new(opener),
        clock: Arc::new(SystemClock),
        state,
        cancel: Default::default(),
    })
}

/// The config's `[service] state`, else lifeboatd's default path, if the file exists.
fn state_path(service: &ServiceSettings) -> Option<PathBuf> {
    service.state.clone().or_else(ServiceSettings::default_state_path).filter(|p| p.is_file())
}

/// Another handle on the state file (lifeboatd may own it: no lock, no crash recovery).
async fn attach_state(path: PathBuf) -> Result<AsyncStateStore> {
    let shown = path.display().to_string();
    let store = tokio::task::spawn_blocking(move || StateStore::attach(&path, StateOptions::default()))
        .await
        .context("opening the state")?
        .with_context(|| format!("opening the state {shown}"))?;
    Ok(AsyncStateStore::new(store))
}

/// Cancels `env` on Ctrl-C or SIGTERM, so a drill or recovery stops its step and still
/// removes its scratch targets before the process exits; the exit code to end with then.
fn cancel_on_signal(env: &DrEnv) -> Arc<std::sync::atomic::AtomicU8> {
    let cancel = env.cancel.clone();
    let code = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let signalled = Arc::clone(&code);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(term) => {
                    term.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let code = tokio::select! {
            _ = tokio::signal::ctrl_c() => EXIT_INTERRUPTED,
            () = terminated => EXIT_INTERRUPTED + 13,
        };
        signalled.store(code, std::sync::atomic::Ordering::SeqCst);
        eprintln!("lifeboat: stopping: the running step is cancelled, the scratch targets are removed");
        cancel.cancel();
    });
    code
}

/// Progress lines on standard error.
struct StderrProgress;

impl DrProgress for StderrProgress {
    fn step_started(&self, index: usize, total: usize, description: &str) {
        eprintln!("[{index}/{total}] {} ...", render::escape(description));
    }

    fn step_finished(&self, step: &StepReport) {
        eprintln!(
            "[{}] {} ({})",
            step.index,
            step.outcome.as_str(),
            lifeboat_ops::dr::report::human_seconds(step.seconds)
        );
    }

    fn note(&self, text: &str) {
        eprintln!("  {}", render::escape(text));
    }
}

/// Runs `work` (a drill or a recovery) on its own task, so that a signal cancels it and it
/// still cleans up; then keeps its report in the state and the repositories (a failure to
/// keep it is a warning) and prints it.
async fn run_and_show<F>(env: &DrEnv, json: bool, work: F) -> Result<Shown>
where
    F: std::future::Future<Output = Result<DrillReport, DrError>> + Send + 'static,
{
    let signal = cancel_on_signal(env);
    let report = tokio::spawn(work).await.context("the drill's task failed")?;
    let interrupted = match signal.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        code => Some(ExitCode::from(code)),
    };
    let report = match (report, interrupted) {
        (Ok(report), _) => report,
        (Err(_), Some(code)) => return Ok(Shown::Interrupted(code)),
        (Err(e), None) => return Err(e.into()),
    };
    if let Err(e) = lifeboat_ops::dr::report::keep(env, &report).await {
        let error = render::escape(&e.to_string()).into_owned();
        eprintln!("lifeboat: warning: the report {} could not be kept everywhere: {error}", report.id);
    }
    if json {
        render::print_json(&report)?;
    } else {
        show::print_report(&report);
    }
    Ok(match interrupted {
        Some(code) => Shown::Interrupted(code),
        None => Shown::Done(Box::new(report)),
    })
}

/// How a drill or recovery ended.
enum Shown {
    /// It ran to its end: the report.
    Done(Box<DrillReport>),
    /// A signal stopped it (its report, if any, was kept and printed): the exit code.
    Interrupted(ExitCode),
}
