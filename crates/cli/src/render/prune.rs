//! The human form of a prune report.

use lifeboat_repo::PruneReport;

use super::human_bytes;

/// What was (or would be) deleted and what was kept.
pub fn print_prune(report: &PruneReport, dry_run: bool) {
    let verb = if dry_run { "would delete" } else { "deleted" };
    println!(
        "{verb} {} unreferenced object(s) ({}); {} referenced object(s) kept",
        report.unreferenced.len(),
        human_bytes(report.unreferenced_bytes),
        report.referenced
    );
    if !report.held_by_lock.is_empty() {
        println!("{} unreferenced object(s) kept: still under object lock", report.held_by_lock.len());
    }
    if !report.temp_files.is_empty() {
        let verb = if dry_run { "would remove" } else { "removed" };
        println!(
            "{verb} {} temporary file(s) of interrupted writes ({})",
            report.temp_files.len(),
            human_bytes(report.temp_bytes)
        );
    }
    if let Some(v3) = &report.v3 {
        print_v3(v3, dry_run);
    }
}

/// The format v3 packs: condemned now, deleted after the delay, waiting, revived.
pub(super) fn print_v3(v3: &lifeboat_repo::V3PruneCounts, dry_run: bool) {
    let (condemn, delete) = if dry_run { ("would condemn", "would delete") } else { ("condemned", "deleted") };
    println!(
        "packs: {delete} {} ({} freed), {condemn} {} ({}, of which {} repacked: {} live chunk(s) copied), {} waiting, \
         {} revived",
        v3.packs_deleted,
        human_bytes(v3.pack_bytes_freed),
        v3.packs_condemned,
        human_bytes(v3.pack_bytes_condemned),
        v3.packs_repacked,
        v3.blobs_repacked,
        v3.packs_waiting,
        v3.packs_revived
    );
    if v3.packs_condemned > 0 || v3.packs_waiting > 0 {
        println!("condemned packs are deleted by a prune run at least 30 minutes later, once no backup may need them");
    }
    for refused in &v3.refused {
        println!("the storage refused to delete {refused}; a later prune tries again");
    }
    // One line per domain only when there are several (the totals above are their sums).
    for domain in v3.domains.iter().filter(|_| v3.domains.len() > 1) {
        let c = &domain.counts;
        let role = match domain.role {
            lifeboat_repo::DomainRole::Own => "this repository's",
            lifeboat_repo::DomainRole::WriteOnly => "a write-only host's",
            lifeboat_repo::DomainRole::Carried => "carried by a copy",
        };
        println!(
            "  dedup domain {} ({role}): {delete} {}, {condemn} {}, {} waiting, {} revived",
            domain.domain, c.packs_deleted, c.packs_condemned, c.packs_waiting, c.packs_revived
        );
    }
    for skipped in &v3.skipped {
        println!("dedup domain {} not pruned: {}", skipped.domain, skipped.reason);
    }
}
