//! The retention policy: which keep rules are set.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Duration, RetentionError};

/// How many backups a counting rule (`keep-last`, `keep-daily`, ...) keeps.
///
/// `0` means the rule is not set, [`KeepCount::Unlimited`] (written `-1` or `unlimited`,
/// as restic accepts both) means "one per bucket, however many buckets there are".
///
/// ```
/// use lifeboat_retention::KeepCount;
/// assert_eq!("7".parse::<KeepCount>().unwrap(), KeepCount::N(7));
/// assert_eq!("-1".parse::<KeepCount>().unwrap(), KeepCount::Unlimited);
/// assert_eq!("unlimited".parse::<KeepCount>().unwrap(), KeepCount::Unlimited);
/// assert!("-2".parse::<KeepCount>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "CountRepr", into = "CountRepr")]
pub enum KeepCount {
    /// Keep at most this many (`0`: the rule is off).
    N(u32),
    /// No limit.
    Unlimited,
}

impl KeepCount {
    /// The rule is not set.
    pub const OFF: KeepCount = KeepCount::N(0);

    /// True when the rule keeps something (`N(n)` with `n > 0`, or `Unlimited`).
    pub const fn is_set(&self) -> bool {
        !matches!(self, KeepCount::N(0))
    }

    /// A count from restic's integer form: `-1` is unlimited, other negatives are errors.
    pub fn from_i64(n: i64) -> Result<Self, RetentionError> {
        match n {
            -1 => Ok(KeepCount::Unlimited),
            n => u32::try_from(n).map(KeepCount::N).map_err(|_| RetentionError::InvalidCount { input: n.to_string() }),
        }
    }

    /// restic's integer form: `-1` for unlimited.
    pub fn to_i64(&self) -> i64 {
        match self {
            KeepCount::N(n) => i64::from(*n),
            KeepCount::Unlimited => -1,
        }
    }
}

impl Default for KeepCount {
    fn default() -> Self {
        KeepCount::OFF
    }
}

impl fmt::Display for KeepCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepCount::N(n) => write!(f, "{n}"),
            KeepCount::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl FromStr for KeepCount {
    type Err = RetentionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(KeepCount::Unlimited);
        }
        let n: i64 = t.parse().map_err(|_| RetentionError::InvalidCount { input: s.to_string() })?;
        KeepCount::from_i64(n).map_err(|_| RetentionError::InvalidCount { input: s.to_string() })
    }
}

/// The serialised form of a [`KeepCount`]: a number (`-1` = unlimited) or `"unlimited"`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum CountRepr {
    Number(i64),
    Text(String),
}

impl TryFrom<CountRepr> for KeepCount {
    type Error = RetentionError;

    fn try_from(value: CountRepr) -> Result<Self, Self::Error> {
        match value {
            CountRepr::Number(n) => KeepCount::from_i64(n),
            CountRepr::Text(s) => s.parse(),
        }
    }
}

impl From<KeepCount> for CountRepr {
    fn from(value: KeepCount) -> Self {
        match value {
            KeepCount::N(n) => CountRepr::Number(i64::from(n)),
            KeepCount::Unlimited => CountRepr::Text("unlimited".into()),
        }
    }
}

/// One `keep-tag` entry: a backup matches when it carries **all** of these tags.
///
/// Written as a comma-separated list (`release` or `release,verified`). As in restic, the
/// empty tag matches backups that have no tags at all, so `--keep-tag ''` keeps the
/// untagged backups.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TagList(Vec<String>);

impl TagList {
    /// A tag list from its tags. At least one tag is required.
    pub fn new<I, S>(tags: I) -> Result<Self, RetentionError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(|t| t.into().trim().to_string()).collect();
        if tags.is_empty() {
            return Err(RetentionError::InvalidTagList {
                input: String::new(),
                reason: "a keep-tag entry needs at least one tag".into(),
            });
        }
        if let Some(bad) = tags.iter().find(|t| t.contains(',')) {
            return Err(RetentionError::InvalidTagList {
                input: bad.clone(),
                reason: "a tag cannot contain a comma (commas separate tags)".into(),
            });
        }
        Ok(TagList(tags))
    }

    /// The tags, all of which a backup must carry.
    pub fn tags(&self) -> &[String] {
        &self.0
    }

    /// restic's `HasTags`: every tag is present; an empty tag matches an untagged backup.
    pub fn matches(&self, backup_tags: &[String]) -> bool {
        for tag in &self.0 {
            if tag.is_empty() && backup_tags.is_empty() {
                return true;
            }
            if !backup_tags.iter().any(|t| t == tag) {
                return false;
            }
        }
        true
    }

    /// The reason a backup kept by this entry gets: `tag release`, `tags a,b`, `untagged`.
    pub fn reason(&self) -> String {
        if self.0.iter().all(String::is_empty) {
            return "untagged".into();
        }
        let label = if self.0.len() == 1 { "tag" } else { "tags" };
        format!("{label} {self}")
    }
}

impl fmt::Display for TagList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

impl FromStr for TagList {
    type Err = RetentionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(TagList(s.split(',').map(|t| t.trim().to_string()).collect()))
    }
}

impl TryFrom<String> for TagList {
    type Error = RetentionError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<TagList> for String {
    fn from(value: TagList) -> Self {
        value.to_string()
    }
}

/// A retention policy: the keep rules of restic's `forget`, each optional.
///
/// A backup is kept when **any** rule keeps it. `Default` sets no rule at all, which
/// `apply` refuses unless forgetting everything is explicitly allowed;
/// [`Policy::plan_default`] is the default of a plan in the configuration file.
///
/// In TOML/JSON the fields use restic's flag names:
///
/// ```toml
/// keep-last = 3
/// keep-daily = 7
/// keep-monthly = "unlimited"
/// keep-within = "1m"
/// keep-within-daily = "14d"
/// keep-tag = ["release", "audit,verified"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// Keep the N most recent backups.
    #[serde(skip_serializing_if = "is_off")]
    pub keep_last: KeepCount,
    /// Keep the most recent backup of each of the last N hours that have one.
    #[serde(skip_serializing_if = "is_off")]
    pub keep_hourly: KeepCount,
    /// Keep the most recent backup of each of the last N days that have one.
    #[serde(skip_serializing_if = "is_off")]
    pub keep_daily: KeepCount,
    /// Keep the most recent backup of each of the last N ISO weeks that have one.
    #[serde(skip_serializing_if = "is_off")]
    pub keep_weekly: KeepCount,
    /// Keep the most recent backup of each of the last N months that have one.
    #[serde(skip_serializing_if = "is_off")]
    pub keep_monthly: KeepCount,
    /// Keep the most recent backup of each of the last N years that have one.
    #[serde(skip_serializing_if = "is_off")]
    pub keep_yearly: KeepCount,
    /// Keep every backup made within this duration before the newest backup of the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within: Option<Duration>,
    /// Keep the most recent backup of each hour within this duration of the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within_hourly: Option<Duration>,
    /// Keep the most recent backup of each day within this duration of the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within_daily: Option<Duration>,
    /// Keep the most recent backup of each ISO week within this duration of the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within_weekly: Option<Duration>,
    /// Keep the most recent backup of each month within this duration of the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within_monthly: Option<Duration>,
    /// Keep the most recent backup of each year within this duration of the newest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_within_yearly: Option<Duration>,
    /// Keep every backup carrying all tags of at least one of these entries.
    #[serde(rename = "keep-tag", skip_serializing_if = "Vec::is_empty")]
    pub keep_tags: Vec<TagList>,
}

fn is_off(c: &KeepCount) -> bool {
    !c.is_set()
}

fn duration_set(d: &Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}

impl Policy {
    /// The default retention of a plan in the TOML configuration: 7 daily, 4 weekly and
    /// 12 monthly backups.
    pub fn plan_default() -> Self {
        Policy {
            keep_daily: KeepCount::N(7),
            keep_weekly: KeepCount::N(4),
            keep_monthly: KeepCount::N(12),
            ..Policy::default()
        }
    }

    /// True when no rule is set (zero counts and zero durations count as not set).
    pub fn is_empty(&self) -> bool {
        self.keep_tags.is_empty() && !self.has_time_rule()
    }

    /// True when a counting or `keep-within*` rule is set. Such a policy always keeps the
    /// newest backup of every group; a `keep-tag`-only policy may not.
    pub fn has_time_rule(&self) -> bool {
        self.counts().iter().any(|(c, _)| c.is_set())
            || self.within().is_some()
            || self.withins().iter().any(|(d, _)| d.is_some())
    }

    /// Checks what the types cannot: every `keep-tag` entry has at least one tag.
    pub fn validate(&self) -> Result<(), RetentionError> {
        for tags in &self.keep_tags {
            if tags.tags().is_empty() {
                return Err(RetentionError::InvalidTagList {
                    input: String::new(),
                    reason: "a keep-tag entry needs at least one tag".into(),
                });
            }
        }
        Ok(())
    }

    /// The counting rules with their restic names, in restic's evaluation order.
    pub(crate) fn counts(&self) -> [(KeepCount, &'static str); 6] {
        [
            (self.keep_last, "last"),
            (self.keep_hourly, "hourly"),
            (self.keep_daily, "daily"),
            (self.keep_weekly, "weekly"),
            (self.keep_monthly, "monthly"),
            (self.keep_yearly, "yearly"),
        ]
    }

    /// The `keep-within-<period>` rules (set and non-zero only), in restic's order.
    pub(crate) fn withins(&self) -> [(Option<Duration>, &'static str); 5] {
        [
            (duration_set(&self.keep_within_hourly), "hourly"),
            (duration_set(&self.keep_within_daily), "daily"),
            (duration_set(&self.keep_within_weekly), "weekly"),
            (duration_set(&self.keep_within_monthly), "monthly"),
            (duration_set(&self.keep_within_yearly), "yearly"),
        ]
    }

    /// The plain `keep-within` duration, if set and non-zero.
    pub(crate) fn within(&self) -> Option<Duration> {
        duration_set(&self.keep_within)
    }
}

impl fmt::Display for Policy {
    /// A one-line description in the spirit of restic's "Applying Policy: ..." line,
    /// e.g. `keep 7 daily, 4 weekly, 12 monthly snapshots`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no keep rule");
        }
        let mut parts: Vec<String> = Vec::new();
        let counts: Vec<String> = self
            .counts()
            .iter()
            .filter(|(c, _)| c.is_set())
            .map(|(c, name)| {
                let name = if *name == "last" { "latest" } else { name };
                match c {
                    KeepCount::Unlimited => format!("all {name}"),
                    KeepCount::N(n) => format!("{n} {name}"),
                }
            })
            .collect();
        if !counts.is_empty() {
            parts.push(format!("{} snapshots", counts.join(", ")));
        }
        for (d, name) in self.withins() {
            if let Some(d) = d {
                parts.push(format!("{name} snapshots within {d}"));
            }
        }
        if !self.keep_tags.is_empty() {
            let tags: Vec<String> = self.keep_tags.iter().map(|t| format!("[{t}]")).collect();
            parts.push(format!("all snapshots with tags {}", tags.join(" or ")));
        }
        if let Some(d) = self.within() {
            parts.push(format!("all snapshots within {d} of the newest"));
        }
        write!(f, "keep {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_like_restic() {
        assert_eq!("0".parse::<KeepCount>().unwrap(), KeepCount::OFF);
        assert_eq!(" 12 ".parse::<KeepCount>().unwrap(), KeepCount::N(12));
        assert_eq!("UNLIMITED".parse::<KeepCount>().unwrap(), KeepCount::Unlimited);
        for bad in ["-2", "x", "", "1.5", "99999999999"] {
            let msg = bad.parse::<KeepCount>().unwrap_err().to_string();
            assert!(msg.contains("invalid keep count"), "{msg}");
        }
        assert_eq!(KeepCount::from_i64(-1).unwrap().to_i64(), -1);
        assert!(KeepCount::from_i64(-7).is_err());
    }

    #[test]
    fn tag_lists_match_all_tags_and_empty_means_untagged() {
        let both: TagList = "a, b".parse().unwrap();
        assert_eq!(both.tags(), ["a", "b"]);
        let s = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert!(both.matches(&s(&["b", "x", "a"])));
        assert!(!both.matches(&s(&["a"])));
        let untagged: TagList = "".parse().unwrap();
        assert!(untagged.matches(&[]));
        assert!(!untagged.matches(&s(&["a"])));
        assert_eq!(untagged.reason(), "untagged");
        assert_eq!(both.reason(), "tags a,b");
        assert_eq!("release".parse::<TagList>().unwrap().reason(), "tag release");
        assert!(TagList::new(Vec::<String>::new()).is_err());
        assert!(TagList::new(["a,b"]).is_err());
    }

    #[test]
    fn policy_serde_uses_restic_names_and_rejects_unknown_fields() {
        let p: Policy = serde_json::from_str(
            r#"{"keep-last": 3, "keep-monthly": "unlimited", "keep-yearly": -1,
                "keep-within-daily": "14d", "keep-tag": ["release", "a,b"]}"#,
        )
        .unwrap();
        assert_eq!(p.keep_last, KeepCount::N(3));
        assert_eq!(p.keep_monthly, KeepCount::Unlimited);
        assert_eq!(p.keep_yearly, KeepCount::Unlimited);
        assert_eq!(p.keep_within_daily, Some(Duration::days(14)));
        assert_eq!(p.keep_tags.len(), 2);
        let back: Policy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);

        let err = serde_json::from_str::<Policy>(r#"{"keep-dayly": 3}"#).unwrap_err().to_string();
        assert!(err.contains("keep-dayly"), "{err}");
        let err = serde_json::from_str::<Policy>(r#"{"keep-daily": -3}"#).unwrap_err().to_string();
        assert!(err.contains("invalid keep count"), "{err}");
        let err = serde_json::from_str::<Policy>(r#"{"keep-within": "-3d"}"#).unwrap_err().to_string();
        assert!(err.contains("negative"), "{err}");
    }

    #[test]
    fn emptiness_ignores_zero_rules() {
        assert!(Policy::default().is_empty());
        let zero = Policy { keep_within: Some(Duration::default()), keep_daily: KeepCount::OFF, ..Policy::default() };
        assert!(zero.is_empty());
        assert!(!Policy::plan_default().is_empty());
        let within = Policy { keep_within: Some(Duration::days(1)), ..Policy::default() };
        assert!(!within.is_empty() && within.has_time_rule());
        let tags = Policy { keep_tags: vec!["x".parse().unwrap()], ..Policy::default() };
        assert!(!tags.is_empty());
        assert!(!tags.has_time_rule());
    }

    #[test]
    fn describes_itself() {
        assert_eq!(Policy::plan_default().to_string(), "keep 7 daily, 4 weekly, 12 monthly snapshots");
        let p = Policy {
            keep_last: KeepCount::Unlimited,
            keep_within: Some(Duration::days(7)),
            keep_within_weekly: Some(Duration::new(0, 1, 0, 0)),
            keep_tags: vec!["a,b".parse().unwrap()],
            ..Policy::default()
        };
        assert_eq!(
            p.to_string(),
            "keep all latest snapshots, weekly snapshots within 1m, all snapshots with tags [a,b], \
             all snapshots within 7d of the newest"
        );
        assert_eq!(Policy::default().to_string(), "no keep rule");
    }
}
