//! Applying a [`Policy`] to a list of backups: restic's `ApplyPolicy`, group by group.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::snapshot::{REASON_IN_PROGRESS, REASON_NO_RULE, reason_locked};
use crate::{Decision, Duration, GroupBy, GroupKey, KeepCount, Policy, RetentionError, Snapshot};

/// The decisions for one group, newest backup first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPlan {
    /// Which group.
    pub key: GroupKey,
    /// One decision per backup of the group, newest first (ties: smaller id first).
    pub decisions: Vec<Decision>,
}

impl GroupPlan {
    /// How many backups of the group are kept.
    pub fn kept(&self) -> usize {
        self.decisions.iter().filter(|d| d.keep).count()
    }

    /// How many backups of the group are forgotten.
    pub fn forgotten(&self) -> usize {
        self.decisions.len() - self.kept()
    }
}

/// Decides, for every backup, whether `policy` keeps it; one decision per input backup,
/// **in input order**.
///
/// Backups are grouped by `group_by` and the policy is applied to each group on its own.
/// Durations count back from the newest backup of the group. Without a reference time
/// an object lock is taken to still hold (nothing locked is ever forgotten); use
/// [`apply_at`] to let expired locks go and to ignore future-dated backups when finding
/// the newest one, as restic does.
///
/// Errors: [`RetentionError::EmptyPolicy`] when no rule is set and `allow_empty` is
/// false; [`RetentionError::WouldEmptyGroup`] when the policy would forget every
/// completed backup of a group and `allow_empty` is false;
/// [`RetentionError::InvalidSnapshot`] for an empty or duplicate id.
pub fn apply(
    policy: &Policy,
    group_by: GroupBy,
    snapshots: &[Snapshot],
    allow_empty: bool,
) -> Result<Vec<Decision>, RetentionError> {
    let groups = apply_grouped(policy, group_by, snapshots, allow_empty, None)?;
    Ok(in_input_order(snapshots, groups))
}

/// [`apply`] as of the time `now`: an object lock holds while `locked_until > now`, and
/// backups dated at or after `now` are not taken as the newest backup that durations
/// count back from (restic's guard against clock skew). If every backup of a group lies
/// in the future, restic counts durations back from the zero time, so every backup is
/// "within"; so does this function.
pub fn apply_at(
    policy: &Policy,
    group_by: GroupBy,
    snapshots: &[Snapshot],
    allow_empty: bool,
    now: DateTime<Utc>,
) -> Result<Vec<Decision>, RetentionError> {
    let groups = apply_grouped(policy, group_by, snapshots, allow_empty, Some(now))?;
    Ok(in_input_order(snapshots, groups))
}

/// The engine behind [`apply`] and [`apply_at`], returning the decisions group by group
/// (groups ordered by their key, each newest first), which is what a human-readable
/// listing wants. `now: None` behaves as [`apply`], `Some(t)` as [`apply_at`].
pub fn apply_grouped(
    policy: &Policy,
    group_by: GroupBy,
    snapshots: &[Snapshot],
    allow_empty: bool,
    now: Option<DateTime<Utc>>,
) -> Result<Vec<GroupPlan>, RetentionError> {
    policy.validate()?;
    if policy.is_empty() && !allow_empty {
        return Err(RetentionError::EmptyPolicy);
    }
    check_ids(snapshots)?;

    let mut groups: BTreeMap<GroupKey, Vec<&Snapshot>> = BTreeMap::new();
    for s in snapshots {
        groups.entry(group_by.key(s)).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|(key, members)| {
            let decisions = plan_group(policy, members, now, allow_empty, &key)?;
            Ok(GroupPlan { key, decisions })
        })
        .collect()
}

fn in_input_order(snapshots: &[Snapshot], groups: Vec<GroupPlan>) -> Vec<Decision> {
    let mut by_id: HashMap<String, Decision> =
        groups.into_iter().flat_map(|g| g.decisions).map(|d| (d.id.clone(), d)).collect();
    snapshots.iter().filter_map(|s| by_id.remove(&s.id)).collect()
}

fn check_ids(snapshots: &[Snapshot]) -> Result<(), RetentionError> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(snapshots.len());
    for (index, s) in snapshots.iter().enumerate() {
        if s.id.trim().is_empty() {
            return Err(RetentionError::InvalidSnapshot { index, id: s.id.clone(), reason: "the id is empty".into() });
        }
        if let Some(first) = seen.insert(&s.id, index) {
            return Err(RetentionError::InvalidSnapshot {
                index,
                id: s.id.clone(),
                reason: format!("the id is also used by the backup at position {first}"),
            });
        }
    }
    Ok(())
}

/// Newest first; backups taken at the same instant are ordered by id so that the result
/// does not depend on the order of the input.
fn newest_first(a: &&Snapshot, b: &&Snapshot) -> std::cmp::Ordering {
    b.time.cmp(&a.time).then_with(|| a.id.cmp(&b.id))
}

fn lock_holds(s: &Snapshot, now: Option<DateTime<Utc>>) -> bool {
    s.locked_until.is_some_and(|until| now.is_none_or(|now| until.to_utc() > now))
}

fn plan_group(
    policy: &Policy,
    mut members: Vec<&Snapshot>,
    now: Option<DateTime<Utc>>,
    allow_empty: bool,
    key: &GroupKey,
) -> Result<Vec<Decision>, RetentionError> {
    members.sort_by(newest_first);
    let evaluated: Vec<&Snapshot> = members.iter().copied().filter(|s| !s.in_progress).collect();
    let mut policy_reasons: HashMap<&str, Vec<String>> =
        evaluated.iter().map(|s| s.id.as_str()).zip(evaluate(policy, &evaluated, now)).collect();

    let mut any_complete_kept = false;
    let decisions = members
        .iter()
        .map(|s| {
            let mut reasons = if s.in_progress {
                vec![REASON_IN_PROGRESS.to_string()]
            } else {
                policy_reasons.remove(s.id.as_str()).unwrap_or_default()
            };
            if lock_holds(s, now)
                && let Some(until) = &s.locked_until
            {
                reasons.push(reason_locked(until));
            }
            let keep = !reasons.is_empty();
            if keep && !s.in_progress {
                any_complete_kept = true;
            }
            if !keep {
                reasons.push(REASON_NO_RULE.to_string());
            }
            Decision { id: s.id.clone(), keep, reasons }
        })
        .collect();

    if !evaluated.is_empty() && !any_complete_kept && !allow_empty {
        return Err(RetentionError::WouldEmptyGroup { group: key.to_string(), count: evaluated.len() });
    }
    Ok(decisions)
}

/// A calendar bucket, read in the backup's own UTC offset.
#[derive(Debug, Clone, Copy)]
enum Period {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Period {
    fn from_name(name: &str) -> Option<Period> {
        match name {
            "hourly" => Some(Period::Hour),
            "daily" => Some(Period::Day),
            "weekly" => Some(Period::Week),
            "monthly" => Some(Period::Month),
            "yearly" => Some(Period::Year),
            _ => None,
        }
    }

    fn bucket(self, t: &DateTime<FixedOffset>) -> [i64; 4] {
        let (y, m, d, h) = (i64::from(t.year()), i64::from(t.month()), i64::from(t.day()), i64::from(t.hour()));
        match self {
            Period::Hour => [y, m, d, h],
            Period::Day => [y, m, d, -1],
            Period::Week => {
                let w = t.iso_week();
                [i64::from(w.year()), i64::from(w.week()), -1, -1]
            }
            Period::Month => [y, m, -1, -1],
            Period::Year => [y, -1, -1, -1],
        }
    }
}

/// A counting rule while the list is walked: `period == None` is `keep-last`, whose
/// bucket is the position in the list (every backup is its own bucket).
struct CountRule {
    name: &'static str,
    period: Option<Period>,
    remaining: Option<u32>,
    last: Option<[i64; 4]>,
}

struct WithinRule {
    name: &'static str,
    period: Period,
    duration: Duration,
    cutoff: Option<DateTime<Utc>>,
    last: Option<[i64; 4]>,
}

fn is_within(t: &DateTime<FixedOffset>, cutoff: Option<DateTime<Utc>>) -> bool {
    cutoff.is_none_or(|c| t.to_utc() > c)
}

/// The policy reasons of each backup of one group (`list` is newest first and holds no
/// backup in progress); an empty list of reasons means "forget".
fn evaluate(policy: &Policy, list: &[&Snapshot], now: Option<DateTime<Utc>>) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); list.len()];
    if list.is_empty() || policy.is_empty() {
        return out;
    }
    // The newest backup durations count back from; with `now`, backups not before it are
    // skipped (restic's findLatestTimestamp). None: count back from the zero time, i.e.
    // everything is within.
    let latest: Option<&DateTime<FixedOffset>> =
        list.iter().map(|s| &s.time).find(|t| now.is_none_or(|now| t.to_utc() < now));
    let cutoff = |d: Duration| latest.and_then(|l| d.before(l));

    let within = policy.within().map(|d| (d, cutoff(d)));
    let mut counts: Vec<CountRule> = policy
        .counts()
        .into_iter()
        .filter(|(c, _)| c.is_set())
        .map(|(c, name)| CountRule {
            name,
            period: Period::from_name(name),
            remaining: match c {
                KeepCount::N(n) => Some(n),
                KeepCount::Unlimited => None,
            },
            last: None,
        })
        .collect();
    let mut withins: Vec<WithinRule> = policy
        .withins()
        .into_iter()
        .filter_map(|(d, name)| {
            let duration = d?;
            let period = Period::from_name(name)?;
            Some(WithinRule { name, period, duration, cutoff: cutoff(duration), last: None })
        })
        .collect();

    let oldest = list.len() - 1;
    for (nr, (cur, reasons)) in list.iter().zip(out.iter_mut()).enumerate() {
        for tags in &policy.keep_tags {
            if tags.matches(&cur.tags) {
                reasons.push(tags.reason());
            }
        }
        if let Some((d, c)) = within
            && is_within(&cur.time, c)
        {
            reasons.push(format!("within {d}"));
        }
        for rule in &mut counts {
            if rule.remaining == Some(0) {
                continue;
            }
            let val = match rule.period {
                Some(p) => p.bucket(&cur.time),
                None => [nr as i64, 0, 0, 0],
            };
            // restic keeps a backup whose bucket differs from the last one this rule kept;
            // and, while the rule has counts left, the oldest backup too ("oldest ...").
            let same = rule.last == Some(val);
            if !same || nr == oldest {
                let prefix = if same { "oldest " } else { "" };
                reasons.push(format!("{prefix}{} snapshot", rule.name));
                rule.last = Some(val);
                if let Some(n) = rule.remaining.as_mut() {
                    *n -= 1;
                }
            }
        }
        for rule in &mut withins {
            if !is_within(&cur.time, rule.cutoff) {
                continue;
            }
            let val = rule.period.bucket(&cur.time);
            let same = rule.last == Some(val);
            if !same || nr == oldest {
                let prefix = if same { "oldest " } else { "" };
                reasons.push(format!("{prefix}{} within {}", rule.name, rule.duration));
                rule.last = Some(val);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(id: &str, t: &str) -> Snapshot {
        Snapshot::new(id, DateTime::parse_from_rfc3339(t).unwrap())
    }

    #[test]
    fn buckets_use_the_own_offset() {
        let t = DateTime::parse_from_rfc3339("2024-12-30T00:30:00+01:00").unwrap();
        assert_eq!(Period::Day.bucket(&t), [2024, 12, 30, -1]);
        assert_eq!(Period::Hour.bucket(&t), [2024, 12, 30, 0]);
        // 30 Dec 2024 is a Monday of ISO week 1 of 2025.
        assert_eq!(Period::Week.bucket(&t), [2025, 1, -1, -1]);
        assert_eq!(Period::Month.bucket(&t), [2024, 12, -1, -1]);
        assert_eq!(Period::Year.bucket(&t), [2024, -1, -1, -1]);
        let utc = t.with_timezone(&FixedOffset::east_opt(0).unwrap());
        assert_eq!(Period::Day.bucket(&utc), [2024, 12, 29, -1]);
        assert_eq!(Period::Week.bucket(&utc), [2024, 52, -1, -1]);
    }

    #[test]
    fn input_order_is_kept() {
        let list = vec![snap("old", "2024-01-01T00:00:00Z"), snap("new", "2024-01-02T00:00:00Z")];
        let p = Policy { keep_last: KeepCount::N(1), ..Policy::default() };
        let d = apply(&p, GroupBy::default(), &list, false).unwrap();
        assert_eq!(d.iter().map(|d| (d.id.as_str(), d.keep)).collect::<Vec<_>>(), [("old", false), ("new", true)]);
        assert_eq!(d[0].reasons, [REASON_NO_RULE]);
        assert_eq!(d[1].reasons, ["last snapshot"]);
    }

    #[test]
    fn ids_are_checked() {
        let p = Policy::plan_default();
        let dup = vec![snap("a", "2024-01-01T00:00:00Z"), snap("a", "2024-01-02T00:00:00Z")];
        let msg = apply(&p, GroupBy::default(), &dup, false).unwrap_err().to_string();
        assert!(msg.contains("position 1") && msg.contains("position 0") && msg.contains("\"a\""), "{msg}");
        let empty = vec![snap(" ", "2024-01-01T00:00:00Z")];
        let msg = apply(&p, GroupBy::default(), &empty, false).unwrap_err().to_string();
        assert!(msg.contains("empty"), "{msg}");
    }
}
