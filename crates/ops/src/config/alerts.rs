//! `[alerts]` (the engine's timer and the default thresholds) and `[plans.NAME.alerts]`
//! (one plan's thresholds and rules switched off). Every key is optional.

use chrono::TimeDelta;
use serde::Deserialize;

use crate::alerts::AlertRule;
use crate::schedule::Span;

/// The `[alerts]` table (docs/CONFIG.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AlertSettings {
    /// How often the timer evaluates every rule (default `60s`), besides after each job.
    #[serde(deserialize_with = "interval")]
    pub interval: Span,
    /// A plan without an RPO is stale after this many of its schedule's intervals (default 2).
    pub stale_factor: u32,
    /// A local repository's file system is full above this percentage (default 90).
    pub disk_usage: u8,
    /// A repository lock older than this is stuck (default: `[service] job-timeout`, else 6h).
    #[serde(deserialize_with = "lock_stuck_after")]
    pub lock_stuck_after: Option<Span>,
    /// A copy destination is behind when the newest backup has been missing from it for
    /// longer than this (default `6h`).
    #[serde(deserialize_with = "copy_lag")]
    pub copy_lag: Span,
    /// Rules switched off for every plan (`["lock_stuck", ...]`).
    pub disabled: Vec<AlertRule>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            interval: Span::from_seconds(60),
            stale_factor: 2,
            disk_usage: 90,
            lock_stuck_after: None,
            copy_lag: Span::from_seconds(6 * 3600),
            disabled: Vec::new(),
        }
    }
}

impl AlertSettings {
    /// The problems of these settings, as `(key, why)` pairs.
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.interval.as_delta() < TimeDelta::seconds(1) {
            out.push(("alerts.interval", "must be at least 1s".to_owned()));
        }
        if self.stale_factor == 0 {
            out.push(("alerts.stale-factor", "must be at least 1".to_owned()));
        }
        if !(1..=100).contains(&self.disk_usage) {
            out.push(("alerts.disk-usage", "must be a percentage from 1 to 100".to_owned()));
        }
        out
    }
}

/// `[plans.NAME.alerts]`: one plan's thresholds (each replaces the `[alerts]` default) and
/// the rules switched off for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct PlanAlerts {
    /// The plan is stale when its last success is older than this (default: its RPO, else
    /// `stale-factor` times its schedule's interval).
    #[serde(deserialize_with = "stale_after")]
    pub stale_after: Option<Span>,
    /// See [`AlertSettings::disk_usage`].
    pub disk_usage: Option<u8>,
    /// See [`AlertSettings::lock_stuck_after`].
    #[serde(deserialize_with = "lock_stuck_after")]
    pub lock_stuck_after: Option<Span>,
    /// See [`AlertSettings::copy_lag`].
    #[serde(deserialize_with = "plan_copy_lag")]
    pub copy_lag: Option<Span>,
    /// Rules switched off for this plan, besides `[alerts] disabled`.
    pub disabled: Vec<AlertRule>,
}

impl PlanAlerts {
    /// The problems of these settings, as `(key, why)` pairs.
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        match self.disk_usage {
            Some(p) if !(1..=100).contains(&p) => {
                vec![("alerts.disk-usage", "must be a percentage from 1 to 100".to_owned())]
            }
            _ => Vec::new(),
        }
    }
}

fn span<'de, D: serde::Deserializer<'de>>(field: &'static str, d: D) -> Result<Span, D::Error> {
    let text = String::deserialize(d)?;
    Span::parse(field, &text).map_err(serde::de::Error::custom)
}

fn interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
    span("alerts.interval", d)
}

fn copy_lag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
    span("alerts.copy-lag", d)
}

fn plan_copy_lag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Span>, D::Error> {
    span("alerts.copy-lag", d).map(Some)
}

fn lock_stuck_after<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Span>, D::Error> {
    span("alerts.lock-stuck-after", d).map(Some)
}

fn stale_after<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Span>, D::Error> {
    span("alerts.stale-after", d).map(Some)
}
