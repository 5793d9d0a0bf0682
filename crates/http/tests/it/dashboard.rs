//! The dashboard in a real browser: headless Chromium driven through chromedriver
//! (WebDriver) against a real service with real data (a files plan that succeeded, was
//! verified and passed a restore drill, a stdin plan that failed and raised a
//! `backup_failed` alert). A read token sees
//! everything but the acknowledge button disabled with the reason; an operate token
//! acknowledges the alert through the page, and the API then names that token. The page is
//! also loaded 390 px wide (no sideways scrolling, tables stacked). Screenshots go to
//! `target/dashboard-screenshots/`.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestServer, config_text};
use crate::webdriver::Browser;

const DESKTOP: (u32, u32) = (1280, 900);
const NARROW: (u32, u32) = (390, 844);

/// A plan whose command fails after writing HTML to stderr: its log must show as text.
const BROKEN_PLAN: &str = r#"
[plans.broken]
repository = "REPO"
password-file = "PW"
[plans.broken.source]
kind = "stdin"
command = ["sh", "-c", "echo '<b>not bold</b> the dump tool failed' >&2; false"]
name = "broken.out"
"#;

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("dashboard-screenshots")
}

/// Runs `kind` of `plan` through the API and waits for its end.
async fn run(server: &TestServer, plan: &str, kind: &str) -> Value {
    let body = json!({ "kind": kind });
    let path = format!("/api/v1/plans/{plan}/run");
    let queued = server.send(server.request(Method::POST, &path, Some(&server.tokens.operate)).json(&body)).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    server.wait_final(queued.json["id"].as_i64().unwrap(), Duration::from_secs(120)).await
}

/// Adds the broken plan, runs the plans, and waits for the failure's open alert.
async fn real_data(server: &TestServer) -> (Value, Value, Value) {
    let root = server.dir.path();
    let broken = BROKEN_PLAN
        .replace("REPO", &root.join("repo").display().to_string())
        .replace("PW", &root.join("repo.pw").display().to_string());
    std::fs::write(root.join("lifeboat.toml"), config_text(root, &broken)).unwrap();
    let reload = server.send(server.request(Method::POST, "/api/v1/reload", Some(&server.tokens.admin))).await;
    assert_eq!(reload.status, StatusCode::OK, "{}", reload.text);

    let backup = run(server, "web", "backup").await;
    assert_eq!(backup["state"], "succeeded", "{backup}");
    let verify = run(server, "web", "verify").await;
    assert_eq!(verify["state"], "succeeded", "{verify}");
    let queued =
        server.send(server.request(Method::POST, "/api/v1/plans/web/drill", Some(&server.tokens.operate))).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let drill = server.wait_final(queued.json["id"].as_i64().unwrap(), Duration::from_secs(120)).await;
    assert_eq!(drill["state"], "succeeded", "{drill}");
    let failed = run(server, "broken", "backup").await;
    assert_eq!(failed["state"], "failed", "{failed}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let open = server.get("/api/v1/alerts?state=open", &server.tokens.read).await;
        assert_eq!(open.status, StatusCode::OK, "{}", open.text);
        let found = open.json["alerts"]
            .as_array()
            .and_then(|list| list.iter().find(|a| a["rule"] == "backup_failed" && a["plan"] == "broken").cloned());
        if let Some(alert) = found {
            break alert;
        }
        assert!(tokio::time::Instant::now() < deadline, "no backup_failed alert for plan broken: {}", open.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    (backup, failed, alert)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_service_and_acknowledges_an_alert_in_chromium() {
    let server = TestServer::start().await;
    check_page_headers(&server).await;
    let (backup, failed, alert) = real_data(&server).await;
    let alert_id = alert["id"].as_str().unwrap().to_owned();
    let shots = screenshots();
    let browser = Browser::start(DESKTOP.0, DESKTOP.1).await;
    browser.goto(&format!("{}/", server.base)).await;

    // A read token: everything shows, the button is disabled with the reason.
    sign_in(&browser, &server.tokens.read).await;
    check_overview_and_plans(&browser).await;
    check_job_logs(&server, &browser, &backup, &failed).await;
    let card = format!("[data-alert=\"{alert_id}\"]");
    let summary = browser.wait_text(&format!("{card} .summary"), "the alert's summary", |t| !t.is_empty()).await;
    assert_eq!(summary, alert["summary"].as_str().unwrap(), "the alert's summary as the API has it");
    let button = browser.wait_for(&format!("{card} button.ack")).await;
    assert_eq!(button.property("disabled").await, true, "a read token cannot acknowledge");
    let reason = browser.wait_text(&format!("{card} .reason"), "why", |t| t.contains("operate")).await;
    assert!(reason.contains("reader"), "the reason names the token: {reason}");
    let refused = server
        .send(
            server
                .request(Method::POST, &format!("/api/v1/alerts/{alert_id}/acknowledge"), Some(&server.tokens.read))
                .json(&json!({})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "the API refuses it too: {}", refused.text);
    // Forced on anyway, the button gets the API's 403, and the page says so.
    let force = "const b = document.querySelector(arguments[0]); b.disabled = false; b.click();";
    browser.script(force, json!([format!("{card} button.ack")])).await;
    let said = browser.wait_text(&format!("{card} .outcome"), "the refusal", |t| t.contains("403")).await;
    assert!(said.contains("lacks the operate scope"), "the API's reason: {said}");
    let still = server.get(&format!("/api/v1/alerts/{alert_id}"), &server.tokens.read).await;
    assert_eq!(still.json["state"], "firing", "a read token acknowledged nothing: {}", still.text);
    check_chart(&browser).await;
    check_repositories_and_drills(&browser).await;
    browser.screenshot_full(&shots.join("desktop-read-token.png"), DESKTOP.0, DESKTOP.1).await;

    // A job run meanwhile shows up by itself (the page refreshes every 15 s).
    let again = run(&server, "web", "backup").await;
    let item = format!("[data-job=\"{}\"]", again["id"]);
    // One refresh period and a slow refresh on a busy machine.
    let limit = Duration::from_secs(45);
    browser.wait_text_for(&item, "the new job, without a reload", limit, |t| t.contains("succeeded")).await;

    check_narrow(&browser, &shots).await;

    // Sign out: the token leaves the session.
    browser.wait_for("#logout").await.click().await;
    browser.wait_for("#login:not([hidden])").await;
    let kept = browser.script("return sessionStorage.getItem('lifeboat.token');", json!([])).await;
    assert_eq!(kept, Value::Null, "signing out forgets the token");

    // An operate token acknowledges through the page.
    sign_in(&browser, &server.tokens.operate).await;
    let button = browser.wait_for(&format!("{card} button.ack")).await;
    assert_eq!(button.property("disabled").await, false, "an operate token may acknowledge");
    browser.screenshot_full(&shots.join("desktop-before-ack.png"), DESKTOP.0, DESKTOP.1).await;
    let comment = browser.wait_for(&format!("{card} input[name=comment]")).await;
    comment.type_text("looking into it <script>").await;
    button.click().await;
    let acked = browser
        .wait_text(&format!("{card} [data-acknowledged]"), "the acknowledgement", |t| t.contains("operator"))
        .await;
    assert!(acked.contains("looking into it <script>"), "the comment shown as text: {acked}");
    let by_api = server.get(&format!("/api/v1/alerts/{alert_id}"), &server.tokens.read).await;
    assert_eq!(by_api.status, StatusCode::OK, "{}", by_api.text);
    assert_eq!(by_api.json["state"], "acknowledged", "{}", by_api.text);
    let by = by_api.json["acknowledged"]["by"].as_str().unwrap_or_default();
    assert!(by.contains("operator"), "acknowledged by the operate token's name: {}", by_api.text);
    assert_eq!(by_api.json["acknowledged"]["comment"], "looking into it <script>", "{}", by_api.text);
    browser.screenshot_full(&shots.join("desktop-after-ack.png"), DESKTOP.0, DESKTOP.1).await;
    browser.quit().await;
    server.stop().await;
}

/// The page and its assets: content types, the policy, no store of data, 304 on a match.
async fn check_page_headers(server: &TestServer) {
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let answer = server.send(server.request(Method::GET, path, None)).await;
        assert_eq!(answer.status, StatusCode::OK, "{path} needs no token: {}", answer.text);
        assert_eq!(answer.headers["content-type"], content_type, "{path}");
        let policy = answer.headers["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'self'") && !policy.contains("unsafe"), "{path}: {policy}");
        assert_eq!(answer.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(answer.headers["cache-control"], "no-cache", "{path}");
        let etag = answer.headers["etag"].clone();
        let again = server.send(server.request(Method::GET, path, None).header("if-none-match", etag)).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path} revalidates");
    }
    let missing = server.send(server.request(Method::GET, "/assets/nope.js", None)).await;
    missing.assert_error(StatusCode::NOT_FOUND, "not_found", "an unknown asset");
    let who = server.get("/api/v1/whoami", &server.tokens.operate).await;
    assert_eq!(who.json, json!({"name": "operator", "scopes": ["operate"], "expires_at": null}), "{}", who.text);
}

async fn sign_in(browser: &Browser, token: &str) {
    let field = browser.wait_for("#login:not([hidden]) #token").await;
    field.type_text(token).await;
    browser.wait_for("#login-submit").await.click().await;
    browser.wait_for("#dashboard:not([hidden])").await;
    browser.wait_text("#refreshed", "a refresh", |t| t.starts_with("updated")).await;
    let kept = browser.script("return sessionStorage.getItem('lifeboat.token');", json!([])).await;
    assert_eq!(kept, token, "the token is kept in sessionStorage");
}

async fn check_overview_and_plans(browser: &Browser) {
    let health = browser.wait_text("#overall-health", "the overall health", |t| !t.is_empty()).await;
    assert_eq!(health, "FAILING", "a plan that never succeeded fails the whole");
    let firing = browser.wait_text("[data-fact=alerts]", "the firing count", |t| t != "?").await;
    assert_eq!(firing, "1");
    let web = browser.wait_text("tr[data-plan=web]", "plan web", |t| t.contains("succeeded")).await;
    assert!(web.contains("1 / 1 (100 %)"), "web's success rate over 7 days: {web}");
    assert!(web.contains("files"), "{web}");
    assert!(web.contains("B"), "bytes stored: {web}");
    let broken = browser.wait_text("tr[data-plan=broken]", "plan broken", |t| t.contains("failed")).await;
    assert!(broken.contains("0 / 1 (0 %)"), "{broken}");
    assert!(broken.contains("never succeeded"), "{broken}");
    assert!(broken.to_lowercase().contains("failing"), "{broken}");
    let slow = browser.wait_text("tr[data-plan=slow]", "plan slow", |t| t.contains("no runs")).await;
    assert!(slow.contains("slow"), "{slow}");
}

async fn check_job_logs(server: &TestServer, browser: &Browser, backup: &Value, failed: &Value) {
    for job in [backup, failed] {
        let id = job["id"].as_i64().unwrap();
        let log = server.get(&format!("/api/v1/jobs/{id}/log"), &server.tokens.read).await;
        let line = log.json["entries"]
            .as_array()
            .and_then(|e| e.iter().rev().find_map(|e| e["line"].as_str()))
            .unwrap_or_else(|| panic!("job {id} logged nothing: {}", log.text))
            .to_owned();
        let item = format!("[data-job=\"{id}\"]");
        browser.wait_for(&format!("{item} .job-head")).await.click().await;
        let shown = browser.wait_text(&format!("{item} pre.log"), "the log", |t| t.contains(&line)).await;
        assert!(shown.contains(&line), "{shown}");
    }
    let id = failed["id"].as_i64().unwrap();
    let html = format!("[data-job=\"{id}\"] pre.log");
    let shown = browser.wait_text(&html, "the HTML as text", |t| t.contains("<b>not bold</b>")).await;
    assert!(shown.contains("the dump tool failed"), "{shown}");
    assert!(browser.find_all(&format!("{html} b")).await.is_empty(), "the log's HTML was not interpreted");
    let error = browser.wait_text(&format!("[data-job=\"{id}\"] .err"), "the job's error", |t| !t.is_empty()).await;
    assert!(!error.is_empty());
}

async fn check_chart(browser: &Browser) {
    let runs =
        browser.script("return document.querySelector('#chart-box svg').getAttribute('data-runs');", json!([])).await;
    assert_eq!(runs, "4", "four jobs ended this week (web's backup, verify and drill, broken's backup)");
    let bars = browser.find_all("#chart-box svg rect.bar-ok").await.len();
    let failed = browser.find_all("#chart-box svg rect.bar-failed").await.len();
    assert_eq!((bars, failed), (1, 1), "today's bar: succeeded and failed parts");
    assert_eq!(browser.find_all("#chart-box svg circle.dot").await.len(), 1, "today's mean duration");
}

async fn check_repositories_and_drills(browser: &Browser) {
    let repo = browser.wait_text("#repositories-table tbody tr", "the repository", |t| t.contains("sound")).await;
    assert!(repo.contains("web") && repo.contains("broken"), "the plans using it: {repo}");
    assert!(repo.contains("yes"), "reachable: {repo}");
    // The drill of web: passed, its RTO and RPO, every scratch target removed; its report
    // opens as text under it.
    let row = browser.wait_text("tr[data-drill]", "the drill of web", |t| t.contains("passed")).await;
    assert!(row.contains("web"), "{row}");
    let missed = browser.find_all("tr[data-drill] td[data-label=\"Scratch removed\"] .bad").await;
    assert!(row.contains(" of ") && missed.is_empty(), "every scratch target removed: {row}");
    browser.wait_for("tr[data-drill] button.report").await.click().await;
    let page = browser.wait_text("tr.drill-report pre", "the drill's report", |t| t.starts_with("# ")).await;
    assert!(page.contains("web"), "{page}");
}

/// 390 px wide: nothing scrolls sideways, the tables stack, the alert is there.
async fn check_narrow(browser: &Browser, shots: &std::path::Path) {
    browser.resize(NARROW.0, NARROW.1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let inner = browser.script("return window.innerWidth;", json!([])).await;
        if inner.as_u64().is_some_and(|w| w <= u64::from(NARROW.0)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the window did not narrow: {inner}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let widths = browser.script("return [document.documentElement.scrollWidth, window.innerWidth];", json!([])).await;
    let [scroll, inner] = [widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap()];
    assert!(scroll <= inner, "no sideways scrolling at {inner} px: the page is {scroll} px wide");
    let head = browser
        .script("return getComputedStyle(document.querySelector('#plans-table thead')).display;", json!([]))
        .await;
    assert_eq!(head, "none", "the plans table is stacked on a narrow screen");
    // The chart is redrawn at the narrow width (its text keeps its size).
    let width = "return +document.querySelector('#chart-box svg').getAttribute('width');";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while browser.script(width, json!([])).await.as_u64().is_none_or(|w| w > u64::from(NARROW.0)) {
        assert!(tokio::time::Instant::now() < deadline, "the chart was not redrawn for the narrow window");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.wait_for("[data-alert] .summary").await;
    browser.screenshot_full(&shots.join("narrow-390.png"), NARROW.0, NARROW.1).await;
    browser.resize(DESKTOP.0, DESKTOP.1).await;
}
