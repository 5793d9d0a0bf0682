//! # lifeboat-ops
//!
//! What a frontend does, as library calls: the CLI and the coming service (scheduler and
//! HTTP API) are two frontends over these, so neither copies the other's logic.
//!
//! - [`credentials`]: which credential opens a repository (key file, identity, password
//!   file, an offered password, write-only recipients, a prompt the frontend owns) and the
//!   open options from the host (known-state store, writer key, trust overrides).
//! - [`config`]: the TOML [`Config`] (docs/CONFIG.md): plans with their source, repository
//!   and copies, schedules, retention, verify, objectives; secrets by reference only; every
//!   problem of a file reported at once, each naming plan, key and line.
//! - [`plans`]: the plan a command names, looked up in the TOML [`Config`].
//! - [`run`]: a plan run once ([`run::run_plan`]): its source into its repository with its
//!   tags, then its retention.
//! - [`policy`]: which retention policy applies (the caller's rules, else the plan's).
//! - [`forget`]: retention as plan-then-apply; the [`forget::ForgetPlan`] is the value a
//!   frontend prints or returns, and [`forget::apply`] removes exactly what it lists.
//! - [`backup_database`] / [`restore_database`]: a database ([`lifeboat_dump::Source`]) into
//!   a [`Repository`](lifeboat_repo::Repository), streaming each dump straight into the
//!   encrypted pipeline with no temporary file, and a database backup back into a server.
//! - [`schedule`]: plan schedules as pure functions of an injected "now": cron patterns in
//!   IANA time zones (DST gaps run once after the gap, repeats run once) or intervals, the
//!   missed-run policy after downtime (`skip`, `run-once` within `max-lateness`), the
//!   overlap policy (`skip`, `queue` at most one) and a per-plan, per-slot jitter.
//!
//! - [`state`]: the service's state in embedded SQLite (job history with bounded logs, each
//!   plan's last runs and next run), a cache of what the repositories hold; crash recovery
//!   at open, versioned migrations, and [`state::AsyncStateStore`] for async callers.
//!
//! - [`service`]: lifeboatd's scheduler and job runner as a library ([`service::Service`]):
//!   every schedule of every plan, jobs under a global and a per-repository limit, one run of
//!   a plan at a time, timeouts, cancellation, retries on transient failures, logs kept with
//!   each job, status and backup lists rebuilt from the repositories, reload and shutdown;
//!   time from an injected clock, so a week of schedules runs in a test.
//!
//! - [`audit`]: the tamper-evident audit log: [`audit::record`] (what every piece calls; it
//!   never fails its caller), entries hash-chained in the state (BLAKE3), the head sealed into
//!   the plans' repositories by the service, and [`audit::verify_chain`], which names the
//!   first entry that does not fit.
//! - [`alerts`]: the rules lifeboatd watches (a failed backup, a stale plan, damage, an
//!   unreachable repository, a stuck lock, a full disk, a lagging copy), one open
//!   [`alerts::Alert`] per condition, evaluated after every job and on a timer of their own,
//!   acknowledged and resolved; [`alerts::AlertEvent`]s for the notifications. The module
//!   holds the alerts' data; the engine and the rules are part of [`service`], which owns
//!   what they read.
//! - [`events`]: [`events::JobEvent`], what the service broadcasts as jobs come and go (for
//!   metrics, alerts and notifications), below the service so its listeners need not know it.
//! - [`notifications`]: the channels of `[notifications]` (SMTP, webhook, Slack through
//!   lifeboat-notify), routed by severity, plan and event, one queue per channel.
//!
//! - [`dr`]: disaster recovery you can prove: restore drills into scratch targets that cannot
//!   touch production (content verified against the digests recorded at dump time, RTO and
//!   RPO measured against the objectives, the targets removed), `[scenarios.NAME]` runbooks
//!   planned (`--dry-run`) and carried out, and their reports kept in the state and sealed
//!   into the repositories; [`dr::assess`] says whether everything could be recovered now.
//!
//! Forgetting by a plan's retention, shown first and then carried out:
//!
//! ```
//! use lifeboat_ops::credentials::{CredentialSource, GivenPassword, OpenSettings, resolve};
//! use lifeboat_ops::forget::{self, ForgetRequest};
//! use lifeboat_ops::policy::{RequestedPolicy, choose_policy};
//! use lifeboat_ops::{Config, plans::ResolvedPlan};
//! use lifeboat_repo::{BackupRequest, InitOptions, Repository};
//! use lifeboat_storage::{MemoryStorage, clock::SystemClock};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let storage = std::sync::Arc::new(MemoryStorage::new());
//! let source = CredentialSource::default(); // no files: the password is handed over
//! let mut password = GivenPassword(Some("correct horse".to_owned().into()));
//! let state = tempfile::tempdir()?; // where this host remembers each repository's config
//! let settings = OpenSettings { state_dir: Some(state.path().into()), ..Default::default() };
//! let credential = resolve(&source, &mut password)?;
//! let fast = InitOptions { kdf: lifeboat_crypto::Argon2Params::MINIMUM, ..Default::default() };
//! let repo = Repository::init_with(storage, credential, fast, settings.open_options()?).await?;
//! for _ in 0..3 {
//!     let request = BackupRequest { plan: Some("web".into()), name: "app.sql".into(), ..Default::default() };
//!     repo.backup_stream(&b"data"[..], request).await?;
//! }
//!
//! let text = r#"
//! [plans.web]
//! repository = "/srv/backups/repo"
//! source = { kind = "stdin", command = ["cat", "app.sql"] }
//! retention = { keep-last = 1 }
//! "#;
//! let config = Config::parse(text, "lifeboat.toml")?;
//! let web = ResolvedPlan { name: "web".into(), origin: "lifeboat.toml".into(), config: config.plan("web", "lifeboat.toml")?.clone() };
//! let chosen = choose_policy(&RequestedPolicy::default(), Some(&web))?; // no rules given: the plan's
//! let request = ForgetRequest {
//!     plan: Some("web".into()),
//!     policy: chosen.policy,
//!     group_by: Default::default(),
//!     allow_empty: false,
//!     within: Default::default(),
//! };
//! let plan = forget::plan(&repo, &request, &SystemClock).await?;
//! println!("{}", serde_json::to_string_pretty(&plan)?); // what `forget --dry-run` shows
//! assert_eq!(plan.remove.len(), 2);
//! assert_eq!(forget::apply(&repo, &plan).await?, plan.remove);
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! Backing up a database (needs a server, so not run here):
//!
//! ```no_run
//! use lifeboat_dump::{Source, SourceOptions};
//! use lifeboat_repo::{BackupRequest, Credential, Repository};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let storage = lifeboat_storage::open_url("/srv/backups/repo")?;
//! let repo = Repository::open(storage, Credential::password("correct horse")).await?;
//! let source = Source::from_url("postgres://backup@db:5432/app", &SourceOptions::default())?;
//! let manifest = lifeboat_ops::backup_database(&repo, &source, BackupRequest::default()).await?;
//! println!("backup {} holds {:?}", manifest.id, manifest.objects.iter().map(|o| &o.name).collect::<Vec<_>>());
//! # Ok(()) }
//! ```

pub mod alerts;
pub mod audit;
pub mod config;
pub mod credentials;
mod database;
pub mod dr;
pub mod events;
pub mod forget;
pub mod notifications;
pub mod opener;
pub mod plans;
pub mod policy;
pub mod run;
pub mod schedule;
pub mod service;
pub mod state;

pub use config::{Config, ConfigError, PlanConfig, Problem, ProblemKind};
pub use database::{DatabaseRestore, OpsError, backup_database, restore_database};
