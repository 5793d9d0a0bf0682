//! The step runner under the drills and the recoveries: restore steps (into scratch
//! targets in a drill, into the configured targets in a recovery), the verification of each
//! restore against the content its backup recorded, checks and hooks, timed one by one;
//! the first failure stops the run (the steps after it are reported skipped), the scratch
//! targets are always removed, and the report measures RTO and RPO against the objectives.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lifeboat_dump::{ContentDigest, RestoreOptions, Restorer, Secret};
use lifeboat_repo::{Manifest, Repository};
use lifeboat_storage::redact_url;

use super::report::{
    DrillReport, DrillSubject, ReportKind, RpoMeasure, RtoMeasure, ScratchReport, StepOutcome, StepReport,
};
use super::target::{self, Choice, Scratch};
use super::{DrEnv, DrError, DrProgress};
use crate::config::{CheckStep, HookStep, Objectives, RestoreStep, ScenarioConfig, SourceConfig, StepConfig};
use crate::opener::Target;
use crate::plans::ResolvedPlan;

/// The RPO's window: gaps between backups are looked for in the last 30 days.
pub(crate) const RPO_WINDOW_DAYS: u32 = 30;

/// How long a hook may run unless its step says.
const HOOK_TIMEOUT: Duration = Duration::from_secs(600);

/// A drill (scratch targets) or a real recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Drill,
    Recovery,
}

/// What a restore left for the checks after it.
enum Restored {
    Database { url: String, password: Option<Secret> },
    Redis,
    Directory(PathBuf),
    Es { prefix: String, indices: Vec<(String, u64, Option<u64>)> },
}

/// How a verification reaches the restored copy.
enum Measured {
    /// The scratch target at this index of the run's scratch list.
    Scratch(usize),
    /// A real target.
    Url(String, Option<Secret>),
}

/// What a step did when it passed.
#[derive(Default)]
struct Done {
    backup: Option<String>,
    target: Option<String>,
    bytes: Option<u64>,
    detail: Vec<String>,
}

/// A backup a run restored.
struct Used {
    backup: String,
    finished: DateTime<Utc>,
    series: Vec<DateTime<Utc>>,
    plan_objectives: Option<Objectives>,
}

/// One step to run.
pub(crate) enum Step<'c> {
    Restore(&'c RestoreStep),
    Check(&'c CheckStep),
    Hook(&'c HookStep),
}

/// What [`Run::step`] runs.
enum Call<'s> {
    Restore(&'s RestoreStep),
    Verify,
    Check(&'s CheckStep),
    Hook(&'s HookStep),
}

/// A run in progress.
pub(crate) struct Run<'a> {
    env: &'a DrEnv,
    mode: Mode,
    progress: &'a dyn DrProgress,
    subject: DrillSubject,
    started: DateTime<Utc>,
    clock_start: Instant,
    verified: Option<Instant>,
    total: usize,
    steps: Vec<StepReport>,
    scratch: Vec<Scratch>,
    last: Option<Restored>,
    pending: Vec<(String, ContentDigest, Measured, Manifest)>,
    used: Vec<Used>,
    failure: Option<String>,
    notes: Vec<String>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        env: &'a DrEnv,
        mode: Mode,
        subject: DrillSubject,
        total: usize,
        progress: &'a dyn DrProgress,
    ) -> Self {
        Run {
            env,
            mode,
            progress,
            subject,
            started: env.clock.now(),
            clock_start: Instant::now(),
            verified: None,
            total,
            steps: Vec::new(),
            scratch: Vec::new(),
            last: None,
            pending: Vec::new(),
            used: Vec::new(),
            failure: None,
            notes: Vec::new(),
        }
    }

    /// Runs `steps` in order (each restore followed by its verification), stopping at the
    /// first failure.
    pub(crate) async fn run_steps(&mut self, steps: &[Step<'_>]) {
        for step in steps {
            match step {
                Step::Restore(r) => {
                    let description = match self.mode {
                        Mode::Drill => format!("restore plan {} into a scratch target", r.plan),
                        Mode::Recovery => format!("restore plan {} into {}", r.plan, shown_target(r)),
                    };
                    self.step("restore", description, Some(r.plan.clone()), Call::Restore(r)).await;
                    self.step(
                        "verify",
                        format!("verify the restore of plan {} against its backup", r.plan),
                        Some(r.plan.clone()),
                        Call::Verify,
                    )
                    .await;
                }
                Step::Check(c) => {
                    self.step("check", check_description(c), None, Call::Check(c)).await;
                }
                Step::Hook(h) => {
                    if self.mode == Mode::Drill && !h.drill {
                        self.notes
                            .push(format!("hook {:?} not run in a drill (set drill = true to run it)", h.command));
                        continue;
                    }
                    self.step("hook", format!("run {}", h.command.join(" ")), None, Call::Hook(h)).await;
                }
            }
        }
    }

    /// Runs one step (or records it skipped after a failure), timing it.
    async fn step(&mut self, action: &str, description: String, plan: Option<String>, call: Call<'_>) {
        let index = self.steps.len() + 1;
        let started = self.env.clock.now();
        if self.failure.is_some() {
            self.steps.push(StepReport {
                index,
                action: action.into(),
                description,
                plan,
                backup: None,
                target: None,
                started,
                seconds: 0.0,
                bytes: None,
                outcome: StepOutcome::Skipped,
                detail: vec!["not run: an earlier step failed".into()],
            });
            return;
        }
        self.progress.step_started(index, self.total.max(index), &description);
        let clock = Instant::now();
        let cancel = self.env.cancel.clone();
        let work = async {
            match call {
                Call::Restore(r) => self.restore(r).await,
                Call::Verify => self.verify().await,
                Call::Check(c) => self.check(c).await,
                Call::Hook(h) => self.hook(h).await,
            }
        };
        let result = tokio::select! {
            r = work => r,
            _ = cancel.cancelled() => Err((Done::default(), "cancelled".to_owned())),
        };
        let seconds = clock.elapsed().as_secs_f64();
        let (done, outcome) = match result {
            Ok(done) => (done, StepOutcome::Passed),
            Err((mut done, why)) => {
                let failure = format!("step {index} ({action}): {why}");
                done.detail.push(why);
                self.failure = Some(failure);
                (done, StepOutcome::Failed)
            }
        };
        if outcome == StepOutcome::Passed {
            self.verified = Some(Instant::now());
        }
        let report = StepReport {
            index,
            action: action.into(),
            description,
            plan,
            backup: done.backup,
            target: done.target,
            started,
            seconds,
            bytes: done.bytes,
            outcome,
            detail: done.detail,
        };
        self.progress.step_finished(&report);
        self.steps.push(report);
    }

    fn resolve(&self, name: &str) -> Result<ResolvedPlan, String> {
        let config =
            self.env.config.plans.get(name).ok_or_else(|| format!("no plan {name:?} in {}", self.env.origin))?;
        Ok(ResolvedPlan { name: name.to_owned(), origin: self.env.origin.clone(), config: config.clone() })
    }

    async fn restore(&mut self, step: &RestoreStep) -> Result<Done, (Done, String)> {
        let mut done = Done::default();
        match self.restore_into(step, &mut done).await {
            Ok(()) => Ok(done),
            Err(e) => Err((done, e)),
        }
    }

    async fn restore_into(&mut self, step: &RestoreStep, done: &mut Done) -> Result<(), String> {
        self.last = None;
        let plan = self.resolve(&step.plan)?;
        let source = plan.config.source.clone().ok_or_else(|| format!("plan {} has no source", plan.name))?;
        if let SourceConfig::Elasticsearch(_) = source {
            return self.restore_es(&plan, step, done).await;
        }
        let repo =
            self.env.opener.open(&plan, Target::Primary, self.env.clock.clone()).await.map_err(|e| e.to_string())?;
        let choice = match (&step.backup, step.before_time()) {
            (_, Some(at)) => Choice::Before(at),
            (Some(id), None) if id != "latest" => Choice::Id(id.clone()),
            _ => Choice::Latest,
        };
        let chosen = target::choose(&repo, &plan.name, &choice).await?;
        let manifest = chosen.manifest;
        done.backup = Some(manifest.id.clone());
        done.detail.push(format!(
            "backup {} ({}), taken {}",
            manifest.short_id(),
            chosen.why,
            manifest.finished.to_rfc3339()
        ));
        self.used.push(Used {
            backup: manifest.id.clone(),
            finished: manifest.finished.with_timezone(&Utc),
            series: chosen.series,
            plan_objectives: plan.config.objectives.clone(),
        });
        match (&source, self.mode) {
            (SourceConfig::Files(_) | SourceConfig::Stdin(_), mode) => {
                let dir = match mode {
                    Mode::Drill => {
                        let dir = target::scratch_dir(self.env, &target::scratch_label(&plan.name))?;
                        self.scratch.push(Scratch::Directory(dir.clone()));
                        dir.join("restore")
                    }
                    Mode::Recovery => PathBuf::from(step.target.as_deref().ok_or("the step has no target")?),
                };
                done.target = Some(dir.display().to_string());
                let (bytes, detail) = target::restore_dir(&repo, &manifest, &dir).await?;
                done.bytes = Some(bytes);
                done.detail.extend(detail);
                self.last = Some(Restored::Directory(dir));
            }
            (SourceConfig::Postgres(_) | SourceConfig::Mysql(_), Mode::Drill) => {
                self.restore_scratch_databases(&plan, &repo, &manifest, done).await?;
            }
            (SourceConfig::Redis(_), Mode::Drill) => {
                let rdb = manifest.objects.iter().find(|o| o.name.ends_with(".rdb"));
                let mut bytes = 0;
                let redis = match rdb {
                    Some(record) => {
                        // An RDB snapshot is loaded by a server started on it.
                        let dir = target::scratch_dir(self.env, &target::scratch_label(&plan.name))?;
                        self.scratch.push(Scratch::Directory(dir.clone()));
                        let file = dir.join("dump.rdb");
                        let out = std::fs::File::create(&file)
                            .map_err(|e| format!("cannot create {}: {e}", file.display()))?;
                        let (written, _) = repo
                            .restore_to_sync_writer(&manifest, Some(&record.name), out)
                            .await
                            .map_err(|e| format!("backup {}, object {}: {e}", manifest.short_id(), record.name))?;
                        bytes += written;
                        target::scratch_redis(self.env, Some(&file)).await?
                    }
                    None => target::scratch_redis(self.env, None).await?,
                };
                let restorer = redis.restorer().map_err(|e| e.to_string())?;
                done.target = Some(redact_url(redis.url()));
                self.scratch.push(Scratch::Redis(Box::new(redis)));
                let index = self.scratch.len() - 1;
                if rdb.is_none() {
                    for record in &manifest.objects {
                        bytes += target::restore_object(&repo, &manifest, record, &restorer).await?;
                    }
                }
                done.bytes = Some(bytes);
                self.queue_verify(&manifest, |_| Some(Measured::Scratch(index)), done);
                self.last = Some(Restored::Redis);
            }
            (SourceConfig::Postgres(_) | SourceConfig::Mysql(_) | SourceConfig::Redis(_), Mode::Recovery) => {
                let url = step.target.clone().ok_or("the step has no target")?;
                let password = target::read_secret(&step.password(), &format!("target {}", redact_url(&url)))?;
                let options = RestoreOptions { create: true, password: password.clone(), ..Default::default() };
                let restorer = Restorer::from_url(&url, &options).map_err(|e| e.to_string())?;
                done.target = Some(redact_url(&url));
                let mut bytes = 0;
                for record in &manifest.objects {
                    bytes += target::restore_object(&repo, &manifest, record, &restorer).await?;
                }
                done.bytes = Some(bytes);
                let single = manifest.objects.iter().filter(|o| o.name.starts_with("db/")).count() <= 1;
                let measured_url = url.clone();
                let measured_password = password.clone();
                self.queue_verify(
                    &manifest,
                    move |_| single.then(|| Measured::Url(measured_url.clone(), measured_password.clone())),
                    done,
                );
                if matches!(source, SourceConfig::Redis(_)) {
                    self.last = Some(Restored::Redis);
                } else {
                    self.last = Some(Restored::Database { url, password });
                }
            }
            (SourceConfig::Elasticsearch(_), _) => unreachable!("handled above"),
        }
        Ok(())
    }

    /// Each single-database stream of `manifest` into a new scratch database of its own.
    async fn restore_scratch_databases(
        &mut self,
        plan: &ResolvedPlan,
        repo: &Repository,
        manifest: &Manifest,
        done: &mut Done,
    ) -> Result<(), String> {
        let (server, password) = target::scratch_server(self.env, plan)?;
        let label = target::scratch_label(&plan.name);
        done.detail.extend(target::drop_leftovers(&server, password.as_ref(), &label, self.env.clock.now()).await);
        let mut bytes = 0;
        let mut targets = Vec::new();
        for record in &manifest.objects {
            if record.name == "globals.sql" || record.name.ends_with("/globals.sql") {
                done.detail.push(format!("{}: roles and globals are not restored in a drill", record.name));
                continue;
            }
            if !record.name.starts_with("db/") {
                return Err(format!(
                    "backup {}, object {}: only single-database streams can be drilled into a scratch database (a dump \
                     of every database needs the server to itself)",
                    manifest.short_id(),
                    record.name
                ));
            }
            let db = lifeboat_dump::scratch::ScratchDatabase::create(&server, password.clone(), &label)
                .await
                .map_err(|e| format!("cannot create a scratch database on {}: {e}", redact_url(&server)))?;
            let restorer = db.restorer().map_err(|e| e.to_string());
            targets.push(db.name().to_owned());
            done.target = Some(format!("{} on {}", targets.join(", "), redact_url(&server)));
            self.scratch.push(Scratch::Database(db));
            let index = self.scratch.len() - 1;
            bytes += target::restore_object(repo, manifest, record, &restorer?).await?;
            let name = record.name.clone();
            self.queue_verify_one(manifest, &name, Measured::Scratch(index), done);
        }
        done.bytes = Some(bytes);
        self.last = None; // a scratch database is checked by the verify step, not by SQL checks
        if let Some(Scratch::Database(db)) = self.scratch.last() {
            self.last = Some(Restored::Database { url: db.url().to_owned(), password });
        }
        Ok(())
    }

    /// Queues the verification of every stream of `manifest` that recorded its content.
    fn queue_verify(&mut self, manifest: &Manifest, target: impl Fn(&str) -> Option<Measured>, done: &mut Done) {
        for record in &manifest.objects {
            if let Some(measured) = target(&record.name) {
                self.queue_verify_one(manifest, &record.name, measured, done);
            }
        }
    }

    fn queue_verify_one(&mut self, manifest: &Manifest, stream: &str, measured: Measured, done: &mut Done) {
        match target::recorded_content(manifest).into_iter().find(|(name, _)| name == stream) {
            Some((_, content)) => self.pending.push((stream.to_owned(), content, measured, manifest.clone())),
            None if stream == "globals.sql" => {}
            None => done.detail.push(format!(
                "{stream}: backup {} recorded no content digest (made before digests were recorded, or with \
                 skip-content): restore only, the content is not compared",
                manifest.short_id()
            )),
        }
    }

    async fn verify(&mut self) -> Result<Done, (Done, String)> {
        let mut done = Done::default();
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            done.detail
                .push("nothing to compare: the restore authenticated every object, no content was recorded".into());
        }
        for (stream, recorded, measured, manifest) in pending {
            let measure = match &measured {
                Measured::Scratch(i) => match self.scratch.get(*i) {
                    Some(Scratch::Database(db)) => db.measure(&recorded).await.map_err(|e| e.to_string()),
                    Some(Scratch::Redis(redis)) => redis.measure(&recorded).await.map_err(|e| e.to_string()),
                    _ => Err("the scratch target is gone".to_owned()),
                },
                Measured::Url(url, password) => {
                    lifeboat_dump::content::measure(url, password.as_ref(), &recorded).await.map_err(|e| e.to_string())
                }
            };
            let measured = match measure {
                Ok(m) => m,
                Err(e) => {
                    return Err((
                        done,
                        format!("backup {}, object {stream}: measuring the restore: {e}", manifest.short_id()),
                    ));
                }
            };
            match target::compare(&manifest, &stream, &recorded, &measured) {
                Ok(line) => done.detail.push(line),
                Err(e) => return Err((done, e)),
            }
        }
        Ok(done)
    }

    async fn restore_es(&mut self, plan: &ResolvedPlan, step: &RestoreStep, done: &mut Done) -> Result<(), String> {
        let base = step.prefix.clone().unwrap_or_else(|| lifeboat_es::model::restore::DEFAULT_PREFIX.to_owned());
        let prefix = match self.mode {
            Mode::Drill => {
                let random = lifeboat_crypto::random_bytes::<3>().map_err(|e| e.to_string())?;
                format!("{base}drill-{}-", super::query::hex_of(&random))
            }
            Mode::Recovery => base,
        };
        done.target = Some(format!("{prefix}* in the cluster of plan {}", plan.name));
        let mut id = None;
        let restored =
            target::es_restore(self.env, plan, step.indices.as_deref(), &prefix, &mut |r| id = Some(r)).await;
        if self.mode == Mode::Drill
            && let Some(restore) = id
        {
            self.scratch.push(Scratch::Indices { plan: Box::new(plan.clone()), restore, prefix: prefix.clone() });
        }
        let restored = restored?;
        done.backup = restored.snapshots.first().cloned();
        if let Some(taken) = restored.taken_at {
            self.used.push(Used {
                backup: restored.snapshots.join(", "),
                finished: taken,
                series: restored.series.clone(),
                plan_objectives: plan.config.objectives.clone(),
            });
        }
        done.bytes = Some(restored.bytes);
        done.detail.push(format!("restore {} of snapshot(s) {}", restored.restore, restored.snapshots.join(", ")));
        for (index, docs, expected) in &restored.indices {
            match expected {
                Some(expected) if expected != docs => {
                    return Err(format!(
                        "snapshot {}, index {index}: the snapshot recorded {expected} docs, the restore holds {docs}",
                        restored.snapshots.join(", ")
                    ));
                }
                Some(_) => done.detail.push(format!("{index}: {docs} docs, as the snapshot recorded")),
                None => done.detail.push(format!("{index}: {docs} docs (the snapshot recorded no count)")),
            }
        }
        self.last = Some(Restored::Es { prefix, indices: restored.indices });
        Ok(())
    }

    async fn check(&mut self, step: &CheckStep) -> Result<Done, (Done, String)> {
        let mut done = Done::default();
        match self.check_inner(step, &mut done).await {
            Ok(()) => Ok(done),
            Err(e) => Err((done, e)),
        }
    }

    async fn check_inner(&mut self, step: &CheckStep, done: &mut Done) -> Result<(), String> {
        if let Some(sql) = &step.sql {
            let (url, password) = match (&step.url, &self.last) {
                (Some(url), _) if self.mode == Mode::Recovery => {
                    (url.clone(), target::read_secret(&step.password(), &format!("check {}", redact_url(url)))?)
                }
                (_, Some(Restored::Database { url, password })) => (url.clone(), password.clone()),
                (Some(_), _) => return Err(
                    "in a drill a SQL check runs on the scratch database of the restore before it, and there is none"
                        .into(),
                ),
                _ => return Err("no database was restored before this check".into()),
            };
            done.target = Some(redact_url(&url));
            let expect = step.expect.clone().unwrap_or_default();
            let got = super::query::query_one(&url, password.as_ref(), sql).await?;
            let got = got.unwrap_or_else(|| "(no row)".into());
            if got.trim() != expect.trim() {
                return Err(format!("{sql:?} on {} returned {got:?}, expected {expect:?}", redact_url(&url)));
            }
            done.detail.push(format!("{sql:?} returned {got:?} as expected"));
            return Ok(());
        }
        if let Some(list) = &step.digests {
            let dir = match (&step.dir, &self.last) {
                (Some(dir), _) if self.mode == Mode::Recovery => dir.clone(),
                (_, Some(Restored::Directory(dir))) => match &step.dir {
                    // In a drill, a configured directory is read inside the scratch copy.
                    Some(sub) if self.mode == Mode::Drill => dir.join(sub.strip_prefix("/").unwrap_or(sub)),
                    _ => dir.clone(),
                },
                _ => return Err("no directory was restored before this check".into()),
            };
            done.target = Some(dir.display().to_string());
            let list = list.clone();
            let checked = tokio::task::spawn_blocking(move || check_digests(&list, &dir))
                .await
                .map_err(|e| format!("the digest check failed: {e}"))??;
            done.detail.push(checked);
            return Ok(());
        }
        if let Some(index) = &step.index {
            let Some(Restored::Es { prefix, indices }) = &self.last else {
                return Err("no Elasticsearch restore before this check".into());
            };
            let matching: Vec<&(String, u64, Option<u64>)> = indices
                .iter()
                .filter(|(name, _, _)| {
                    lifeboat_es::model::names::matches_any(index, name.strip_prefix(prefix.as_str()).unwrap_or(name))
                })
                .collect();
            if matching.is_empty() {
                return Err(format!("no restored index matches {index} (prefix {prefix})"));
            }
            let docs: u64 = matching.iter().map(|(_, d, _)| d).sum();
            let expected: Option<u64> = match &step.expect {
                Some(e) => e.parse().ok(),
                None => matching.iter().map(|(_, _, e)| *e).sum(),
            };
            done.target = Some(format!("{prefix}{index}"));
            match expected {
                Some(expected) if expected != docs => {
                    return Err(format!("{prefix}{index}: {docs} docs, expected {expected}"));
                }
                Some(expected) => done.detail.push(format!("{prefix}{index}: {docs} docs, as expected ({expected})")),
                None => {
                    return Err(format!("{prefix}{index}: {docs} docs, and nothing to compare them with (set expect)"));
                }
            }
            return Ok(());
        }
        Err("the check names no sql, digests or index".into())
    }

    async fn hook(&mut self, step: &HookStep) -> Result<Done, (Done, String)> {
        let mut done = Done::default();
        let Some((program, args)) = step.command.split_first() else {
            return Err((done, "the hook has no command".into()));
        };
        let mut command = tokio::process::Command::new(program);
        command.args(args).stdin(std::process::Stdio::null()).kill_on_drop(true);
        for plan in self.env.config.plans.values() {
            for name in plan.secret_variables() {
                command.env_remove(name);
            }
        }
        if let Some(env) = &self.env.config.drills.password_env {
            command.env_remove(env);
        }
        let timeout = step.timeout.and_then(|t| t.as_delta().to_std().ok()).unwrap_or(HOOK_TIMEOUT);
        let output = match tokio::time::timeout(timeout, command.output()).await {
            Err(_) => {
                return Err((done, format!("{program} did not finish within {} s and was killed", timeout.as_secs())));
            }
            Ok(Err(e)) => return Err((done, format!("cannot run {program}: {e}"))),
            Ok(Ok(output)) => output,
        };
        let tail = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(5)..].join(" / ")
        };
        if !output.status.success() {
            return Err((done, format!("{program} failed ({}): {}", output.status, tail(&output.stderr))));
        }
        done.detail.push(format!("{program} exited 0"));
        let out = tail(&output.stdout);
        if !out.is_empty() {
            done.detail.push(format!("output: {out}"));
        }
        Ok(done)
    }

    /// Removes every scratch target (also after a failure or a cancel) and makes the report.
    pub(crate) async fn finish(mut self, kind: ReportKind, objectives: Option<Objectives>) -> DrillReport {
        let rto_seconds = match (self.failure.is_some(), self.verified) {
            (false, Some(at)) => at.duration_since(self.clock_start).as_secs_f64(),
            _ => self.clock_start.elapsed().as_secs_f64(),
        };
        let mut scratch_reports: Vec<ScratchReport> = Vec::new();
        if !self.scratch.is_empty() {
            let index = self.steps.len() + 1;
            let started = self.env.clock.now();
            self.progress.step_started(index, self.total.max(index), "remove the scratch targets");
            let clock = Instant::now();
            for scratch in std::mem::take(&mut self.scratch).into_iter().rev() {
                let (kind, name) = scratch.describe();
                let report = scratch.clean(self.env).await;
                if !report.cleaned {
                    tracing::warn!(kind, name, error = ?report.error, "a drill's scratch target was not removed");
                }
                scratch_reports.push(report);
            }
            scratch_reports.reverse();
            let failed: Vec<String> = scratch_reports
                .iter()
                .filter(|s| !s.cleaned)
                .map(|s| format!("{} {}: {}", s.kind, s.name, s.error.as_deref().unwrap_or("not removed")))
                .collect();
            let outcome = if failed.is_empty() { StepOutcome::Passed } else { StepOutcome::Failed };
            let mut detail: Vec<String> = scratch_reports
                .iter()
                .filter(|s| s.cleaned)
                .map(|s| format!("removed {} {}", s.kind, s.name))
                .collect();
            detail.extend(failed.iter().cloned());
            if !failed.is_empty() && self.failure.is_none() {
                self.failure = Some(format!("step {index} (cleanup): {}", failed.join("; ")));
            }
            let report = StepReport {
                index,
                action: "cleanup".into(),
                description: "remove the scratch targets".into(),
                plan: None,
                backup: None,
                target: None,
                started,
                seconds: clock.elapsed().as_secs_f64(),
                bytes: None,
                outcome,
                detail,
            };
            self.progress.step_finished(&report);
            self.steps.push(report);
        }
        for note in &self.notes {
            self.progress.note(note);
        }
        if let Some(first) = self.steps.first_mut() {
            first.detail.extend(self.notes.iter().cloned());
        }
        let objectives = objectives.or_else(|| self.used.first().and_then(|u| u.plan_objectives.clone()));
        let now = self.started;
        let rpo = rpo_measure(&self.used, now, objectives.as_ref());
        let passed = self.failure.is_none();
        let rto_objective = objectives.as_ref().and_then(|o| o.rto).map(|s| s.as_delta().num_seconds());
        let rto = RtoMeasure {
            seconds: rto_seconds,
            objective_seconds: rto_objective,
            met: rto_objective.map(|o| passed && rto_seconds <= o as f64),
        };
        let objectives_met = match (rto.met, rpo.met) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(true) && b.unwrap_or(true)),
        };
        let prefix = match kind {
            ReportKind::Drill => "drill",
            ReportKind::Recovery => "recovery",
        };
        let random =
            lifeboat_crypto::random_bytes::<3>().map(|r| super::query::hex_of(&r)).unwrap_or_else(|_| "000000".into());
        DrillReport {
            id: format!("{prefix}-{}-{random}", self.started.format("%Y%m%dT%H%M%SZ")),
            kind,
            subject: self.subject,
            host: lifeboat_repo::hostname(),
            started: self.started,
            finished: self.env.clock.now().max(self.started),
            passed,
            failure: self.failure,
            steps: self.steps,
            rto,
            rpo,
            objectives_met,
            scratch: scratch_reports,
        }
    }
}

/// The RPO of a run: the oldest backup it restored (its age at `now`) and the largest gap
/// between consecutive backups of those plans in the last [`RPO_WINDOW_DAYS`] days (the age
/// of the newest counting as a gap).
fn rpo_measure(used: &[Used], now: DateTime<Utc>, objectives: Option<&Objectives>) -> RpoMeasure {
    let objective = objectives.and_then(|o| o.rpo).map(|s| s.as_delta().num_seconds());
    let oldest = used.iter().min_by_key(|u| u.finished);
    let age = oldest.map(|u| (now - u.finished).num_seconds().max(0));
    let gap = used.iter().filter_map(|u| super::report::largest_gap(&u.series, now, RPO_WINDOW_DAYS)).max();
    RpoMeasure {
        backup: oldest.map(|u| u.backup.clone()),
        backup_time: oldest.map(|u| u.finished),
        backup_age_seconds: age,
        largest_gap_seconds: gap,
        window_days: RPO_WINDOW_DAYS,
        objective_seconds: objective,
        met: objective.map(|o| age.is_some_and(|a| a <= o) && gap.is_none_or(|g| g <= o)),
    }
}

fn shown_target(step: &RestoreStep) -> String {
    match (&step.target, &step.prefix) {
        (Some(t), _) if t.contains("://") => redact_url(t),
        (Some(t), _) => t.clone(),
        (None, Some(p)) => format!("{p}* in the plan's cluster"),
        (None, None) => "(no target)".into(),
    }
}

fn check_description(step: &CheckStep) -> String {
    if let Some(sql) = &step.sql {
        return format!("query {sql:?} expecting {:?}", step.expect.as_deref().unwrap_or(""));
    }
    if let Some(list) = &step.digests {
        return format!("check every digest of {}", list.display());
    }
    if let Some(index) = &step.index {
        return format!("count the docs of {index}");
    }
    "check".into()
}

/// Checks every line (`<blake3 hex>  <path>`, `b3sum` format) of the list at `list` against
/// the files under `dir`.
fn check_digests(list: &std::path::Path, dir: &std::path::Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(list).map_err(|e| format!("cannot read the digest list {}: {e}", list.display()))?;
    let mut checked = 0usize;
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((digest, path)) = line.split_once(' ') else {
            return Err(format!("{} line {}: not `<digest>  <path>`", list.display(), n + 1));
        };
        let path = path.trim_start_matches(' ').trim_start_matches('*');
        let file = dir.join(path.strip_prefix('/').unwrap_or(path));
        let mut hasher = blake3::Hasher::new();
        match std::fs::File::open(&file).and_then(|mut f| std::io::copy(&mut f, &mut hasher)) {
            Ok(_) if hasher.finalize().to_hex().as_str() == digest.to_ascii_lowercase() => checked += 1,
            Ok(_) => bad.push(format!("{path}: digest differs")),
            Err(e) => bad.push(format!("{path}: {e}")),
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "{} of {} file(s) do not match {}: {}",
            bad.len(),
            bad.len() + checked,
            list.display(),
            bad.join("; ")
        ));
    }
    Ok(format!("{checked} file(s) match the BLAKE3 digests of {}", list.display()))
}

/// The scenario `name` of the configuration.
pub(crate) fn scenario<'e>(env: &'e DrEnv, name: &str) -> Result<&'e ScenarioConfig, DrError> {
    env.config.scenarios.get(name).ok_or_else(|| DrError::NoSuchScenario {
        scenario: name.to_owned(),
        origin: env.origin.clone(),
        defined: env.config.scenarios.keys().cloned().collect::<Vec<_>>().join(", "),
    })
}

/// The runner's view of a configured step.
pub(crate) fn step_of(step: &StepConfig) -> Step<'_> {
    match step {
        StepConfig::Restore(r) => Step::Restore(r),
        StepConfig::Check(c) => Step::Check(c),
        StepConfig::Hook(h) => Step::Hook(h),
    }
}
