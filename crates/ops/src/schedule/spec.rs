//! The `[plans.NAME.schedule]` table: what it may say, and the checked [`ScheduleSpec`].

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::cron::CronTrigger;
use super::error::ScheduleError;
use super::interval::IntervalTrigger;
use super::span::Span;
use super::trigger::Trigger;

/// What to do about slots that passed while nothing was evaluating them (the service was
/// down, the host asleep). Default: [`RunOnce`](Self::RunOnce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissedPolicy {
    /// No catch-up: the missed slots are recorded as skipped and the plan next runs at its
    /// next regular slot (cron's behaviour; Elastic SLM's).
    Skip,
    /// One catch-up run for the newest missed slot, if it is no later than `max-lateness`
    /// (systemd's `Persistent=true`; Kubernetes CronJob's `startingDeadlineSeconds`); never
    /// one run per missed slot. The default, because a backup that did not happen is a hole
    /// in the recovery point that one run closes.
    #[default]
    RunOnce,
}

/// What to do when a slot comes while a run of the same plan is still in progress (two runs
/// of one plan never overlap). Default: [`Skip`](Self::Skip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverlapPolicy {
    /// The slot is dropped and recorded (Kubernetes' `concurrencyPolicy: Forbid`, cron with
    /// `flock -n`). The default: a run that overruns its interval is not followed by
    /// another straight away, which would keep the source busy without a pause.
    #[default]
    Skip,
    /// The slot waits for the running one to end, then runs; at most one run is queued, so
    /// slots coming while one is already queued are dropped and recorded, never piled up.
    Queue,
}

/// The table as written in the TOML config, before any checks: every field optional, names in
/// kebab-case, unknown fields refused. [`ScheduleSpec`] deserializes through it.
///
/// ```toml
/// [plans.web.schedule]
/// cron = "30 2 * * *"          # or: every = "1h"
/// timezone = "Europe/Berlin"   # with cron only; default UTC
/// missed = "run-once"          # or "skip"
/// max-lateness = "6h"          # with run-once only; default: no limit
/// overlap = "skip"             # or "queue"
/// jitter = "5m"                # default 0s
/// ```
///
/// It serializes back to the same form (absent fields left out), which is what an API or
/// `config show` prints; [`ScheduleTable::from`] a [`ScheduleSpec`] gives its canonical table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScheduleTable {
    /// A cron pattern: 5 fields, or 6 with seconds first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The IANA time zone the cron pattern is read in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// A fixed interval (`90s`, `15m`, `1h`, `1d`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// The missed-run policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed: Option<MissedPolicy>,
    /// The latest a catch-up run may start after its slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_lateness: Option<String>,
    /// The overlap policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap: Option<OverlapPolicy>,
    /// The upper bound (exclusive) of the per-slot start delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
}

/// A checked schedule: when a plan's slots are, and what to do about missed, overlapping and
/// simultaneous runs. Deserializes from a [`ScheduleTable`]; an invalid table is an error
/// there (through [`ScheduleError`]'s text) or from [`ScheduleSpec::from_table`].
///
/// ```
/// use lifeboat_ops::schedule::ScheduleSpec;
/// let spec: ScheduleSpec = toml::from_str("cron = \"30 2 * * *\"\ntimezone = \"Europe/Berlin\"").unwrap();
/// let t = "2026-03-28T12:00:00Z".parse().unwrap();
/// // The next 02:30 in Berlin is on the spring-forward day, inside the gap: it runs at 03:00 CEST.
/// assert_eq!(spec.next_after(t), Some("2026-03-29T01:00:00Z".parse().unwrap()));
/// ```
///
/// Time zone: a cron pattern without `timezone` is read in **UTC**, not the host's zone, so
/// a config means the same on every host and in every container (which mostly run in UTC
/// anyway) and a host's zone change does not move backups; Elastic SLM does the same.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ScheduleTable")]
pub struct ScheduleSpec {
    trigger: Trigger,
    missed: MissedPolicy,
    max_lateness: Option<Span>,
    overlap: OverlapPolicy,
    jitter: Span,
}

impl ScheduleSpec {
    /// Checks a table: exactly one of `cron` and `every`; `timezone` only with `cron`;
    /// `max-lateness` only with `missed = "run-once"`; durations well formed and positive
    /// (jitter may be zero); for `every`, a jitter shorter than the interval.
    pub fn from_table(table: ScheduleTable) -> Result<Self, ScheduleError> {
        let trigger = match (&table.cron, &table.every) {
            (None, None) => return Err(ScheduleError::NoTrigger),
            (Some(cron), Some(every)) => {
                return Err(ScheduleError::BothTriggers { cron: cron.clone(), every: every.clone() });
            }
            (Some(cron), None) => Trigger::Cron(CronTrigger::new(cron, table.timezone.as_deref())?),
            (None, Some(every)) => {
                if let Some(zone) = &table.timezone {
                    return Err(ScheduleError::Needs { field: "timezone", value: zone.clone(), needs: "cron" });
                }
                let period = Span::parse("every", every)?;
                if period.is_zero() {
                    return Err(ScheduleError::invalid("every", every, "must be longer than zero"));
                }
                Trigger::Every(IntervalTrigger::new(period))
            }
        };
        let missed = table.missed.unwrap_or_default();
        let max_lateness = match &table.max_lateness {
            None => None,
            Some(text) => {
                if missed != MissedPolicy::RunOnce {
                    return Err(ScheduleError::Needs {
                        field: "max-lateness",
                        value: text.clone(),
                        needs: "missed = \"run-once\"",
                    });
                }
                let span = Span::parse("max-lateness", text)?;
                if span.is_zero() {
                    return Err(ScheduleError::invalid(
                        "max-lateness",
                        text,
                        "must be longer than zero (use missed = \"skip\" for no catch-up)",
                    ));
                }
                Some(span)
            }
        };
        let jitter = match &table.jitter {
            None => Span::from_seconds(0),
            Some(text) => Span::parse("jitter", text)?,
        };
        if let Trigger::Every(every) = &trigger
            && jitter >= every.period()
        {
            let text = table.jitter.as_deref().unwrap_or_default();
            return Err(ScheduleError::invalid(
                "jitter",
                text,
                format!("must be shorter than the interval ({})", every.period()),
            ));
        }
        Ok(ScheduleSpec { trigger, missed, max_lateness, overlap: table.overlap.unwrap_or_default(), jitter })
    }

    /// When the slots are.
    pub fn trigger(&self) -> &Trigger {
        &self.trigger
    }

    /// The missed-run policy.
    pub fn missed(&self) -> MissedPolicy {
        self.missed
    }

    /// The latest a catch-up run may start after its (jittered) slot; `None` is no limit.
    pub fn max_lateness(&self) -> Option<Span> {
        self.max_lateness
    }

    /// The overlap policy.
    pub fn overlap(&self) -> OverlapPolicy {
        self.overlap
    }

    /// The exclusive upper bound of the per-slot start delay (zero: none).
    pub fn jitter(&self) -> Span {
        self.jitter
    }

    /// The first slot strictly after `t` (the nominal slot, before jitter), or `None` if
    /// there is none.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.trigger.next_after(t)
    }

    /// The gap between the two slots following `t`: the interval for `every`, and for cron
    /// the spacing there (a daily pattern gives 24 hours, or 23/25 across a DST change).
    /// What `lifeboat_schedule_expected_interval_seconds` reports.
    pub fn interval_after(&self, t: DateTime<Utc>) -> Option<TimeDelta> {
        let first = self.next_after(t)?;
        let second = self.next_after(first)?;
        Some(second - first)
    }
}

impl From<&ScheduleSpec> for ScheduleTable {
    /// The canonical table of a checked schedule: the zone always named for cron, durations
    /// in canonical form (`90m` becomes `1h30m`), defaults written out, a zero jitter left out.
    fn from(spec: &ScheduleSpec) -> Self {
        let (cron, timezone, every) = match &spec.trigger {
            Trigger::Cron(cron) => (Some(cron.pattern().to_owned()), Some(cron.zone().name().to_owned()), None),
            Trigger::Every(every) => (None, None, Some(every.period().to_string())),
        };
        ScheduleTable {
            cron,
            timezone,
            every,
            missed: Some(spec.missed),
            max_lateness: spec.max_lateness.map(|span| span.to_string()),
            overlap: Some(spec.overlap),
            jitter: (!spec.jitter.is_zero()).then(|| spec.jitter.to_string()),
        }
    }
}

impl TryFrom<ScheduleTable> for ScheduleSpec {
    type Error = ScheduleError;

    fn try_from(table: ScheduleTable) -> Result<Self, ScheduleError> {
        ScheduleSpec::from_table(table)
    }
}
