//! The command line: `lifeboatd --config lifeboat.toml [--listen ADDR] [--state PATH] [--check]`.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// `lifeboatd`: runs the plans of a Lifeboat config on their schedules and serves the HTTP
/// API (`/api/v1`, `/healthz`, `/readyz`, `/metrics`).
///
/// SIGTERM or SIGINT: stop accepting requests and scheduling, let running jobs finish
/// within the grace period (`[service] grace`), cancel the rest, exit 0. SIGHUP: reload the
/// config; an invalid one is refused and the old one kept.
#[derive(Debug, Clone, Parser)]
#[command(name = "lifeboatd", version)]
pub struct Args {
    /// The config file (docs/CONFIG.md): the plans and the `[service]` table.
    #[arg(long, short = 'c', env = "LIFEBOAT_CONFIG", value_name = "FILE")]
    pub config: PathBuf,

    /// Where to listen (`HOST:PORT`); overrides `[service] listen`. Default 127.0.0.1:8081.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// The state database; overrides `[service] state`.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// Check the config (and the listen address and the TLS files it names), print what
    /// would run, and exit: 0 when valid, 1 when not. Opens nothing else.
    #[arg(long)]
    pub check: bool,

    /// Serve plain HTTP on an address that is not loopback. Without TLS the tokens travel in
    /// clear text: only behind a TLS-terminating proxy or inside a pod's network.
    #[arg(long, env = "LIFEBOATD_ALLOW_PLAIN_HTTP")]
    pub allow_plain_http: bool,

    /// Log format on stderr: `text` (for people) or `json` (one object a line, for log
    /// collectors). The level comes from `LIFEBOAT_LOG` (default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "LIFEBOATD_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// The log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_command_line() {
        let args = Args::try_parse_from([
            "lifeboatd",
            "--config",
            "l.toml",
            "--listen",
            "127.0.0.1:9",
            "--state",
            "s.db",
            "--check",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(args.config, PathBuf::from("l.toml"));
        assert_eq!(args.listen.as_deref(), Some("127.0.0.1:9"));
        assert_eq!(args.state, Some(PathBuf::from("s.db")));
        assert!(args.check);
        assert_eq!(args.log_format, LogFormat::Json);
        assert!(Args::try_parse_from(["lifeboatd", "--log-format", "xml", "--config", "x"]).is_err());
    }
}
