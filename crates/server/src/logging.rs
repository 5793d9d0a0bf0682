//! Structured logs on stderr through `tracing-subscriber`: text or one JSON object a line,
//! the level from `LIFEBOAT_LOG` (an `EnvFilter`, default `info`). What is logged is the
//! libraries' business; they never put a secret in a field or message.

use crate::args::LogFormat;

/// Installs the global subscriber. A second call does nothing.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIFEBOAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}
