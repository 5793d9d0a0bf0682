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
}
