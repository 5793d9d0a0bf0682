//! `lifeboat retention ...`: audit retention policies on a list of backups (the flags are
//! in `crate::flags::retention`). All the semantics live in `lifeboat-retention`; this
//! module only reads the input and prints.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use lifeboat_retention::chrono::{SubsecRound, Utc};
use lifeboat_retention::{apply_grouped, parse_plan_input, plan_from_json_at};

use crate::flags::{PolicyArgs, RetentionCommand};
use crate::render::retention_table;

/// Runs a `lifeboat retention` subcommand.
pub fn run(cmd: RetentionCommand) -> Result<ExitCode> {
    match cmd {
        RetentionCommand::Plan { input, policy, json } => plan(&input, &policy, json),
    }
}

fn input_name(path: &Path) -> String {
    if path == Path::new("-") { "standard input".to_string() } else { path.display().to_string() }
}

fn read_input(path: &Path) -> Result<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).context("cannot read the retention input from standard input")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the retention input file {}", path.display()))?;
    }
    Ok(text)
}

fn plan(input: &Path, args: &PolicyArgs, json: bool) -> Result<ExitCode> {
    let policy = args.to_policy()?;
    let text = read_input(input)?;
    let now = Utc::now().trunc_subsecs(0);
    let name = input_name(input);
    let mut out = std::io::stdout().lock();

    if json {
        let doc = plan_from_json_at(&text, &policy, args.group_by, args.allow_empty, now)
            .map_err(|e| anyhow!("{name}: {e}"))?;
        writeln!(out, "{doc}").context("cannot write the plan to standard output")?;
        return Ok(ExitCode::SUCCESS);
    }

    let snapshots = parse_plan_input(&text).map_err(|e| anyhow!("{name}: {e}"))?;
    let groups = apply_grouped(&policy, args.group_by, &snapshots, args.allow_empty, Some(now))
        .map_err(|e| anyhow!("{name}: {e}"))?;
    let table = retention_table(&policy, args.group_by, &snapshots, &groups);
    out.write_all(table.as_bytes()).context("cannot write the plan to standard output")?;
    Ok(ExitCode::SUCCESS)
}
