//! Grouping backups before a policy is applied to each group on its own.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{RetentionError, Snapshot};

/// Which fields split backups into groups; the policy is applied to each group
/// separately (restic's `--group-by`). The default is `plan,host`; the empty string
/// means no grouping at all (one group holding every backup).
///
/// ```
/// use lifeboat_retention::GroupBy;
/// let g: GroupBy = "plan,host,tags".parse().unwrap();
/// assert!(g.plan && g.host && g.tags);
/// assert_eq!("".parse::<GroupBy>().unwrap(), GroupBy::NONE);
/// assert!("paths".parse::<GroupBy>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GroupBy {
    /// Group by the plan that made the backup.
    pub plan: bool,
    /// Group by the host the backup was made on.
    pub host: bool,
    /// Group by the set of tags (order and duplicates do not matter).
    pub tags: bool,
}

impl GroupBy {
    /// One group for everything.
    pub const NONE: GroupBy = GroupBy { plan: false, host: false, tags: false };

    /// The key of the group `snapshot` belongs to.
    pub fn key(&self, snapshot: &Snapshot) -> GroupKey {
        GroupKey {
            plan: self.plan.then(|| snapshot.plan.clone()),
            host: self.host.then(|| snapshot.host.clone()),
            tags: self.tags.then(|| {
                let mut tags = snapshot.tags.clone();
                tags.sort();
                tags.dedup();
                tags
            }),
        }
    }
}

impl Default for GroupBy {
    fn default() -> Self {
        GroupBy { plan: true, host: true, tags: false }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<&str> = [(self.plan, "plan"), (self.host, "host"), (self.tags, "tags")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
        f.write_str(&fields.join(","))
    }
}

impl FromStr for GroupBy {
    type Err = RetentionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = GroupBy::NONE;
        if s.trim().is_empty() {
            return Ok(out);
        }
        for field in s.split(',') {
            match field.trim() {
                "plan" => out.plan = true,
                "host" => out.host = true,
                "tags" | "tag" => out.tags = true,
                other => {
                    return Err(RetentionError::InvalidGroupBy { input: s.to_string(), field: other.to_string() });
                }
            }
        }
        Ok(out)
    }
}

impl TryFrom<String> for GroupBy {
    type Error = RetentionError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<GroupBy> for String {
    fn from(value: GroupBy) -> Self {
        value.to_string()
    }
}

/// The identity of one group: the values of the fields grouped by (`None` for a field
/// not grouped by). Groups order by plan, then host, then tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKey {
    /// The plan, when grouping by plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The host, when grouping by host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The sorted, de-duplicated tags, when grouping by tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

impl fmt::Display for GroupKey {
    /// `plan="nightly" host="db1" tags=[a,b]`, or `(all backups)` without grouping.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(plan) = &self.plan {
            parts.push(format!("plan={plan:?}"));
        }
        if let Some(host) = &self.host {
            parts.push(format!("host={host:?}"));
        }
        if let Some(tags) = &self.tags {
            parts.push(format!("tags=[{}]", tags.join(",")));
        }
        if parts.is_empty() { f.write_str("(all backups)") } else { f.write_str(&parts.join(" ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(GroupBy::default().to_string(), "plan,host");
        let g: GroupBy = " tags , plan ".parse().unwrap();
        assert_eq!(g, GroupBy { plan: true, host: false, tags: true });
        assert_eq!(g.to_string(), "plan,tags");
        assert_eq!("  ".parse::<GroupBy>().unwrap(), GroupBy::NONE);
        let msg = "plan,,host".parse::<GroupBy>().unwrap_err().to_string();
        assert!(msg.contains("unknown field \"\""), "{msg}");
        let msg = "plan,paths".parse::<GroupBy>().unwrap_err().to_string();
        assert!(msg.contains("\"paths\"") && msg.contains("\"plan,paths\""), "{msg}");
    }

    #[test]
    fn keys_ignore_tag_order_and_duplicates() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let a = Snapshot::new("a", t).with_tags(["x", "y"]).with_host("h").with_plan("p");
        let b = Snapshot::new("b", t).with_tags(["y", "x", "y"]).with_host("h").with_plan("p");
        let by: GroupBy = "plan,host,tags".parse().unwrap();
        assert_eq!(by.key(&a), by.key(&b));
        assert_eq!(by.key(&a).to_string(), "plan=\"p\" host=\"h\" tags=[x,y]");
        assert_eq!(GroupBy::NONE.key(&a).to_string(), "(all backups)");
    }
}
