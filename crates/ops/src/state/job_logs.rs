//! The job_logs table: a job's log lines, bounded per job.
//!
//! A job keeps its first [`StateOptions::log_head_lines`](super::StateOptions) and its last
//! [`log_tail_lines`](super::StateOptions) lines; the lines between are deleted as newer ones
//! arrive, so a chatty job holds at most head + tail rows however long it runs, and a line
//! longer than `max_log_line_bytes` is cut. Reading puts a "... M lines omitted" entry where
//! lines were dropped.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::columns::{TextColumn, count_out, millis, parse_text, time};
use super::error::StateError;
use super::handle::StateStore;
use super::job_types::JobId;

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// A failure.
    Error,
    /// Something the operator should know.
    Warn,
    /// Progress.
    Info,
    /// Detail.
    Debug,
    /// More detail.
    Trace,
}

impl TextColumn for LogLevel {
    const ALL: &'static [Self] = &[LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug, LogLevel::Trace];
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// A line to append to a job's log. The text must be redacted by the caller: it is shown
/// by the API as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogLine {
    /// When it was logged.
    pub at: DateTime<Utc>,
    /// How important it is.
    pub level: LogLevel,
    /// The text, redacted.
    pub line: String,
}

/// A stored log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Its number in the job's output, from 0.
    pub seq: u64,
    /// When it was logged.
    pub at: DateTime<Utc>,
    /// How important it is.
    pub level: LogLevel,
    /// The text (cut if it was too long).
    pub line: String,
}

/// One entry of a [`JobLog`]: a kept line, or the place of lines that were dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum LogEntry {
    /// A kept line.
    Line(LogLine),
    /// `count` lines were dropped here to bound the log.
    Omitted {
        /// How many.
        count: u64,
    },
}

impl std::fmt::Display for LogEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogEntry::Line(line) => write!(f, "{} {:5} {}", line.at.to_rfc3339(), line.level.as_str(), line.line),
            LogEntry::Omitted { count } => write!(f, "... {count} lines omitted"),
        }
    }
}

/// A job's log as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobLog {
    /// The job.
    pub job: JobId,
    /// The kept lines in order, with an [`LogEntry::Omitted`] where lines were dropped.
    pub entries: Vec<LogEntry>,
    /// How many lines the job emitted.
    pub total_lines: u64,
    /// How many of them were dropped.
    pub omitted_lines: u64,
}

impl StateStore {
    /// Appends lines to job `job`'s log in one transaction, dropping middle lines past the
    /// per-job bound. Lines may still arrive after the job ended (a runner flushing).
    pub fn append_log(&mut self, job: JobId, lines: &[NewLogLine]) -> Result<(), StateError> {
        let path = self.path.clone();
        let op = "append log lines";
        let head = i64::from(self.options.log_head_lines);
        let tail = i64::from(self.options.log_tail_lines);
        let max_bytes = self.options.max_log_line_bytes;
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        let count: Option<i64> = tx
            .query_row("SELECT log_lines FROM jobs WHERE id = ?1", [job.0], |row| row.get(0))
            .optional()
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        let Some(mut next) = count else {
            return Err(StateError::NoSuchJob { path, job: job.0 });
        };
        {
            let mut insert = tx
                .prepare("INSERT INTO job_logs (job_id, seq, at, level, line) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(|e| StateError::sqlite(&path, op, e))?;
            let mut drop = tx
                .prepare("DELETE FROM job_logs WHERE job_id = ?1 AND seq = ?2")
                .map_err(|e| StateError::sqlite(&path, op, e))?;
            for line in lines {
                let text = cut(&line.line, max_bytes);
                insert
                    .execute(params![job.0, next, millis(line.at), line.level.as_str(), text])
                    .map_err(|e| StateError::sqlite(&path, op, e))?;
                // The tail window is now (next - tail, next]; the line that just left it goes
                // unless it is one of the head lines.
                if next - tail >= head {
                    drop.execute(params![job.0, next - tail]).map_err(|e| StateError::sqlite(&path, op, e))?;
                }
                next += 1;
            }
        }
        tx.execute("UPDATE jobs SET log_lines = ?2 WHERE id = ?1", params![job.0, next])
            .map_err(|e| StateError::sqlite(&path, op, e))?;
        tx.commit().map_err(|e| StateError::sqlite(&path, op, e))
    }

    /// Job `job`'s log as kept.
    pub fn job_log(&self, job: JobId) -> Result<JobLog, StateError> {
        let path = &self.path;
        let op = "read a job's log";
        let total: Option<i64> = self
            .connection
            .query_row("SELECT log_lines FROM jobs WHERE id = ?1", [job.0], |row| row.get(0))
            .optional()
            .map_err(|e| StateError::sqlite(path, op, e))?;
        let Some(total) = total else {
            return Err(StateError::NoSuchJob { path: path.clone(), job: job.0 });
        };
        let total = count_out(path, "jobs", "log_lines", total)?;
        let mut statement = self
            .connection
            .prepare("SELECT seq, at, level, line FROM job_logs WHERE job_id = ?1 ORDER BY seq")
            .map_err(|e| StateError::sqlite(path, op, e))?;
        let rows = statement
            .query_map([job.0], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, String>(2)?, row.get::<_, String>(3)?))
            })
            .map_err(|e| StateError::sqlite(path, op, e))?;
        let mut entries = Vec::new();
        let mut expected = 0u64;
        let mut omitted = 0u64;
        for row in rows {
            let (seq, at, level, line) = row.map_err(|e| StateError::sqlite(path, op, e))?;
            let seq = count_out(path, "job_logs", "seq", seq)?;
            if seq > expected {
                entries.push(LogEntry::Omitted { count: seq - expected });
                omitted += seq - expected;
            }
            expected = seq.saturating_add(1);
            entries.push(LogEntry::Line(LogLine {
                seq,
                at: time(path, "job_logs", "at", at)?,
                level: parse_text(path, "job_logs", "level", &level)?,
                line,
            }));
        }
        if total > expected {
            entries.push(LogEntry::Omitted { count: total - expected });
            omitted += total - expected;
        }
        Ok(JobLog { job, entries, total_lines: total, omitted_lines: omitted })
    }
}

/// `line` cut to at most `max_bytes` bytes at a character boundary, ending in "…" if cut.
fn cut(line: &str, max_bytes: usize) -> std::borrow::Cow<'_, str> {
    if line.len() <= max_bytes {
        return line.into();
    }
    let room = max_bytes.saturating_sub('…'.len_utf8());
    let mut out: String = line.char_indices().take_while(|(i, c)| i + c.len_utf8() <= room).map(|(_, c)| c).collect();
    out.push('…');
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        assert_eq!(cut("short", 10), "short");
        let cut_line = cut("ééééé", 8); // 10 bytes; room for 5 bytes + "…"
        assert_eq!(cut_line, "éé…");
        assert!(cut_line.len() <= 8);
    }
}
