//! Database backups: dump streams into repository objects, and back into live servers.

use futures::TryStreamExt;
use lifeboat_dump::{DumpError, DumpStream, RestoreReport, Restorer, Source, SourceMetadata};
use lifeboat_repo::{BackupKind, BackupRequest, Manifest, RepoError, Repository};
use tokio_util::io::StreamReader;

/// Why a database backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The database side failed (tool missing, auth, connection, the dump died ...).
    #[error(transparent)]
    Dump(#[from] DumpError),
    /// The repository side failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The backup is not a database backup that this restorer can take.
    #[error("{0}")]
    NotRestorable(String),
}

/// Backs up every stream of `source` into one backup. The manifest records the source's
/// metadata (server version, databases, tool, consistency position) and is written only
/// after every dump tool exited successfully: a dump that died midway never becomes a
/// listed backup, and its already-stored objects are deleted.
pub async fn backup_database(
    repo: &Repository,
    source: &Source,
    mut request: BackupRequest,
) -> Result<Manifest, OpsError> {
    let kind = source.kind();
    request.kind = match kind {
        lifeboat_dump::SourceKind::Postgres => BackupKind::Postgres,
        lifeboat_dump::SourceKind::Mysql => BackupKind::Mysql,
        lifeboat_dump::SourceKind::Redis => BackupKind::Redis,
    };
    let mut dumps = source.dump().await?;
    if request.name.is_empty() {
        request.name = dumps.names().join(" ");
    }
    let mut writer = repo.start_backup(request).await?;
    let mut streams: Vec<SourceMetadata> = Vec::new();
    loop {
        let next = match dumps.next().await {
            Ok(Some(stream)) => stream,
            Ok(None) => break,
            Err(e) => {
                writer.abort().await;
                return Err(e.into());
            }
        };
        let DumpStream { name, reader, finish, .. } = next;
        let stored = writer.add_stream(&name, reader).await.map(|_| ());
        // The tool's exit status decides: a dump that ended early reads like a short file.
        // A storage failure is the root cause when both failed (the tool then dies of a broken pipe).
        let finished = finish.await;
        match (stored, finished) {
            (Ok(()), Ok(meta)) => streams.push(meta),
            (Ok(()) | Err(RepoError::Source(_)), Err(dump)) => {
                writer.abort().await;
                return Err(dump.into());
            }
            (Err(repo_err), _) => {
                writer.abort().await;
                return Err(repo_err.into());
            }
        }
    }
    writer.set_source(serde_json::json!({ "kind": kind.to_string(), "streams": streams }));
    Ok(writer.commit().await?)
}

/// What a restore into a live server did, stream by stream.
pub type DatabaseRestore = Vec<RestoreReport>;

/// Restores every object of a database backup, in backup order, through `restorer`. Each
/// stream is authenticated segment by segment on its way to the server; a damaged object
/// stops the restore with an error naming it.
pub async fn restore_database(
    repo: &Repository,
    manifest: &Manifest,
    restorer: &Restorer,
) -> Result<DatabaseRestore, OpsError> {
    if matches!(manifest.kind, BackupKind::Files | BackupKind::Stream) {
        return Err(OpsError::NotRestorable(format!(
            "backup {} is a {} backup, not a database dump; restore it with --target or --stdout",
            manifest.short_id(),
            manifest.kind
        )));
    }
    let mut reports = Vec::new();
    for record in &manifest.objects {
        let stream = repo.open_object(record).await?;
        let mut reader = StreamReader::new(
            stream.map_err(|e| std::io::Error::other(format!("object {} ({}): {e}", record.name, record.key))),
        );
        let report = restorer.restore(&record.name, &mut reader).await?;
        tracing::info!(object = %record.name, bytes = report.bytes, "restored");
        reports.push(report);
    }
    Ok(reports)
}
