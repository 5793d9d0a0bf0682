//! The human form of a verify report.

use lifeboat_repo::VerifyReport;

use super::human_bytes;

/// The outcome of a verify.
pub fn print_verify(report: &VerifyReport) {
    for d in &report.damage {
        if d.object.is_empty() {
            println!("DAMAGED {}", d.problem);
        } else {
            println!("DAMAGED backup {} object {}: {}", d.backup.get(..8).unwrap_or(&d.backup), d.object, d.problem);
        }
    }
    println!(
        "{} {} backup(s), {} object(s), {} read: {}",
        if report.deep { "deep-verified" } else { "verified" },
        report.backups,
        report.objects,
        human_bytes(report.bytes_read),
        if report.is_ok() { "no damage".to_owned() } else { format!("{} problem(s)", report.damage.len()) }
    );
}
