//! `lifeboat alerts test` against the real notification servers (scripts/notify-servers.sh):
//! each channel's `success` or exact failure, a non-zero exit when one failed, `--channel`,
//! `--json`, and no secret in the output.

use std::path::Path;

use crate::common::{EXIT_FAILURE, EXIT_OK, lifeboat, run};

fn env() -> std::collections::HashMap<String, String> {
    lifeboat_testkit::notify_env()
}

/// A config with mail (implicit TLS, the password from $LB_TEST_SMTP_PW), hook and team.
fn write_config(dir: &Path, tag: &str) -> std::path::PathBuf {
    let e = env();
    let secret = dir.join("hook.secret");
    std::fs::write(&secret, &e["LIFEBOAT_TEST_WEBHOOK_SECRET"]).unwrap();
    let slack = dir.join("slack.url");
    std::fs::write(&slack, format!("{}/slack/{tag}", e["LIFEBOAT_TEST_RECEIVER_URL"])).unwrap();
    let text = format!(
        r#"[service]
state = "{state}"

[notifications.channels.mail]
kind = "smtp"
host = "{host}"
port = {port}
security = "tls"
username = "{user}"
password-env = "LB_TEST_SMTP_PW"
from = "lifeboat@example.test"
to = ["ops@example.test"]
ca-file = "{ca}"

[notifications.channels.hook]
kind = "webhook"
url = "{base}/webhook/{tag}"
secret-file = "{secret}"

[notifications.channels.team]
kind = "slack"
url-file = "{slack}"
"#,
        host = e["LIFEBOAT_TEST_SMTP_HOST"],
        port = e["LIFEBOAT_TEST_SMTP_TLS_PORT"],
        user = e["LIFEBOAT_TEST_SMTP_USER"],
        ca = e["LIFEBOAT_TEST_SMTP_CA"],
        base = e["LIFEBOAT_TEST_RECEIVER_URL"],
        secret = secret.display(),
        slack = slack.display(),
        state = dir.join("state.sqlite").display(),
    );
    let path = dir.join("lifeboat.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn each_channel_says_success_or_its_exact_failure() {
    let dir = tempfile::tempdir().unwrap();
    let tag = lifeboat_testkit::unique("cli-test");
    let config = write_config(dir.path(), &tag);
    let wrong = "cli-wrong-password-5e1f";
    let mut cmd = lifeboat();
    cmd.env("LB_TEST_SMTP_PW", wrong).arg("--config").arg(&config).args(["alerts", "test"]);
    let out = run(cmd, b"");
    out.code(EXIT_FAILURE);
    let text = out.text();
    assert!(text.contains("hook (webhook): success\n") && text.contains("team (slack): success\n"), "{text}");
    assert!(text.contains("mail (smtp): FAILED: channel mail: sending email through localhost:"), "{text}");
    assert!(text.contains("authentication failed"), "{text}");
    let slack_url = std::fs::read_to_string(dir.path().join("slack.url")).unwrap();
    for secret in [wrong, &env()["LIFEBOAT_TEST_WEBHOOK_SECRET"], &slack_url] {
        assert!(!out.all().contains(secret), "{}", out.all());
    }

    let mut cmd = lifeboat();
    cmd.env("LB_TEST_SMTP_PW", wrong).arg("--config").arg(&config).args([
        "alerts",
        "test",
        "--channel",
        "hook",
        "--json",
    ]);
    let out = run(cmd, b"");
    out.code(EXIT_OK);
    assert_eq!(
        out.json(),
        serde_json::json!({"results": [{"channel": "hook", "kind": "webhook", "ok": true, "error": null}]})
    );

    // Both tests were sent from here, so the audit log of the config's state records them.
    let mut cmd = lifeboat();
    cmd.args(["audit", "list", "--json", "--state"]).arg(dir.path().join("state.sqlite"));
    let out = run(cmd, b"");
    out.code(EXIT_OK);
    let listing = out.text();
    assert_eq!(listing.matches("notification_test").count(), 2, "{listing}");
    assert!(listing.contains("\"hook\""), "the second names its channel: {listing}");
}

#[test]
fn without_a_config_or_channels_it_says_what_is_missing() {
    let out = run(
        {
            let mut c = lifeboat();
            c.args(["alerts", "test"]);
            c
        },
        b"",
    );
    out.code(EXIT_FAILURE).stderr_has("--config");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.toml");
    std::fs::write(&path, "").unwrap();
    let mut cmd = lifeboat();
    cmd.arg("--config").arg(&path).args(["alerts", "test"]);
    run(cmd, b"").code(EXIT_FAILURE).stderr_has("[notifications.channels.NAME]");
}
