//! Issue 12's "done when", end to end on the real binaries: a backup that fails because its
//! PostgreSQL was stopped, and a plan that goes stale, each give exactly one alert, one
//! email (aiosmtpd, STARTTLS and AUTH), one signed webhook and one Slack message (the HTTP
//! receiver checks the HMAC); one is acknowledged with `lifeboat alerts ack`, the other
//! through the API; both resolve on their own once fixed, each with one "resolved" message
//! per channel; and the audit log holds the acknowledgements and verifies.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use lifeboat_ops::state::Scope;
use lifeboat_testkit::pg_server::PrivatePostgres;
use serde_json::Value;

use crate::common::{Daemon, Site};

/// Where the messages of this test arrive: its own recipient address and receiver paths, so
/// that other tests using the same servers do not count.
struct Inbox {
    env: HashMap<String, String>,
    mailbox: String,
    webhook: String,
    slack: String,
}

impl Inbox {
    fn new() -> Inbox {
        let tag = lifeboat_testkit::names::unique("e2e");
        Inbox {
            env: lifeboat_testkit::notify_env(),
            mailbox: format!("{tag}@example.test"),
            webhook: format!("/webhook/{tag}"),
            slack: format!("/slack/{tag}"),
        }
    }

    /// The emails to this test's address (each spool line is one message as JSON).
    fn emails(&self) -> Vec<Value> {
        let spool = std::fs::read_to_string(&self.env["LIFEBOAT_TEST_SMTP_SPOOL"]).unwrap_or_default();
        spool
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m.to_string().contains(&self.mailbox))
            .collect()
    }

    /// What the HTTP receiver got under `prefix`.
    fn received(&self, prefix: &str) -> Vec<Value> {
        let url = format!("{}/received?prefix={prefix}", self.env["LIFEBOAT_TEST_RECEIVER_URL"]);
        let out = Command::new("curl").args(["-sf", "--max-time", "5", &url]).output().expect("run curl");
        assert!(out.status.success(), "GET {url} failed");
        let all: Value = serde_json::from_slice(&out.stdout).expect("receiver answers JSON");
        all.as_array().cloned().unwrap_or_default()
    }

    /// Every message of each channel that mentions `needle` (an alert id), as text.
    fn about(&self, needle: &str) -> [Vec<String>; 3] {
        let texts = |items: Vec<Value>| -> Vec<String> {
            items.into_iter().map(|v| v.to_string()).filter(|t| mentions(t, needle)).collect()
        };
        [texts(self.emails()), texts(self.received(&self.webhook)), texts(self.received(&self.slack))]
    }

    /// Waits until each channel has `count` messages about `needle` containing `word`, then a
    /// little longer to see that no more arrive; returns them.
    fn expect(&self, needle: &str, word: &str, count: usize) -> [Vec<String>; 3] {
        let deadline = Instant::now() + Duration::from_secs(60);
        let matching = |inbox: &Inbox| -> [Vec<String>; 3] {
            inbox.about(needle).map(|msgs| msgs.into_iter().filter(|m| m.contains(word)).collect())
        };
        loop {
            let got = matching(self);
            if got.iter().all(|m| m.len() >= count) {
                break;
            }
            assert!(Instant::now() < deadline, "{needle}: expected {count} {word:?} per channel, got {got:#?}");
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_secs(3));
        let got = matching(self);
        for (channel, msgs) in ["email", "webhook", "slack"].iter().zip(&got) {
            assert_eq!(msgs.len(), count, "{needle}: {channel} got {} {word:?} messages: {msgs:#?}", msgs.len());
        }
        got
    }
}

/// True when `text` names alert `id` (`A1` but not `A12`).
fn mentions(text: &str, id: &str) -> bool {
    text.match_indices(id).any(|(at, _)| !text[at + id.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The `lifeboat` CLI built beside lifeboatd (`cargo test --workspace` builds both).
fn lifeboat_cli() -> PathBuf {
    let daemon = PathBuf::from(env!("CARGO_BIN_EXE_lifeboatd"));
    let cli = daemon.with_file_name("lifeboat");
    assert!(cli.exists(), "{} is missing: build it with `cargo build -p lifeboat-cli`", cli.display());
    cli
}

fn alerts(daemon: &Daemon, token: &str, query: &str) -> Vec<Value> {
    let r = daemon.get(&format!("/api/v1/alerts?{query}"), token);
    assert_eq!(r.status, 200, "{}", r.body);
    let json = r.json();
    json.as_array().or_else(|| json["alerts"].as_array()).cloned().unwrap_or_default()
}

/// Waits until exactly one alert of `rule` for `plan` exists in `state`; returns it.
fn wait_alert(daemon: &Daemon, token: &str, plan: &str, rule: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = alerts(daemon, token, "state=all");
        let of: Vec<_> = all.iter().filter(|a| a["plan"] == plan && a["rule"] == rule).collect();
        assert!(of.len() <= 1, "more than one {rule} alert for {plan}: {of:#?}");
        if let Some(alert) = of.first().filter(|a| a["state"] == state) {
            return (*alert).clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {state} {rule} alert for {plan} in 60 s: {all:#?}\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_stopped_database_and_a_stale_plan_alert_once_per_channel_and_resolve_when_fixed() {
    let pg = PrivatePostgres::start_new();
    let inbox = Inbox::new();
    let site = Site::new();
    let data = site.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("index.html"), b"<h1>lifeboat</h1>").unwrap();
    std::fs::write(site.path("pg.pw"), format!("{}\n", pg.password)).unwrap();
    std::fs::write(site.path("smtp.pw"), format!("{}\n", inbox.env["LIFEBOAT_TEST_SMTP_PASSWORD"])).unwrap();
    std::fs::write(site.path("hook.secret"), format!("{}\n", inbox.env["LIFEBOAT_TEST_WEBHOOK_SECRET"])).unwrap();
    let receiver = &inbox.env["LIFEBOAT_TEST_RECEIVER_URL"];
    std::fs::write(site.path("slack.url"), format!("{receiver}{}\n", inbox.slack)).unwrap();
    let db_repo = site.local_repo("db-repo");
    let site_repo = site.local_repo("site-repo");
    site.write_config(&format!(
        r#"
[service]
retries = 1
retry-backoff = "1s"

[alerts]
interval = "1s"

[notifications]
dashboard-url = "http://lifeboat.example.test/"

[notifications.channels.mail]
kind = "smtp"
host = "{smtp_host}"
port = {smtp_port}
security = "starttls"
username = "{smtp_user}"
password-file = "@DIR@/smtp.pw"
ca-file = "{smtp_ca}"
from = "lifeboat@example.test"
to = ["{mailbox}"]

[notifications.channels.hook]
kind = "webhook"
url = "{receiver}{webhook}"
secret-file = "@DIR@/hook.secret"

[notifications.channels.chat]
kind = "slack"
url-file = "@DIR@/slack.url"

[plans.db]
repository = "{db_repo}"
password-file = "@PASSWORD_FILE@"

[plans.db.source]
kind = "postgres"
url = "{pg_url}"
password-file = "@DIR@/pg.pw"

[plans.site]
repository = "{site_repo}"
password-file = "@PASSWORD_FILE@"
source = {{ kind = "files", paths = ["{data}"] }}
objectives = {{ rpo = "6s" }}
"#,
        smtp_host = inbox.env["LIFEBOAT_TEST_SMTP_HOST"],
        smtp_port = inbox.env["LIFEBOAT_TEST_SMTP_STARTTLS_PORT"],
        smtp_user = inbox.env["LIFEBOAT_TEST_SMTP_USER"],
        smtp_ca = inbox.env["LIFEBOAT_TEST_SMTP_CA"],
        mailbox = inbox.mailbox,
        webhook = inbox.webhook,
        pg_url = pg.url,
        data = data.display(),
    ));
    let token = site.token("e2e-operator", &[Scope::Operate]);
    let daemon = Daemon::start(&site);

    // Both plans work: no alert.
    for plan in ["db", "site"] {
        let job = daemon.wait_job(daemon.run_plan(plan, &token), &token, Duration::from_secs(120));
        assert_eq!(job["state"], "succeeded", "{plan}: {job}\n{}", daemon.log_text());
    }
    assert!(alerts(&daemon, &token, "state=open").is_empty(), "alerts while all is well");

    // The database stops: the backup fails (and its retry), one alert.
    pg.stop();
    let job = daemon.wait_job(daemon.run_plan("db", &token), &token, Duration::from_secs(120));
    assert_eq!(job["state"], "failed", "{job}");
    let failed = wait_alert(&daemon, &token, "db", "backup_failed", "firing");
    let failed_id = failed["id"].as_str().expect("alert id").to_owned();
    assert_eq!(failed["severity"], "critical", "{failed}");

    // The site plan is not run again: it goes stale past its 6 s RPO.
    let stale = wait_alert(&daemon, &token, "site", "rpo_exceeded", "firing");
    let stale_id = stale["id"].as_str().expect("alert id").to_owned();

    let fired = inbox.expect(&failed_id, "fired", 1);
    assert!(fired[0][0].contains("db"), "the email names the plan: {}", fired[0][0]);
    inbox.expect(&stale_id, "fired", 1);
    // The webhook receiver checks each delivery's HMAC and answers 401 to a missing, stale or
    // wrong signature: every delivery it recorded was accepted (204).
    for hook in inbox.received(&inbox.webhook) {
        assert_eq!(hook["status"], 204, "{hook}");
        assert!(hook["headers"]["x-lifeboat-signature"].as_str().is_some_and(|s| s.starts_with("sha256=")), "{hook}");
    }

    // Acknowledged from the CLI, and through the API.
    std::fs::write(site.path("token"), format!("{token}\n")).unwrap();
    let out = Command::new(lifeboat_cli())
        .args(["alerts", "ack", &failed_id, "--comment", "restarting the database"])
        .arg("--server")
        .arg(format!("http://{}", daemon.addr))
        .arg("--token-file")
        .arg(site.path("token"))
        .env_remove("LIFEBOAT_TOKEN")
        .output()
        .expect("run lifeboat alerts ack");
    assert!(out.status.success(), "lifeboat alerts ack: {}", String::from_utf8_lossy(&out.stderr));
    let r = daemon.post(&format!("/api/v1/alerts/{stale_id}/acknowledge"), &token, r#"{"comment":"looking"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    for id in [&failed_id, &stale_id] {
        let alert = daemon.get(&format!("/api/v1/alerts/{id}"), &token).json();
        assert_eq!(alert["state"], "acknowledged", "{alert}");
        assert_eq!(alert["acknowledged"]["by"], "token:e2e-operator", "{alert}");
    }

    // Fixed: the database is back and both plans run; each alert resolves by itself.
    pg.start();
    for plan in ["db", "site"] {
        let job = daemon.wait_job(daemon.run_plan(plan, &token), &token, Duration::from_secs(120));
        assert_eq!(job["state"], "succeeded", "{plan}: {job}\n{}", daemon.log_text());
    }
    wait_alert(&daemon, &token, "db", "backup_failed", "resolved");
    inbox.expect(&failed_id, "resolved", 1);
    // The stale plan resolves once a backup is newer than its RPO again, until it ages out.
    let resolved = wait_alert(&daemon, &token, "site", "rpo_exceeded", "resolved");
    assert_eq!(resolved["id"], stale_id.as_str());
    inbox.expect(&stale_id, "resolved", 1);
    // Still exactly one "fired" message per alert and channel.
    inbox.expect(&failed_id, "fired", 1);

    // Nothing secret reached the log or the messages.
    let log = daemon.log_text();
    for secret in
        [&pg.password, &inbox.env["LIFEBOAT_TEST_SMTP_PASSWORD"], &inbox.env["LIFEBOAT_TEST_WEBHOOK_SECRET"], &token]
    {
        assert!(!log.contains(secret.as_str()), "a secret is in lifeboatd's log");
    }

    // The audit log holds both acknowledgements and its chain verifies.
    let out = Command::new(lifeboat_cli())
        .args(["audit", "list", "--json", "--state"])
        .arg(site.state())
        .output()
        .expect("run lifeboat audit list");
    assert!(out.status.success(), "lifeboat audit list: {}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listing.matches("alert_acknowledge").count(), 2, "{listing}");
    let out = Command::new(lifeboat_cli())
        .args(["--config"])
        .arg(site.config())
        .args(["audit", "verify", "--state"])
        .arg(site.state())
        .env("LIFEBOAT_STATE_DIR", site.path("known"))
        .env("HOME", site.path("home"))
        .output()
        .expect("run lifeboat audit verify");
    assert!(
        out.status.success(),
        "lifeboat audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
