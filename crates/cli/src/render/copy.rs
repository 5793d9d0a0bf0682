//! The human form of a copy or sync report.

use lifeboat_repo::CopyReport;

use super::{escape, human_bytes};

/// What was copied, what was there already, and what was repaired on the way.
pub fn print_copy(report: &CopyReport) {
    println!(
        "copied {} backup(s), {} already present; sent {} object(s) ({}), {} already there",
        report.copied.len(),
        report.skipped.len(),
        report.objects_sent,
        human_bytes(report.bytes_sent),
        report.objects_present
    );
    // A replica of the right size whose digest differed: say which were repaired.
    for key in &report.objects_repaired {
        println!("re-sent {key}: the destination's copy did not match its recorded BLAKE3 (corrupt replica)");
    }
    for problem in &report.manifests_repaired {
        println!("copied again {}", escape(problem));
    }
}
