//! The CLI's audit entries: what a command that changes or reads backups appends to the
//! audit log, and where.
//!
//! Where: the state database `--state` names (token commands), else the config's
//! `[service] state`, else lifeboatd's default state path **only if that file exists** —
//! a host that never ran lifeboatd or `lifeboat token` has no audit log, and the CLI does
//! not create one silently (docs/SECURITY.md, "Audit log"). The entry is appended after the
//! command, with its outcome; a failed append is a warning on stderr, never the command's
//! failure. The actor is `local:<user>`.

use std::path::PathBuf;
use std::process::ExitCode;

use lifeboat_ops::audit::{AuditRecord, local_actor};
use lifeboat_ops::config::ServiceSettings;
use lifeboat_ops::state::{StateOptions, StateStore};
use lifeboat_storage::redact_url;
use serde_json::{Value, json};

use crate::flags::{
    AlertsArgs, AlertsCommand, Command, DrCommand, Global, KeyCommand, RecipientCommand, StateArg, TokenCommand,
    WriterCommand,
};

/// An entry to append once the command has run (`None` for commands that are not audited).
pub struct Pending {
    record: Option<AuditRecord>,
    /// `--state` of the command, if it has one.
    state: Option<PathBuf>,
    config: Option<PathBuf>,
}

impl Pending {
    /// The entry `command` will make, and the state database it goes to.
    pub fn describe(global: &Global, command: &Command) -> Pending {
        let Some((operation, target, parameters, state)) = describe(global, command) else {
            return Pending { record: None, state: None, config: None };
        };
        let actor = local_actor();
        let record = AuditRecord { actor, operation: operation.to_owned(), target, parameters, result: String::new() };
        Pending { record: Some(record), state: state.and_then(|s| s.state.clone()), config: global.config.clone() }
    }

    /// Appends the entry with the command's outcome; a failure is a warning on stderr.
    pub async fn finish(self, outcome: &anyhow::Result<ExitCode>) {
        // Resolved after the command: `lifeboat token create` may just have made the file.
        let Some(path) = state_path(self.state, self.config.as_deref()) else { return };
        let Some(mut record) = self.record else { return };
        record.result = match outcome {
            Ok(code) if *code == ExitCode::SUCCESS => "ok".to_owned(),
            Ok(code) => format!("exit {code:?}"),
            Err(e) => lifeboat_ops::audit::error_text(&crate::render::error_chain(e)),
        };
        let shown = path.display().to_string();
        let appended = tokio::task::spawn_blocking(move || {
            let mut store = StateStore::attach(&path, StateOptions::default())?;
            store.append_audit(&record, chrono::Utc::now())
        })
        .await;
        let error = match appended {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        eprintln!("lifeboat: warning: could not append to the audit log in {shown}: {}", crate::render::escape(&error));
    }
}

type Described<'a> = (&'static str, Option<String>, Value, Option<&'a StateArg>);

/// The operation, target, parameters and `--state` of an audited command.
fn describe<'a>(global: &Global, command: &'a Command) -> Option<Described<'a>> {
    let repo = || crate::open::repo_url(global).ok().map(|url| redact_url(&url));
    let scoped = |plan: &Option<String>| plan.clone().or_else(repo);
    Some(match command {
        Command::Init(_) => ("init", repo(), json!({}), None),
        Command::Backup(args) => match (&args.command, &args.plan) {
            (_, Some(plan)) => ("backup", Some(plan.clone()), json!({ "plan": plan }), None),
            (Some(cmd), None) => ("backup", repo(), json!({ "source": source_name(cmd) }), None),
            (None, None) => return None,
        },
        Command::Run(args) => ("run", Some(args.plan.clone()), json!({ "plan": args.plan }), None),
        Command::Verify { id, scope, deep, .. } => {
            ("verify", scoped(&scope.plan), json!({ "backup": id, "deep": deep, "repository": repo() }), None)
        }
        Command::Restore { id, scope, target, stdout, object, to, .. } => (
            "restore",
            scoped(&scope.plan),
            json!({ "backup": id, "target": target, "stdout": stdout, "object": object, "to": to.as_deref().map(redact_url), "repository": repo() }),
            None,
        ),
        Command::Copy { id, dest, .. } => ("copy", repo(), json!({ "backup": id, "to": redact_url(&dest.to) }), None),
        Command::Sync { dest, .. } => ("copy", repo(), json!({ "sync": true, "to": redact_url(&dest.to) }), None),
        Command::Forget { scope, dry_run, prune, .. } => (
            "forget",
            scoped(&scope.plan),
            json!({ "plan": scope.plan, "host": scope.host, "tags": scope.tags, "dry_run": dry_run, "prune": prune }),
            None,
        ),
        Command::Prune { dry_run, max_unused, .. } => {
            ("prune", repo(), json!({ "dry_run": dry_run, "max_unused": max_unused }), None)
        }
        Command::Unlock { all } => ("unlock", repo(), json!({ "all": all }), None),
        Command::Repair(_) => ("repair index", repo(), json!({}), None),
        Command::Key(cmd) => {
            let (operation, parameters) = key_operation(cmd)?;
            (operation, repo(), parameters, None)
        }
        Command::Token(TokenCommand::Create { name, scopes, expires, state }) => {
            ("token_create", Some(name.clone()), json!({ "scopes": scopes, "expires": expires }), Some(state))
        }
        Command::Token(TokenCommand::Revoke { token, state }) => {
            ("token_revoke", Some(token.clone()), json!({}), Some(state))
        }
        // Sent from here, so lifeboatd does not see it (its own test endpoint is audited there).
        Command::Alerts(AlertsArgs { command: Some(AlertsCommand::Test(test)), .. }) => {
            ("notification_test", test.channel.clone(), json!({ "channel": test.channel }), None)
        }
        Command::Dr(DrCommand::Drill(args)) => {
            let target = args.plan.clone().or_else(|| args.scenario.clone());
            ("dr_drill", target, json!({ "plan": args.plan, "scenario": args.scenario }), None)
        }
        Command::Dr(DrCommand::Recover(args)) => (
            "dr_recover",
            Some(args.scenario.clone()),
            json!({ "scenario": args.scenario, "dry_run": args.dry_run }),
            None,
        ),
        Command::Import(args) => (
            "import",
            Some(redact_url(&args.url)),
            json!({ "from": args.from, "on_conflict": args.on_conflict, "maps": args.maps, "tables": args.tables }),
            None,
        ),
        Command::Export(crate::flags::ExportArgs { command: crate::flags::ExportCommand::Clean(c) }) if !c.dry_run => (
            "export_clean",
            c.dest.as_deref().map(redact_url),
            json!({ "dest": c.dest.as_deref().map(redact_url), "keep_days": c.keep_days, "keep_failed_days": c.keep_failed_days }),
            None,
        ),
        _ => return None,
    })
}

fn source_name(cmd: &crate::flags::BackupCommand) -> String {
    // The variant's name (`Files`, `Postgres`, ...), without its fields (a DSN may be in them).
    let debug = format!("{cmd:?}");
    debug.split([' ', '{', '(']).next().unwrap_or_default().to_lowercase()
}

fn key_operation(cmd: &KeyCommand) -> Option<(&'static str, Value)> {
    Some(match cmd {
        KeyCommand::List { .. } => return None,
        KeyCommand::Add { new_key_file, label, .. } => ("key_add", json!({ "key_file": new_key_file, "label": label })),
        KeyCommand::Passwd { .. } => ("key_passwd", json!({})),
        KeyCommand::Remove { slot } => ("key_remove", json!({ "slot": slot })),
        KeyCommand::Rotate { .. } => ("key_rotate", json!({})),
        KeyCommand::Recipient(RecipientCommand::Add { public_key, label, .. }) => {
            ("key_recipient_add", json!({ "public_key": public_key, "label": label }))
        }
        KeyCommand::Writer(WriterCommand::Add { public_key, label, .. }) => {
            ("key_writer_add", json!({ "public_key": public_key, "label": label }))
        }
        KeyCommand::Writer(WriterCommand::Remove { id }) => ("key_writer_remove", json!({ "id": id })),
        _ => return None,
    })
}

/// The audit log's database: `--state`, else the config's `[service] state`, else the
/// default state path if that file exists.
fn state_path(state: Option<PathBuf>, config: Option<&std::path::Path>) -> Option<PathBuf> {
    if let Some(path) = state {
        return Some(path);
    }
    if let Some(config) = config
        && let Ok(config) = lifeboat_ops::Config::load(config)
        && let Some(path) = config.service.state
    {
        return Some(path);
    }
    ServiceSettings::default_state_path().filter(|path| path.is_file())
}
