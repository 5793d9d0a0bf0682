//! `lifeboat es restore`: start a time-range restore (or plan it with `--dry-run`), show its
//! status, list, delete and expire restores. A restore that is (or ends) `failed` exits 1.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use lifeboat_es::error::exact_bytes;
use lifeboat_es::{EsManager, RestoreRecord, RestoreRequest, RestoreState, TimeRange, parse_duration, parse_instant};

use super::args::{EsGlobal, RestoreArgs, RestoreCmd, RestoreStart};
use super::connect::connect;
use super::render::{opt, progress_line, table};
use crate::render::print_json;

pub(super) async fn run(a: RestoreArgs) -> Result<ExitCode> {
    let g = &a.global;
    let es = connect(g).await?;
    match a.cmd {
        Some(RestoreCmd::Status { id }) => {
            let r = es.restores().status(&id).await?;
            if g.json {
                print_json(&r)?;
            } else {
                println!("{}", progress_line(&r));
                if let Some(p) = &r.progress {
                    for i in &p.indices {
                        println!(
                            "  {}: shards {}/{} done, {} waiting for a recovery slot, {} failed, docs {}/{}{}",
                            i.target,
                            i.shards_done,
                            i.shards_total,
                            i.shards_queued,
                            i.shards_failed,
                            i.docs,
                            opt(i.expected_docs),
                            i.problem.as_deref().map(|p| format!(" - {p}")).unwrap_or_default()
                        );
                    }
                    for w in &p.warnings {
                        println!("  warning: {w}");
                    }
                }
                for gr in r.groups.iter().filter(|g| g.error.is_some()) {
                    println!("  restore from {}:{} failed: {}", gr.repository, gr.snapshot, opt(gr.error.clone()));
                }
            }
            Ok(restore_exit(&r))
        }
        Some(RestoreCmd::List) => {
            let list = es.restores().list().await?;
            if g.json {
                print_json(&list)?;
            } else {
                table(
                    &["ID", "STATE", "PATTERN", "FROM", "TO", "INDICES", "EXPIRES"],
                    list.iter()
                        .map(|r| {
                            vec![
                                r.id.clone(),
                                r.state.to_string(),
                                r.pattern.clone(),
                                r.range.start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                                r.range.end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                                r.targets().len().to_string(),
                                opt(r.expires_at.map(|t| t.format("%Y-%m-%dT%H:%M:%SZ"))),
                            ]
                        })
                        .collect(),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(RestoreCmd::Delete { id }) => {
            let r = es.restores().delete(&id).await?;
            if g.json {
                print_json(&r)?;
            } else {
                println!("restore {id}: deleted {} index(es)", r.targets().len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(RestoreCmd::CleanExpired) => {
            let (done, failed) = es.restores().clean_expired().await?;
            if g.json {
                let failed: Vec<_> =
                    failed.iter().map(|(id, e)| serde_json::json!({"id": id, "error": e.to_string()})).collect();
                print_json(&serde_json::json!({"deleted": done, "failed": failed}))?;
            } else {
                for r in &done {
                    println!("restore {}: expired, deleted {} index(es)", r.id, r.targets().len());
                }
                for (id, e) in &failed {
                    eprintln!("restore {id}: could not delete: {e}");
                }
                if done.is_empty() && failed.is_empty() {
                    println!("no expired restore");
                }
            }
            Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        None => start_restore(&es, g, a.start).await,
    }
}

fn restore_exit(r: &RestoreRecord) -> ExitCode {
    if r.state == RestoreState::Failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

async fn start_restore(es: &EsManager, g: &EsGlobal, s: RestoreStart) -> Result<ExitCode> {
    let pattern = s.pattern.context("--pattern is required (or use: status, list, delete, clean-expired)")?;
    let from = parse_instant(&s.from.context("--from is required")?, false)?;
    let to = parse_instant(&s.to.context("--to is required")?, true)?;
    let mut req = RestoreRequest::new(&pattern, TimeRange::new(from, to)?);
    req.prefix = s.prefix;
    req.max_disk_usage = s.max_disk_usage;
    req.expire_after = s.expire_after.as_deref().map(parse_duration).transpose()?;
    let wait_timeout: Duration = parse_duration(&s.wait_timeout)?.to_std().context("--wait-timeout")?;
    if s.dry_run {
        let plan = es.restores().plan(&req).await?;
        if g.json {
            print_json(&plan)?;
        } else {
            for gr in &plan.groups {
                println!("from {}:{}", gr.repository, gr.snapshot);
                for i in &gr.indices {
                    println!(
                        "  {} -> {} ({} docs, {})",
                        i.source,
                        i.target,
                        opt(i.expected_docs),
                        i.store_bytes.map(exact_bytes).unwrap_or_else(|| "size unknown".into())
                    );
                }
            }
            for sk in &plan.skipped {
                println!("skip {} (already restored as {} by {})", sk.source, sk.target, sk.restore_id);
            }
            println!(
                "{} index(es), {}; cluster disk: {} used of {}, {} available, {} still to come from restores in \
                 progress; limit {:.0}%",
                plan.index_count(),
                exact_bytes(plan.total_bytes),
                exact_bytes(plan.disk.used),
                exact_bytes(plan.disk.total),
                exact_bytes(plan.disk.available),
                exact_bytes(plan.in_flight_bytes),
                plan.request.max_disk_usage * 100.0
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (plan, record) = es.restores().start(&req).await?;
    if !g.json {
        println!(
            "restore {} started: {} index(es) from {} snapshot(s)",
            record.id,
            plan.index_count(),
            plan.groups.len()
        );
        for sk in &plan.skipped {
            println!("skip {} (already restored by {})", sk.source, sk.restore_id);
        }
    }
    let record = if s.wait {
        let quiet = g.json;
        es.restores()
            .wait(&record.id, wait_timeout, |r| {
                if !quiet {
                    eprintln!("{}", progress_line(r));
                }
            })
            .await?
    } else {
        record
    };
    if g.json {
        print_json(&record)?;
    } else if s.wait {
        println!("{}", progress_line(&record));
    }
    Ok(restore_exit(&record))
}
