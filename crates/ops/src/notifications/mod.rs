//! Telling people: the [`Dispatcher`] turns the service's [`AlertEvent`]s and finished jobs
//! into [`Notification`]s and hands each to the channels of `[notifications]` whose routing
//! takes it (severity, plan, event), and [`test_channels`] sends a test message through each
//! (what `lifeboat alerts test` and `POST /api/v1/notifications/test` do).
//!
//! Every channel has a queue and a task of its own: a channel whose server is down (each
//! send retried and timed out by lifeboat-notify) delays only its own later messages, never
//! another channel, the router or a job. A queue that overflows drops (and logs) the message.
//! Secrets are read once, when the dispatcher starts; errors name the file or variable only.

mod digest;

use std::sync::{Arc, Mutex};

use lifeboat_notify::{
    Channel, Event, Notification, Retry, SlackChannel, SlackSettings, SmtpChannel, SmtpSecurity, SmtpSettings,
    WebhookChannel, WebhookSettings,
};
use serde::Serialize;

use tokio::sync::{broadcast, mpsc, watch};

use crate::Config;
use crate::alerts::{Alert, AlertEvent, Severity};
use crate::config::{ChannelConfig, ChannelKind, EventName, NotificationSettings, SmtpSecurityName};
use crate::events::JobEvent;
use crate::state::JobState;
use crate::state::columns::TextColumn;

/// How many messages wait per channel before new ones are dropped.
const QUEUE: usize = 256;

/// What a test send through one channel did (the API's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelOutcome {
    /// The channel's name.
    pub channel: String,
    /// `smtp`, `webhook` or `slack`.
    pub kind: String,
    /// Whether the message was delivered.
    pub ok: bool,
    /// Why not, exactly as the channel said (never with a secret).
    pub error: Option<String>,
}

/// Builds the channel `name` from its configuration, reading its secrets.
pub fn build_channel(name: &str, config: &ChannelConfig) -> Result<Arc<dyn Channel>, String> {
    let secret = |what: &str, r: crate::config::SecretRef| {
        r.read().map_err(|e| format!("channel {name}: cannot read the {what}: {e}"))
    };
    let timeout = config.timeout();
    let retry = Retry { attempts: config.attempts.unwrap_or(Retry::default().attempts), ..Retry::default() };
    let channel: Arc<dyn Channel> = match config.kind {
        ChannelKind::Smtp => Arc::new(
            SmtpChannel::new(SmtpSettings {
                name: name.to_owned(),
                host: config.host.clone().unwrap_or_default(),
                port: config.port,
                security: match config.security.unwrap_or_default() {
                    SmtpSecurityName::Starttls => SmtpSecurity::StartTls,
                    SmtpSecurityName::Tls => SmtpSecurity::Tls,
                    SmtpSecurityName::Plain => SmtpSecurity::Plain,
                },
                username: config.username.clone(),
                password: secret("password", config.password())?,
                from: config.from.clone().unwrap_or_default(),
                to: config.to.clone().unwrap_or_default(),
                timeout,
                ca_file: config.ca_file.clone(),
            })
            .map_err(|e| e.to_string())?,
        ),
        ChannelKind::Webhook => Arc::new(
            WebhookChannel::new(WebhookSettings {
                name: name.to_owned(),
                url: config.url.clone().unwrap_or_default(),
                secret: secret("secret", config.secret())?,
                timeout,
                retry,
            })
            .map_err(|e| e.to_string())?,
        ),
        ChannelKind::Slack => {
            let url = secret("url", config.url_secret())?
                .ok_or_else(|| format!("channel {name}: url-file or url-env is required"))?;
            Arc::new(
                SlackChannel::new(SlackSettings { name: name.to_owned(), url, timeout, retry })
                    .map_err(|e| e.to_string())?,
            )
        }
    };
    Ok(channel)
}

/// Sends a test message through every channel (or only `only`), all at once, and says what
/// each did. An unknown `only` gives one failed outcome naming the channels there are.
pub async fn test_channels(config: &Config, only: Option<&str>) -> Vec<ChannelOutcome> {
    let settings = &config.notifications;
    if let Some(name) = only
        && !settings.channels.contains_key(name)
    {
        let defined = settings.channels.keys().cloned().collect::<Vec<_>>().join(", ");
        return vec![ChannelOutcome {
            channel: name.to_owned(),
            kind: String::new(),
            ok: false,
            error: Some(format!("no channel {name:?} in [notifications.channels] (defined: {defined})")),
        }];
    }
    let sends = settings.channels.iter().filter(|(name, _)| only.is_none_or(|o| o == name.as_str())).map(
        |(name, channel)| async move {
            let notification = Notification::test(name, settings.dashboard_url.clone());
            let result = match build_channel(name, channel) {
                Ok(ch) => ch.send(&notification).await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            log_outcome(name, "test", &result);
            ChannelOutcome {
                channel: name.clone(),
                kind: channel.kind.as_str().to_owned(),
                ok: result.is_ok(),
                error: result.err(),
            }
        },
    );
    futures::future::join_all(sends).await
}

fn log_outcome(channel: &str, event: &str, result: &Result<(), String>) {
    match result {
        Ok(()) => tracing::info!(channel, event, "notification delivered"),
        Err(e) => tracing::warn!(channel, event, "notification not delivered: {e}"),
    }
}

/// One running channel: its routing and the sending end of its queue.
struct Route {
    name: String,
    config: ChannelConfig,
    queue: mpsc::Sender<Notification>,
}

/// The running notification side of lifeboatd. Its tasks end when the service's event
/// streams close; [`Dispatcher::reload`] rebuilds the channels from a new configuration.
pub struct Dispatcher {
    channels: Arc<Mutex<Vec<String>>>,
    settings: watch::Sender<Arc<NotificationSettings>>,
}

impl Dispatcher {
    /// Builds every channel of `config` (one that cannot be built is logged and left out),
    /// starts a sender task per channel, the router over `jobs` and `alerts`, and the daily
    /// digest when `[notifications] digest` is set.
    pub fn start(
        config: &Config,
        jobs: broadcast::Receiver<JobEvent>,
        alerts: broadcast::Receiver<AlertEvent>,
    ) -> Dispatcher {
        let settings = Arc::new(config.notifications.clone());
        let channels = Arc::new(Mutex::new(Vec::new()));
        let routes = build_routes(&settings, &channels);
        let (tx, rx) = watch::channel(Arc::clone(&settings));
        tokio::spawn(route(rx, routes, Arc::clone(&channels), jobs, alerts));
        Dispatcher { channels, settings: tx }
    }

    /// Rebuilds the channels from `config` (a reload): messages already queued on the old
    /// channels are still sent; new ones go through the new channels.
    pub fn reload(&self, config: &Config) {
        if **self.settings.borrow() != config.notifications {
            self.settings.send_replace(Arc::new(config.notifications.clone()));
        }
    }

    /// The channels that started.
    pub fn channels(&self) -> Vec<String> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A sender task per channel that builds; their names go to `started`.
fn build_routes(settings: &NotificationSettings, started: &Mutex<Vec<String>>) -> Vec<Route> {
    let mut routes = Vec::new();
    for (name, channel_config) in &settings.channels {
        match build_channel(name, channel_config) {
            Ok(channel) => {
                routes.push(Route { name: name.clone(), config: channel_config.clone(), queue: spawn_sender(channel) })
            }
            Err(e) => tracing::error!(channel = name.as_str(), "notification channel not started: {e}"),
        }
    }
    *started.lock().unwrap_or_else(|p| p.into_inner()) = routes.iter().map(|r| r.name.clone()).collect();
    routes
}

/// The task that sends one channel's queue, one message after the other.
fn spawn_sender(channel: Arc<dyn Channel>) -> mpsc::Sender<Notification> {
    let (tx, mut rx) = mpsc::channel::<Notification>(QUEUE);
    tokio::spawn(async move {
        while let Some(n) = rx.recv().await {
            let result = channel.send(&n).await.map_err(|e| e.to_string());
            log_outcome(channel.name(), n.event.as_str(), &result);
        }
    });
    tx
}

async fn route(
    mut updates: watch::Receiver<Arc<NotificationSettings>>,
    mut routes: Vec<Route>,
    started: Arc<Mutex<Vec<String>>>,
    mut jobs: broadcast::Receiver<JobEvent>,
    mut alerts: broadcast::Receiver<AlertEvent>,
) {
    // `borrow`, not `borrow_and_update`: a reload sent before this task first ran must still
    // show as changed below, or the routes built from the old settings would stay.
    let mut settings = Arc::clone(&updates.borrow());
    let mut digest = digest::Digest::new(&settings);
    // Once the Dispatcher is dropped there are no more reloads (and `changed` would return at once).
    let mut reloadable = true;
    loop {
        let (event, notification) = tokio::select! {
            got = alerts.recv() => match got {
                Ok(e) => { digest.alert(&e); match alert_notification(&e, &settings) { Some(n) => n, None => continue } }
                Err(broadcast::error::RecvError::Lagged(n)) => { tracing::warn!("notifications missed {n} alert events"); continue }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            got = jobs.recv() => match got {
                Ok(e) => { digest.job(&e); match job_notification(&e, &settings) { Some(n) => n, None => continue } }
                Err(broadcast::error::RecvError::Lagged(n)) => { tracing::warn!("notifications missed {n} job events"); continue }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = updates.changed(), if reloadable => {
                if changed.is_err() {
                    reloadable = false;
                    continue;
                }
                settings = Arc::clone(&updates.borrow_and_update());
                routes = build_routes(&settings, &started);
                digest.reschedule(&settings);
                tracing::info!(channels = routes.len(), "notification channels rebuilt from the reloaded configuration");
                continue;
            }
            () = digest.due() => {
                let n = digest.take(&settings);
                for r in &routes { enqueue(r, n.clone()); }
                continue;
            }
        };
        for r in routes.iter().filter(|r| r.config.routes(event, sev(&notification), notification.plan.as_deref())) {
            enqueue(r, notification.clone());
        }
    }
}

fn enqueue(route: &Route, n: Notification) {
    if route.queue.try_send(n).is_err() {
        tracing::warn!(
            channel = route.name.as_str(),
            "notification queue full (the channel is down?): message dropped"
        );
    }
}

fn sev(n: &Notification) -> Severity {
    match n.severity {
        lifeboat_notify::Severity::Info => Severity::Info,
        lifeboat_notify::Severity::Warning => Severity::Warning,
        lifeboat_notify::Severity::Critical => Severity::Critical,
    }
}

fn notify_severity(s: Severity) -> lifeboat_notify::Severity {
    match s {
        Severity::Info => lifeboat_notify::Severity::Info,
        Severity::Warning => lifeboat_notify::Severity::Warning,
        Severity::Critical => lifeboat_notify::Severity::Critical,
    }
}

/// What an alert event says; acknowledgements are not announced (the audit log has them).
fn alert_notification(event: &AlertEvent, settings: &NotificationSettings) -> Option<(EventName, Notification)> {
    let (name, kind, verb) = match event {
        AlertEvent::Fired(_) => (EventName::AlertFired, Event::AlertFired, "FIRING"),
        AlertEvent::Resolved(_) => (EventName::AlertResolved, Event::AlertResolved, "RESOLVED"),
        AlertEvent::Acknowledged(_) => return None,
    };
    let a: &Alert = event.alert();
    let mut text = a.summary.clone();
    if let Some(details) = &a.details {
        text.push_str("\n\n");
        text.push_str(details);
    }
    Some((
        name,
        Notification {
            event: kind,
            severity: notify_severity(a.severity),
            title: format!("{verb} {}: {}", a.id, a.summary),
            text,
            plan: a.plan.clone(),
            repository: a.repository.clone(),
            alert: Some(a.id.clone()),
            job: a.job,
            at: a.resolved_at.unwrap_or(a.last_seen),
            link: settings.dashboard_url.clone(),
        },
    ))
}

/// What a finished job says: failed (critical) or succeeded (info); other events say nothing.
fn job_notification(event: &JobEvent, settings: &NotificationSettings) -> Option<(EventName, Notification)> {
    let JobEvent::Finished { job, plan, kind, repository, state, duration_seconds, error, .. } = event else {
        return None;
    };
    let (name, event, severity, verb) = match state {
        JobState::Failed => (EventName::JobFailed, Event::JobFailed, lifeboat_notify::Severity::Critical, "failed"),
        JobState::Succeeded => {
            (EventName::JobSucceeded, Event::JobSucceeded, lifeboat_notify::Severity::Info, "succeeded")
        }
        _ => return None,
    };
    // The job history's own name for the kind (`backup`, `verify` ...).
    let kind = kind.as_str();
    Some((
        name,
        Notification {
            event,
            severity,
            title: format!("plan {plan}: {kind} job {job} {verb}"),
            text: format!(
                "The {kind} job {job} of plan {plan} {verb} after {duration_seconds:.1}s{}. \
                 `lifeboat jobs {job}` or the dashboard shows its log.",
                error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
            plan: Some(plan.clone()),
            repository: repository.clone(),
            alert: None,
            job: u64::try_from(job.0).ok(),
            at: chrono::Utc::now(),
            link: settings.dashboard_url.clone(),
        },
    ))
}
