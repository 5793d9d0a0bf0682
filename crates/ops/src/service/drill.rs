//! The drill job: the plan's newest backup restored into scratch targets by
//! [`crate::dr::drill::run`], its report kept ([`crate::dr::report::keep`]: the state and the
//! plan's repository), the drill's progress written into the job's log as it goes. A drill
//! that fails or misses an objective is a failed job (its error names the report), which
//! raises `drill_failed`; the next passing drill resolves it.
//!
//! Also the service's read side of disaster recovery: the kept reports
//! ([`Service::drills`], [`Service::drill`]) and the assessment ([`Service::assess`]).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::failure::Failure;
use super::joblog::JobLogger;
use super::runner::{Done, JobSpec, Work};
use super::{Inner, Service, ServiceError};
use crate::dr::assess::AssessReport;
use crate::dr::{DrEnv, DrProgress, DrillReport, DrillSubject, StepOutcome, StepReport};
use crate::state::{DrillFilter, DrillRecord, JobId, Trigger};

impl Inner {
    /// What a disaster-recovery call needs, from the service's configuration, opener, clock
    /// and state.
    fn dr_env(&self, cancel: CancellationToken) -> DrEnv {
        DrEnv {
            config: self.config(),
            origin: self.origin.clone(),
            opener: Arc::clone(&self.opener),
            clock: Arc::clone(&self.clock),
            state: Some(self.state.clone()),
            cancel,
        }
    }
}

/// Runs the drill of `spec`'s plan; `cancel` stops it (its scratch targets still removed).
pub(crate) async fn run(
    inner: &Arc<Inner>,
    spec: &JobSpec,
    log: &JobLogger,
    cancel: CancellationToken,
) -> Result<Done, Failure> {
    let env = inner.dr_env(cancel);
    let subject = DrillSubject::Plan(spec.plan.name.clone());
    log.info(format!("restore drill of plan {} started", spec.plan.name)).await;
    let (progress, writer) = JobProgress::start(log.clone());
    let ran = crate::dr::drill::run(&env, &subject, &progress).await;
    drop(progress);
    let _ = writer.await; // every progress line is in the log before the summary
    let report = ran.map_err(|e| Failure::permanent(format!("the drill could not run: {e}")))?;
    let kept = crate::dr::report::keep(&env, &report).await;
    log.info(summary(&report)).await;
    let backup_id = report.rpo.backup.clone();
    if let Err(e) = kept {
        let failure = Failure::permanent(format!("drill {}: its report could not be kept: {e}", report.id));
        return Err(Failure { backup_id, ..failure });
    }
    if let Some(problem) = verdict(&report) {
        return Err(Failure { backup_id, ..Failure::permanent(problem) });
    }
    let bytes_read = report.steps.iter().filter_map(|s| s.bytes).sum();
    Ok(Done { bytes_read, backup_id, ..Done::default() })
}

/// Why the drill's job fails: the drill failed, or it missed an objective; `None` when it
/// passed within every objective set.
pub(crate) fn verdict(report: &DrillReport) -> Option<String> {
    if !report.passed {
        let why = report.failure.as_deref().unwrap_or("a step failed");
        return Some(format!("drill {} failed: {why}", report.id));
    }
    if report.objectives_met == Some(false) {
        let mut missed = Vec::new();
        if let (Some(false), Some(objective)) = (report.rto.met, report.rto.objective_seconds) {
            missed.push(format!("RTO {} s, more than {objective} s", seconds(report.rto.seconds)));
        }
        if let (Some(false), Some(objective)) = (report.rpo.met, report.rpo.objective_seconds) {
            let measured = report.rpo.backup_age_seconds.max(report.rpo.largest_gap_seconds).unwrap_or_default();
            missed.push(format!("RPO {measured} s, more than {objective} s"));
        }
        if missed.is_empty() {
            missed.push("an objective was not met".to_owned());
        }
        return Some(format!("drill {} missed its objectives: {}", report.id, missed.join("; ")));
    }
    None
}

/// The report in a line: the job log's last.
fn summary(report: &DrillReport) -> String {
    let outcome = if report.passed { "passed" } else { "failed" };
    let rto = match report.rto.objective_seconds {
        Some(objective) => format!("RTO {} s (objective {objective} s)", seconds(report.rto.seconds)),
        None => format!("RTO {} s", seconds(report.rto.seconds)),
    };
    let rpo = match (report.rpo.backup_age_seconds, report.rpo.objective_seconds) {
        (Some(age), Some(objective)) => format!(
            "RPO {age} s, largest gap {} s (objective {objective} s)",
            report.rpo.largest_gap_seconds.unwrap_or(age)
        ),
        (Some(age), None) => format!("RPO {age} s, largest gap {} s", report.rpo.largest_gap_seconds.unwrap_or(age)),
        (None, _) => "RPO unknown (no backup)".to_owned(),
    };
    let cleaned = report.scratch.iter().filter(|s| s.cleaned).count();
    format!(
        "drill {} {outcome}: {rto}, {rpo}; scratch targets removed: {cleaned} of {}",
        report.id,
        report.scratch.len()
    )
}

fn seconds(s: f64) -> String {
    format!("{s:.1}")
}

/// A line of the drill's progress, for the job's log.
enum Line {
    Info(String),
    Error(String),
}

/// [`DrProgress`] into a job's log: the drill calls it synchronously, a task appends the
/// lines in order (the log is written through the state's async handle).
struct JobProgress {
    lines: mpsc::UnboundedSender<Line>,
}

impl JobProgress {
    /// The progress and the task that writes it; the task ends once the progress is dropped
    /// and every line is written.
    fn start(log: JobLogger) -> (JobProgress, tokio::task::JoinHandle<()>) {
        let (lines, mut receiver) = mpsc::unbounded_channel();
        let writer = tokio::spawn(async move {
            while let Some(line) = receiver.recv().await {
                match line {
                    Line::Info(text) => log.info(text).await,
                    Line::Error(text) => log.error(text).await,
                }
            }
        });
        (JobProgress { lines }, writer)
    }

    fn send(&self, line: Line) {
        let _ = self.lines.send(line);
    }
}

impl DrProgress for JobProgress {
    fn step_started(&self, index: usize, total: usize, description: &str) {
        self.send(Line::Info(format!("step {index} of {total}: {description}")));
    }

    fn step_finished(&self, step: &StepReport) {
        let outcome = match step.outcome {
            StepOutcome::Passed => "passed",
            StepOutcome::Failed => "failed",
            StepOutcome::Skipped => "skipped",
        };
        let mut text = format!("step {} ({}) {outcome} in {} s", step.index, step.action, seconds(step.seconds));
        if !step.detail.is_empty() {
            text.push_str(": ");
            text.push_str(&step.detail.join("; "));
        }
        self.send(if step.outcome == StepOutcome::Failed { Line::Error(text) } else { Line::Info(text) });
    }

    fn note(&self, text: &str) {
        self.send(Line::Info(text.to_owned()));
    }
}

impl Service {
    /// Enqueues a restore drill of `plan` now (it waits for the plan's running job and the
    /// limits); an unknown plan is [`ErrorKind::NotFound`](super::ErrorKind::NotFound). The
    /// job's end says how the drill went; its report is then in [`Service::drills`].
    pub async fn run_drill(
        &self,
        plan: &str,
        trigger: Trigger,
        requested_by: Option<String>,
    ) -> Result<JobId, ServiceError> {
        self.enqueue_now(plan, Work::Drill, trigger, requested_by).await
    }

    /// The kept drill and recovery reports, newest first.
    pub async fn drills(&self, filter: DrillFilter) -> Result<Vec<DrillRecord>, ServiceError> {
        Ok(self.state().call(move |s| s.drill_reports(&filter)).await?)
    }

    /// The kept report `id`; an unknown one is [`ErrorKind::NotFound`](super::ErrorKind::NotFound).
    pub async fn drill(&self, id: &str) -> Result<DrillRecord, ServiceError> {
        let wanted = id.to_owned();
        let found = self.state().call(move |s| s.drill_report(&wanted)).await?;
        found.ok_or_else(|| ServiceError::NoSuchDrill { id: id.chars().take(100).collect() })
    }

    /// Could every plan be recovered right now: [`crate::dr::assess::assess`] over the
    /// configuration in force (read only). `Err` only when the assessment itself broke down
    /// inside lifeboatd.
    pub async fn assess(&self) -> Result<AssessReport, ServiceError> {
        let env = self.inner.dr_env(self.inner.kill.child_token());
        // On a blocking thread of its own, driven there: the assessment's future need not be
        // `Send` (an HTTP handler's must), and its probes keep off the reactor.
        let handle = tokio::runtime::Handle::current();
        let ran = tokio::task::spawn_blocking(move || handle.block_on(crate::dr::assess::assess(&env))).await;
        ran.map_err(|e| ServiceError::Internal(format!("the assessment failed: {e}")))
    }
}
