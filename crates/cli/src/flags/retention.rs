//! The retention-policy flags shared by `lifeboat forget` and `lifeboat retention plan`.
//!
//! The flags follow restic's `forget`: `--keep-last`, `--keep-hourly`, `--keep-daily`,
//! `--keep-weekly`, `--keep-monthly`, `--keep-yearly` (a count; `-1` or `unlimited` for
//! no limit), `--keep-within` and `--keep-within-{hourly,daily,weekly,monthly,yearly}`
//! (a duration such as `1y2m7d3h`, `m` being months), `--keep-tag TAG[,TAG...]`
//! (repeatable), plus `--group-by` and `--allow-empty`. All the semantics live in
//! `lifeboat-retention`; this module only parses flags.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use lifeboat_ops::policy::{RequestedPolicy, choose_policy};
use lifeboat_retention::{Duration, GroupBy, KeepCount, Policy, TagList};

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
    /// The keep rules as given, perhaps none, for lifeboat-ops to choose from
    /// (`lifeboat forget`, where a plan's retention may fill in).
    pub fn requested(&self) -> RequestedPolicy {
        RequestedPolicy { rules: self.rules(), allow_empty: self.allow_empty }
    }

    /// The policy these flags describe.
    ///
    /// Fails with one clear error when no keep rule is given and `--allow-empty` is not
    /// set (restic's "no policy was specified"), or when a `--keep-tag` is unusable.
    pub fn to_policy(&self) -> Result<Policy> {
        Ok(choose_policy(&self.requested(), None)?.policy)
    }

    fn rules(&self) -> Policy {
        Policy {
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
        }
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
