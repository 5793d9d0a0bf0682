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

use std::ffi::OsString;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};

use crate::flags::{AlertsCommand, Cli, Command};

/// Exit code after Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;
/// Exit code after SIGTERM.
const EXIT_TERMINATED: u8 = 143;

fn main() -> ExitCode {
    limit_malloc_arenas();
    forget_empty_file_variables();
    let cli = match parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if !cli.command.feeds_a_child() {
        restore_default_sigpipe();
    }
    init_logging(cli.global.verbose);
    tracing::debug!(version = env!("CARGO_PKG_VERSION"), command = command_name(&cli.command), "lifeboat starting");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lifeboat: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A drill or recovery takes the signals itself: it cancels its step and still removes its
    // scratch targets before exiting 130.
    let with_identity = cli.global.identity_file.is_some();
    let own_signals = matches!(cli.command, Command::Dr(flags::DrCommand::Drill(_) | flags::DrCommand::Recover(_)));
    let code = runtime.block_on(async {
        let code = tokio::select! {
            result = run(cli) => match result {
                Ok(code) => code,
                Err(e) => {
                    let identity_hint = with_identity.then(|| hints::identity_hint(&e)).flatten();
                    let hint = hints::hint(&e).or(identity_hint).unwrap_or_default();
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

/// Parses the command line; on a usage error (or `--help`, `--version`) prints clap's
/// message, with the advice of [`hints::usage`], and returns the exit code (2, or 0 for help).
fn parse(args: Vec<OsString>) -> Result<Cli, ExitCode> {
    let mut cmd = Cli::command();
    let parsed = cmd
        .try_get_matches_from_mut(&args)
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut Cli::command())));
    parsed.map_err(|e| {
        let e = hints::usage::improve(e, &mut cmd, &args);
        let _ = e.print();
        ExitCode::from(if e.use_stderr() { 2 } else { 0 })
    })
}

/// The variables naming a file (`LIFEBOAT_PASSWORD_FILE`, `LIFEBOAT_TO_PASSWORD_FILE`, ...)
/// or a command (`LIFEBOAT_PASSWORD_COMMAND`) that are set to the empty string are removed:
/// `LIFEBOAT_PASSWORD_FILE=` in a unit file or profile means "none", as an unset variable
/// does, not the path "" (which failed as "a value is required") nor an option given.
fn forget_empty_file_variables() {
    let empty: Vec<OsString> = std::env::vars_os()
        .filter(|(name, value)| {
            value.is_empty()
                && name
                    .to_str()
                    .is_some_and(|n| n.starts_with("LIFEBOAT_") && (n.ends_with("_FILE") || n.ends_with("_COMMAND")))
        })
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        // SAFETY: called first thing in main, before the runtime or any other thread exists,
        // so nothing reads the environment concurrently.
        unsafe { std::env::remove_var(name) };
    }
}

/// The name of the command, for the debug log (no arguments: they may name secrets' paths
/// or URLs with credentials).
fn command_name(command: &Command) -> String {
    let debug = format!("{command:?}");
    debug.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default().to_lowercase()
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

/// Logs to stderr: warnings by default; `-v` info; `-vv` debug of lifeboat's own crates
/// (their targets all start with `lifeboat`) with each line's target; `-vvv` trace of
/// lifeboat's crates and debug of the libraries under them, with source file and line.
/// `LIFEBOAT_LOG` (a tracing filter) replaces the level. Colour only when stderr is a
/// terminal and `NO_COLOR` is unset (CLICOLOR_FORCE forces it, as for clap's messages).
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "info,lifeboat=debug",
        _ => "debug,lifeboat=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIFEBOAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let detail = verbose >= 3;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr())
        .with_target(verbose >= 2)
        .with_file(detail)
        .with_line_number(detail)
        .try_init();
    tracing::trace!(filter = default, "logging set up");
}

/// Whether what goes to stderr may be coloured: never with `NO_COLOR` (no-color.org: set
/// and not empty), always with `CLICOLOR_FORCE` (not "0"), else only on a terminal.
fn colour_on_stderr() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    set("CLICOLOR_FORCE") || std::io::stderr().is_terminal()
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
        Command::List { scope, json } => commands::list::run(&global, &scope.scope(), json).await,
        Command::Show { id, scope, json } => commands::show::run(&global, id, &scope.scope(), json).await,
        Command::Verify { id, scope, deep, read_data_subset, json } => {
            let data = match read_data_subset {
                Some(subset) => lifeboat_repo::DataCheck::Subset(subset),
                None => lifeboat_repo::DataCheck::from_deep(deep),
            };
            commands::verify::run(&global, id, &scope.scope(), data, json).await
        }
        Command::Restore { id, scope, target, stdout, object, to, db, pick } => {
            commands::restore::run(&global, (id, &scope.scope(), pick), target, stdout, object, to, db).await
        }
        Command::Ls { id, path, scope, json } => commands::ls::run(&global, id, &scope.scope(), path, json).await,
        Command::Dump { id, path, scope } => commands::dump::run(&global, id, &scope.scope(), path).await,
        Command::Diff { first, second, scope, json } => {
            commands::diff::run(&global, (first, second), &scope.scope(), json).await
        }
        Command::Find { patterns, scope, json } => commands::find::run(&global, patterns, &scope.scope(), json).await,
        Command::Stats { json } => commands::stats::run(&global, json).await,
        Command::Repair(flags::RepairCommand::Index { json }) => commands::repair::index(&global, json).await,
        Command::Copy { id, scope, dest, json } => commands::copy::run(&global, id, &scope.scope(), dest, json).await,
        Command::Sync { dest, json } => commands::copy::sync(&global, dest, json).await,
        Command::Migrate { dry_run, json } => commands::migrate::run(&global, dry_run, json).await,
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
        Command::Forget { ids, scope, policy, dry_run, prune, json } => {
            commands::forget::run(&global, &ids, scope, policy, dry_run, prune, json).await
        }
        Command::Prune { dry_run, max_unused, json } => commands::prune::run(&global, dry_run, max_unused, json).await,
        Command::Unlock { all } => commands::unlock::run(&global, all).await,
        Command::Version { json } => commands::version::run(json),
        Command::Completions { shell } => commands::completions::completions(shell),
        Command::Man { dir } => commands::completions::man(dir.as_deref()),
    }
}

/// Caps glibc's malloc at two arenas. By default it makes one per thread that allocates,
/// up to 8 per core, and each keeps what it freed: the blocking threads that chunk, seal and
/// write format 3 packs left the backup of a 1.2 GiB tree at 272 MiB peak RSS, 251 MiB with
/// two arenas at the same speed (issue 14's target is under 256 MiB).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
