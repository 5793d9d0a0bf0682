//! `lifeboat es snapshot`: take, list and delete snapshots.

use std::process::ExitCode;

use anyhow::Result;

use super::args::{SnapshotArgs, SnapshotCmd};
use super::connect::connect;
use super::render::{opt, table};
use crate::render::print_json;

pub(super) async fn run(a: SnapshotArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        SnapshotCmd::Create { repo, name, indices, no_wait, time } => {
            if no_wait {
                es.snapshots().start(&repo, &name, &indices).await?;
                if !g.json {
                    println!("snapshot {repo}:{name} started");
                }
            } else {
                let taken = es.snapshots().create(&repo, &name, &indices, time.source()).await?;
                if g.json {
                    print_json(&taken.info)?;
                } else {
                    println!(
                        "snapshot {repo}:{} {} with {} index(es), {} catalogued",
                        taken.info.snapshot,
                        taken.info.state,
                        taken.info.indices.len(),
                        taken.catalogued
                    );
                }
            }
        }
        SnapshotCmd::List { repo } => {
            let snaps = es.snapshots().list(&repo).await?;
            if g.json {
                print_json(&snaps)?;
            } else {
                table(
                    &["SNAPSHOT", "STATE", "START", "INDICES", "FAILED SHARDS"],
                    snaps
                        .iter()
                        .map(|s| {
                            vec![
                                s.snapshot.clone(),
                                s.state.to_string(),
                                opt(s.start_time().map(|t| t.format("%Y-%m-%dT%H:%M:%SZ"))),
                                s.indices.len().to_string(),
                                opt(s.shards.as_ref().map(|c| c.failed)),
                            ]
                        })
                        .collect(),
                );
            }
        }
        SnapshotCmd::Delete { repo, name } => {
            es.snapshots().delete(&repo, &name).await?;
            if !g.json {
                println!("deleted snapshot {repo}:{name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
