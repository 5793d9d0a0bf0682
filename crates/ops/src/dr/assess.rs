//! `lifeboat dr assess`: could the organisation recover right now? Every source, plan,
//! repository and Elasticsearch cluster checked (read only), an overall status with the
//! reasons, and what to do about them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::DrEnv;

/// The answer of an assessment.
#[derive(Debug, Clone, Serialize)]
pub struct AssessReport {
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// healthy, degraded or at_risk.
    pub status: DrStatus,
    /// Why the status is not healthy, one line each.
    pub reasons: Vec<String>,
    /// What to do, one line each ("plan db has no off-site copy").
    pub recommendations: Vec<String>,
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DrStatus {
    /// Every plan recoverable within its objectives.
    Healthy,
    /// Recoverable, with something to fix.
    Degraded,
    /// Some plan could not be recovered within its objectives now.
    AtRisk,
}

/// Assesses everything the configuration names (placeholder: issue 13, assess helper).
pub async fn assess(env: &DrEnv) -> AssessReport {
    AssessReport {
        generated_at: env.clock.now(),
        status: DrStatus::AtRisk,
        reasons: vec!["assess is not built yet".into()],
        recommendations: Vec::new(),
    }
}
