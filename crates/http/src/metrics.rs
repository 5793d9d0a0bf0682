//! `GET /metrics`: Prometheus metrics of the service, with bounded labels only (`plan`,
//! `kind`, `repository`, `result`, `route`, `status_class`; never a backup or job id).
//!
//! | metric | type | labels | from |
//! | --- | --- | --- | --- |
//! | `lifeboat_backup_runs_total` | counter | plan, result | finished backup jobs |
//! | `lifeboat_backup_duration_seconds` | histogram | plan | succeeded backup jobs |
//! | `lifeboat_backup_bytes_read_total` | counter | plan | finished backup jobs |
//! | `lifeboat_backup_bytes_stored_total` | counter | plan | finished backup jobs |
//! | `lifeboat_jobs_finished_total` | counter | plan, kind, result | every finished job |
//! | `lifeboat_backup_last_success_timestamp_seconds` | gauge | plan | the status |
//! | `lifeboat_schedule_expected_interval_seconds` | gauge | plan | the status |
//! | `lifeboat_jobs_running`, `lifeboat_jobs_queued` | gauge | | the status |
//! | `lifeboat_alerts_open` | gauge | severity (info, warning, critical: always all three) | the open (firing or acknowledged) alerts |
//! | `lifeboat_repository_size_bytes` | gauge | repository (redacted URL) | the repositories |
//! | `lifeboat_verify_last_result` | gauge (1 ok, 0 failed) | plan | verify jobs, else the repositories |
//! | `lifeboat_drill_rto_seconds` | gauge | plan | the plan's last restore drill: its measured RTO (start to verified) |
//! | `lifeboat_drill_rpo_seconds` | gauge | plan | the last drill: the age of the backup it restored |
//! | `lifeboat_drill_rpo_largest_gap_seconds` | gauge | plan | the last drill: the largest gap between the plan's backups in its window (30 days) |
//! | `lifeboat_drill_objective_met` | gauge (1 met, 0 missed) | plan | the last drill against the plan's objectives (no series when the plan sets none) |
//! | `lifeboat_drill_last_result` | gauge (1 passed, 0 failed) | plan | the last drill |
//! | `lifeboat_drill_last_timestamp_seconds` | gauge | plan | when the last drill ended (Unix time) |
//! | `lifeboat_http_requests_total` | counter | route (the path template), status_class (`2xx`...) | this API |
//!
//! `time() - lifeboat_backup_last_success_timestamp_seconds > 2 * lifeboat_schedule_expected_interval_seconds`
//! is a ready alert; so are `lifeboat_drill_objective_met == 0` and
//! `time() - lifeboat_drill_last_timestamp_seconds > 8 * 86400` (no drill in eight days).
//! The drill gauges are of plan drills only (a scenario's drill or a recovery is not one
//! plan's), read from the state's kept reports.
//!
//! Counters and the histogram follow the service's [`JobEvent`]s from the router's start
//! (they restart at zero with lifeboatd, as Prometheus expects of counters). Gauges are read
//! from [`Service::status`] and [`Service::repositories`] at scrape time, and reused for
//! `ApiOptions::metrics_refresh` (5 s), so a scrape
//! every second costs one read of the status every five.
//!
//! **Series of removed plans.** When a reload removes a plan, its series disappear at the
//! next refresh of the gauges (within `metrics_refresh` of a scrape), counters and histogram
//! included: nothing stays exported for a plan the configuration no longer has. A job of
//! the removed plan that was still running re-creates its series when it ends, until the
//! next refresh after that.
//!
//! The format is chosen by the `Accept` header: OpenMetrics 1.0 when the client asks for
//! `application/openmetrics-text` (Prometheus does), else Prometheus's text format 0.0.4
//! (what `curl` and `promtool check metrics` read).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lifeboat_ops::alerts::{AlertFilter, AlertStateFilter, Severity};
use lifeboat_ops::service::{JobEvent, Service};
use lifeboat_ops::state::{DrillFilter, DrillRecord, JobKind, JobState};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::broadcast::error::RecvError;

/// The content type of an OpenMetrics answer.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of a Prometheus text-format 0.0.4 answer.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The buckets of `lifeboat_backup_duration_seconds`: a second to eight hours.
const DURATION_BUCKETS: [f64; 14] =
    [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0];

/// How long reading the status or the repositories for a scrape may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeverityLabel {
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlanLabel {
    plan: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlanResult {
    plan: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlanKindResult {
    plan: String,
    kind: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepositoryLabel {
    repository: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status_class: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type DurationFamily = Family<PlanLabel, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The metrics of one router: counters fed by the service's events, gauges read at scrape.
#[derive(Clone)]
pub(crate) struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    service: Service,
    refresh: Duration,
    runs: Family<PlanResult, Counter>,
    durations: DurationFamily,
    bytes_read: Family<PlanLabel, Counter>,
    bytes_stored: Family<PlanLabel, Counter>,
    jobs: Family<PlanKindResult, Counter>,
    http: Family<RouteStatus, Counter>,
    /// The label sets of the per-plan counters created so far, to drop a removed plan's.
    created: Mutex<HashSet<PlanKindResult>>,
    /// The last verify result per plan from events (newer than the repositories' cache).
    verified: Mutex<HashMap<String, bool>>,
    gauges: tokio::sync::Mutex<Option<Gauges>>,
}

/// The values read from the service for the gauges, and when.
struct Gauges {
    read_at: Instant,
    last_success: Vec<(String, f64)>,
    expected_interval: Vec<(String, f64)>,
    jobs_running: i64,
    jobs_queued: i64,
    repository_size: Vec<(String, f64)>,
    verify_from_repositories: Vec<(String, bool)>,
    /// Open alerts by severity.
    alerts_open: HashMap<Severity, i64>,
    /// The last plan drill of each plan that has one.
    drills: Vec<DrillGauges>,
}

/// What the drill gauges show of a plan's last drill.
#[derive(Debug, Clone)]
struct DrillGauges {
    plan: String,
    rto_seconds: f64,
    rpo_seconds: Option<i64>,
    largest_gap_seconds: Option<i64>,
    objectives_met: Option<bool>,
    passed: bool,
    finished: f64,
}

impl DrillGauges {
    fn of(plan: &str, record: &DrillRecord) -> DrillGauges {
        DrillGauges {
            plan: plan.to_owned(),
            rto_seconds: record.rto_seconds,
            rpo_seconds: record.rpo_seconds,
            largest_gap_seconds: record.largest_gap_seconds,
            objectives_met: record.objectives_met,
            passed: record.passed,
            finished: record.finished.timestamp_millis() as f64 / 1000.0,
        }
    }
}

/// How many of a plan's newest reports are looked through for its last plan drill (the
/// others are scenarios that restore it, or recoveries).
const DRILL_LOOKBACK: u32 = 20;

impl Metrics {
    /// Metrics for `service`, and the task that follows its events (it ends when the
    /// service's event channel closes). Needs a tokio runtime.
    pub(crate) fn start(service: Service, refresh: Duration) -> Metrics {
        let events = service.subscribe();
        let metrics = Metrics {
            inner: Arc::new(Inner {
                service,
                refresh,
                runs: Family::default(),
                durations: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
                bytes_read: Family::default(),
                bytes_stored: Family::default(),
                jobs: Family::default(),
                http: Family::default(),
                created: Mutex::new(HashSet::new()),
                verified: Mutex::new(HashMap::new()),
                gauges: tokio::sync::Mutex::new(None),
            }),
        };
        // The task holds the metrics weakly: dropping the router ends it at its next event.
        let weak = Arc::downgrade(&metrics.inner);
        tokio::spawn(async move {
            let mut events = events;
            loop {
                match events.recv().await {
                    Ok(event) => match weak.upgrade() {
                        Some(inner) => Metrics { inner }.record(&event),
                        None => break,
                    },
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(target: "lifeboat_http", missed, "metrics missed job events (counters undercount)");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        metrics
    }

    /// Counts one finished job.
    fn record(&self, event: &JobEvent) {
        let JobEvent::Finished { plan, kind, state, duration_seconds, bytes_read, bytes_stored, verify_ok, .. } = event
        else {
            return;
        };
        let inner = &self.inner;
        let result = state.to_string();
        let labels = PlanKindResult { plan: plan.clone(), kind: kind_name(*kind), result: result.clone() };
        inner.jobs.get_or_create(&labels).inc();
        lock(&inner.created).insert(labels);
        let plan_label = PlanLabel { plan: plan.clone() };
        match kind {
            JobKind::Backup => {
                inner.runs.get_or_create(&PlanResult { plan: plan.clone(), result }).inc();
                inner.bytes_read.get_or_create(&plan_label).inc_by(*bytes_read);
                inner.bytes_stored.get_or_create(&plan_label).inc_by(*bytes_stored);
                if *state == JobState::Succeeded && duration_seconds.is_finite() && *duration_seconds >= 0.0 {
                    inner.durations.get_or_create(&plan_label).observe(*duration_seconds);
                }
            }
            JobKind::Verify => {
                if let Some(ok) = verify_ok {
                    lock(&inner.verified).insert(plan.clone(), *ok);
                }
            }
            _ => {}
        }
    }

    /// Counts one answered request.
    pub(crate) fn count_request(&self, route: &str, status: u16) {
        let status_class = format!("{}xx", status / 100);
        self.inner.http.get_or_create(&RouteStatus { route: route.to_owned(), status_class }).inc();
    }

    /// The exposition: OpenMetrics when `openmetrics`, else the text format 0.0.4.
    pub(crate) async fn render(&self, openmetrics: bool) -> String {
        let mut gauges = self.inner.gauges.lock().await;
        if gauges.as_ref().is_none_or(|g| g.read_at.elapsed() >= self.inner.refresh) {
            let previous = gauges.take();
            *gauges = Some(self.read_gauges(previous).await);
        }
        let registry = self.registry(gauges.as_ref());
        drop(gauges);
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
            tracing::error!(target: "lifeboat_http", error = %e, "cannot encode the metrics");
        }
        if openmetrics { text } else { to_prometheus_text(&text) }
    }

    /// Reads the status and the repositories (keeping the previous values of what fails),
    /// and drops the series of plans no longer configured.
    async fn read_gauges(&self, previous: Option<Gauges>) -> Gauges {
        let service = &self.inner.service;
        let mut gauges = previous.unwrap_or(Gauges {
            read_at: Instant::now(),
            last_success: Vec::new(),
            expected_interval: Vec::new(),
            jobs_running: 0,
            jobs_queued: 0,
            repository_size: Vec::new(),
            verify_from_repositories: Vec::new(),
            alerts_open: HashMap::new(),
            drills: Vec::new(),
        });
        gauges.read_at = Instant::now();
        let plans: HashSet<String> = service.plans().into_iter().map(|p| p.name).collect();
        self.forget_removed_plans(&plans);
        match tokio::time::timeout(READ_TIMEOUT, service.status()).await {
            Ok(Ok(status)) => {
                gauges.jobs_running = i64::from(status.jobs_running);
                gauges.jobs_queued = i64::from(status.jobs_queued);
                gauges.last_success = status
                    .plans
                    .iter()
                    .filter_map(|p| p.last_success.map(|t| (p.plan.clone(), t.timestamp_millis() as f64 / 1000.0)))
                    .collect();
                gauges.expected_interval = status
                    .plans
                    .iter()
                    .filter_map(|p| p.expected_interval_seconds.map(|s| (p.plan.clone(), s as f64)))
                    .collect();
            }
            Ok(Err(e)) => tracing::warn!(target: "lifeboat_http", error = %e, "metrics: cannot read the status"),
            Err(_) => tracing::warn!(target: "lifeboat_http", "metrics: reading the status timed out"),
        }
        match tokio::time::timeout(READ_TIMEOUT, service.repositories()).await {
            Ok(Ok(repositories)) => {
                gauges.repository_size = repositories
                    .iter()
                    .filter_map(|r| r.size_bytes.map(|n| (r.repository.clone(), n as f64)))
                    .collect();
                gauges.verify_from_repositories = repositories
                    .iter()
                    .filter_map(|r| r.last_verify_ok.map(|ok| (r, ok)))
                    .flat_map(|(r, ok)| r.plans.iter().map(move |p| (p.clone(), ok)))
                    .collect();
            }
            Ok(Err(e)) => tracing::warn!(target: "lifeboat_http", error = %e, "metrics: cannot read the repositories"),
            Err(_) => tracing::warn!(target: "lifeboat_http", "metrics: reading the repositories timed out"),
        }
        let open = AlertFilter { state: Some(AlertStateFilter::Open), limit: Some(AlertFilter::MAX_LIMIT), plan: None };
        match tokio::time::timeout(READ_TIMEOUT, service.alerts(open)).await {
            Ok(Ok(alerts)) => {
                gauges.alerts_open.clear();
                for alert in alerts {
                    *gauges.alerts_open.entry(alert.severity).or_default() += 1;
                }
            }
            Ok(Err(e)) => tracing::warn!(target: "lifeboat_http", error = %e, "metrics: cannot read the alerts"),
            Err(_) => tracing::warn!(target: "lifeboat_http", "metrics: reading the alerts timed out"),
        }
        match tokio::time::timeout(READ_TIMEOUT, self.last_drills(&plans)).await {
            Ok(Ok(drills)) => gauges.drills = drills,
            Ok(Err(e)) => tracing::warn!(target: "lifeboat_http", error = %e, "metrics: cannot read the drill reports"),
            Err(_) => tracing::warn!(target: "lifeboat_http", "metrics: reading the drill reports timed out"),
        }
        // Only configured plans, even if the status still had an old one.
        gauges.last_success.retain(|(plan, _)| plans.contains(plan));
        gauges.expected_interval.retain(|(plan, _)| plans.contains(plan));
        gauges.verify_from_repositories.retain(|(plan, _)| plans.contains(plan));
        gauges
    }

    /// The last plan drill of each plan in `plans`, in name order.
    async fn last_drills(
        &self,
        plans: &HashSet<String>,
    ) -> Result<Vec<DrillGauges>, lifeboat_ops::service::ServiceError> {
        let mut names: Vec<&String> = plans.iter().collect();
        names.sort();
        let mut out = Vec::new();
        for plan in names {
            let filter = DrillFilter { plan: Some(plan.clone()), scenario: None, limit: Some(DRILL_LOOKBACK) };
            let reports = self.inner.service.drills(filter).await?;
            let last =
                reports.iter().find(|r| r.kind == "drill" && r.scenario.is_none() && r.plan.as_ref() == Some(plan));
            out.extend(last.map(|r| DrillGauges::of(plan, r)));
        }
        Ok(out)
    }

    /// Removes every per-plan series of a plan not in `plans`.
    fn forget_removed_plans(&self, plans: &HashSet<String>) {
        let inner = &self.inner;
        let mut created = lock(&inner.created);
        let removed: Vec<PlanKindResult> = created.iter().filter(|l| !plans.contains(&l.plan)).cloned().collect();
        for labels in removed {
            created.remove(&labels);
            inner.jobs.remove(&labels);
            let plan = PlanLabel { plan: labels.plan.clone() };
            inner.runs.remove(&PlanResult { plan: labels.plan.clone(), result: labels.result.clone() });
            inner.durations.remove(&plan);
            inner.bytes_read.remove(&plan);
            inner.bytes_stored.remove(&plan);
        }
        lock(&inner.verified).retain(|plan, _| plans.contains(plan));
    }

    fn registry(&self, gauges: Option<&Gauges>) -> Registry {
        let inner = &self.inner;
        let mut registry = Registry::default();
        registry.register("lifeboat_backup_runs", "Backup jobs that ended, by plan and result", inner.runs.clone());
        registry.register_with_unit(
            "lifeboat_backup_duration",
            "How long succeeded backup jobs ran",
            Unit::Seconds,
            inner.durations.clone(),
        );
        registry.register(
            "lifeboat_backup_bytes_read",
            "Bytes backup jobs read from their sources",
            inner.bytes_read.clone(),
        );
        registry.register(
            "lifeboat_backup_bytes_stored",
            "Bytes backup jobs wrote to their repositories (after deduplication and compression)",
            inner.bytes_stored.clone(),
        );
        registry.register("lifeboat_jobs_finished", "Jobs that ended, by plan, kind and result", inner.jobs.clone());
        registry.register("lifeboat_http_requests", "Requests answered by the HTTP API", inner.http.clone());

        let last_success = Family::<PlanLabel, FloatGauge>::default();
        let interval = Family::<PlanLabel, FloatGauge>::default();
        let size = Family::<RepositoryLabel, FloatGauge>::default();
        let verify = Family::<PlanLabel, Gauge>::default();
        let running = Gauge::<i64>::default();
        let queued = Gauge::<i64>::default();
        let alerts = Family::<SeverityLabel, Gauge>::default();
        let drill_rto = Family::<PlanLabel, FloatGauge>::default();
        let drill_rpo = Family::<PlanLabel, Gauge>::default();
        let drill_gap = Family::<PlanLabel, Gauge>::default();
        let drill_met = Family::<PlanLabel, Gauge>::default();
        let drill_result = Family::<PlanLabel, Gauge>::default();
        let drill_at = Family::<PlanLabel, FloatGauge>::default();
        if let Some(g) = gauges {
            for d in &g.drills {
                let plan = PlanLabel { plan: d.plan.clone() };
                drill_rto.get_or_create(&plan).set(d.rto_seconds);
                if let Some(age) = d.rpo_seconds {
                    drill_rpo.get_or_create(&plan).set(age);
                }
                if let Some(gap) = d.largest_gap_seconds {
                    drill_gap.get_or_create(&plan).set(gap);
                }
                if let Some(met) = d.objectives_met {
                    drill_met.get_or_create(&plan).set(i64::from(met));
                }
                drill_result.get_or_create(&plan).set(i64::from(d.passed));
                drill_at.get_or_create(&plan).set(d.finished);
            }
            for severity in [Severity::Info, Severity::Warning, Severity::Critical] {
                let open = g.alerts_open.get(&severity).copied().unwrap_or(0);
                alerts.get_or_create(&SeverityLabel { severity: severity.as_str().to_owned() }).set(open);
            }
            for (plan, at) in &g.last_success {
                last_success.get_or_create(&PlanLabel { plan: plan.clone() }).set(*at);
            }
            for (plan, seconds) in &g.expected_interval {
                interval.get_or_create(&PlanLabel { plan: plan.clone() }).set(*seconds);
            }
            for (repository, bytes) in &g.repository_size {
                size.get_or_create(&RepositoryLabel { repository: repository.clone() }).set(*bytes);
            }
            let mut verified: HashMap<String, bool> = g.verify_from_repositories.iter().cloned().collect();
            verified.extend(lock(&inner.verified).iter().map(|(p, ok)| (p.clone(), *ok)));
            for (plan, ok) in verified {
                verify.get_or_create(&PlanLabel { plan }).set(i64::from(ok));
            }
            running.set(g.jobs_running);
            queued.set(g.jobs_queued);
        }
        registry.register_with_unit(
            "lifeboat_backup_last_success_timestamp",
            "When the plan's last backup succeeded (Unix time)",
            Unit::Seconds,
            last_success,
        );
        registry.register_with_unit(
            "lifeboat_schedule_expected_interval",
            "The interval between the plan's scheduled runs",
            Unit::Seconds,
            interval,
        );
        registry.register_with_unit(
            "lifeboat_repository_size",
            "Stored size of the repository's backups",
            Unit::Bytes,
            size,
        );
        registry.register("lifeboat_verify_last_result", "The plan's last verify: 1 sound, 0 damage found", verify);
        registry.register("lifeboat_jobs_running", "Jobs running now", running);
        registry.register("lifeboat_jobs_queued", "Jobs waiting for their turn", queued);
        registry.register("lifeboat_alerts_open", "Open (firing or acknowledged) alerts, by severity", alerts);
        registry.register_with_unit(
            "lifeboat_drill_rto",
            "The measured recovery time of the plan's last restore drill (start to verified)",
            Unit::Seconds,
            drill_rto,
        );
        registry.register_with_unit(
            "lifeboat_drill_rpo",
            "The age of the backup the plan's last restore drill restored",
            Unit::Seconds,
            drill_rpo,
        );
        registry.register_with_unit(
            "lifeboat_drill_rpo_largest_gap",
            "The largest gap between the plan's backups in the last drill's window",
            Unit::Seconds,
            drill_gap,
        );
        registry.register(
            "lifeboat_drill_objective_met",
            "The plan's last restore drill met its objectives: 1 met, 0 missed",
            drill_met,
        );
        registry.register(
            "lifeboat_drill_last_result",
            "The plan's last restore drill: 1 passed, 0 failed",
            drill_result,
        );
        registry.register_with_unit(
            "lifeboat_drill_last_timestamp",
            "When the plan's last restore drill ended (Unix time)",
            Unit::Seconds,
            drill_at,
        );
        registry
    }
}

/// A job kind's lower-case name, as the API writes it.
fn kind_name(kind: JobKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| "other".to_owned())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// OpenMetrics text as Prometheus text format 0.0.4: a counter family is named with its
/// `_total` suffix, `# UNIT` and `# EOF` lines go. Everything else is the same in both.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> =
        openmetrics.lines().filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_their_total_name_and_openmetrics_only_lines_go() {
        let om = "# HELP a_runs Runs.\n# TYPE a_runs counter\na_runs_total{plan=\"w\"} 1\n\
                  # HELP a_size Size.\n# TYPE a_size gauge\n# UNIT a_size bytes\na_size 3\n# EOF\n";
        let text = to_prometheus_text(om);
        assert_eq!(
            text,
            "# HELP a_runs_total Runs.\n# TYPE a_runs_total counter\na_runs_total{plan=\"w\"} 1\n\
             # HELP a_size Size.\n# TYPE a_size gauge\na_size 3\n"
        );
    }
}
