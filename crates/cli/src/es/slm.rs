//! `lifeboat es slm`: put, get, delete and execute Elasticsearch SLM policies.

use std::process::ExitCode;

use anyhow::Result;
use lifeboat_es::model::{SlmConfig, SlmPolicy, SlmRetention};
use lifeboat_es::parse_duration;

use super::args::{SlmArgs, SlmCmd};
use super::connect::connect;
use super::render::{opt, table};
use crate::render::print_json;

pub(super) async fn run(a: SlmArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        SlmCmd::Put { id, name, schedule, repo, indices, expire_after, min_count, max_count } => {
            let retention = if expire_after.is_some() || min_count.is_some() || max_count.is_some() {
                if let Some(e) = &expire_after {
                    parse_duration(e)?;
                }
                Some(SlmRetention { expire_after, min_count, max_count })
            } else {
                None
            };
            let policy = SlmPolicy {
                name,
                schedule,
                repository: repo,
                config: Some(SlmConfig {
                    indices: Some(indices.split(',').map(|s| s.trim().to_string()).collect()),
                    include_global_state: Some(false),
                    ..Default::default()
                }),
                retention,
            };
            es.slm().put(&id, &policy).await?;
            if !g.json {
                println!("SLM policy {id} saved");
            }
        }
        SlmCmd::Get { id } => {
            let list = es.slm().get(id.as_deref()).await?;
            if g.json {
                print_json(&list)?;
            } else {
                table(
                    &["ID", "SNAPSHOT NAME", "SCHEDULE", "REPOSITORY", "LAST SUCCESS"],
                    list.iter()
                        .map(|p| {
                            vec![
                                p.id.clone(),
                                p.policy.name.clone(),
                                p.policy.schedule.clone(),
                                p.policy.repository.clone(),
                                opt(p.last_success.as_ref().map(|s| s.snapshot_name.clone())),
                            ]
                        })
                        .collect(),
                );
            }
        }
        SlmCmd::Delete { id } => {
            es.slm().delete(&id).await?;
            if !g.json {
                println!("SLM policy {id} deleted");
            }
        }
        SlmCmd::Execute { id } => {
            let snap = es.slm().execute(&id).await?;
            if g.json {
                print_json(&serde_json::json!({ "snapshot_name": snap }))?;
            } else {
                println!("SLM policy {id} started snapshot {snap}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
