//! `lifeboat backup ...`: files, databases and standard input.

use std::process::ExitCode;

use anyhow::{Result, bail};
use lifeboat_repo::{BackupRequest, FilesFilter, Manifest, Progress, Repository};

use super::db_password;
use crate::flags::{BackupCommand, BackupMeta, FilterArgs, Global};
use crate::open::open_repo;
use crate::render::progress::Mode;
use crate::render::{self, print_json, progress};

/// Runs one backup and prints its result.
pub async fn run(global: &Global, cmd: BackupCommand) -> Result<ExitCode> {
    let repo = open_repo(global).await?;
    let started = std::time::Instant::now();
    let (manifest, json) = match cmd {
        BackupCommand::Files { paths, force, meta, filter } => {
            let request = BackupRequest { force, ..meta_request(&meta) };
            let filter = files_filter(filter);
            let counted = Progress::new();
            let mode = Mode::for_command(global.verbose, meta.json);
            // The estimate is a second walk of the tree, for the share and ETA of a line
            // that is shown: with nothing shown it would only cost a backup's stat time.
            if filter.is_empty() && mode != Mode::Off {
                progress::estimate_tree(&paths, &counted);
            }
            let request = BackupRequest { progress: counted.clone(), ..request };
            let shown = progress::show(&counted, "backup", "files", mode);
            let result = repo.backup_files_filtered(&paths, &filter, request).await;
            shown.finish();
            (result?, meta.json)
        }
        BackupCommand::Postgres { db, meta } | BackupCommand::Mysql { db, meta } => {
            let options = lifeboat_dump::SourceOptions {
                all: db.all,
                tables: db.tables,
                exclude_tables: db.exclude_tables,
                schema_only: db.schema_only,
                data_only: db.data_only,
                password: db_password(db.db_password_file.as_deref())?,
                ..Default::default()
            };
            let source = lifeboat_dump::Source::from_url(&db.url, &options)?;
            (database_backup(&repo, &source, meta_request(&meta)).await?, meta.json)
        }
        BackupCommand::Redis { url, mode, pattern, db_password_file, meta } => {
            let options = lifeboat_dump::SourceOptions {
                redis_mode: mode.parse()?,
                key_pattern: pattern,
                password: db_password(db_password_file.as_deref())?,
                ..Default::default()
            };
            let source = lifeboat_dump::Source::from_url(&url, &options)?;
            (database_backup(&repo, &source, meta_request(&meta)).await?, meta.json)
        }
        BackupCommand::Stdin { name, meta } => {
            if name.trim().is_empty() {
                bail!("--name must not be empty");
            }
            let request = BackupRequest { kind: lifeboat_repo::BackupKind::Stream, name, ..meta_request(&meta) };
            let (reader, bar) = progress::counting(tokio::io::stdin(), "backing up stdin", None);
            let result = repo.backup_stream(reader, request).await;
            progress::finish(bar);
            (result?, meta.json)
        }
    };
    for w in &manifest.warnings {
        eprintln!("lifeboat: warning: {}", render::escape(w));
    }
    if json {
        print_json(&render::backup_result(&manifest, started.elapsed()))?;
    } else {
        render::print_backup_done(&manifest, started.elapsed());
    }
    Ok(ExitCode::SUCCESS)
}

fn files_filter(args: FilterArgs) -> FilesFilter {
    FilesFilter {
        exclude: args.exclude,
        iexclude: args.iexclude,
        exclude_file: args.exclude_file,
        iexclude_file: args.iexclude_file,
        exclude_if_present: args.exclude_if_present,
        exclude_caches: args.exclude_caches,
        one_file_system: args.one_file_system,
    }
}

fn meta_request(meta: &BackupMeta) -> BackupRequest {
    let retention = meta.lock_days.map(|days| {
        let mode = lifeboat_storage::RetentionMode::parse(&meta.lock_mode)
            .unwrap_or(lifeboat_storage::RetentionMode::Governance);
        lifeboat_storage::Retention::days_from_now(mode, days)
    });
    BackupRequest {
        plan: meta.plan.clone(),
        tags: meta.tags.clone(),
        host: meta.host.clone(),
        retention,
        ..Default::default()
    }
}

async fn database_backup(
    repo: &Repository,
    source: &lifeboat_dump::Source,
    request: BackupRequest,
) -> Result<Manifest> {
    let spinner = progress::spinner("dumping");
    let result = lifeboat_ops::backup_database(repo, source, request).await;
    progress::finish(spinner);
    Ok(result?)
}
