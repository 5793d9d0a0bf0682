//! Email through an SMTP relay: lettre's async transport on tokio, rustls on ring.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use zeroize::Zeroizing;

use crate::{Channel, Notification, NotifyError};

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP upgraded with STARTTLS, which is required (default port 587).
    StartTls,
    /// TLS from the first byte, "SMTPS" (default port 465).
    Tls,
    /// No encryption: only to a loopback relay (a local MTA), never across a network.
    Plain,
}

impl SmtpSecurity {
    fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plain => 25,
        }
    }
}

/// What an [`SmtpChannel`] is built from. No `Debug`: it holds the password.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The channel's name.
    pub name: String,
    /// The relay's host name (checked against its certificate).
    pub host: String,
    /// The relay's port; `None` for the security's default.
    pub port: Option<u16>,
    /// STARTTLS, implicit TLS, or plain (loopback only).
    pub security: SmtpSecurity,
    /// The AUTH user; `None` sends without authenticating.
    pub username: Option<String>,
    /// The AUTH password (PLAIN or LOGIN, whichever the relay offers).
    pub password: Option<Zeroizing<String>>,
    /// The sender, `Name <addr>` or `addr`.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// The timeout of each step of the SMTP conversation.
    pub timeout: Duration,
    /// A PEM certificate to trust in addition to the public roots (a private CA, a
    /// self-signed relay).
    pub ca_file: Option<PathBuf>,
}

/// An email channel.
pub struct SmtpChannel {
    name: String,
    server: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpChannel {
    /// Checks the addresses, reads the CA file and sets up the transport (no connection yet).
    pub fn new(settings: SmtpSettings) -> Result<SmtpChannel, NotifyError> {
        let name = settings.name.as_str();
        let from = mailbox(name, "from", &settings.from)?;
        if settings.to.is_empty() {
            return Err(NotifyError::settings(name, "no recipients (to)"));
        }
        let to = settings.to.iter().map(|t| mailbox(name, "to", t)).collect::<Result<Vec<_>, _>>()?;
        let port = settings.port.unwrap_or(settings.security.default_port());
        let transport = transport(&settings, port)?;
        Ok(SmtpChannel { server: format!("{}:{port}", settings.host), name: settings.name, from, to, transport })
    }

    fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject(n));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(body(n))
            .map_err(|e| NotifyError::settings(&self.name, format!("cannot build the message: {e}")))
    }

    fn smtp_error(&self, e: &lettre::transport::smtp::Error) -> NotifyError {
        let mut reason = crate::error::with_sources(&e.to_string(), e);
        if e.status().is_some_and(|c| c.to_string() == "535") {
            reason = format!("authentication failed (check the user and the password): {reason}");
        }
        NotifyError::Smtp { channel: self.name.clone(), server: self.server.clone(), reason }
    }
}

fn mailbox(channel: &str, field: &str, address: &str) -> Result<Mailbox, NotifyError> {
    address
        .parse()
        .map_err(|e| NotifyError::settings(channel, format!("{field} address {address:?} is not valid: {e}")))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn transport(s: &SmtpSettings, port: u16) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
    let tls = match s.security {
        SmtpSecurity::Plain if !is_loopback(&s.host) => {
            return Err(NotifyError::settings(
                &s.name,
                format!("security = \"plain\" is allowed only to a loopback relay, not {}", s.host),
            ));
        }
        SmtpSecurity::Plain => Tls::None,
        SmtpSecurity::StartTls => Tls::Required(tls_parameters(s)?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(s)?),
    };
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host).port(port).tls(tls).timeout(Some(s.timeout));
    match (&s.username, &s.password) {
        (Some(user), Some(password)) => {
            builder = builder
                .credentials(Credentials::new(user.clone(), password.to_string()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        (None, None) => {}
        _ => return Err(NotifyError::settings(&s.name, "username and password go together")),
    }
    Ok(builder.build())
}

fn tls_parameters(s: &SmtpSettings) -> Result<TlsParameters, NotifyError> {
    let mut builder = TlsParameters::builder(s.host.clone());
    if let Some(path) = &s.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| NotifyError::settings(&s.name, format!("cannot read ca-file {}: {e}", path.display())))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            NotifyError::settings(&s.name, format!("ca-file {} is not a PEM certificate: {e}", path.display()))
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| NotifyError::settings(&s.name, format!("cannot set up TLS: {e}")))
}

/// `[Lifeboat] CRITICAL: <title>`: the severity first, so a mail filter can sort on it.
pub fn subject(n: &Notification) -> String {
    format!("[Lifeboat] {}: {}", n.severity.as_str().to_uppercase(), n.title)
}

/// The plain-text body: the text, the facts one per line, the dashboard link.
pub fn body(n: &Notification) -> String {
    let mut body = format!("{}\n\n{}\n\n", n.title, n.text);
    for (k, v) in n.facts() {
        body.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(link) = &n.link {
        body.push_str(&format!("\nDashboard: {link}\n"));
    }
    body.push_str("\n-- \nSent by lifeboatd. Configure in [notifications] of lifeboat.toml.\n");
    body
}

#[async_trait]
impl Channel for SmtpChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, notification: &Notification) -> Result<(), NotifyError> {
        let message = self.message(notification)?;
        self.transport.send(message).await.map(drop).map_err(|e| self.smtp_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Severity};

    fn settings() -> SmtpSettings {
        SmtpSettings {
            name: "mail".into(),
            host: "smtp.example.com".into(),
            port: None,
            security: SmtpSecurity::StartTls,
            username: Some("u".into()),
            password: Some(Zeroizing::new("hunter2".into())),
            from: "Lifeboat <lifeboat@example.com>".into(),
            to: vec!["ops@example.com".into()],
            timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }

    #[test]
    fn subject_and_body_say_what_happened() {
        let mut n = Notification::test("mail", Some("https://lb.example/".into()));
        n.event = Event::AlertFired;
        n.severity = Severity::Critical;
        n.title = "plan db: backup failed".into();
        n.plan = Some("db".into());
        assert_eq!(subject(&n), "[Lifeboat] CRITICAL: plan db: backup failed");
        let body = body(&n);
        assert!(body.contains("Plan: db\n") && body.contains("Event: alert_fired\n"), "{body}");
        assert!(body.contains("Dashboard: https://lb.example/"), "{body}");
    }

    #[test]
    fn plain_is_refused_off_loopback() {
        let mut s = settings();
        s.security = SmtpSecurity::Plain;
        let e = SmtpChannel::new(s.clone()).err().unwrap().to_string();
        assert!(e.contains("loopback") && e.starts_with("channel mail:"), "{e}");
        s.host = "127.0.0.1".into();
        assert!(SmtpChannel::new(s).is_ok());
    }

    #[test]
    fn bad_addresses_and_missing_ca_are_settings_errors() {
        let mut s = settings();
        s.to = vec!["not an address".into()];
        assert!(SmtpChannel::new(s).err().unwrap().to_string().contains("to address"));
        let mut s = settings();
        s.ca_file = Some("/nonexistent/ca.pem".into());
        let e = SmtpChannel::new(s).err().unwrap().to_string();
        assert!(e.contains("cannot read ca-file") && !e.contains("hunter2"), "{e}");
    }
}
