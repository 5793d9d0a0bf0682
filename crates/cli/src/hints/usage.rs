//! Advice on clap's own errors, for the mistakes a newcomer from restic or borg makes first.
//!
//! - `lifeboat backup /path` (restic's form) is an unrecognized subcommand to clap: the tip
//!   names `lifeboat backup files /path`.
//! - restic's and borg's command names (`snapshots`, `check`, `extract`, ...) get a tip
//!   naming Lifeboat's command for the same job.
//! - A missing required argument makes clap print a usage line with every argument it
//!   counts as given, including those that came from the environment
//!   (`--repo <REPO> --password-file <PASSWORD_FILE>` for LIFEBOAT_REPO and
//!   LIFEBOAT_PASSWORD_FILE), which reads as if they were required too. The usage line is
//!   replaced with the command's own, which lists what is required and nothing else.

use std::ffi::OsString;

use clap::builder::StyledStr;
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// The `backup` subcommands that back up what is named after them, for the tip.
const BACKUP_FILES: &str = "files";

/// restic's and borg's commands a newcomer types first, with Lifeboat's for the same job.
const FOREIGN_COMMANDS: [(&str, &str); 10] = [
    ("snapshots", "list"),
    ("check", "verify"),
    ("extract", "restore ID --target DIR"),
    ("create", "backup files PATH..."),
    ("ls", "show ID"),
    ("info", "show ID"),
    ("stats", "show ID"),
    ("delete", "forget"),
    ("compact", "prune"),
    ("break-lock", "unlock"),
];

/// `err` with the tip or the usage line described in the module documentation, when one applies.
pub fn improve(mut err: clap::Error, cmd: &mut clap::Command, args: &[OsString]) -> clap::Error {
    let path = command_path(cmd, args);
    match err.kind() {
        ErrorKind::InvalidSubcommand => {
            if let Some(tip) = backup_tip(&err, &path).or_else(|| foreign_command_tip(&err, &path)) {
                err.insert(ContextKind::Suggested, ContextValue::StyledStrs(vec![tip]));
            }
        }
        ErrorKind::MissingRequiredArgument => {
            if let Some(usage) = subcommand(cmd, &path).map(clap::Command::render_usage) {
                err.insert(ContextKind::Usage, ContextValue::StyledStr(usage));
            }
        }
        _ => {}
    }
    err
}

/// The tip for `lifeboat backup PATH`: back it up with `backup files PATH`. None when the
/// error is about another command, or clap already suggests a similar subcommand (`fils`).
fn backup_tip(err: &clap::Error, path: &[String]) -> Option<StyledStr> {
    if path != ["backup"] || err.get(ContextKind::SuggestedSubcommand).is_some() {
        return None;
    }
    let Some(ContextValue::String(given)) = err.get(ContextKind::InvalidSubcommand) else {
        return None;
    };
    let quoted = shlex::try_quote(given).map(|q| q.into_owned()).unwrap_or_else(|_| given.clone());
    Some(StyledStr::from(format!(
        "to back up files or directories, name them after `{BACKUP_FILES}`: 'lifeboat backup {BACKUP_FILES} {quoted}' \
         (see 'lifeboat backup --help' for databases, streams and plans)"
    )))
}

/// The tip for a restic or borg command name at the top level (`lifeboat snapshots`), also
/// when clap finds one of ours similar (`extract` and `export`).
fn foreign_command_tip(err: &clap::Error, path: &[String]) -> Option<StyledStr> {
    if !path.is_empty() {
        return None;
    }
    let Some(ContextValue::String(given)) = err.get(ContextKind::InvalidSubcommand) else {
        return None;
    };
    let (_, ours) = FOREIGN_COMMANDS.iter().find(|(theirs, _)| theirs == given)?;
    Some(StyledStr::from(format!("Lifeboat's command for that is 'lifeboat {ours}'")))
}

/// The names of the (sub)commands `args` descends into: `["backup", "files"]` for
/// `lifeboat -v backup files /x`. Options are skipped; an option's value that happens to be
/// a command's name could mislead this, which only costs a less precise usage line.
fn command_path(cmd: &clap::Command, args: &[OsString]) -> Vec<String> {
    let mut path = Vec::new();
    let mut current = cmd;
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if arg == "--" {
            break;
        }
        if arg.starts_with('-') {
            continue;
        }
        match current.find_subcommand(arg) {
            Some(sub) => {
                path.push(sub.get_name().to_owned());
                current = sub;
            }
            None => break,
        }
    }
    path
}

/// The subcommand `path` names under `cmd` (built, so its usage is complete); None for the top.
fn subcommand<'c>(cmd: &'c mut clap::Command, path: &[String]) -> Option<&'c mut clap::Command> {
    cmd.build();
    let (first, rest) = path.split_first()?;
    let mut current = cmd.find_subcommand_mut(first)?;
    for name in rest {
        current = current.find_subcommand_mut(name)?;
    }
    Some(current)
}
