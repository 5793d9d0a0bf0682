//! `lifeboat status` and `lifeboat jobs [ID]`: ask a running lifeboatd over its HTTP API
//! (`GET /api/v1/status`, `/api/v1/jobs`, `/api/v1/jobs/{id}`) and print a table or the
//! API's JSON. The token is read from `--token-file` or `LIFEBOAT_TOKEN` and only ever sent
//! in the Authorization header; no message names it.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::flags::{JobsArgs, ServerArgs, StatusArgs};
use crate::render::{escape, human_bytes, print_json};

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `lifeboat status`.
pub async fn status(args: StatusArgs) -> Result<ExitCode> {
    let api = Api::new(&args.server).await?;
    let status = api.get(api.url(&["api", "v1", "status"], &[])?).await?;
    if args.server.json {
        print_json(&status)?;
    } else {
        print_status(&status, Utc::now());
    }
    Ok(ExitCode::SUCCESS)
}

/// `lifeboat jobs [ID]`.
pub async fn jobs(args: JobsArgs) -> Result<ExitCode> {
    let api = Api::new(&args.server).await?;
    if let Some(id) = args.id {
        let job = api.get(api.url(&["api", "v1", "jobs", &id.to_string()], &[])?).await?;
        if args.server.json {
            print_json(&job)?;
        } else {
            print_job(&job, Utc::now());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let limit = args.limit.map(|l| l.to_string());
    let query: Vec<(&str, &str)> =
        [("plan", args.plan.as_deref()), ("state", args.state.as_deref()), ("limit", limit.as_deref())]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
    let page = api.get(api.url(&["api", "v1", "jobs"], &query)?).await?;
    if args.server.json {
        print_json(&page)?;
    } else {
        let jobs = page["jobs"].as_array().map(Vec::as_slice).unwrap_or_default();
        print_jobs(jobs, Utc::now());
    }
    Ok(ExitCode::SUCCESS)
}

/// A client of one lifeboatd (also `lifeboat alerts`'s).
pub(crate) struct Api {
    base: reqwest::Url,
    /// The base URL without user info, for messages.
    shown: String,
    client: reqwest::Client,
    token: Option<Zeroizing<String>>,
}

impl Api {
    pub(crate) async fn new(args: &ServerArgs) -> Result<Api> {
        let mut base = reqwest::Url::parse(&args.server)
            .map_err(|e| anyhow!("--server {:?} is not a URL: {e}", escape(&args.server)))?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            bail!("--server must be an http:// or https:// URL with a host");
        }
        // Credentials in the URL would end up in messages; they are not how lifeboatd authenticates.
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let shown = base.as_str().trim_end_matches('/').to_owned();
        let token = read_token(args).await?;
        // reqwest is built without a TLS provider of its own: ring, as the rest of the CLI uses.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| anyhow!("cannot set up an HTTP client: {}", e.without_url()))?;
        Ok(Api { base, shown, client, token })
    }

    /// The base URL with `segments` appended (each percent-encoded) and `query`.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<reqwest::Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow!("--server {} cannot be a base URL", self.shown))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// GETs `url` and returns its JSON body; an API error becomes its message and code.
    pub(crate) async fn get(&self, url: reqwest::Url) -> Result<Value> {
        self.send(self.client.get(url)).await
    }

    /// POSTs `body` as JSON to `url` and returns the JSON answer, as [`Api::get`] does.
    pub(crate) async fn post(&self, url: reqwest::Url, body: &Value) -> Result<Value> {
        let request = self.client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json");
        self.send(request.body(body.to_string())).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value> {
        let mut request = request.header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.as_str());
        }
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| anyhow!("lifeboatd at {} broke off its answer: {}", self.shown, e.without_url()))?;
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if status.is_success() {
            return json
                .ok_or_else(|| anyhow!("lifeboatd at {} answered {status} with a body that is not JSON", self.shown));
        }
        let error = json.as_ref().map(|j| &j["error"]);
        match error.and_then(|e| e["message"].as_str()) {
            Some(message) => {
                let code = error.and_then(|e| e["code"].as_str()).unwrap_or("unknown");
                let id = error.and_then(|e| e["request_id"].as_str()).map(|id| format!(", request {}", escape(id)));
                let mut text = format!(
                    "lifeboatd: {} ({}, HTTP {}{})",
                    escape(message),
                    escape(code),
                    status.as_u16(),
                    id.unwrap_or_default()
                );
                if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
                    text.push_str("; set LIFEBOAT_TOKEN or pass --token-file");
                }
                Err(anyhow!(text))
            }
            None => bail!("lifeboatd at {} answered {status}", self.shown),
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> anyhow::Error {
        let reason = io_reason(e);
        if e.is_connect() {
            return anyhow!(
                "cannot reach lifeboatd at {}: {}",
                self.shown,
                reason.unwrap_or_else(|| "cannot connect".into())
            );
        }
        if e.is_timeout() {
            return anyhow!("lifeboatd at {} did not answer within {}s", self.shown, REQUEST_TIMEOUT.as_secs());
        }
        anyhow!("cannot talk to lifeboatd at {}: {}", self.shown, reason.unwrap_or_else(|| e.without_url_text()))
    }
}

/// Display of a reqwest error without its URL.
trait WithoutUrlText {
    fn without_url_text(&self) -> String;
}

impl WithoutUrlText for reqwest::Error {
    fn without_url_text(&self) -> String {
        let mut text = String::new();
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(self);
        while let Some(s) = source {
            text = s.to_string();
            source = s.source();
        }
        if text.is_empty() { "request failed".into() } else { text }
    }
}

/// The innermost I/O error's reason ("connection refused"), if the chain has one.
fn io_reason(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut found = None;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            found = Some(match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                _ => io.to_string(),
            });
        }
        source = s.source();
    }
    found
}

/// The token: the first line of `--token-file`, else `LIFEBOAT_TOKEN`, else none.
async fn read_token(args: &ServerArgs) -> Result<Option<Zeroizing<String>>> {
    let token = match &args.token_file {
        Some(path) => {
            let path = path.clone();
            let text = tokio::task::spawn_blocking(move || {
                std::fs::read(&path)
                    .map(Zeroizing::new)
                    .with_context(|| format!("cannot read --token-file {}", path.display()))
            })
            .await
            .context("reading the token file")??;
            let text = std::str::from_utf8(&text).map_err(|_| anyhow!("--token-file is not UTF-8 text"))?;
            Zeroizing::new(text.lines().next().unwrap_or_default().trim().to_owned())
        }
        None => match std::env::var("LIFEBOAT_TOKEN") {
            Ok(value) => Zeroizing::new(value.trim().to_owned()),
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => bail!("LIFEBOAT_TOKEN is not UTF-8 text"),
        },
    };
    if token.is_empty() {
        bail!("the API token is empty (LIFEBOAT_TOKEN or --token-file)");
    }
    if token.chars().any(|c| c.is_control() || c == ' ') {
        bail!("the API token has spaces or control characters (LIFEBOAT_TOKEN or --token-file)");
    }
    Ok(Some(token))
}

pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => escape(s).into_owned(),
        other => other.to_string(),
    }
}

pub(crate) fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

/// A span of seconds as "3d4h", "2h5m", "4m10s", "12s".
fn span(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m{sec}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

pub(crate) fn relative(v: &Value, now: DateTime<Utc>) -> String {
    match time(v) {
        None => "-".into(),
        Some(t) => {
            let delta = (t - now).num_seconds();
            if delta >= 0 { format!("in {}", span(delta)) } else { format!("{} ago", span(delta)) }
        }
    }
}

/// Left-aligned columns, two spaces apart.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn print_status(status: &Value, now: DateTime<Utc>) {
    println!(
        "lifeboatd: {} ({} running, {} queued)",
        text(&status["health"]),
        text(&status["jobs_running"]),
        text(&status["jobs_queued"])
    );
    let plans = status["plans"].as_array().map(Vec::as_slice).unwrap_or_default();
    if plans.is_empty() {
        println!("no plans");
        return;
    }
    let rows: Vec<Vec<String>> = plans
        .iter()
        .map(|p| {
            let success = match p["age_seconds"].as_i64() {
                Some(age) => format!("{} ago", span(age)),
                None if p["last_success"].is_null() => "never".into(),
                None => relative(&p["last_success"], now),
            };
            let rpo = match (p["rpo_seconds"].as_i64(), p["within_rpo"].as_bool()) {
                (Some(rpo), Some(true)) => format!("{} ok", span(rpo)),
                (Some(rpo), Some(false)) => format!("{} MISSED", span(rpo)),
                (Some(rpo), None) => span(rpo),
                (None, _) => "-".into(),
            };
            let running =
                if p["running_job"].is_null() { "-".into() } else { format!("job {}", text(&p["running_job"])) };
            vec![text(&p["plan"]), text(&p["health"]), success, rpo, relative(&p["next_run"], now), running]
        })
        .collect();
    print!("{}", table(&["PLAN", "HEALTH", "LAST SUCCESS", "RPO", "NEXT RUN", "RUNNING"], &rows));
}

fn job_row(job: &Value, now: DateTime<Utc>) -> Vec<String> {
    let started = time(&job["started_at"]);
    let duration = match (started, time(&job["ended_at"])) {
        (Some(s), Some(e)) => match (e - s).num_milliseconds() {
            ms @ 0..10_000 => format!("{:.1}s", ms as f64 / 1000.0),
            _ => span((e - s).num_seconds()),
        },
        (Some(s), None) => format!("{} so far", span((now - s).num_seconds())),
        _ => "-".into(),
    };
    let bytes = match (job["bytes_read"].as_u64(), job["bytes_stored"].as_u64()) {
        (Some(r), Some(s)) => format!("{} / {}", human_bytes(r), human_bytes(s)),
        (Some(r), None) => human_bytes(r),
        _ => "-".into(),
    };
    let error: String = text(&job["error"]).chars().take(80).collect();
    vec![
        text(&job["id"]),
        text(&job["plan"]),
        text(&job["kind"]),
        text(&job["state"]),
        started.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into()),
        duration,
        bytes,
        error,
    ]
}

const JOB_HEADER: [&str; 8] = ["ID", "PLAN", "KIND", "STATE", "STARTED", "DURATION", "READ / STORED", "ERROR"];

fn print_jobs(jobs: &[Value], now: DateTime<Utc>) {
    if jobs.is_empty() {
        println!("no jobs");
        return;
    }
    let rows: Vec<Vec<String>> = jobs.iter().map(|j| job_row(j, now)).collect();
    print!("{}", table(&JOB_HEADER, &rows));
}

fn print_job(job: &Value, now: DateTime<Utc>) {
    print!("{}", table(&JOB_HEADER, &[job_row(job, now)]));
    for (label, key) in [
        ("trigger", "trigger"),
        ("requested by", "requested_by"),
        ("repository", "repository"),
        ("queued", "queued_at"),
        ("ended", "ended_at"),
        ("backup", "backup_id"),
        ("error", "error"),
    ] {
        if !job[key].is_null() {
            println!("{label}: {}", text(&job[key]));
        }
    }
}
