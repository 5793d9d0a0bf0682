//! `lifeboat alerts test [--channel NAME] [--json]`: a test message through each notification
//! channel of the config, sent from here (no lifeboatd needed), with each channel's outcome:
//! `success` or the channel's exact error (which never holds a secret). Exits non-zero when
//! any channel failed.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lifeboat_ops::notifications::{ChannelOutcome, test_channels};

use crate::flags::{AlertTestArgs, Global};
use crate::render::{escape, print_json};

/// `lifeboat alerts test`.
pub async fn run(global: &Global, args: AlertTestArgs) -> Result<ExitCode> {
    let Some(path) = global.config.as_deref() else {
        bail!("lifeboat alerts test sends through the channels of a config file: give --config (or LIFEBOAT_CONFIG)");
    };
    let config = lifeboat_ops::Config::load(path).context("--config")?;
    if config.notifications.channels.is_empty() {
        bail!("{} has no [notifications.channels.NAME] to test (docs/CONFIG.md, [notifications])", path.display());
    }
    let results = test_channels(&config, args.channel.as_deref()).await;
    if args.json {
        print_json(&serde_json::json!({ "results": results }))?;
    } else {
        for line in results.iter().map(line) {
            println!("{line}");
        }
    }
    Ok(if results.iter().all(|r| r.ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `NAME (kind): success` or `NAME (kind): FAILED: <error>`.
fn line(outcome: &ChannelOutcome) -> String {
    let kind = if outcome.kind.is_empty() { String::new() } else { format!(" ({})", outcome.kind) };
    match &outcome.error {
        None => format!("{}{kind}: success", escape(&outcome.channel)),
        Some(e) => format!("{}{kind}: FAILED: {}", escape(&outcome.channel), escape(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_success_or_the_error() {
        let ok = ChannelOutcome { channel: "mail".into(), kind: "smtp".into(), ok: true, error: None };
        assert_eq!(line(&ok), "mail (smtp): success");
        let bad = ChannelOutcome {
            channel: "hook".into(),
            kind: "webhook".into(),
            ok: false,
            error: Some("channel hook: http://h/x answered HTTP 401: bad signature".into()),
        };
        assert_eq!(line(&bad), "hook (webhook): FAILED: channel hook: http://h/x answered HTTP 401: bad signature");
    }
}
