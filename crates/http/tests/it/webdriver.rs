//! A small W3C WebDriver client over reqwest, driving headless Chromium through Debian's
//! `chromedriver`: sessions, navigation, elements (find, text, click, type, properties),
//! scripts, window size and PNG screenshots. [`Browser`] owns the chromedriver process (in
//! its own process group) and kills it and every browser process under it when dropped,
//! even when the test failed half-way: no orphans.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The key of an element reference in WebDriver's JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Finds a browser program: the services env file's variable, else `PATH`. A missing one
/// fails the test with what to run.
pub fn program(var: &str, name: &str) -> PathBuf {
    let from_env = lifeboat_testkit::env_value(var).map(PathBuf::from).filter(|p| p.is_file());
    let from_path = || {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
    };
    from_env.or_else(from_path).unwrap_or_else(|| {
        panic!(
            "{name} is not installed (nor {var} set): run `bash scripts/services.sh start`, which installs \
             Debian's chromium and chromium-driver for the dashboard's browser test"
        )
    })
}

/// A running chromedriver with one Chromium session.
pub struct Browser {
    client: reqwest::Client,
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session of
    /// `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let chromium = program("LIFEBOAT_TEST_CHROMIUM", "chromium");
        let chromedriver = program("LIFEBOAT_TEST_CHROMEDRIVER", "chromedriver");
        let port = free_port();
        let driver = spawn_driver(&chromedriver, port);
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::Builder::new().prefix("lifeboat-chromium-").tempdir().unwrap();
        let mut browser = Browser { client, driver, base, session: String::new(), _profile: profile };
        browser.wait_ready().await;
        browser.session = browser.new_session(&chromium, width, height).await;
        browser
    }

    async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.driver.try_wait().unwrap() {
                panic!("chromedriver exited at start: {status}");
            }
            let ready = self.client.get(format!("{}/status", self.base)).send().await;
            if let Ok(response) = ready
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "chromedriver did not get ready in 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn new_session(&self, chromium: &Path, width: u32, height: u32) -> String {
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-extensions".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", self._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args},
        }}});
        let answer = self.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
        answer["sessionId"].as_str().unwrap_or_else(|| panic!("no session id in {answer}")).to_owned()
    }

    /// One WebDriver command; panics with the driver's error on failure.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "WebDriver {method} {path}: {status}: {body}");
        body["value"].clone()
    }

    async fn session_call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body).await
    }

    /// Loads `url`.
    pub async fn goto(&self, url: &str) {
        self.session_call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// Every element matching a CSS selector now.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self
            .session_call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css})))
            .await;
        found
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str())
                    .map(|id| Element { browser: self, id: id.to_owned() })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting up to 20 s for it to appear.
    pub async fn wait_for(&self, css: &str) -> Element<'_> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                return element;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("no element {css:?} after 20 s; {}", self.describe().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to 20 s for the text of the first `css` element to satisfy `check`; returns it.
    pub async fn wait_text(&self, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.wait_text_for(css, what, Duration::from_secs(20), check).await
    }

    /// [`Browser::wait_text`] for up to `limit`.
    pub async fn wait_text_for(&self, css: &str, what: &str, limit: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mut last = String::new();
            for element in self.find_all(css).await {
                last = element.text().await;
                if check(&last) {
                    return last;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("{css:?} never showed {what} in {limit:?} (last: {last:?}); {}", self.describe().await);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Where the page is and what it says, for a failure's message.
    async fn describe(&self) -> String {
        let script = "return location.href + ' shows: ' + document.body.innerText.slice(0, 1500);";
        let body = json!({"script": script, "args": []});
        let path = format!("{}/session/{}/execute/sync", self.base, self.session);
        match self.client.post(path).json(&body).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(e) => format!("the page cannot be read: {e}"),
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its result.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.session_call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Sets the window's size.
    pub async fn resize(&self, width: u32, height: u32) {
        self.session_call(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// Saves a PNG of the whole page at `width` (the window grown to the page's height) to
    /// `path`, then restores the window to `width` x `height`.
    pub async fn screenshot_full(&self, path: &Path, width: u32, height: u32) {
        // The window's height is not quite the viewport's: grow it until the page fits.
        for _ in 0..3 {
            let sizes = self
                .script(
                    "return [document.documentElement.scrollHeight, window.innerHeight, window.outerHeight];",
                    json!([]),
                )
                .await;
            let [page, inner, outer] = [0, 1, 2].map(|i| sizes[i].as_u64().unwrap_or(u64::from(height)));
            if inner >= page {
                break;
            }
            let want = (outer + page - inner).clamp(u64::from(height), 10_000);
            self.resize(width, u32::try_from(want).unwrap_or(height)).await;
        }
        self.script("window.scrollTo(0, 0);", json!([])).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.session_call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64_decode(png.as_str().expect("a base64 screenshot"));
        assert!(bytes.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        self.resize(width, height).await;
    }

    /// Ends the session (closing Chromium) and chromedriver.
    pub async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = self.client.delete(format!("{}{path}", self.base)).send().await;
        self.session.clear();
        self.kill();
    }

    fn kill(&mut self) {
        let pid = self.driver.id();
        let mut all = descendants(pid);
        all.push(pid);
        // chromedriver leads its own group; Chromium's processes are in it or under it.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).stderr(Stdio::null()).status();
        for p in &all {
            let _ = Command::new("kill").args(["-KILL", &p.to_string()]).stderr(Stdio::null()).status();
        }
        let _ = self.driver.wait();
        let left = lifeboat_testkit::process::wait_until_empty(10, || {
            all.iter().copied().filter(|p| lifeboat_testkit::process::alive(*p)).collect()
        });
        assert!(left.is_empty() || std::thread::panicking(), "browser processes left behind: {left:?}");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.driver.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}

/// An element of the page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Element<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.browser.session_call(method, &format!("/element/{}{path}", self.id), body).await
    }

    /// Its rendered text.
    pub async fn text(&self) -> String {
        self.call(reqwest::Method::GET, "/text", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks it.
    pub async fn click(&self) {
        self.call(reqwest::Method::POST, "/click", Some(json!({}))).await;
    }

    /// Types `text` into it.
    pub async fn type_text(&self, text: &str) {
        self.call(reqwest::Method::POST, "/value", Some(json!({ "text": text }))).await;
    }

    /// A DOM property (`disabled`, `value` ...).
    pub async fn property(&self, name: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/property/{name}"), None).await
    }
}

fn spawn_driver(chromedriver: &Path, port: u16) -> Child {
    use std::os::unix::process::CommandExt;
    Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Every process under `pid`, depth first.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for child in lifeboat_testkit::process::children_of(pid) {
        out.extend(descendants(child));
        out.push(child);
    }
    out
}

/// Standard base64 (the screenshot's encoding).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c:?}"),
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, c)| n | (u32::from(value(*c)) << (18 - 6 * i)));
        let take = chunk.len() - 1;
        out.extend_from_slice(&n.to_be_bytes()[1..=take]);
    }
    out
}
