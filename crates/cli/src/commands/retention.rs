//! `lifeboat retention ...`: audit retention policies on a list of backups (the flags are
//! in `crate::flags::retention`). All the semantics live in `lifeboat-retention`; this
//! module only reads the input and prints.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use lifeboat_retention::chrono::{SubsecRound, Utc};
use lifeboat_retention::{GroupBy, apply_grouped, parse_plan_input, plan_from_json_at};

use crate::flags::{PolicyArgs, RetentionCommand};

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
    let time_of = |id: &str| snapshots.iter().find(|s| s.id == id).map(|s| s.time.to_rfc3339()).unwrap_or_default();

    let id_width = snapshots.iter().map(|s| s.id.chars().count()).max().unwrap_or(2).max(2);
    let mut table = String::new();
    let policy_text =
        if policy.is_empty() { "forget everything (--allow-empty)".to_string() } else { policy.to_string() };
    table.push_str(&format!("Applying policy: {policy_text}\n"));
    table.push_str(&format!(
        "Grouped by: {}\n",
        if args.group_by == GroupBy::NONE { "nothing".to_string() } else { args.group_by.to_string() }
    ));
    let (mut kept, mut forgotten) = (0, 0);
    for group in &groups {
        kept += group.kept();
        forgotten += group.forgotten();
        table.push_str(&format!("\n{}: keep {}, forget {}\n", group.key, group.kept(), group.forgotten()));
        table.push_str(&format!("{:<id_width$}  {:<25}  {:<6}  REASONS\n", "ID", "TIME", "ACTION"));
        for d in &group.decisions {
            let action = if d.keep { "keep" } else { "forget" };
            table.push_str(&format!(
                "{:<id_width$}  {:<25}  {:<6}  {}\n",
                d.id,
                time_of(&d.id),
                action,
                d.reasons.join(", ")
            ));
        }
    }
    table.push_str(&format!(
        "\n{} backup(s) in {} group(s): keep {kept}, forget {forgotten}\n",
        snapshots.len(),
        groups.len()
    ));
    out.write_all(table.as_bytes()).context("cannot write the plan to standard output")?;
    Ok(ExitCode::SUCCESS)
}
