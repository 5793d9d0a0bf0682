//! The notification dispatcher and `test_channels` against the real test servers of
//! `scripts/notify-servers.sh` (aiosmtpd with STARTTLS and AUTH, the webhook/Slack receiver):
//! routing, one queue per channel (a channel that hangs or whose port is closed does not
//! delay the others), and errors that name the channel and never a secret.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use lifeboat_ops::Config;
use lifeboat_ops::alerts::{Alert, AlertEvent, AlertRule, AlertState, Severity};
use lifeboat_ops::notifications::{Dispatcher, test_channels};
use lifeboat_ops::service::JobEvent;
use lifeboat_ops::state::{JobId, JobKind, JobState};
use tokio::sync::broadcast;

fn env() -> HashMap<String, String> {
    lifeboat_testkit::notify_env()
}

/// What the receiver got on paths starting with `prefix` (a plain HTTP/1.0 GET).
fn received(prefix: &str) -> Vec<serde_json::Value> {
    let base = env()["LIFEBOAT_TEST_RECEIVER_URL"].clone();
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("the receiver listens");
    write!(stream, "GET /received?prefix={prefix} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    serde_json::from_str(body).expect("a JSON list")
}

fn spooled(token: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(&env()["LIFEBOAT_TEST_SMTP_SPOOL"]).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["subject"].as_str().is_some_and(|s| s.contains(token)))
        .collect()
}

/// Polls `f` until it is true or `limit` passes.
async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

fn write_secret(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path.display().to_string()
}

/// The channels of a test: mail (STARTTLS + AUTH), hook (signed), team (Slack), plus
/// `extra` tables. Paths on the receiver carry `tag`.
fn config(dir: &Path, tag: &str, smtp_password: &str, extra: &str) -> Config {
    let e = env();
    let text = format!(
        r#"
[notifications]
dashboard-url = "https://lifeboat.example/"

[notifications.channels.mail]
kind = "smtp"
host = "{host}"
port = {port}
security = "starttls"
username = "{user}"
password-file = "{pw}"
from = "lifeboat@example.test"
to = ["ops@example.test"]
ca-file = "{ca}"

[notifications.channels.hook]
kind = "webhook"
url = "{base}/webhook/{tag}"
secret-file = "{secret}"
events = ["alert-fired", "alert-resolved", "job-failed"]

[notifications.channels.team]
kind = "slack"
url-file = "{slack}"
{extra}
"#,
        host = e["LIFEBOAT_TEST_SMTP_HOST"],
        port = e["LIFEBOAT_TEST_SMTP_STARTTLS_PORT"],
        user = e["LIFEBOAT_TEST_SMTP_USER"],
        pw = write_secret(dir, "smtp.pw", smtp_password),
        ca = e["LIFEBOAT_TEST_SMTP_CA"],
        base = e["LIFEBOAT_TEST_RECEIVER_URL"],
        secret = write_secret(dir, "hook.secret", &e["LIFEBOAT_TEST_WEBHOOK_SECRET"]),
        slack = write_secret(dir, "slack.url", &format!("{}/slack/{tag}", e["LIFEBOAT_TEST_RECEIVER_URL"])),
    );
    Config::parse(&text, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn alert(token: &str, plan: &str) -> Alert {
    let now = Utc::now();
    Alert {
        id: "A9001".into(),
        rule: AlertRule::BackupFailed,
        severity: Severity::Critical,
        plan: Some(plan.into()),
        repository: Some("/srv/repo".into()),
        summary: format!("plan {plan}: backup failed: connection refused {token}"),
        details: None,
        job: Some(7),
        state: AlertState::Firing,
        first_seen: now,
        last_seen: now,
        occurrences: 1,
        resolved_at: None,
        acknowledged: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fired_alert_reaches_every_channel_and_a_dead_one_delays_none() {
    let dir = tempfile::tempdir().unwrap();
    let tag = lifeboat_testkit::unique("dispatch");
    let closed = lifeboat_testkit::closed_port();
    let extra = format!(
        "[notifications.channels.hung]\nkind = \"webhook\"\nurl = \"{base}/webhook/{tag}/hang\"\ntimeout = \"30s\"\n\
         [notifications.channels.dead]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{closed}/x\"\n",
        base = env()["LIFEBOAT_TEST_RECEIVER_URL"]
    );
    let config = config(dir.path(), &tag, &env()["LIFEBOAT_TEST_SMTP_PASSWORD"], &extra);
    let (jobs_tx, jobs) = broadcast::channel(16);
    let (alerts_tx, alerts) = broadcast::channel(16);
    let dispatcher = Dispatcher::start(&config, jobs, alerts);
    assert_eq!(dispatcher.channels(), ["dead", "hook", "hung", "mail", "team"]);

    // The hung channel is busy with this one for 30 s x 4 attempts from here on.
    let started = Instant::now();
    alerts_tx.send(AlertEvent::Fired(alert(&tag, "db"))).unwrap();
    let token = tag.clone();
    let all_arrived = eventually(Duration::from_secs(10), || {
        !spooled(&token).is_empty()
            && !received(&format!("/webhook/{tag}")).iter().all(|r| r["path"].as_str().unwrap().ends_with("/hang"))
            && !received(&format!("/slack/{tag}")).is_empty()
    })
    .await;
    assert!(all_arrived, "mail, hook and team got the alert while hung and dead were failing");
    assert!(started.elapsed() < Duration::from_secs(10));

    let mail = &spooled(&tag)[0];
    assert!(mail["subject"].as_str().unwrap().starts_with("[Lifeboat] CRITICAL: FIRING A9001: plan db: backup failed"));
    let hook = received(&format!("/webhook/{tag}"));
    let body: serde_json::Value = serde_json::from_str(hook[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (body["event"].as_str(), body["alert"].as_str(), body["job"].as_u64()),
        (Some("alert_fired"), Some("A9001"), Some(7))
    );
    assert_eq!(hook[0]["status"], 204, "the receiver checked the HMAC");

    // A job failure goes only to the channel that opted in (hook), an acknowledgement nowhere.
    alerts_tx.send(AlertEvent::Acknowledged(alert(&tag, "db"))).unwrap();
    jobs_tx
        .send(JobEvent::Finished {
            job: JobId(77),
            plan: "db".into(),
            kind: JobKind::Backup,
            repository: None,
            state: JobState::Failed,
            duration_seconds: 1.5,
            bytes_read: 0,
            bytes_stored: 0,
            backup_id: None,
            verify_ok: None,
            error: Some("cannot connect to postgres://db:5432: connection refused".into()),
        })
        .unwrap();
    let job_seen = eventually(Duration::from_secs(10), || {
        received(&format!("/webhook/{tag}")).iter().any(|r| {
            let body = r["body"].as_str().unwrap();
            body.contains("\"job_failed\"") && body.contains("connection refused")
        })
    })
    .await;
    assert!(job_seen);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received(&format!("/slack/{tag}")).len(), 1, "slack: the alert only");
    assert_eq!(spooled(&tag).len(), 1, "mail: the alert only");
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_by_plan_and_severity() {
    let dir = tempfile::tempdir().unwrap();
    let tag = lifeboat_testkit::unique("routing");
    let mut config = config(dir.path(), &tag, &env()["LIFEBOAT_TEST_SMTP_PASSWORD"], "");
    config.notifications.channels.remove("mail");
    let team = config.notifications.channels.get_mut("team").unwrap();
    team.plans = Some(vec!["web".into()]);
    let (_jobs_tx, jobs) = broadcast::channel(16);
    let (alerts_tx, alerts) = broadcast::channel(16);
    let _dispatcher = Dispatcher::start(&config, jobs, alerts);
    alerts_tx.send(AlertEvent::Fired(alert(&tag, "db"))).unwrap();
    let mut info = alert(&tag, "web");
    info.severity = Severity::Info;
    alerts_tx.send(AlertEvent::Fired(info)).unwrap();
    let mut resolved = alert(&tag, "web");
    resolved.state = AlertState::Resolved;
    alerts_tx.send(AlertEvent::Resolved(resolved)).unwrap();
    let hook_path = format!("/webhook/{tag}");
    assert!(eventually(Duration::from_secs(10), || received(&hook_path).len() == 2).await);
    let events: Vec<String> = received(&hook_path)
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(r["body"].as_str().unwrap()).unwrap()["event"].to_string())
        .collect();
    assert_eq!(events, ["\"alert_fired\"", "\"alert_resolved\""], "the info alert is not routed");
    let slack = received(&format!("/slack/{tag}"));
    assert_eq!(slack.len(), 1, "team takes plan web only: {slack:?}");
    assert!(slack[0]["body"].as_str().unwrap().contains("RESOLVED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn test_channels_reports_each_channel_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let tag = lifeboat_testkit::unique("test-ch");
    let wrong = "wrong-smtp-password-93ab";
    let config = config(dir.path(), &tag, wrong, "");
    let outcomes = test_channels(&config, None).await;
    let by_name: HashMap<_, _> = outcomes.iter().map(|o| (o.channel.as_str(), o)).collect();
    assert_eq!(by_name.len(), 3);
    assert!(by_name["hook"].ok && by_name["team"].ok, "{outcomes:?}");
    let mail = by_name["mail"];
    assert_eq!((mail.kind.as_str(), mail.ok), ("smtp", false));
    let error = mail.error.as_deref().unwrap();
    assert!(error.starts_with("channel mail:") && error.contains("authentication failed"), "{error}");
    let slack_url = std::fs::read_to_string(dir.path().join("slack.url")).unwrap();
    for o in &outcomes {
        let text = format!("{o:?}");
        assert!(!text.contains(wrong) && !text.contains(&env()["LIFEBOAT_TEST_WEBHOOK_SECRET"]), "{text}");
        assert!(!text.contains(slack_url.trim()), "{text}");
    }
    assert_eq!(received(&format!("/webhook/{tag}")).len(), 1);

    let only = test_channels(&config, Some("team")).await;
    assert_eq!(only.len(), 1);
    assert!(only[0].ok);
    let unknown = test_channels(&config, Some("pager")).await;
    assert!(
        !unknown[0].ok && unknown[0].error.as_deref().unwrap().contains("defined: hook, mail, team"),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_rebuilds_the_channels() {
    let (old_dir, new_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (old_tag, new_tag) = (lifeboat_testkit::unique("reload-old"), lifeboat_testkit::unique("reload-new"));
    let password = env()["LIFEBOAT_TEST_SMTP_PASSWORD"].clone();
    let mut old = config(old_dir.path(), &old_tag, &password, "");
    old.notifications.channels.retain(|name, _| name == "hook");
    let mut new = config(new_dir.path(), &new_tag, &password, "");
    new.notifications.channels.retain(|name, _| name == "team");
    let (_jobs_tx, jobs) = broadcast::channel(16);
    let (alerts_tx, alerts) = broadcast::channel(16);
    let dispatcher = Dispatcher::start(&old, jobs, alerts);
    assert_eq!(dispatcher.channels(), ["hook"]);
    dispatcher.reload(&new);
    let swapped = eventually(Duration::from_secs(5), || dispatcher.channels() == ["team"]).await;
    assert!(swapped, "channels after the reload: {:?}", dispatcher.channels());
    alerts_tx.send(AlertEvent::Fired(alert(&new_tag, "db"))).unwrap();
    assert!(eventually(Duration::from_secs(10), || received(&format!("/slack/{new_tag}")).len() == 1).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(received(&format!("/webhook/{old_tag}")).is_empty(), "the old channel is gone");
}
