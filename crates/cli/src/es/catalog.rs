//! `lifeboat es catalog`: scan a repository into the catalog, list the catalog.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_es::model::names::matches_any;

use super::args::{CatalogArgs, CatalogCmd};
use super::connect::connect;
use super::render::{opt, table};
use crate::render::print_json;

pub(super) async fn run(a: CatalogArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        CatalogCmd::Scan { repo, time } => {
            let report = es.catalog().scan(&repo, time.source()).await?;
            if g.json {
                print_json(&report)?;
            } else {
                println!(
                    "{} snapshot(s) catalogued ({} entries), {} dropped, {} skipped (not SUCCESS)",
                    report.added_snapshots.len(),
                    report.added_entries,
                    report.removed_snapshots.len(),
                    report.skipped_snapshots.len()
                );
                if !report.indices_without_range.is_empty() {
                    eprintln!("no time range for: {}", report.indices_without_range.join(", "));
                }
            }
        }
        CatalogCmd::List { index } => {
            let entries: Vec<_> = es
                .catalog()
                .list()
                .await?
                .into_iter()
                .filter(|e| index.as_deref().is_none_or(|p| matches_any(p, &e.index)))
                .collect();
            if g.json {
                print_json(&entries)?;
            } else {
                table(
                    &["INDEX", "REPOSITORY", "SNAPSHOT", "DOCS", "BYTES", "FROM", "TO"],
                    entries
                        .iter()
                        .map(|e| {
                            vec![
                                e.index.clone(),
                                e.repository.clone(),
                                e.snapshot.clone(),
                                opt(e.doc_count),
                                opt(e.store_bytes),
                                opt(e.time_range.map(|r| r.start.format("%Y-%m-%dT%H:%M:%SZ"))),
                                opt(e.time_range.map(|r| r.end.format("%Y-%m-%dT%H:%M:%SZ"))),
                            ]
                        })
                        .collect(),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
