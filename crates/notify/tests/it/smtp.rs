//! Email through the real aiosmtpd: STARTTLS and implicit TLS with AUTH, a wrong password.

use std::time::Duration;

use lifeboat_notify::{Channel, SmtpChannel, SmtpSecurity, SmtpSettings};
use zeroize::Zeroizing;

use crate::{alert, env, unique};

fn settings(security: SmtpSecurity, password: &str) -> SmtpSettings {
    let env = env();
    let port = match security {
        SmtpSecurity::Tls => &env["LIFEBOAT_TEST_SMTP_TLS_PORT"],
        _ => &env["LIFEBOAT_TEST_SMTP_STARTTLS_PORT"],
    };
    SmtpSettings {
        name: "mail".into(),
        host: env["LIFEBOAT_TEST_SMTP_HOST"].clone(),
        port: Some(port.parse().unwrap()),
        security,
        username: Some(env["LIFEBOAT_TEST_SMTP_USER"].clone()),
        password: Some(Zeroizing::new(password.to_owned())),
        from: "Lifeboat <lifeboat@example.test>".into(),
        to: vec!["ops@example.test".into(), "dba@example.test".into()],
        timeout: Duration::from_secs(10),
        ca_file: Some(env["LIFEBOAT_TEST_SMTP_CA"].clone().into()),
    }
}

/// The spool records whose subject contains `token`.
fn spooled(token: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(&env()["LIFEBOAT_TEST_SMTP_SPOOL"]).expect("the spool file");
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["subject"].as_str().is_some_and(|s| s.contains(token)))
        .collect()
}

async fn delivered_through(security: SmtpSecurity, listener: &str) {
    let token = unique("smtp");
    let channel = SmtpChannel::new(settings(security, &env()["LIFEBOAT_TEST_SMTP_PASSWORD"])).unwrap();
    channel.send(&alert(&token)).await.unwrap();
    let got = spooled(&token);
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["listener"], listener);
    assert_eq!(m["auth_user"], env()["LIFEBOAT_TEST_SMTP_USER"]);
    assert_eq!(m["mail_from"], "lifeboat@example.test");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["ops@example.test", "dba@example.test"]));
    assert_eq!(m["subject"], format!("[Lifeboat] CRITICAL: plan db: backup failed {token}"));
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("connection refused (postgres://db:5432)"), "{body}");
    assert!(body.contains("Plan: db") && body.contains("Alert: A17") && body.contains("Job: 42"), "{body}");
    assert!(body.contains("Dashboard: https://lifeboat.example/"), "{body}");
}

#[tokio::test]
async fn starttls_with_auth_delivers() {
    delivered_through(SmtpSecurity::StartTls, "starttls").await;
}

#[tokio::test]
async fn implicit_tls_with_auth_delivers() {
    delivered_through(SmtpSecurity::Tls, "tls").await;
}

#[tokio::test]
async fn a_wrong_password_names_the_channel_and_not_the_password() {
    let token = unique("smtp-bad");
    let wrong = "wrong-password-7f3a9c";
    let channel = SmtpChannel::new(settings(SmtpSecurity::StartTls, wrong)).unwrap();
    let e = channel.send(&alert(&token)).await.unwrap_err().to_string();
    assert!(e.starts_with("channel mail: sending email through localhost:"), "{e}");
    assert!(e.contains("authentication failed") && e.contains("535"), "{e}");
    assert!(!e.contains(wrong), "{e}");
    assert!(spooled(&token).is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let token = unique("smtp-untrusted");
    let mut s = settings(SmtpSecurity::Tls, &env()["LIFEBOAT_TEST_SMTP_PASSWORD"]);
    s.ca_file = None;
    let e = SmtpChannel::new(s).unwrap().send(&alert(&token)).await.unwrap_err().to_string();
    assert!(e.starts_with("channel mail:") && e.to_lowercase().contains("certificate"), "{e}");
    assert!(spooled(&token).is_empty());
}
