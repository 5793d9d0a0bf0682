//! Where a drill or recovery restores to, and the restore itself: which backup of a plan
//! (`latest`, an id, the newest before a time), scratch targets (a database with a
//! generated name, a Redis server, a directory, an Elasticsearch prefix) and the real
//! targets of a recovery, each restored object authenticated on its way and its content
//! compared with what the backup recorded at dump time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use lifeboat_dump::scratch::{ScratchDatabase, ScratchRedis, ScratchRedisOptions};
use lifeboat_dump::{ContentDigest, Restorer, Secret};
use lifeboat_es::model::time::TimeRange;
use lifeboat_es::{EsManager, RestoreRequest, Scope, StateStore as EsState};
use lifeboat_repo::{BackupKind, Manifest, ObjectRecord, Repository};
use lifeboat_storage::redact_url;
use tokio_util::io::StreamReader;

use super::DrEnv;
use super::report::ScratchReport;
use crate::config::{ElasticsearchSource, SecretRef, SourceConfig};
use crate::plans::ResolvedPlan;

/// How long an Elasticsearch restore may take before the step fails.
const ES_RESTORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Scratch databases of a drill's label older than this are what a dead drill left: dropped
/// before the next drill of that label.
pub(crate) const LEFTOVER_AGE_SECONDS: i64 = 6 * 3600;

/// Which backup to restore.
#[derive(Debug, Clone)]
pub(crate) enum Choice {
    /// The plan's newest.
    Latest,
    /// By id or unique prefix.
    Id(String),
    /// The newest finished before this time.
    Before(DateTime<Utc>),
}

/// The backup chosen, and why.
pub(crate) struct Chosen {
    pub manifest: Manifest,
    pub why: String,
    /// Every readable backup of the plan, oldest first (for the RPO's gaps).
    pub series: Vec<DateTime<Utc>>,
}

/// Chooses the backup of `plan` in `repo`. A damaged manifest makes `latest` unknown: the
/// error names it rather than restoring an older backup silently.
pub(crate) async fn choose(repo: &Repository, plan: &str, choice: &Choice) -> Result<Chosen, String> {
    let listing = repo.list_backups().await.map_err(|e| format!("listing the backups of plan {plan}: {e}"))?;
    let mine: Vec<&Manifest> = listing.readable.iter().filter(|m| m.plan.as_deref() == Some(plan)).collect();
    let series = mine.iter().map(|m| m.finished.with_timezone(&Utc)).collect();
    let damaged =
        || listing.unreadable.iter().map(|e| e.object_key().unwrap_or("?").to_owned()).collect::<Vec<_>>().join(", ");
    let (manifest, why) = match choice {
        Choice::Latest => {
            if !listing.unreadable.is_empty() {
                return Err(format!(
                    "the newest backup of plan {plan} is unknown: damaged manifest(s) {} could be newer",
                    damaged()
                ));
            }
            let newest = mine.last().ok_or_else(|| format!("plan {plan} has no backup"))?;
            ((*newest).clone(), format!("the newest backup of plan {plan}"))
        }
        Choice::Id(id) => {
            let found = repo.resolve(id, Some(plan)).await.map_err(|e| format!("backup {id} of plan {plan}: {e}"))?;
            (found, format!("asked for by id {id}"))
        }
        Choice::Before(at) => {
            if !listing.unreadable.is_empty() {
                return Err(format!(
                    "the newest backup of plan {plan} before {at} is unknown: damaged manifest(s) {} could be it",
                    damaged()
                ));
            }
            let newest = mine
                .iter()
                .rev()
                .find(|m| m.finished.with_timezone(&Utc) < *at)
                .ok_or_else(|| format!("plan {plan} has no backup before {}", at.to_rfc3339()))?;
            ((*newest).clone(), format!("the newest backup of plan {plan} before {}", at.to_rfc3339()))
        }
    };
    Ok(Chosen { manifest, why, series })
}

/// The content each stream of `manifest` recorded at dump time, by stream name.
pub(crate) fn recorded_content(manifest: &Manifest) -> Vec<(String, ContentDigest)> {
    let Some(streams) = manifest.source.get("streams").and_then(|s| s.as_array()) else { return Vec::new() };
    streams
        .iter()
        .filter_map(|s| {
            let name = s.get("stream")?.as_str()?.to_owned();
            let content: ContentDigest = serde_json::from_value(s.get("content")?.clone()).ok()?;
            Some((name, content))
        })
        .collect()
}

/// Restores one object of a database backup through `restorer`; a damaged object fails
/// naming the backup and the object. Returns the bytes restored.
pub(crate) async fn restore_object(
    repo: &Repository,
    manifest: &Manifest,
    record: &ObjectRecord,
    restorer: &Restorer,
) -> Result<u64, String> {
    let failed = |e: String| format!("backup {}, object {}: {e}", manifest.short_id(), record.name);
    let stream = repo.open_object(record).await.map_err(|e| failed(e.to_string()))?;
    let mut reader = StreamReader::new(stream.map_err(std::io::Error::other));
    let report = restorer.restore(&record.name, &mut reader).await.map_err(|e| failed(e.to_string()))?;
    Ok(report.bytes)
}

/// Compares `recorded` with `measured`: `Ok` lines when equal, `Err` naming every mismatch.
pub(crate) fn compare(
    manifest: &Manifest,
    stream: &str,
    recorded: &ContentDigest,
    measured: &ContentDigest,
) -> Result<String, String> {
    let mismatches = recorded.compare(measured);
    if mismatches.is_empty() {
        return Ok(format!(
            "{stream}: content equal to what backup {} recorded ({})",
            manifest.short_id(),
            summary(recorded)
        ));
    }
    let list: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
    Err(format!("backup {}, object {stream}: the restore differs: {}", manifest.short_id(), list.join("; ")))
}

fn summary(content: &ContentDigest) -> String {
    match content {
        ContentDigest::Tables { tables, .. } => {
            let rows: u64 = tables.iter().map(|t| t.rows).sum();
            format!("{} tables, {rows} rows, checksums", tables.len())
        }
        ContentDigest::Keys { keys, .. } => format!("{keys} keys and their digest"),
    }
}

/// Reads a password reference into a [`Secret`], naming `what` on failure.
pub(crate) fn read_secret(reference: &SecretRef, what: &str) -> Result<Option<Secret>, String> {
    reference.read().map(|p| p.map(|p| Secret::new(p.as_str()))).map_err(|e| format!("the password of {what}: {e}"))
}

/// The server scratch databases of `plan` are made on, and its password: `[plans.X.drill]
/// server`, else `[drills] postgres-server`/`mysql-server`, else the plan's own server.
pub(crate) fn scratch_server(env: &DrEnv, plan: &ResolvedPlan) -> Result<(String, Option<Secret>), String> {
    let source = plan.config.source.as_ref().ok_or_else(|| format!("plan {} has no source", plan.name))?;
    let (designated, own) = match source {
        SourceConfig::Postgres(pg) => (env.config.drills.postgres_server.clone(), pg.url.clone()),
        SourceConfig::Mysql(my) => (env.config.drills.mysql_server.clone(), my.url.clone()),
        other => return Err(format!("plan {}: a {} plan has no database server", plan.name, other.kind())),
    };
    if let Some(server) = &plan.config.drill.server {
        let reference = plan.config.drill.password();
        let reference = if reference.is_none() { env.config.drills.password() } else { reference };
        let reference = if reference.is_none() { source.password() } else { reference };
        return Ok((server.clone(), read_secret(&reference, &format!("plan {}'s drill server", plan.name))?));
    }
    if let Some(server) = designated {
        let reference = env.config.drills.password();
        let reference = if reference.is_none() { source.password() } else { reference };
        return Ok((server, read_secret(&reference, "the [drills] server")?));
    }
    Ok((own, read_secret(&source.password(), &format!("plan {}'s source", plan.name))?))
}

/// The label scratch databases of `plan` carry, as lifeboat-dump's scratch names write it.
pub(crate) fn scratch_label(plan: &str) -> String {
    lifeboat_dump::scratch::scratch_label(plan)
}

/// When the scratch database `name` of `label` was made (unix seconds), `None` for a name
/// of another label or not a scratch name.
pub(crate) fn scratch_created_for(name: &str, label: &str) -> Option<i64> {
    let rest = name.strip_prefix(lifeboat_dump::scratch::SCRATCH_PREFIX)?.strip_prefix(label)?.strip_prefix('_')?;
    let (seconds, random) = rest.split_once('_')?;
    if random.len() != 6 || !random.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return None;
    }
    seconds.parse().ok()
}

/// Drops the scratch databases of `label` on `server` older than [`LEFTOVER_AGE_SECONDS`];
/// what was dropped (or could not be), one line each.
pub(crate) async fn drop_leftovers(
    server: &str,
    password: Option<&Secret>,
    label: &str,
    now: DateTime<Utc>,
) -> Vec<String> {
    let names = match lifeboat_dump::scratch::leftover_databases(server, password.cloned()).await {
        Ok(names) => names,
        Err(e) => return vec![format!("could not list leftover scratch databases on {}: {e}", redact_url(server))],
    };
    let mut notes = Vec::new();
    for name in names {
        let Some(created) = scratch_created_for(&name, label) else { continue };
        if now.timestamp() - created < LEFTOVER_AGE_SECONDS {
            continue;
        }
        match lifeboat_dump::scratch::drop_leftover(server, password.cloned(), &name).await {
            Ok(()) => notes.push(format!("dropped leftover scratch database {name} (older than 6 h)")),
            Err(e) => notes.push(format!("could not drop leftover scratch database {name}: {e}")),
        }
    }
    notes
}

/// A scratch target made by a drill, removed at the end whatever happened.
pub(crate) enum Scratch {
    /// A database on a server.
    Database(ScratchDatabase),
    /// A Redis server (or the designated drill instance).
    Redis(Box<ScratchRedis>),
    /// A directory.
    Directory(PathBuf),
    /// Indices restored under a prefix.
    Indices {
        /// The plan whose cluster holds them.
        plan: Box<ResolvedPlan>,
        /// The lifeboat-es restore that made them.
        restore: String,
        /// Their prefix.
        prefix: String,
    },
}

impl Scratch {
    /// Removes it; the report line.
    pub(crate) async fn clean(self, env: &DrEnv) -> ScratchReport {
        let (kind, name, result) = match self {
            Scratch::Database(db) => {
                let kind = match db.url().split_once("://").map(|(s, _)| s) {
                    Some("mysql" | "mariadb") => "mysql-database",
                    _ => "postgres-database",
                };
                let name = db.name().to_owned();
                (kind, name, db.drop_database().await.map_err(|e| e.to_string()))
            }
            Scratch::Redis(redis) => {
                let name = redact_url(redis.url());
                ("redis-server", name, redis.stop().await.map_err(|e| e.to_string()))
            }
            Scratch::Directory(dir) => {
                let shown = dir.display().to_string();
                let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()));
                ("directory", shown, removed)
            }
            Scratch::Indices { plan, restore, prefix } => {
                let removed = match es_manager(env, &plan).await {
                    Ok(manager) => manager.restores().delete(&restore).await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                };
                ("elasticsearch-indices", format!("{prefix}*"), removed)
            }
        };
        match result {
            Ok(()) => ScratchReport { kind: kind.into(), name, cleaned: true, error: None },
            Err(e) => ScratchReport { kind: kind.into(), name, cleaned: false, error: Some(e) },
        }
    }

    /// Its kind and name, for the report before it is removed.
    pub(crate) fn describe(&self) -> (String, String) {
        match self {
            Scratch::Database(db) => ("database".into(), db.name().to_owned()),
            Scratch::Redis(r) => ("redis-server".into(), redact_url(r.url())),
            Scratch::Directory(d) => ("directory".into(), d.display().to_string()),
            Scratch::Indices { prefix, .. } => ("elasticsearch-indices".into(), format!("{prefix}*")),
        }
    }
}

/// A scratch Redis for a drill: `[drills] redis-server` (which must be empty) or a
/// `redis-server` started on a free loopback port (loading the RDB snapshot `rdb`, when
/// given: a running server cannot load one).
pub(crate) async fn scratch_redis(env: &DrEnv, rdb: Option<&Path>) -> Result<ScratchRedis, String> {
    let drills = &env.config.drills;
    let options = ScratchRedisOptions {
        server_binary: drills.redis_binary.clone(),
        dir: None,
        designated: drills.redis_server.clone(),
        password: read_secret(&drills.password(), "the [drills] Redis")?,
    };
    let started = match rdb {
        Some(rdb) => ScratchRedis::start_with_rdb(options, rdb).await,
        None => ScratchRedis::start(options).await,
    };
    started.map_err(|e| format!("cannot start a scratch Redis: {e}"))
}

/// A new private directory for a drill's files under `[drills] scratch-dir` (default: the
/// system's temporary directory).
pub(crate) fn scratch_dir(env: &DrEnv, label: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let base = env.config.drills.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&base)
        .map_err(|e| format!("cannot create the scratch directory's parent {}: {e}", base.display()))?;
    let random = lifeboat_crypto::random_bytes::<4>().map_err(|e| format!("no randomness: {e}"))?;
    let dir =
        base.join(format!("lifeboat-drill-{label}-{}-{}", env.clock.now().timestamp(), super::query::hex_of(&random)));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create the scratch directory {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Restores a files or stdin backup into the new or empty directory `target`: every object
/// authenticated, its size and digest as recorded. The lines say what was restored.
pub(crate) async fn restore_dir(
    repo: &Repository,
    manifest: &Manifest,
    target: &Path,
) -> Result<(u64, Vec<String>), String> {
    repo.restore_to_dir(manifest, target).await.map_err(|e| format!("backup {}: {e}", manifest.short_id()))?;
    let root = target.to_path_buf();
    let (files, bytes) = tokio::task::spawn_blocking(move || count_files(&root))
        .await
        .map_err(|e| format!("counting the restored files failed: {e}"))?;
    let mut detail = vec![format!(
        "{} object(s) of backup {} authenticated, each size and BLAKE3 digest as recorded",
        manifest.objects.len(),
        manifest.short_id()
    )];
    detail.push(format!("{files} file(s), {bytes} bytes restored"));
    if manifest.kind == BackupKind::Files
        && let Some(expected) = manifest.stats.get("files")
        && *expected != files
    {
        return Err(format!(
            "backup {}: the backup recorded {expected} files, the restore holds {files}",
            manifest.short_id()
        ));
    }
    Ok((bytes, detail))
}

fn count_files(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

/// The Elasticsearch source of `plan`.
pub(crate) fn es_source(plan: &ResolvedPlan) -> Option<&ElasticsearchSource> {
    match &plan.config.source {
        Some(SourceConfig::Elasticsearch(es)) => Some(es),
        _ => None,
    }
}

/// A lifeboat-es manager of `plan`'s cluster, state and scope (its tenant, or admin).
pub(crate) async fn es_manager(env: &DrEnv, plan: &ResolvedPlan) -> Result<EsManager, String> {
    let es = es_source(plan).ok_or_else(|| format!("plan {} is not an Elasticsearch plan", plan.name))?;
    let client = crate::run::es_client(&plan.name, es).map_err(|e| e.to_string())?;
    let failed = |e: lifeboat_es::EsError| format!("plan {}: {e}", plan.name);
    let store = EsState::new(match &es.state_dir {
        Some(dir) => dir.clone(),
        None => EsState::default_dir().map_err(failed)?,
    });
    let scope = match &es.tenant {
        Some(id) => Scope::Tenant(store.tenant(id).await.map_err(failed)?),
        None => Scope::Admin,
    };
    Ok(EsManager::new(client, store, scope).with_clock(Arc::clone(&env.clock)))
}

/// What an Elasticsearch restore under a prefix did.
pub(crate) struct EsRestored {
    pub restore: String,
    pub snapshots: Vec<String>,
    /// (restored index, docs found, docs the snapshot recorded).
    pub indices: Vec<(String, u64, Option<u64>)>,
    pub bytes: u64,
    /// When the newest snapshot restored was taken.
    pub taken_at: Option<DateTime<Utc>>,
    /// When every successful snapshot of the plan's policy was taken (for the RPO's gaps).
    pub series: Vec<DateTime<Utc>>,
}

/// Restores the newest snapshot of every index of `pattern` (default: the plan's `indices`,
/// else `*`) under `prefix`, waits for it, and counts each restored index's docs.
/// `started` is called with the restore's id as soon as it exists (so that it is cleaned up
/// even if waiting fails).
pub(crate) async fn es_restore(
    env: &DrEnv,
    plan: &ResolvedPlan,
    pattern: Option<&str>,
    prefix: &str,
    started: &mut (dyn FnMut(String) + Send),
) -> Result<EsRestored, String> {
    let es = es_source(plan).ok_or_else(|| format!("plan {} is not an Elasticsearch plan", plan.name))?;
    let manager = es_manager(env, plan).await?;
    let failed = |e: lifeboat_es::EsError| format!("plan {}: {e}", plan.name);
    let pattern = pattern.map(str::to_owned).or_else(|| es.indices.clone()).unwrap_or_else(|| "*".into());
    let start = DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default();
    let end = env.clock.now() + chrono::Duration::days(3650);
    let range = TimeRange::new(start, end).map_err(failed)?;
    let mut request = RestoreRequest::new(&pattern, range);
    request.prefix = prefix.to_owned();
    // A drill restores the newest snapshot of every index, whether or not its time is known.
    request.include_untimed = true;
    let (planned, record) = manager.restores().start(&request).await.map_err(failed)?;
    started(record.id.clone());
    let done = manager.restores().wait(&record.id, ES_RESTORE_TIMEOUT, |_| {}).await.map_err(failed)?;
    if done.state != lifeboat_es::model::restore::RestoreState::Succeeded {
        let why = done.progress.as_ref().map(|p| p.warnings.join("; ")).unwrap_or_default();
        return Err(format!("plan {}: restore {} ended {}: {why}", plan.name, done.id, done.state));
    }
    let mut indices = Vec::new();
    for group in &planned.groups {
        for index in &group.indices {
            let docs = manager.client().count(&index.target, None).await.map_err(failed)?;
            indices.push((index.target.clone(), docs, index.expected_docs));
        }
    }
    let snapshots = manager.snapshots().list(&es.repository).await.map_err(failed)?;
    let mine = |s: &&lifeboat_es::model::snapshot::SnapshotInfo| {
        s.state == lifeboat_es::model::snapshot::SnapshotState::Success
            && s.metadata_str("lifeboat_policy").is_none_or(|p| p == es.policy)
    };
    let series: Vec<DateTime<Utc>> = snapshots.iter().filter(mine).filter_map(|s| s.taken_at()).collect();
    let restored: Vec<&str> = planned.groups.iter().map(|g| g.snapshot.as_str()).collect();
    let taken_at =
        snapshots.iter().filter(|s| restored.contains(&s.snapshot.as_str())).filter_map(|s| s.taken_at()).max();
    Ok(EsRestored {
        taken_at,
        series,
        restore: record.id,
        snapshots: planned.groups.iter().map(|g| g.snapshot.clone()).collect(),
        indices,
        bytes: planned.total_bytes,
    })
}
