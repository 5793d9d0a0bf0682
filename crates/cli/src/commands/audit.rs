//! `lifeboat audit list|verify`: the audit log in lifeboatd's state database (found as
//! `lifeboat token` finds it), and the heads lifeboatd sealed into the plans' repositories
//! (opened as `lifeboat run` opens them: the plan's credential reference).

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use lifeboat_ops::audit::{AuditEntry, AuditVerifyReport, RepositoryHeads, read_heads, verify_chain};
use lifeboat_ops::plans::ResolvedPlan;
use lifeboat_ops::schedule::Span;
use lifeboat_ops::state::{StateStore, StoredAuditRow};
use lifeboat_storage::redact_url;

use crate::flags::{AuditCommand, Global, StateArg};
use crate::render::{self, print_json};

/// Exit code of `lifeboat audit verify` when the log was tampered with.
pub const EXIT_TAMPERED: u8 = 3;

/// `lifeboat audit ...`.
pub async fn run(global: &Global, cmd: AuditCommand) -> Result<ExitCode> {
    match cmd {
        AuditCommand::List(args) => {
            let since = args.since.as_deref().map(parse_since).transpose()?;
            let limit = args.limit;
            let entries = read(global, &args.state, move |s| s.audit_entries(since, limit)).await?;
            if args.state.json {
                print_json(&entries)?;
            } else {
                print_entries(&entries);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify { state } => verify(global, &state).await,
    }
}

async fn verify(global: &Global, state: &StateArg) -> Result<ExitCode> {
    let rows: Vec<StoredAuditRow> = read(global, state, |s| s.audit_rows()).await?;
    let repositories = sealed_heads(global).await?;
    let report = verify_chain(&rows, repositories);
    if state.json {
        print_json(&report)?;
    } else {
        print_report(&report, global.config.is_some());
    }
    Ok(if report.intact() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_TAMPERED) })
}

/// The heads of this host sealed in the primary repository of each plan of the config
/// (each repository once; a repository that cannot be read is reported, not fatal).
async fn sealed_heads(global: &Global) -> Result<Vec<RepositoryHeads>> {
    let Some(path) = &global.config else { return Ok(Vec::new()) };
    let config = lifeboat_ops::Config::load(path)?;
    let host = lifeboat_repo::hostname();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (name, plan_config) in &config.plans {
        let plan = ResolvedPlan { name: name.clone(), origin: path.display().to_string(), config: plan_config.clone() };
        let Some(url) = plan.config.repository.clone() else { continue };
        if lifeboat_ops::run::runs_in_cluster(&plan) || !seen.insert(url.clone()) {
            continue;
        }
        let read = async {
            let repo = crate::open::open_plan_repo(global, &plan).await?;
            let heads = read_heads(&repo, &host).await?;
            repo.settle().await;
            anyhow::Ok(heads)
        };
        let (heads, error) = match read.await {
            Ok(heads) => (heads, None),
            Err(e) => (Vec::new(), Some(render::error_chain(&e))),
        };
        out.push(RepositoryHeads { plan: name.clone(), repository: redact_url(&url), heads, error });
    }
    Ok(out)
}

/// Runs `f` on the state database off the reactor. It must exist: reading an audit log
/// never creates one.
async fn read<T, F>(global: &Global, state: &StateArg, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut StateStore) -> Result<T, lifeboat_ops::state::StateError> + Send + 'static,
{
    let path = super::token::state_path(global, state)?;
    if !path.is_file() {
        anyhow::bail!("no audit log: the state database {} does not exist", path.display());
    }
    super::token::with_store(global, state, f).await
}

/// `--since`: RFC 3339, or a span back from now (`24h`, `7d`).
fn parse_since(text: &str) -> Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    Ok(Utc::now() - Span::parse("--since", text)?.as_delta())
}

fn print_entries(entries: &[AuditEntry]) {
    if entries.is_empty() {
        println!("no audit entries");
        return;
    }
    println!("{:>6}  {:<19}  {:<20}  {:<18}  {:<24}  RESULT", "SEQ", "TIME", "ACTOR", "OPERATION", "TARGET");
    for e in entries {
        println!(
            "{:>6}  {:<19}  {:<20}  {:<18}  {:<24}  {}",
            e.seq,
            e.at.format("%Y-%m-%d %H:%M:%S"),
            render::escape(&e.actor),
            render::escape(&e.operation),
            render::escape(e.target.as_deref().unwrap_or("-")),
            render::escape(&e.result),
        );
    }
}

fn print_report(report: &AuditVerifyReport, had_config: bool) {
    println!("audit log: {} entries, last seq {}", report.entries, report.last_seq);
    for repo in &report.repositories {
        match &repo.error {
            Some(e) => println!(
                "  {} (plan {}): sealed heads NOT read: {}",
                repo.repository,
                render::escape(&repo.plan),
                render::escape(e)
            ),
            None => println!(
                "  {} (plan {}): {} sealed head(s), newest seq {}",
                repo.repository,
                render::escape(&repo.plan),
                repo.heads.len(),
                repo.heads.last().map(|h| h.seq.to_string()).unwrap_or_else(|| "-".into())
            ),
        }
    }
    if !had_config {
        println!("  no --config: the heads sealed in the repositories were not compared");
    }
    match report.first() {
        None => println!("intact: every hash, link and sealed head fits"),
        Some(first) => {
            println!("TAMPERED: the first entry that does not fit is {}: {}", first.seq, render::escape(&first.reason));
            for other in report.findings.iter().skip(1) {
                println!("  also: entry {}: {}", other.seq, render::escape(&other.reason));
            }
        }
    }
}
