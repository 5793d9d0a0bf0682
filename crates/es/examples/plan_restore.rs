//! Plans and runs a time-range restore against the in-process Elasticsearch test double.
//!
//! ```text
//! cargo run -p lifeboat-es --example plan_restore
//! ```
//!
//! It registers an `fs` repository, creates three daily indices, runs a snapshot policy (which
//! records the indices in the catalog), drops the live indices as an ILM policy would, then plans
//! and starts a restore of May 2nd under the `restore_` prefix and follows its progress.

use std::time::Duration;

use lifeboat_es::{
    ClusterConfig, EsClient, EsManager, RepositorySpec, RestoreRequest, Scope, SnapshotPolicy, StateStore, TimeRange,
    TimeSource, parse_instant,
};
use lifeboat_es_double::{EsDouble, IndexSeed};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let double = EsDouble::start().await?;
    println!("test double listening on {} (Elasticsearch {})", double.url(), double.version());
    for (day, docs) in [("2024-05-01", 1200), ("2024-05-02", 900), ("2024-05-03", 1500)] {
        double.create_index(&format!("logs-{}", day.replace('-', ".")), IndexSeed::daily(day, docs));
    }

    let state = std::env::temp_dir().join(format!("lifeboat-es-example-{}", std::process::id()));
    let client = EsClient::new(&ClusterConfig::new(&double.url())?)?;
    let es =
        EsManager::new(client, StateStore::new(&state), Scope::Admin).with_poll_interval(Duration::from_millis(100));

    let repo = RepositorySpec::Fs { location: "/mnt/backups/logs".into(), readonly: false, compress: None };
    es.repositories().create("logs-repo", &repo, true).await?;
    let policy = SnapshotPolicy::new("nightly", "logs-*", "logs-repo", "0 30 1 * * ?", 30)?
        .with_time_source(TimeSource::IndexName { pattern: "logs-{YYYY.MM.DD}".into() })?;
    es.policies().add(policy).await?;
    let report = es.policies().run("nightly").await?;
    println!("policy run: snapshot {} {} ({} indices catalogued)", report.snapshot, report.state, report.catalogued);
    for name in double.index_names() {
        double.drop_index(&name);
    }

    let range = TimeRange::new(parse_instant("2024-05-02", false)?, parse_instant("2024-05-02", true)?)?;
    let mut request = RestoreRequest::new("logs-*", range);
    request.expire_after = Some(chrono::Duration::days(7));
    let plan = es.restores().plan(&request).await?;
    println!(
        "plan: {} index(es), {} bytes, {:?} docs; cluster disk {} of {} bytes used",
        plan.index_count(),
        plan.total_bytes,
        plan.total_docs,
        plan.disk.used,
        plan.disk.total
    );
    for g in &plan.groups {
        for i in &g.indices {
            println!("  {}:{} {} -> {}", g.repository, g.snapshot, i.source, i.target);
        }
    }

    let (_, record) = es.restores().start(&request).await?;
    let done = es
        .restores()
        .wait(&record.id, Duration::from_secs(30), |r| {
            if let Some(p) = &r.progress {
                println!(
                    "  {}: shards {}/{}, docs {}/{:?}",
                    r.state, p.shards_done, p.shards_total, p.docs_recovered, p.docs_expected
                );
            }
        })
        .await?;
    println!("restore {} {} (expires {:?})", done.id, done.state, done.expires_at);
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
