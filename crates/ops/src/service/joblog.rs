//! A running job's log: lines appended to the job's row in the state as they come, stamped
//! by the service's clock, redacted.

use std::sync::Arc;

use lifeboat_storage::clock::Clock;

use super::failure::redact;
use crate::state::{AsyncStateStore, JobId, LogLevel, NewLogLine};

/// Where a job writes its log.
#[derive(Clone)]
pub(crate) struct JobLogger {
    pub state: AsyncStateStore,
    pub clock: Arc<dyn Clock>,
    pub job: JobId,
}

impl JobLogger {
    /// Appends an info line.
    pub async fn info(&self, line: impl AsRef<str>) {
        self.write(LogLevel::Info, line.as_ref()).await;
    }

    /// Appends an error line.
    pub async fn error(&self, line: impl AsRef<str>) {
        self.write(LogLevel::Error, line.as_ref()).await;
    }

    async fn write(&self, level: LogLevel, line: &str) {
        let line = NewLogLine { at: self.clock.now(), level, line: redact(line) };
        tracing::info!(job = %self.job, "{}", line.line);
        if let Err(e) = self.state.append_log(self.job, vec![line]).await {
            tracing::warn!(job = %self.job, "cannot keep a log line: {e}");
        }
    }
}
