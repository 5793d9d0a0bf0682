//! The table `lifeboat retention plan` prints.

use lifeboat_retention::{GroupBy, GroupPlan, Policy, Snapshot};

/// The policy, the grouping, each group's decisions with time and reasons, and totals.
pub fn retention_table(policy: &Policy, group_by: GroupBy, snapshots: &[Snapshot], groups: &[GroupPlan]) -> String {
    let time_of = |id: &str| snapshots.iter().find(|s| s.id == id).map(|s| s.time.to_rfc3339()).unwrap_or_default();

    let id_width = snapshots.iter().map(|s| s.id.chars().count()).max().unwrap_or(2).max(2);
    let mut table = String::new();
    let policy_text =
        if policy.is_empty() { "forget everything (--allow-empty)".to_string() } else { policy.to_string() };
    table.push_str(&format!("Applying policy: {policy_text}\n"));
    table.push_str(&format!(
        "Grouped by: {}\n",
        if group_by == GroupBy::NONE { "nothing".to_string() } else { group_by.to_string() }
    ));
    let (mut kept, mut forgotten) = (0, 0);
    for group in groups {
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
    table
}
