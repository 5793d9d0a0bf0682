//! `lifeboat retention ...` and the retention-policy flags shared with `lifeboat forget`.
//!
//! The flags follow restic's `forget`: `--keep-last`, `--keep-hourly`, `--keep-daily`,
//! `--keep-weekly`, `--keep-monthly`, `--keep-yearly` (a count; `-1` or `unlimited` for
//! no limit), `--keep-within` and `--keep-within-{hourly,daily,weekly,monthly,yearly}`
//! (a duration such as `1y2m7d3h`, `m` being months), `--keep-tag TAG[,TAG...]`
//! (repeatable), plus `--group-by` and `--allow-empty`. All the semantics live in
//! `lifeboat-retention`; this module only parses flags, reads the input and prints.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use lifeboat_retention::chrono::{SubsecRound, Utc};
use lifeboat_retention::{
    Duration, GroupBy, KeepCount, Policy, RetentionError, TagList, apply_grouped, parse_plan_input, plan_from_json_at,
};

/// Retention-policy flags (restic's `forget` names). Used by `lifeboat forget` and
/// `lifeboat retention plan`.
#[derive(Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Keep the N most recent backups (-1 or "unlimited": all)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_last: Option<KeepCount>,

    /// Keep the newest backup of each of the last N hours that have backups (-1: unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_hourly: Option<KeepCount>,

    /// Keep the newest backup of each of the last N days that have backups (-1: unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_daily: Option<KeepCount>,

    /// Keep the newest backup of each of the last N ISO weeks that have backups (-1: unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_weekly: Option<KeepCount>,

    /// Keep the newest backup of each of the last N months that have backups (-1: unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_monthly: Option<KeepCount>,

    /// Keep the newest backup of each of the last N years that have backups (-1: unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keep_yearly: Option<KeepCount>,

    /// Keep every backup made within DURATION before the newest backup of its group
    /// (e.g. 7d, 1m, 1y2m7d3h; y years, m months, d days, h hours)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub keep_within: Option<Duration>,

    /// Keep the newest backup of each hour within DURATION of the newest backup
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub keep_within_hourly: Option<Duration>,

    /// Keep the newest backup of each day within DURATION of the newest backup
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub keep_within_daily: Option<Duration>,

    /// Keep the newest backup of each ISO week within DURATION of the newest backup
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub keep_within_weekly: Option<Duration>,

    /// Keep the newest backup of each month within DURATION of the newest backup
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub keep_within_monthly: Option<Duration>,

    /// Keep the newest backup of each year within DURATION of the newest backup
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub keep_within_yearly: Option<Duration>,

    /// Keep every backup carrying all of these tags (repeatable; '' keeps untagged backups)
    #[arg(long = "keep-tag", value_name = "TAG[,TAG...]")]
    pub keep_tag: Vec<TagList>,

    /// Apply the policy to each group separately: comma-separated plan, host, tags ('' for one group)
    #[arg(long, value_name = "FIELDS", default_value = "plan,host")]
    pub group_by: GroupBy,

    /// Allow the policy to forget every backup of a group (with no keep rule at all: every backup)
    #[arg(long)]
    pub allow_empty: bool,
}

impl PolicyArgs {
    /// The policy these flags describe.
    ///
    /// Fails with one clear error when no keep rule is given and `--allow-empty` is not
    /// set (restic's "no policy was specified"), or when a `--keep-tag` is unusable.
    pub fn to_policy(&self) -> Result<Policy> {
        let policy = Policy {
            keep_last: self.keep_last.unwrap_or(KeepCount::OFF),
            keep_hourly: self.keep_hourly.unwrap_or(KeepCount::OFF),
            keep_daily: self.keep_daily.unwrap_or(KeepCount::OFF),
            keep_weekly: self.keep_weekly.unwrap_or(KeepCount::OFF),
            keep_monthly: self.keep_monthly.unwrap_or(KeepCount::OFF),
            keep_yearly: self.keep_yearly.unwrap_or(KeepCount::OFF),
            keep_within: self.keep_within,
            keep_within_hourly: self.keep_within_hourly,
            keep_within_daily: self.keep_within_daily,
            keep_within_weekly: self.keep_within_weekly,
            keep_within_monthly: self.keep_within_monthly,
            keep_within_yearly: self.keep_within_yearly,
            keep_tags: self.keep_tag.clone(),
        };
        policy.validate()?;
        if policy.is_empty() && !self.allow_empty {
            return Err(RetentionError::EmptyPolicy.into());
        }
        Ok(policy)
    }
}

/// `lifeboat retention ...`
#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Show which backups a policy would keep or forget, without touching any repository.
    ///
    /// Reads a JSON array of {"id", "time" (RFC 3339), "tags": [], "host", "plan"} and
    /// prints, with --json, [{"id", "keep": true|false, "reasons": []}] in input order.
    Plan {
        /// JSON file with the backups to plan for ("-" reads standard input)
        #[arg(long, value_name = "FILE")]
        input: PathBuf,

        #[command(flatten)]
        policy: PolicyArgs,

        /// Print the plan as JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

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
