//! The human form of a forget plan.

use lifeboat_ops::forget::ForgetPlan;
use lifeboat_repo::PruneReport;

use super::human_bytes;

/// Each group's decisions, what was (or would be) forgotten, and what a chained prune freed.
pub fn print_forget(plan: &ForgetPlan, dry_run: bool, pruned: Option<&PruneReport>) {
    for group in &plan.groups {
        println!("group {}: keep {}, forget {}", group.key, group.kept(), group.forgotten());
        for d in &group.decisions {
            println!(
                "  {} {}  {}",
                if d.keep { "keep  " } else { "forget" },
                d.id.get(..8).unwrap_or(&d.id),
                d.reasons.join(", ")
            );
        }
    }
    let verb = if dry_run { "would forget" } else { "forgot" };
    println!("{verb} {} backup(s)", plan.remove.len());
    if let Some(p) = pruned {
        println!("pruned {} unreferenced object(s), {} freed", p.unreferenced.len(), human_bytes(p.unreferenced_bytes));
        // Format 3's packs, which a prune frees only in a later run.
        if let Some(v3) = &p.v3 {
            super::prune::print_v3(v3, false);
        }
    }
}
