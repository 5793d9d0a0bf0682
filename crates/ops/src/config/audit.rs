//! `[audit]`: how lifeboatd keeps the audit log's sealed heads. Every key is optional.

use serde::Deserialize;

use crate::schedule::Span;

/// The `[audit]` table (docs/CONFIG.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AuditSettings {
    /// How often lifeboatd seals the audit log's head into each plan's primary repository
    /// (default `1h`); it also seals at shutdown.
    #[serde(deserialize_with = "seal_interval")]
    pub seal_interval: Span,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings { seal_interval: Span::from_seconds(3600) }
    }
}

impl AuditSettings {
    /// The problems of these settings, as `(key, why)` pairs.
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        if self.seal_interval.as_delta() < chrono::TimeDelta::seconds(1) {
            return vec![("audit.seal-interval", "must be at least 1s".to_owned())];
        }
        Vec::new()
    }
}

fn seal_interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
    let text = String::deserialize(d)?;
    Span::parse("audit.seal-interval", &text).map_err(serde::de::Error::custom)
}
