//! `lifeboat export` and `lifeboat import` (issue 16): tables as exact JSON, configuration
//! bundles, named export files at a destination, their expiry, and imports with id mappings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lifeboat_dump::Secret;
use lifeboat_dump::client::{SqlClient, SqlDialect};
use lifeboat_export::{
    Compression, Delivered, Destination, ExpiryRules, ExportKind, ExportManifest, IdMap, ImportOptions, NameTemplate,
    OnConflict, TableFormat, TableSelection,
};
use lifeboat_ops::config::ExportDestinationConfig;
use lifeboat_retention::Expiry;
use lifeboat_storage::units::human_bytes;
use serde_json::json;

use crate::flags::{CleanArgs, ExportCommand, FilesArgs, OutputArgs, TablesArgs};
use crate::flags::{ExportArgs, Global, ImportArgs};

/// Runs `lifeboat export`.
pub async fn export(global: &Global, args: ExportArgs) -> Result<ExitCode> {
    match args.command {
        ExportCommand::Postgres(a) => tables(global, a, SqlDialect::Postgres).await,
        ExportCommand::Mysql(a) => tables(global, a, SqlDialect::Mysql).await,
        ExportCommand::Files(a) => files(global, a).await,
        ExportCommand::Clean(a) => clean(global, a).await,
    }
}

fn config(global: &Global) -> Result<Option<lifeboat_ops::Config>> {
    match &global.config {
        Some(p) => Ok(Some(lifeboat_ops::Config::load(p).context("--config")?)),
        None => Ok(None),
    }
}

fn password(file: &Option<PathBuf>) -> Result<Option<Secret>> {
    file.as_deref().map(Secret::from_file).transpose().context("--db-password-file")
}

/// The destination of `--to` (a config destination by name, else a directory or URL) and
/// what `{plan}` defaults to there.
fn destination(global: &Global, out: &OutputArgs, to: &str) -> Result<(Destination, String)> {
    let config = config(global)?;
    let named = config.as_ref().and_then(|c| c.exports.get(to)).cloned();
    let cfg =
        named.clone().unwrap_or(ExportDestinationConfig { destination: Some(to.to_string()), ..Default::default() });
    let storage =
        cfg.storage().map_err(|e| anyhow::anyhow!("export destination {}: {e}", lifeboat_storage::redact_url(to)))?;
    let name = match &out.name {
        Some(t) => NameTemplate::new(t)?,
        None => cfg.template().map_err(anyhow::Error::msg)?,
    };
    let compression = match &out.compression {
        Some(c) => c.parse::<Compression>()?,
        None => cfg.compression().map_err(anyhow::Error::msg)?,
    };
    let mut recipients = cfg.recipient_keys().map_err(anyhow::Error::msg)?;
    for r in &global.recipients {
        recipients.push(lifeboat_crypto::RecipientPublicKey::parse(r).with_context(|| format!("--recipient {r}"))?);
    }
    let plan = cfg.plan.clone().or_else(|| named.map(|_| to.to_string())).unwrap_or_else(|| "export".into());
    Ok((Destination { storage, name, compression, recipients }, plan))
}

/// Where the export is built: `--out` (new or empty) or a temporary directory.
fn staging(out: &OutputArgs) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    match &out.out {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
                bail!("--out {}: exists and is not empty", dir.display());
            }
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok((dir.clone(), None))
        }
        None => {
            let t = tempfile::Builder::new().prefix(".lifeboat-export-").tempdir().context("a temporary directory")?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// Finishes an export: the manifest into the staging directory, then to `--to` if given;
/// a failed export is recorded there as failed.
async fn finish(
    global: &Global,
    out: &OutputArgs,
    dir: &Path,
    mut manifest: ExportManifest,
    produced: Result<ExportManifest>,
) -> Result<ExitCode> {
    let dest = match &out.to {
        Some(to) => Some(destination(global, out, to)?),
        None => None,
    };
    if let Some((_, plan)) = &dest
        && manifest.plan.is_none()
    {
        manifest.plan = Some(plan.clone());
    }
    let done = match produced {
        Ok(mut m) => {
            m.plan = manifest.plan.clone();
            m
        }
        Err(e) => {
            if let Some((d, _)) = &dest {
                let _ = d.record_failure(&manifest, &format!("{e:#}")).await;
            }
            return Err(e);
        }
    };
    lifeboat_export::write_manifest(dir, &done)?;
    if out.into_repo {
        return into_repo(global, out, dir, &done).await;
    }
    let delivered: Option<Delivered> = match &dest {
        Some((d, _)) => Some(d.deliver(dir, &done).await?),
        None => None,
    };
    if out.json {
        println!("{}", serde_json::to_string_pretty(&json!({ "manifest": done, "delivered": delivered }))?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("export {} of {}", done.id, done.source);
    for t in &done.tables {
        println!("  {:<32} {:>8} rows  {:>10}  {}", t.name, t.rows, human_bytes(t.bytes), t.file);
    }
    for f in &done.files {
        println!("  {:<40} {:>10}  from {}", f.path, human_bytes(f.bytes), f.source);
    }
    for r in &done.redactions {
        println!("  redacted {} in {} (line {})", r.key, r.file, r.line);
    }
    match (&delivered, &out.out) {
        (Some(d), _) => println!(
            "written to {}: {} ({}), manifest {}",
            d.location,
            d.file.as_deref().unwrap_or("-"),
            human_bytes(d.bytes),
            d.manifest_file
        ),
        (None, Some(dir)) => println!("written to {}", dir.display()),
        (None, None) => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `--into-repo`: the export, packed as a tar.zst, as one backup of the repository.
async fn into_repo(global: &Global, out: &OutputArgs, dir: &Path, done: &ExportManifest) -> Result<ExitCode> {
    let repo = crate::open::open_repo(global).await?;
    let work = tempfile::Builder::new().prefix(".lifeboat-export-").tempdir().context("a temporary directory")?;
    let tarball = work.path().join("export.tar.zst");
    let (d, t) = (dir.to_path_buf(), tarball.clone());
    tokio::task::spawn_blocking(move || lifeboat_export::archive::pack(&d, Compression::Zst, &t))
        .await
        .context("packing the export stopped")??;
    let file = tokio::fs::File::open(&tarball).await.with_context(|| format!("opening {}", tarball.display()))?;
    let request = lifeboat_repo::BackupRequest {
        kind: lifeboat_repo::BackupKind::Other("export".into()),
        name: done.plan.clone().unwrap_or_else(|| format!("export-{}", done.id)),
        plan: done.plan.clone(),
        tags: vec!["export".into(), format!("export-id:{}", done.id)],
        ..Default::default()
    };
    let mut writer = repo.start_backup(request).await?;
    writer.add_stream("export.tar.zst", file).await?;
    let manifest = writer.commit().await?;
    if out.json {
        println!("{}", serde_json::to_string_pretty(&json!({ "manifest": done, "backup": manifest.id.to_string() }))?);
    } else {
        println!("export {} of {}: {} tables, {} files", done.id, done.source, done.tables.len(), done.files.len());
        println!("stored as backup {} (object export.tar.zst)", manifest.id);
    }
    Ok(ExitCode::SUCCESS)
}

async fn tables(global: &Global, a: TablesArgs, dialect: SqlDialect) -> Result<ExitCode> {
    let scheme = a.url.split_once("://").map(|(s, _)| s).unwrap_or("");
    let ok = match dialect {
        SqlDialect::Postgres => matches!(scheme, "postgres" | "postgresql"),
        SqlDialect::Mysql => matches!(scheme, "mysql" | "mariadb"),
    };
    if !ok {
        bail!(
            "--url {}: not a {} URL",
            lifeboat_storage::redact_url(&a.url),
            if dialect == SqlDialect::Postgres { "postgres://" } else { "mysql://" }
        );
    }
    let format: TableFormat = a.format.parse()?;
    let pw = password(&a.db_password_file)?;
    let client = SqlClient::from_url(&a.url, pw.as_ref()).await?;
    let id = match &a.output.id {
        Some(id) => id.clone(),
        None => lifeboat_export::new_id()?,
    };
    let mut manifest = ExportManifest::new(id, ExportKind::Tables, client.target());
    manifest.plan = a.output.plan.clone();
    manifest.dialect = Some(if dialect == SqlDialect::Postgres { "postgres" } else { "mysql" }.into());
    manifest.database = client.database().map(str::to_string);
    manifest.filter = a.filter.clone();
    let (dir, _temp) = staging(&a.output)?;
    let sel = TableSelection { tables: a.tables.clone(), filter: a.filter.clone(), format };
    let produced = lifeboat_export::export_tables(&client, &sel, &dir).await.map_err(anyhow::Error::from).map(|t| {
        let mut m = manifest.clone();
        m.tables = t;
        m
    });
    finish(global, &a.output, &dir, manifest, produced).await
}

async fn files(global: &Global, a: FilesArgs) -> Result<ExitCode> {
    let id = match &a.output.id {
        Some(id) => id.clone(),
        None => lifeboat_export::new_id()?,
    };
    let source = a.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let mut manifest = ExportManifest::new(id, ExportKind::Files, source);
    manifest.plan = a.output.plan.clone();
    manifest.redact_patterns = a.redact.clone();
    let (dir, _temp) = staging(&a.output)?;
    let (paths, patterns, d) = (a.paths.clone(), a.redact.clone(), dir.clone());
    let produced = tokio::task::spawn_blocking(move || lifeboat_export::files::export_files(&paths, &patterns, &d))
        .await
        .context("the files export stopped")?
        .map_err(anyhow::Error::from)
        .map(|f| {
            let mut m = manifest.clone();
            m.files = f.files;
            m.redactions = f.redactions;
            m
        });
    finish(global, &a.output, &dir, manifest, produced).await
}

async fn clean(global: &Global, a: CleanArgs) -> Result<ExitCode> {
    let config = config(global)?;
    let mut targets: Vec<(String, ExportDestinationConfig)> = Vec::new();
    match &a.dest {
        Some(d) => match config.as_ref().and_then(|c| c.exports.get(d)) {
            Some(cfg) => targets.push((d.clone(), cfg.clone())),
            None => targets.push((
                lifeboat_storage::redact_url(d),
                ExportDestinationConfig { destination: Some(d.clone()), ..Default::default() },
            )),
        },
        None => {
            let Some(c) = &config else {
                bail!("name a destination with --dest, or give --config with [exports.NAME]")
            };
            targets.extend(c.exports.iter().filter(|(_, e)| e.expires()).map(|(n, e)| (n.clone(), e.clone())));
            if targets.is_empty() {
                bail!("no [exports.NAME] of the config has keep-days or keep-failed-days");
            }
        }
    }
    let now = chrono::Utc::now();
    let mut reports = Vec::new();
    for (name, mut cfg) in targets {
        if let Some(d) = a.keep_days {
            cfg.keep_days = Some(d);
        }
        if let Some(d) = a.keep_failed_days {
            cfg.keep_failed_days = Some(d);
        }
        let rules: ExpiryRules = cfg.rules();
        if rules.ok == Expiry::FOREVER && rules.failed == Expiry::FOREVER {
            bail!("{name}: no retention (give --keep-days / --keep-failed-days or set them in [exports.{name}])");
        }
        let report = cfg.clean_at(now, a.dry_run).await.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        reports.push((name, rules, report));
    }
    if a.json {
        let v: Vec<_> =
            reports.iter().map(|(n, r, rep)| json!({ "destination": n, "rules": r, "report": rep })).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (name, rules, report) in &reports {
        println!("{name} ({}): complete exports {}, failed {}", report.location, rules.ok, rules.failed);
        for i in &report.items {
            let verb = match (i.delete, report.dry_run) {
                (true, true) => "would delete",
                (true, false) => "deleted",
                (false, _) => "kept",
            };
            let status = i.status.map(|s| format!("{s:?}").to_lowercase()).unwrap_or_else(|| "foreign".into());
            println!("  {verb:<12} {:<7} {}  ({})", status, i.name, i.reason);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `lifeboat import`.
pub async fn import(global: &Global, args: ImportArgs) -> Result<ExitCode> {
    let _ = global;
    let mut maps = Vec::new();
    for m in &args.maps {
        maps.extend(IdMap::parse_list(m)?);
    }
    let on_conflict: OnConflict = args.on_conflict.parse()?;
    let from = args.from.clone();
    let opened = tokio::task::spawn_blocking(move || lifeboat_export::open_export(&from))
        .await
        .context("opening the export stopped")??;
    let pw = password(&args.db_password_file)?;
    let client = SqlClient::from_url(&args.url, pw.as_ref()).await?;
    let opts = ImportOptions { maps, on_conflict, tables: args.tables.clone() };
    let report = lifeboat_export::import_export(&client, &opened.dir, &opts).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("imported export {} into {} (one transaction)", report.export_id, report.target);
    for t in &report.tables {
        println!(
            "  {:<32} {:>8} rows: {} inserted, {} updated, {} skipped, {} values mapped",
            t.table, t.rows, t.inserted, t.updated, t.skipped, t.mapped
        );
    }
    Ok(ExitCode::SUCCESS)
}
