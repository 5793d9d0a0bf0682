//! `lifeboat migrate`: a format 2 repository becomes format 3 in place (docs/FORMAT.md 11.7).

use std::process::ExitCode;

use anyhow::Result;

use crate::flags::Global;
use crate::open::open_repo;
use crate::render::{self, print_json};

/// Exit code when some backups could not be migrated because they are damaged.
const EXIT_DAMAGE: u8 = 3;

/// Sets `data_format` 3 and re-chunks every format 2 files backup (same ids); with
/// `dry_run`, only says what it would do. Exits [`EXIT_DAMAGE`] when a backup could not be
/// migrated (it stays format 2 and readable as before).
pub async fn run(global: &Global, dry_run: bool, json: bool) -> Result<ExitCode> {
    let mut repo = open_repo(global).await?;
    let report = repo.migrate_to_v3(dry_run).await?;
    if json {
        print_json(&report)?;
    } else {
        let would = if dry_run { "would " } else { "" };
        if report.config_changed {
            println!(
                "{would}set data_format 3: new files backups {}be format 3",
                if dry_run { "would " } else { "will " }
            );
        } else {
            println!("the repository already writes format 3");
        }
        let verb = if dry_run { "would re-chunk" } else { "re-chunked" };
        println!("{verb} {} format 2 files backup(s) into format 3 (same ids)", report.migrated.len());
        for id in &report.migrated {
            println!("  {}", render::escape(id));
        }
        let verb = if dry_run { "would re-chunk" } else { "re-chunked" };
        println!(
            "{verb} {} format 2 stream and database backup(s) into format 3 (same ids)",
            report.migrated_streams.len()
        );
        for id in &report.migrated_streams {
            println!("  {}", render::escape(id));
        }
        for kept in &report.kept {
            println!("kept format 2: {} ({})", render::escape(&kept.backup), render::escape(&kept.reason));
        }
        if !dry_run && !report.migrated.is_empty() {
            println!("the format 2 data objects stay until `lifeboat prune` removes them");
        }
    }
    if report.failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("lifeboat: {} backup(s) not migrated (they stay format 2):", report.failed.len());
    for failure in &report.failed {
        eprintln!("  {}: {}", render::escape(&failure.backup), render::escape(&failure.reason));
    }
    Ok(ExitCode::from(EXIT_DAMAGE))
}
