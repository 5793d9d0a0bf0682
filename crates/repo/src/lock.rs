//! Repository locks: leases written with a conditional create (docs/FORMAT.md, section 6).
//!
//! Backups hold shared locks; operations that delete or rewrite (prune, key rotation)
//! hold an exclusive one. A lock expires unless its holder refreshes it, so a crashed
//! host blocks nobody for longer than [`LOCK_TTL`]; a lock whose holder ran on this host
//! and is gone (its pid is free, or now belongs to a process started at another time, or
//! the host rebooted) is stale at once.
//!
//! Leases are judged by the storage's clock, never by the holder's: a lock is live while
//! the storage last wrote it (its refresh) less than [`LOCK_TTL`] ago, measured against
//! the time the storage gives our own freshly written lock. A host whose clock is off
//! therefore neither takes live locks for expired nor keeps dead ones alive, and it is
//! refused exclusive operations while its clock is more than [`MAX_CLOCK_SKEW`] off.
//!
//! Taking a lock is write-then-check: write our lease under a random name, list the locks
//! and back off if a conflicting lease is there. Exclusive locks are only taken on storage
//! with a true conditional create (`If-None-Match: *`); on storage without it (s3s-fs,
//! WebDAV, SFTP) shared locks still work, since they never exclude each other, but prune,
//! forget and key changes are refused with a message that says why.
//!
//! A full disk must not keep forget and prune, which free space, from taking their lock:
//! every successful lock keeps a small [`RESERVE_KEY`] object in the repository, which an
//! exclusive lock deletes to make room for itself when the storage is full.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};
use lifeboat_crypto::random_bytes;
use lifeboat_storage::clock::{Clock, SystemClock};
use lifeboat_storage::{PutOutcome, Storage, StorageError, StorageExt, create_new};
use serde::{Deserialize, Serialize};

use crate::error::{RepoError, Result};
use crate::release::LockReleases;

/// Prefix of lock objects.
pub const LOCKS_PREFIX: &str = "locks/";
/// How long a lock lives without a refresh.
pub const LOCK_TTL: Duration = Duration::from_secs(30 * 60);
/// How far this host's clock may be from the storage's before exclusive operations are
/// refused (a lease is judged by the storage's clock, but `created`, `expires` and
/// object-lock dates are still written by ours).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// A space reserve: a small object of random bytes that an exclusive lock deletes to make
/// room for itself when the storage is full, so that forget and prune can still free space.
pub const RESERVE_KEY: &str = "reserve";
/// Size of [`RESERVE_KEY`]: room for a few lock files and their folder entries.
const RESERVE_SIZE: usize = 64 * 1024;
const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
/// Prefix of the probe objects that ask the storage for its time.
const CLOCK_PROBE: &str = "locks/clock-";

/// Shared (backups) or exclusive (prune, key rotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    /// Many at once; excludes exclusive locks.
    Shared,
    /// Alone.
    Exclusive,
}

/// The JSON body of a lock object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    /// Lock id (32 hex). Informational: the lock is the object it was listed under.
    pub id: String,
    /// Shared or exclusive.
    pub kind: LockKind,
    /// What the holder is doing.
    pub operation: String,
    /// Holder's host.
    pub host: String,
    /// Holder's process id.
    pub pid: u32,
    /// When it was taken, by the holder's clock.
    pub created: DateTime<FixedOffset>,
    /// When it lapses unless refreshed, by the holder's clock. Only consulted on storage
    /// that reports no modification times.
    pub expires: DateTime<FixedOffset>,
    /// When the holder process started, in clock ticks since boot (field 22 of
    /// `/proc/<pid>/stat`), so that a reused pid is not taken for the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    /// The holder host's boot id (`/proc/sys/kernel/random/boot_id`): after a reboot every
    /// holder of the previous boot is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The holder's PID namespace (`/proc/self/ns/pid`, e.g. `pid:[4026531836]`): pids of
    /// another container on the same host cannot be checked from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<String>,
    /// The holder host's machine id (`/etc/machine-id`): host names repeat across machines
    /// (`localhost`, a pod name reused in two clusters), so a different boot id means "this
    /// host rebooted" only when the machine id says it is the same machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
}

/// A lock as found in the repository.
#[derive(Debug, Clone)]
pub struct ListedLock {
    /// The key it is stored under: what `unlock` deletes, never a key built from its content.
    pub key: String,
    /// Its content.
    pub info: LockInfo,
    /// When the storage last wrote it (taken or refreshed), by the storage's clock.
    pub modified: Option<SystemTime>,
}

/// What can be said about a lock's holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LockState {
    /// Held by a process running on this host.
    Running,
    /// Renewed within its lease by a holder this host cannot check (another host).
    Live,
    /// Not renewed within its lease: the holder is gone or cut off.
    Expired,
    /// Held by a process of this host that no longer runs: dead at once.
    Stale,
}

impl LockState {
    /// True for locks nobody holds any more.
    pub fn is_dead(self) -> bool {
        matches!(self, LockState::Expired | LockState::Stale)
    }
}

/// This process and its host, as a lock records them.
#[derive(Debug, Clone)]
struct Holder {
    host: String,
    boot_id: Option<String>,
    pid_ns: Option<String>,
    machine_id: Option<String>,
}

/// What this host can tell about a lock's holder from the lock alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Same running kernel and PID namespace: its pid can be looked up here.
    Process,
    /// This very machine, booted again since: every holder of that boot is gone.
    Rebooted,
    /// Another machine, or one this host cannot tell apart from another: the lease decides.
    Elsewhere,
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Holder {
    fn current() -> Self {
        Holder {
            host: crate::host::hostname(),
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pid_ns: std::fs::read_link("/proc/self/ns/pid").ok().map(|p| p.to_string_lossy().into_owned()),
            machine_id: read_trimmed("/etc/machine-id"),
        }
    }

    /// Where the holder of `info` runs, as far as this host can tell. A host name alone
    /// proves nothing (names repeat across machines, and PID namespace ids repeat too:
    /// every host's initial one is the same number), so a pid is only looked up when the
    /// boot ids match, and a lock is only dead "because of a reboot" when the machine ids
    /// match. A lock without boot id (a holder that could not read it) falls back to host
    /// name and PID namespace, as older locks did.
    fn reach(&self, info: &LockInfo) -> Reach {
        let same_ns = info.pid_ns.is_none() || self.pid_ns.is_none() || info.pid_ns == self.pid_ns;
        if info.host != self.host || !same_ns {
            return Reach::Elsewhere;
        }
        let known = |a: &Option<String>, b: &Option<String>| a.is_some() && b.is_some();
        if known(&info.machine_id, &self.machine_id) && info.machine_id != self.machine_id {
            return Reach::Elsewhere;
        }
        match (&info.boot_id, &self.boot_id) {
            (Some(theirs), Some(ours)) if theirs == ours => Reach::Process,
            (Some(_), Some(_)) if known(&info.machine_id, &self.machine_id) => Reach::Rebooted,
            (Some(_), Some(_)) => Reach::Elsewhere,
            _ => Reach::Process,
        }
    }
}

/// The start time (clock ticks since boot) of process `pid`, `Ok(None)` when no such
/// process exists, `Err` when that cannot be told.
fn process_start_time(pid: u32) -> std::io::Result<Option<u64>> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => Ok(parse_start_time(&stat)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Field 22 of `/proc/<pid>/stat`. The second field, the command name in parentheses, may
/// itself hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // After the name: field 3 (state) onwards, so field 22 is the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl ListedLock {
    /// Judges the lock. `storage_now` is the storage's current time (from an object it just
    /// wrote), when known; without it, or without a modification time, the holder's
    /// `expires` is compared with this host's clock.
    pub fn state(&self, storage_now: Option<SystemTime>) -> LockState {
        self.state_for(storage_now, &Holder::current(), &SystemClock)
    }

    fn state_for(&self, storage_now: Option<SystemTime>, me: &Holder, clock: &dyn Clock) -> LockState {
        let info = &self.info;
        match me.reach(info) {
            Reach::Rebooted => return LockState::Stale,
            Reach::Elsewhere => {}
            Reach::Process => match process_start_time(info.pid) {
                Ok(None) => return LockState::Stale,
                Ok(Some(started)) if info.start_time.is_some_and(|t| t != started) => return LockState::Stale,
                Ok(Some(_)) => return LockState::Running,
                Err(_) => {} // cannot tell: the lease decides
            },
        }
        let expired = match (self.modified, storage_now) {
            (Some(modified), Some(now)) => now.duration_since(modified).is_ok_and(|age| age > LOCK_TTL),
            _ => info.expires < clock.now(),
        };
        if expired { LockState::Expired } else { LockState::Live }
    }

    /// The error a conflicting lock gives: who holds it, and whether that can be checked
    /// here or the lease's end is what gets past it.
    fn conflict_error(&self, state: LockState, storage_now: Option<SystemTime>, clock: &dyn Clock) -> RepoError {
        let info = &self.info;
        let holder = format!(
            "{} lock ({}) held by pid {} on host {} since {} for {:?}",
            match info.kind {
                LockKind::Shared => "a shared",
                LockKind::Exclusive => "an exclusive",
            },
            self.key,
            info.pid,
            info.host,
            info.created.format("%Y-%m-%d %H:%M:%S %:z"),
            info.operation
        );
        let lapses_in_minutes = match state {
            LockState::Running => None,
            _ => {
                let left = match (self.modified, storage_now) {
                    (Some(m), Some(now)) => LOCK_TTL.saturating_sub(now.duration_since(m).unwrap_or_default()),
                    _ => (info.expires.to_utc() - clock.now()).to_std().unwrap_or_default(),
                };
                Some(left.as_secs().div_ceil(60))
            }
        };
        RepoError::Locked { holder, lapses_in_minutes }
    }
}

/// Reads every lock of a repository. Objects under `locks/` that are not named like a lock
/// (clock probes, debris) are skipped; unparsable locks are skipped with a warning.
pub async fn list_locks(storage: &dyn Storage) -> Result<Vec<ListedLock>> {
    let mut out = Vec::new();
    for meta in storage.list_all(LOCKS_PREFIX).await? {
        let is_lock_name = meta
            .key
            .strip_prefix(LOCKS_PREFIX)
            .is_some_and(|n| n.len() == 32 && n.bytes().all(|b| b.is_ascii_hexdigit()));
        if !is_lock_name {
            continue;
        }
        let bytes = match storage.get_bytes(&meta.key).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => continue, // released meanwhile
            Err(e) => return Err(e.into()),
        };
        match serde_json::from_slice::<LockInfo>(&bytes) {
            Ok(info) => out.push(ListedLock { key: meta.key, info, modified: meta.modified }),
            Err(e) => tracing::warn!(lock = %meta.key, "ignoring unreadable lock: {e}"),
        }
    }
    Ok(out)
}

/// The storage's current time: the modification time it gives a probe object written now
/// (and removed again). `None` when the storage reports no times or the probe cannot be
/// written (a full disk); callers then fall back to this host's clock.
pub async fn storage_time(storage: &dyn Storage) -> Option<SystemTime> {
    let id = hex::encode(random_bytes::<8>().ok()?);
    let key = format!("{CLOCK_PROBE}{id}");
    if let Err(e) = storage.put_bytes(&key, Bytes::new()).await {
        tracing::debug!(probe = %key, "cannot ask the storage for its time: {e}");
        return None;
    }
    let time = storage.head(&key).await.ok().flatten().and_then(|m| m.modified);
    if let Err(e) = storage.delete(&key).await {
        tracing::warn!(probe = %key, "could not remove the clock probe: {e}");
    }
    time
}

/// Removes dead locks (expired, or stale: their holder ran on this host and is gone), or
/// all of them with `all`. Each is deleted under the key it was listed as. Returns what
/// was removed, with why.
pub async fn remove_locks(storage: &dyn Storage, all: bool) -> Result<Vec<(ListedLock, LockState)>> {
    let now = storage_time(storage).await;
    let me = Holder::current();
    let mut removed = Vec::new();
    for lock in list_locks(storage).await? {
        let state = lock.state_for(now, &me, &SystemClock);
        if all || state.is_dead() {
            storage.delete(&lock.key).await?;
            removed.push((lock, state));
        }
    }
    Ok(removed)
}

/// Writes the space reserve unless it is there. Best effort: a storage that is full or
/// forbids the key simply has no reserve.
pub(crate) async fn ensure_reserve(storage: &dyn Storage) {
    if !matches!(storage.head(RESERVE_KEY).await, Ok(None)) {
        return;
    }
    // Random bytes, so that a compressing filesystem stores all of them.
    let mut body = vec![0u8; RESERVE_SIZE];
    if lifeboat_crypto::random_fill(&mut body).is_err() {
        return;
    }
    if let Err(e) = storage.put_bytes(RESERVE_KEY, Bytes::from(body)).await {
        tracing::debug!("no space reserve in {}: {e}", storage.location());
    }
}

/// Writes a lock object; an exclusive lock on a full storage gives up the space reserve
/// for it.
async fn write_lock(storage: &dyn Storage, key: &str, body: Bytes, kind: LockKind, operation: &str) -> Result<()> {
    let outcome = match create_new(storage, key, body.clone()).await.map_err(RepoError::from) {
        Err(RepoError::Storage(StorageError::NoSpace { .. })) if kind == LockKind::Exclusive => {
            if storage.head(RESERVE_KEY).await?.is_none() {
                return Err(RepoError::NoSpace(format!(
                    "{} is full: {operation} cannot write its lock {key} and the space reserve is already used; \
                     free a few KiB on that filesystem (files outside the repository, or `.lifeboat-tmp-*` files \
                     older than 30 minutes inside it) and run {operation} again",
                    storage.location()
                )));
            }
            tracing::warn!(
                "{} is full: using its space reserve to take the lock {operation} needs",
                storage.location()
            );
            storage.delete(RESERVE_KEY).await?;
            create_new(storage, key, body).await?
        }
        other => other?,
    };
    if outcome == PutOutcome::AlreadyExists {
        return Err(RepoError::Internal(format!("lock {key} collided")));
    }
    Ok(())
}

/// A held lock. Release it with [`Lock::release`]; dropping it removes it in the background,
/// a removal its owner's [`LockReleases`] tracks.
pub struct Lock {
    storage: Arc<dyn Storage>,
    key: String,
    refresher: Option<tokio::task::JoinHandle<()>>,
    releases: LockReleases,
    lease: Lease,
}

/// The lease of a held lock as its holder knows it (docs/FORMAT.md 11.6): when its last
/// successful write (taking or a refresh) started, by the owner's clock. A write that
/// started at `t` landed no earlier, so the storage judges the lease live at least until
/// `t` plus [`LOCK_TTL`]. Cheap to clone; every clone sees the refreshes.
#[derive(Debug, Clone)]
pub struct Lease {
    key: String,
    last_write: Arc<std::sync::Mutex<DateTime<chrono::Utc>>>,
    clock: Arc<dyn Clock>,
}

impl Lease {
    fn new(key: &str, started: DateTime<chrono::Utc>, clock: Arc<dyn Clock>) -> Lease {
        Lease { key: key.to_owned(), last_write: Arc::new(std::sync::Mutex::new(started)), clock }
    }

    fn last_write(&self) -> DateTime<chrono::Utc> {
        *self.last_write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long ago the lease was last written.
    fn age(&self) -> Duration {
        (self.clock.now() - self.last_write()).to_std().unwrap_or_default()
    }

    /// Whether the lease is live: last written less than a lock lifetime ago.
    pub fn is_live(&self) -> bool {
        self.age() < LOCK_TTL
    }

    /// Refuses `write` (what the holder is about to write: "index objects", "the manifest")
    /// once the lease lapsed: a prune may have judged this lock dead and deleted what the
    /// write would reference.
    pub fn check(&self, write: &str) -> Result<()> {
        if self.is_live() {
            return Ok(());
        }
        Err(RepoError::LeaseLapsed(format!(
            "refusing to write {write}: the lease of lock {} was last renewed {} s ago, more than its {} s \
             lifetime (the process stalled or the storage was unreachable), so a prune may already have deleted \
             data this write would need; nothing more is written, run it again",
            self.key,
            self.age().as_secs(),
            LOCK_TTL.as_secs()
        )))
    }
}

/// Who takes a lock: the clock its lease times are written by, and where a lock dropped
/// without [`Lock::release`] hands its removal.
#[derive(Debug, Clone)]
pub struct LockOwner {
    /// Writes `created` and `expires`.
    pub clock: Arc<dyn Clock>,
    /// Tracks removals of dropped locks.
    pub releases: LockReleases,
}

impl Default for LockOwner {
    fn default() -> Self {
        LockOwner { clock: Arc::new(SystemClock), releases: LockReleases::default() }
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").field("key", &self.key).finish()
    }
}

fn conflicts(mine: LockKind, other: &ListedLock, state: LockState) -> bool {
    !state.is_dead() && (mine == LockKind::Exclusive || other.info.kind == LockKind::Exclusive)
}

impl Lock {
    /// Takes a lock with the system clock and a tracker of its own: a lock that is dropped
    /// rather than released is removed in the background, untracked. Owners that must know
    /// when that is done use [`Lock::acquire_for`].
    pub async fn acquire(storage: Arc<dyn Storage>, kind: LockKind, operation: &str) -> Result<Lock> {
        Self::acquire_for(storage, kind, operation, &LockOwner::default()).await
    }

    /// Takes a lock for `owner`, or fails naming the holder of a conflicting one.
    pub async fn acquire_for(
        storage: Arc<dyn Storage>,
        kind: LockKind,
        operation: &str,
        owner: &LockOwner,
    ) -> Result<Lock> {
        if kind == LockKind::Exclusive && !storage.capabilities().await?.conditional_put {
            return Err(RepoError::Unsupported(format!(
                "{} cannot create objects conditionally (no If-None-Match support), so {operation} cannot take the \
                 exclusive lock it needs without racing another host; refusing (backups, restores and copies \
                 still work here)",
                storage.location()
            )));
        }
        let id = hex::encode(random_bytes::<16>().map_err(|e| RepoError::Internal(e.to_string()))?);
        let key = format!("{LOCKS_PREFIX}{id}");
        let me = Holder::current();
        let info = new_info(&id, kind, operation, &me, crate::host::local_time(owner.clock.as_ref()));
        let body = Bytes::from(serde_json::to_vec(&info).map_err(|e| RepoError::Internal(e.to_string()))?);
        let lease = Lease::new(&key, owner.clock.now(), owner.clock.clone());
        write_lock(storage.as_ref(), &key, body, kind, operation).await?;
        // From here on our lease exists: every failure below removes it again.
        let lock = Lock {
            storage: storage.clone(),
            key: key.clone(),
            refresher: None,
            releases: owner.releases.clone(),
            lease: lease.clone(),
        };
        match Self::check(storage.as_ref(), &key, kind, operation, (&me, owner.clock.as_ref())).await {
            Ok(()) => {}
            Err(e) => {
                lock.release().await;
                return Err(e);
            }
        }
        ensure_reserve(storage.as_ref()).await;
        let refresher = {
            let (storage, key, clock, lease) = (storage.clone(), key.clone(), owner.clock.clone(), lease);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(REFRESH_EVERY).await;
                    // A lapsed lease is never renewed (FORMAT.md 11.6): a prune may have
                    // judged it dead, and the holder's next lease check must say so.
                    if !lease.is_live() {
                        tracing::warn!(lock = %key, "lease lapsed; it is not renewed");
                        return;
                    }
                    let started = clock.now();
                    let mut fresh = info.clone();
                    fresh.expires = crate::host::local_time(clock.as_ref()) + LOCK_TTL;
                    let Ok(body) = serde_json::to_vec(&fresh) else { continue };
                    match storage.put_bytes(&key, Bytes::from(body)).await {
                        Ok(()) => *lease.last_write.lock().unwrap_or_else(|p| p.into_inner()) = started,
                        Err(e) => tracing::warn!(lock = %key, "could not refresh lock: {e}"),
                    }
                }
            })
        };
        let mut lock = lock;
        lock.refresher = Some(refresher);
        Ok(lock)
    }

    /// With our lease `own` written: reads the storage's time from it, refuses an exclusive
    /// lock while this host's clock is too far off, and looks for a conflicting live lock.
    /// Someone may have locked between our check and our write; two racing lockers may
    /// both back off, they never both proceed.
    async fn check(
        storage: &dyn Storage,
        own: &str,
        kind: LockKind,
        operation: &str,
        (me, clock): (&Holder, &dyn Clock),
    ) -> Result<()> {
        let storage_now = storage.head(own).await?.and_then(|m| m.modified);
        if let Some(theirs) = storage_now {
            let ours = SystemTime::from(clock.now());
            let skew = ours.duration_since(theirs).unwrap_or_else(|e| e.duration());
            if skew > MAX_CLOCK_SKEW {
                let ahead = if ours > theirs { "ahead of" } else { "behind" };
                let message = format!(
                    "this host's clock is {} s {ahead} the clock of {} (more than the {} s allowed)",
                    skew.as_secs(),
                    storage.location(),
                    MAX_CLOCK_SKEW.as_secs()
                );
                if kind == LockKind::Exclusive {
                    return Err(RepoError::ClockSkew(format!(
                        "{operation} refused: {message}; it would misjudge leases and object-lock dates. \
                         Fix the clock (NTP) and run it again"
                    )));
                }
                tracing::warn!("{message}");
            }
        }
        for other in list_locks(storage).await? {
            if other.key == own {
                continue;
            }
            let state = other.state_for(storage_now, me, clock);
            if conflicts(kind, &other, state) {
                return Err(other.conflict_error(state, storage_now, clock));
            }
        }
        Ok(())
    }

    /// The key the lock is stored under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The lock's lease, to check right before writes a prune must not miss.
    pub fn lease(&self) -> Lease {
        self.lease.clone()
    }

    /// Removes the lock.
    pub async fn release(mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        if let Err(e) = self.storage.delete(&self.key).await {
            tracing::warn!(lock = %self.key, "could not remove lock: {e}");
        }
        self.key.clear();
    }
}

fn new_info(id: &str, kind: LockKind, operation: &str, me: &Holder, created: DateTime<FixedOffset>) -> LockInfo {
    let pid = std::process::id();
    LockInfo {
        id: id.to_owned(),
        kind,
        operation: operation.to_owned(),
        host: me.host.clone(),
        pid,
        created,
        expires: created + LOCK_TTL,
        start_time: process_start_time(pid).ok().flatten(),
        boot_id: me.boot_id.clone(),
        pid_ns: me.pid_ns.clone(),
        machine_id: me.machine_id.clone(),
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        if !self.key.is_empty()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let (storage, key) = (self.storage.clone(), std::mem::take(&mut self.key));
            let task = handle.spawn(async move {
                if let Err(e) = storage.delete(&key).await {
                    tracing::warn!(lock = %key, "could not remove lock: {e}");
                }
            });
            self.releases.track(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_odd_command_names() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987654));
        assert_eq!(parse_start_time("4242 (truncated"), None);
        assert_eq!(parse_start_time("4242 (x) S 1 2"), None);
    }

    #[test]
    fn own_process_has_a_start_time() {
        assert!(process_start_time(std::process::id()).unwrap().is_some());
    }
}
