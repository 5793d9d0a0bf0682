//! The in-memory pipe between a dump task and its [`DumpStream`](crate::DumpStream) reader,
//! and the guard that stops the task when the stream is dropped.

/// Buffer size of the pipe and of the connection's buffered halves.
pub(super) const PIPE_BUF: usize = 256 * 1024;

/// Aborts a task when dropped (a dropped dump stream must not keep reading from the server).
pub(super) use crate::process::AbortOnDrop;
