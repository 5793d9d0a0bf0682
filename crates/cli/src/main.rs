//! `lifeboat`: the command-line face of the Lifeboat crates. It parses arguments, reads
//! secrets from the environment, files or the terminal, and calls the libraries.
//!
//! Layout (as ripgrep's): `flags` holds the clap structs, `commands` one file per
//! command, `render` everything printed; this file only sets up the process (signals,
//! logging, the runtime) and dispatches.

mod audit;
mod commands;
mod es;
mod flags;
mod hints;
mod open;
mod render;
mod secrets;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::flags::{AlertsCommand, Cli, Command};

/// Exit code after Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;
/// Exit code after SIGTERM.
const EXIT_TERMINATED: u8 = 143;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if !cli.command.feeds_a_child() {
        restore_default_sigpipe();
    }
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lifeboat: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A drill or recovery takes the signals itself: it cancels its step and still removes its
    // scratch targets before exiting 130.
    let own_signals = matches!(cli.command, Command::Dr(flags::DrCommand::Drill(_) | flags::DrCommand::Recover(_)));
    let code = runtime.block_on(async {
        let code = tokio::select! {
            result = run(cli) => match result {
                Ok(code) => code,
                Err(e) => {
                    let hint = hints::hint(&e).unwrap_or_default();
                    eprintln!("lifeboat: error: {}{hint}", render::escape_lines(&render::error_chain(&e)));
                    ExitCode::FAILURE
                }
            },
            code = interrupted(), if !own_signals => {
                eprintln!("lifeboat: interrupted; the unfinished operation was abandoned and nothing incomplete was recorded");
                code
            }
        };
        // Whatever ended the command, remove the locks it held and the staging folder of
        // an abandoned restore before the process exits.
        open::LOCK_RELEASES.settle().await;
        lifeboat_repo::settle_restore_cleanup().await;
        code
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

/// Resolves on SIGINT (exit code 130) or SIGTERM (143), so both abandon the operation
/// the same way: its locks and a restore's staging folder are removed.
async fn interrupted() -> ExitCode {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            // Without a handler SIGTERM keeps its default action; only SIGINT is caught.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => ExitCode::from(EXIT_INTERRUPTED),
        () = terminate => ExitCode::from(EXIT_TERMINATED),
    }
}

/// Rust ignores SIGPIPE, which turns `lifeboat list | head` into write errors. Like other
/// Unix filters, end quietly when the reader of our output goes away.
fn restore_default_sigpipe() {
    // SAFETY: called in main before the runtime starts, so no other thread exists yet;
    // SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIFEBOAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let audit = audit::Pending::describe(&cli.global, &cli.command);
    let outcome = dispatch(cli).await;
    audit.finish(&outcome).await;
    outcome
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Init(args) => commands::init::run(&global, args).await,
        Command::Backup(args) => match (args.command, args.plan) {
            (Some(cmd), _) => {
                commands::run::check_plan_label(&global, &cmd)?;
                commands::backup::run(&global, cmd).await
            }
            (None, Some(plan)) => commands::run::run(&global, &plan, args.json).await,
            (None, None) => anyhow::bail!("say what to back up: a subcommand (files, postgres, ...) or --plan NAME"),
        },
        Command::Run(args) => commands::run::run(&global, &args.plan, args.json).await,
        Command::List { plan, json } => commands::list::run(&global, plan, json).await,
        Command::Show { id, scope, json } => commands::show::run(&global, id, &scope.scope(), json).await,
        Command::Verify { id, scope, deep, json } => {
            commands::verify::run(&global, id, &scope.scope(), deep, json).await
        }
        Command::Restore { id, scope, target, stdout, object, to, db } => {
            commands::restore::run(&global, (id, &scope.scope()), target, stdout, object, to, db).await
        }
        Command::Copy { id, scope, dest, json } => commands::copy::run(&global, id, &scope.scope(), dest, json).await,
        Command::Sync { dest, json } => commands::copy::sync(&global, dest, json).await,
        Command::Key(cmd) => commands::key::run(&global, cmd).await,
        Command::Retention(cmd) => commands::retention::run(cmd),
        Command::Es(cmd) => es::run(cmd).await,
        Command::Status(args) => commands::server::status(args).await,
        Command::Jobs(args) => commands::server::jobs(args).await,
        Command::Alerts(args) => match args.command {
            None => commands::alerts::list(args.list).await,
            Some(AlertsCommand::Ack { id, comment, until, server }) => {
                commands::alerts::ack(&id, comment, until, server).await
            }
            Some(AlertsCommand::Test(test)) => commands::alert_test::run(&global, test).await,
        },
        Command::Audit(cmd) => commands::audit::run(&global, cmd).await,
        Command::Dr(cmd) => commands::dr::run(&global, cmd).await,
        Command::Export(args) => commands::export::export(&global, args).await,
        Command::Import(args) => commands::export::import(&global, args).await,
        Command::Token(cmd) => commands::token::run(&global, cmd).await,
        Command::Forget { plan, policy, dry_run, prune, json } => {
            commands::forget::run(&global, plan, policy, dry_run, prune, json).await
        }
        Command::Prune { dry_run, json } => commands::prune::run(&global, dry_run, json).await,
        Command::Unlock { all } => commands::unlock::run(&global, all).await,
    }
}
