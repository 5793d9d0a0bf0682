//! `lifeboat es policy`: add, list, remove and run Lifeboat snapshot policies.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_es::SnapshotPolicy;

use super::args::{PolicyArgs, PolicyCmd};
use super::connect::connect;
use super::render::table;
use crate::render::print_json;

pub(super) async fn run(a: PolicyArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        PolicyCmd::Add { name, indices, repo, schedule, snapshot_days, time } => {
            let mut p = SnapshotPolicy::new(&name, &indices, &repo, &schedule, snapshot_days)?;
            if let Some(ts) = time.source() {
                p = p.with_time_source(ts)?;
            }
            es.policies().add(p.clone()).await?;
            if g.json {
                print_json(&p)?;
            } else {
                println!("policy {name} saved");
            }
        }
        PolicyCmd::List => {
            let list = es.policies().list().await?;
            if g.json {
                print_json(&list)?;
            } else {
                table(
                    &["NAME", "INDICES", "REPOSITORY", "SCHEDULE", "KEEP DAYS"],
                    list.iter()
                        .map(|p| {
                            vec![
                                p.name.clone(),
                                p.indices.clone(),
                                p.repository.clone(),
                                p.schedule.clone(),
                                if p.snapshot_days == 0 { "forever".into() } else { p.snapshot_days.to_string() },
                            ]
                        })
                        .collect(),
                );
            }
        }
        PolicyCmd::Remove { name } => {
            es.policies().remove(&name).await?;
            if !g.json {
                println!("policy {name} removed (its snapshots stay)");
            }
        }
        PolicyCmd::Run { name } => {
            let report = es.policies().run(&name).await?;
            if g.json {
                print_json(&report)?;
            } else {
                println!(
                    "snapshot {}:{} {}{} ({} index(es), {} catalogued)",
                    report.repository,
                    report.snapshot,
                    report.state,
                    if report.already_existed { " (taken earlier today)" } else { "" },
                    report.indices.len(),
                    report.catalogued
                );
                for d in &report.deleted {
                    println!("deleted expired snapshot {d}");
                }
                for f in &report.delete_failures {
                    eprintln!("could not delete expired snapshot {}: {}", f.snapshot, f.error);
                }
            }
            if !report.is_success() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
