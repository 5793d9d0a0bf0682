//! End-to-end tests of `lifeboat backup postgres|mysql|redis` and `lifeboat restore --to`
//! against the real servers that scripts/services.sh starts. A missing service fails the test
//! with a message saying to run `bash scripts/services.sh start`.
//!
//! Self-contained on purpose: the helpers below duplicate a little of what other test files
//! have, so this file does not depend on their evolution.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const REPO_PASSWORD: &str = "cli database test repository password";
const WRONG_PASSWORD: &str = "wrong-password-4d2b8a";
const TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------- services

fn service_url(var: &str) -> String {
    if let Ok(v) = std::env::var(var)
        && !v.is_empty()
    {
        return v;
    }
    let file = std::env::var("LIFEBOAT_TEST_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-services.env"));
    if let Ok(text) = std::fs::read_to_string(&file) {
        for line in text.lines() {
            let line = line.trim().trim_start_matches("export ");
            if let Some((k, v)) = line.split_once('=')
                && k == var
            {
                return v.trim_matches('\'').to_string();
            }
        }
    }
    panic!(
        "{var} is not set and {} does not define it: run `bash scripts/services.sh start` first \
         (it installs and starts PostgreSQL, MariaDB and Redis for the tests), or point \
         LIFEBOAT_TEST_ENV at the env file it wrote",
        file.display()
    );
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

struct Url {
    user: String,
    password: String,
    host: String,
    port: u16,
}

fn parse(url: &str) -> Url {
    let u = url::Url::parse(url).expect("test URL");
    Url {
        user: u.username().to_string(),
        password: u.password().unwrap_or("").to_string(),
        host: u.host_str().unwrap_or("127.0.0.1").to_string(),
        port: u.port().expect("test URL has a port"),
    }
}

fn password_of(url: &str) -> String {
    let p = parse(url).password;
    assert!(p.len() >= 8, "the test service password is too short to search for reliably");
    p
}

fn with_path(url: &str, path: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(path);
    u.to_string()
}

fn with_password(url: &str, pw: Option<&str>) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_password(pw).unwrap();
    u.to_string()
}

fn run_tool(cmd: &mut Command, input: &str, what: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what} (run scripts/services.sh to install it): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{what} failed: {}\n{input}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn psql(url: &str, db: &str, sql: &str) -> String {
    let u = parse(url);
    run_tool(
        Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", &u.host, "-p", &u.port.to_string()])
            .args(["-U", &u.user, "-d", db])
            .env("PGPASSWORD", &u.password),
        sql,
        "psql",
    )
}

fn mysql(url: &str, db: Option<&str>, sql: &str) -> String {
    let u = parse(url);
    let mut cmd = Command::new("mariadb");
    cmd.args(["--no-defaults", "--batch", "--skip-column-names", "--default-character-set=utf8mb4"])
        .args(["-h", &u.host, "-P", &u.port.to_string(), "-u", &u.user])
        .env("MYSQL_PWD", &u.password);
    if let Some(d) = db {
        cmd.arg(d);
    }
    run_tool(&mut cmd, sql, "mariadb")
}

fn digest(text: &str) -> String {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    format!("{} bytes, {:016x}", text.len(), h.finish())
}

fn pg_dataset(url: &str, db: &str, rows: u32) {
    psql(url, "postgres", &format!("CREATE DATABASE {db};"));
    psql(
        url,
        db,
        &format!(
            "CREATE TABLE a_small (id int PRIMARY KEY, note text);
             INSERT INTO a_small SELECT i, 'héllo 🚀 '' ' || i FROM generate_series(1, 300) i;
             CREATE SEQUENCE order_no START 100 INCREMENT 3; SELECT setval('order_no', 4242);
             CREATE TABLE z_big (id bigint PRIMARY KEY, payload text, raw bytea, doc jsonb);
             INSERT INTO z_big SELECT i, md5(i::text) || md5((i * 7)::text), decode(md5((i * 3)::text), 'hex'),
                    jsonb_build_object('n', i) FROM generate_series(1, {rows}) i;
             CREATE VIEW z_summary AS SELECT count(*) AS n FROM z_big;"
        ),
    );
}

fn pg_fingerprint(url: &str, db: &str) -> String {
    let tables = psql(
        url,
        db,
        "SELECT coalesce(string_agg(tablename, ' ' ORDER BY tablename), '') FROM pg_tables WHERE schemaname = 'public';",
    );
    let mut parts = vec![format!("tables: {tables}")];
    for t in tables.split_whitespace() {
        parts.push(psql(
            url,
            db,
            &format!("SELECT '{t}: ' || count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM {t} x;"),
        ));
    }
    parts.push(psql(url, db, "SELECT string_agg(viewname, ',') FROM pg_views WHERE schemaname = 'public';"));
    parts.push(psql(url, db, "SELECT last_value FROM order_no;"));
    parts.join("\n")
}

/// Drops the named databases when it goes out of scope, also when the test failed (best effort,
/// panic-free: it runs during unwinding).
struct DropDbs {
    mysql: bool,
    url: String,
    names: Vec<String>,
}

impl DropDbs {
    fn pg(url: &str, names: &[&String]) -> DropDbs {
        DropDbs { mysql: false, url: url.into(), names: names.iter().map(|n| n.to_string()).collect() }
    }

    fn mysql(url: &str, names: &[&String]) -> DropDbs {
        DropDbs { mysql: true, url: url.into(), names: names.iter().map(|n| n.to_string()).collect() }
    }
}

impl Drop for DropDbs {
    fn drop(&mut self) {
        let u = parse(&self.url);
        for db in &self.names {
            let mut cmd = if self.mysql {
                let mut c = Command::new("mariadb");
                c.args(["--no-defaults", "-h", &u.host, "-P", &u.port.to_string(), "-u", &u.user])
                    .arg("-e")
                    .arg(format!("DROP DATABASE IF EXISTS `{db}`"))
                    .env("MYSQL_PWD", &u.password);
                c
            } else {
                let mut c = Command::new("psql");
                c.args(["-X", "-q", "-h", &u.host, "-p", &u.port.to_string(), "-U", &u.user, "-d", "postgres"])
                    .arg("-c")
                    .arg(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                    .env("PGPASSWORD", &u.password);
                c
            };
            let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

fn mysql_dataset(url: &str, db: &str, rows: u32) {
    mysql(url, None, &format!("CREATE DATABASE `{db}` CHARACTER SET utf8mb4;"));
    mysql(
        url,
        Some(db),
        &format!(
            "CREATE TABLE a_small (id INT PRIMARY KEY, note TEXT);
             INSERT INTO a_small SELECT seq, CONCAT('héllo 🚀 '' ', seq) FROM seq_1_to_300;
             CREATE TABLE z_big (id BIGINT PRIMARY KEY, payload VARCHAR(255), raw VARBINARY(32));
             INSERT INTO z_big SELECT seq, CONCAT(MD5(seq), MD5(seq * 7)), UNHEX(MD5(seq * 3)) FROM seq_1_to_{rows};
             CREATE VIEW z_summary AS SELECT COUNT(*) AS n FROM z_big;"
        ),
    );
}

fn mysql_fingerprint(url: &str, db: &str) -> String {
    let mut parts = Vec::new();
    for t in ["a_small", "z_big"] {
        let rows = mysql(url, Some(db), &format!("SELECT * FROM `{t}` ORDER BY 1;"));
        parts.push(format!("{t}: {}", digest(&rows)));
    }
    parts.push(mysql(url, Some(db), "SELECT n FROM z_summary;"));
    parts.join("\n")
}

/// A minimal RESP client: enough to write keys and read them back canonically.
struct Redis {
    rd: std::io::BufReader<std::net::TcpStream>,
    wr: std::net::TcpStream,
}

#[derive(Debug, PartialEq)]
enum R {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Simple(String),
    Err(String),
    Arr(Vec<R>),
}

impl Redis {
    fn connect(url: &str) -> Redis {
        let u = url::Url::parse(url).unwrap();
        let s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap()))
            .expect("connect to redis (run scripts/services.sh)");
        let mut r = Redis { rd: std::io::BufReader::new(s.try_clone().unwrap()), wr: s };
        if let Some(pw) = u.password() {
            assert_eq!(r.cmd(&[b"AUTH", pw.as_bytes()]), R::Simple("OK".into()));
        }
        let db = u.path().trim_start_matches('/');
        if !db.is_empty() {
            assert_eq!(r.cmd(&[b"SELECT", db.as_bytes()]), R::Simple("OK".into()));
        }
        r
    }

    fn cmd(&mut self, args: &[&[u8]]) -> R {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.wr.write_all(&out).unwrap();
        self.read()
    }

    fn read(&mut self) -> R {
        let mut line = Vec::new();
        self.rd.read_until(b'\n', &mut line).unwrap();
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b'+' => R::Simple(text),
            b'-' => R::Err(text),
            b':' => R::Int(text.parse().unwrap()),
            b'$' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    return R::Nil;
                }
                let mut v = vec![0u8; n as usize + 2];
                self.rd.read_exact(&mut v).unwrap();
                v.truncate(n as usize);
                R::Bulk(v)
            }
            b'*' => {
                let n: i64 = text.parse().unwrap();
                R::Arr((0..n.max(0)).map(|_| self.read()).collect())
            }
            _ => panic!("bad reply {line:?}"),
        }
    }

    /// key -> (type, canonical value, has expiry) for every key matching `pattern`.
    fn snapshot(&mut self, pattern: &[u8]) -> BTreeMap<Vec<u8>, (String, String, bool)> {
        let mut keys = Vec::new();
        let mut cursor = b"0".to_vec();
        loop {
            let R::Arr(mut parts) = self.cmd(&[b"SCAN", &cursor, b"MATCH", pattern, b"COUNT", b"1000"]) else {
                panic!("SCAN")
            };
            let (Some(R::Arr(ks)), Some(R::Bulk(c))) = (parts.pop(), parts.pop()) else { panic!("SCAN reply") };
            keys.extend(ks.into_iter().filter_map(|k| if let R::Bulk(k) = k { Some(k) } else { None }));
            cursor = c;
            if cursor == b"0" {
                break;
            }
        }
        let mut out = BTreeMap::new();
        for k in keys {
            let R::Simple(t) = self.cmd(&[b"TYPE", &k]) else { panic!("TYPE") };
            let value = match t.as_str() {
                "string" => format!("{:?}", self.cmd(&[b"GET", &k])),
                "list" => format!("{:?}", self.cmd(&[b"LRANGE", &k, b"0", b"-1"])),
                "zset" => format!("{:?}", self.cmd(&[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"])),
                "hash" | "set" => {
                    let r = if t == "hash" { self.cmd(&[b"HGETALL", &k]) } else { self.cmd(&[b"SMEMBERS", &k]) };
                    let R::Arr(items) = r else { panic!("{t}") };
                    let mut items: Vec<String> = if t == "hash" {
                        items.chunks(2).map(|c| format!("{:?}={:?}", c[0], c[1])).collect()
                    } else {
                        items.iter().map(|i| format!("{i:?}")).collect()
                    };
                    items.sort();
                    items.join(",")
                }
                other => panic!("unexpected type {other}"),
            };
            let R::Int(ttl) = self.cmd(&[b"PTTL", &k]) else { panic!("PTTL") };
            out.insert(k, (t, value, ttl > 0));
        }
        out
    }

    fn clear(&mut self, pattern: &[u8]) {
        for k in self.snapshot(pattern).into_keys() {
            self.cmd(&[b"DEL", &k]);
        }
    }
}

// ---------------------------------------------------------------- the binary

/// What one `lifeboat` run produced.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    what: String,
}

impl Out {
    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "`{}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.what, self.code, self.stdout, self.stderr
        );
        self
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("`{}`: stdout is not JSON ({e}):\n{}\n{}", self.what, self.stdout, self.stderr))
    }

    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A repository in a temporary directory, initialised with a cheap key derivation.
struct Env {
    tmp: tempfile::TempDir,
    repo: PathBuf,
}

impl Env {
    fn init() -> Env {
        let tmp = tempfile::Builder::new().prefix("lifeboat-cli-db-test-").tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let env = Env { tmp, repo };
        env.run(&["init", "--kdf-memory-kib", "19456", "--kdf-iterations", "2", "--kdf-parallelism", "1"]).ok();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Runs `lifeboat ARGS` with a clean environment plus the repository and its password.
    fn run(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
            .env("LIFEBOAT_REPO", &self.repo)
            .env("LIFEBOAT_PASSWORD", REPO_PASSWORD)
            .env("LIFEBOAT_STATE_DIR", self.tmp.path().join("state"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("lifeboat {}", args.join(" "));
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
        let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let out_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = so.read_to_string(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = se.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{what}` did not finish within {TIMEOUT:?}; killed it");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = out_reader.join().unwrap();
        let stderr = err_reader.join().unwrap();
        assert!(!stderr.contains("panicked"), "`{what}` panicked:\n{stderr}");
        use std::os::unix::process::ExitStatusExt;
        // A death by signal shows as 128 + the signal number, like a shell does.
        let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Out { code, stdout, stderr, what }
    }

    fn listed(&self) -> Vec<String> {
        let out = self.run(&["list", "--json"]);
        out.ok();
        out.json()
            .as_array()
            .expect("list --json is an array")
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every file under `<repo>/<sub>`.
    fn files_under(&self, sub: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut pending = vec![self.repo.join(sub)];
        while let Some(d) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
        out
    }
}

fn backup_id(out: &Out) -> String {
    let json = out.json();
    let id = json["id"].as_str().unwrap_or_else(|| panic!("backup --json has no id: {json}")).to_owned();
    assert_eq!(id.len(), 32, "backup id {id:?}");
    id
}

/// `show ID --json` and `show ID` must not contain `secret`; returns the JSON.
fn show_without(env: &Env, id: &str, secret: &str) -> serde_json::Value {
    let json = env.run(&["show", id, "--json"]);
    json.ok();
    assert!(!json.stdout.contains(secret), "show --json prints the database password:\n{}", json.stdout);
    let text = env.run(&["show", id]);
    text.ok();
    assert!(!text.all().contains(secret), "show prints the database password:\n{}", text.all());
    json.json()
}

fn write_secret(env: &Env, name: &str, secret: &str) -> PathBuf {
    let path = env.path(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    path
}

// ---------------------------------------------------------------- tests

#[test]
fn postgres_backup_then_restore_latest_into_a_new_database() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let password = password_of(&url);
    let (src, dst) = (unique("lbcli_pg_src"), unique("lbcli_pg_dst"));
    let _cleanup = DropDbs::pg(&url, &[&src, &dst]);
    pg_dataset(&url, &src, 5_000);
    let before = pg_fingerprint(&url, &src);
    let env = Env::init();

    let src_url = with_path(&url, &src);
    let out = env.run(&["backup", "postgres", "--url", &src_url, "--json", "--tag", "cli-db"]);
    out.ok();
    assert!(!out.all().contains(&password), "backup output shows the database password:\n{}", out.all());
    let id = backup_id(&out);
    let json = out.json();
    assert_eq!(json["kind"], "postgres");
    assert_eq!(json["objects"][0]["name"], format!("db/{src}.pgdump"));
    assert_eq!(env.listed(), vec![id.clone()]);

    let show = show_without(&env, &id, &password);
    let stream = &show["source"]["streams"][0];
    assert_eq!(stream["tool"]["name"], "pg_dump", "{show}");
    assert_eq!(stream["position"]["type"], "postgres_lsn", "{show}");
    assert!(stream["server_version"].as_str().is_some_and(|v| !v.is_empty()), "{show}");
    assert!(show["objects"][0].get("dek").is_none(), "show --json prints the data key");

    // The restore takes its password from --db-password-file, the URL has none.
    let pwfile = write_secret(&env, "pg.pw", &password);
    let dst_url = with_password(&with_path(&url, &dst), None);
    let out =
        env.run(&["restore", "latest", "--to", &dst_url, "--create", "--db-password-file", pwfile.to_str().unwrap()]);
    out.ok();
    assert!(out.stderr.contains(&dst), "restore does not say where it restored:\n{}", out.stderr);
    assert!(!out.all().contains(&password));
    assert_eq!(pg_fingerprint(&url, &dst), before);
}

/// pg_restore stops at the first error (`--exit-on-error`) and closes its input early; the
/// restore must then fail with the tool's message and exit 1 (not die of SIGPIPE, silently).
#[test]
fn restore_into_a_database_that_already_has_the_tables_fails_with_a_message() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let password = password_of(&url);
    let src = unique("lbcli_pg_twice");
    let _cleanup = DropDbs::pg(&url, &[&src]);
    // Big enough that pg_restore fails while lifeboat is still writing to it.
    pg_dataset(&url, &src, 100_000);
    let before = pg_fingerprint(&url, &src);
    let env = Env::init();
    let out = env.run(&["backup", "postgres", "--url", &with_path(&url, &src), "--json"]);
    out.ok();
    let id = backup_id(&out);

    // Restoring into the source itself, without --clean: CREATE TABLE fails (it exists).
    let out = env.run(&["restore", &id, "--to", &with_path(&url, &src)]);
    assert_eq!(
        out.code,
        1,
        "expected exit 1 with a message, got {} (141: killed by SIGPIPE):\n{}",
        out.code,
        out.all()
    );
    assert!(out.stderr.contains("lifeboat: error:"), "{}", out.stderr);
    assert!(out.stderr.contains("pg_restore"), "the message does not name the tool:\n{}", out.stderr);
    assert!(out.stderr.contains("already exists"), "the message does not say why:\n{}", out.stderr);
    assert!(!out.all().contains(&password), "{}", out.all());
    assert_eq!(pg_fingerprint(&url, &src), before, "the failed restore changed the database");
}

#[test]
fn mysql_backup_then_restore_into_a_new_database() {
    let url = service_url("LIFEBOAT_TEST_MYSQL_URL");
    let password = password_of(&url);
    let (src, dst) = (unique("lbcli_my_src"), unique("lbcli_my_dst"));
    let _cleanup = DropDbs::mysql(&url, &[&src, &dst]);
    mysql_dataset(&url, &src, 5_000);
    let before = mysql_fingerprint(&url, &src);
    let env = Env::init();

    let out = env.run(&["backup", "mysql", "--url", &with_path(&url, &src), "--json"]);
    out.ok();
    assert!(!out.all().contains(&password), "{}", out.all());
    let id = backup_id(&out);
    assert_eq!(out.json()["kind"], "mysql");
    let show = show_without(&env, &id, &password);
    let stream = &show["source"]["streams"][0];
    assert!(matches!(stream["tool"]["name"].as_str(), Some("mariadb-dump" | "mysqldump")), "{show}");
    assert_eq!(stream["position"]["type"], "mysql_binlog", "{show}");

    let out = env.run(&["restore", &id, "--to", &with_path(&url, &dst), "--create"]);
    out.ok();
    assert!(!out.all().contains(&password), "{}", out.all());
    assert_eq!(mysql_fingerprint(&url, &dst), before);
}

#[test]
fn redis_logical_backup_then_restore_into_another_database() {
    let url = service_url("LIFEBOAT_TEST_REDIS_URL");
    let password = password_of(&url);
    let prefix = unique("lbcli_redis");
    let pattern = format!("{prefix}*");
    let (src_url, dst_url) = (with_path(&url, "/9"), with_path(&url, "/10"));
    {
        let mut r = Redis::connect(&src_url);
        assert_eq!(r.cmd(&[b"SET", format!("{prefix}:s").as_bytes(), "héllo 🚀".as_bytes()]), R::Simple("OK".into()));
        assert_eq!(r.cmd(&[b"SET", format!("{prefix}:ttl").as_bytes(), b"x", b"EX", b"3600"]), R::Simple("OK".into()));
        r.cmd(&[b"HSET", format!("{prefix}:h").as_bytes(), b"a", b"1", b"b", b"\x00\xff"]);
        r.cmd(&[b"RPUSH", format!("{prefix}:l").as_bytes(), b"x", b"y", b"x"]);
        r.cmd(&[b"SADD", format!("{prefix}:set").as_bytes(), b"m1", b"m2"]);
        r.cmd(&[b"ZADD", format!("{prefix}:z").as_bytes(), b"1.5", b"one", b"-2", b"two"]);
        Redis::connect(&dst_url).clear(pattern.as_bytes());
    }
    let before = Redis::connect(&src_url).snapshot(pattern.as_bytes());
    assert_eq!(before.len(), 6);
    let env = Env::init();

    let out = env.run(&["backup", "redis", "--url", &src_url, "--mode", "logical", "--pattern", &pattern, "--json"]);
    out.ok();
    assert!(!out.all().contains(&password), "{}", out.all());
    let id = backup_id(&out);
    assert_eq!(out.json()["objects"][0]["name"], "redis.logical");
    show_without(&env, &id, &password);

    let out = env.run(&["restore", &id, "--to", &dst_url]);
    out.ok();
    assert_eq!(Redis::connect(&dst_url).snapshot(pattern.as_bytes()), before);

    Redis::connect(&src_url).clear(pattern.as_bytes());
    Redis::connect(&dst_url).clear(pattern.as_bytes());
}

#[test]
fn restore_target_writes_the_raw_dump_files() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let src = unique("lbcli_pg_raw");
    let _cleanup = DropDbs::pg(&url, &[&src]);
    pg_dataset(&url, &src, 2_000);
    let env = Env::init();
    let out = env.run(&["backup", "postgres", "--url", &with_path(&url, &src), "--json"]);
    out.ok();
    let id = backup_id(&out);

    let target = env.path("restored");
    env.run(&["restore", &id, "--target", target.to_str().unwrap()]).ok();
    let file = target.join("db").join(format!("{src}.pgdump"));
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{} not written: {e}", file.display()));
    assert!(bytes.starts_with(b"PGDMP"), "not a custom-format dump");
    let listing = Command::new("pg_restore").arg("-l").arg(&file).output().expect("pg_restore");
    assert!(listing.status.success(), "pg_restore -l rejects the file: {}", String::from_utf8_lossy(&listing.stderr));
    let listing = String::from_utf8_lossy(&listing.stdout);
    for needle in ["TABLE public a_small", "TABLE public z_big", "TABLE DATA public z_big", "VIEW public z_summary"] {
        assert!(listing.contains(needle), "pg_restore -l does not list {needle}:\n{listing}");
    }
}

#[test]
fn wrong_database_password_exits_1_and_records_nothing() {
    let url = service_url("LIFEBOAT_TEST_PG_URL");
    let password = password_of(&url);
    let src = unique("lbcli_pg_auth");
    let _cleanup = DropDbs::pg(&url, &[&src]);
    pg_dataset(&url, &src, 10);
    let env = Env::init();

    let wrong = with_password(&with_path(&url, &src), Some(WRONG_PASSWORD));
    let out = env.run(&["backup", "postgres", "--url", &wrong, "--json"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("lifeboat: error:"), "{}", out.stderr);
    assert!(out.stderr.to_lowercase().contains("authentication"), "not a clear message:\n{}", out.stderr);
    assert!(out.stderr.contains("127.0.0.1"), "the message does not name the server:\n{}", out.stderr);
    assert!(!out.all().contains(WRONG_PASSWORD) && !out.all().contains(&password), "{}", out.all());
    assert_eq!(out.stdout, "", "a failed backup printed a result");
    assert_eq!(env.listed(), Vec::<String>::new());
    assert_eq!(env.files_under("data"), Vec::<PathBuf>::new());

    // The same through --db-password-file (which overrides the URL's password).
    let pwfile = write_secret(&env, "wrong.pw", WRONG_PASSWORD);
    let out = env.run(&[
        "backup",
        "postgres",
        "--url",
        &with_path(&url, &src),
        "--db-password-file",
        pwfile.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.to_lowercase().contains("authentication"), "{}", out.stderr);
    assert!(!out.all().contains(WRONG_PASSWORD), "{}", out.all());
    assert_eq!(env.listed(), Vec::<String>::new());

    // And MariaDB.
    let my = service_url("LIFEBOAT_TEST_MYSQL_URL");
    let out = env.run(&["backup", "mysql", "--url", &with_password(&with_path(&my, "mysql"), Some(WRONG_PASSWORD))]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.to_lowercase().contains("authentication"), "{}", out.stderr);
    assert!(!out.all().contains(WRONG_PASSWORD), "{}", out.all());
    assert_eq!(env.listed(), Vec::<String>::new());
    assert_eq!(env.files_under("data"), Vec::<PathBuf>::new());

    // A restore with a wrong password fails too, and creates nothing.
    let good = env.run(&["backup", "postgres", "--url", &with_path(&url, &src), "--json"]);
    good.ok();
    let dst = unique("lbcli_pg_auth_dst");
    let _cleanup_dst = DropDbs::pg(&url, &[&dst]);
    let out = env.run(&[
        "restore",
        "latest",
        "--to",
        &with_password(&with_path(&url, &dst), Some(WRONG_PASSWORD)),
        "--create",
    ]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.to_lowercase().contains("authentication"), "{}", out.stderr);
    assert!(!out.all().contains(WRONG_PASSWORD), "{}", out.all());
    assert_eq!(psql(&url, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{dst}';")), "0");
}

#[test]
fn database_options_that_do_not_apply_are_refused() {
    let env = Env::init();
    let pg = service_url("LIFEBOAT_TEST_PG_URL");
    let out = env.run(&["backup", "redis", "--url", "redis://127.0.0.1:1/0", "--mode", "snapshot"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("snapshot"), "{}", out.stderr);
    let out = env.run(&["backup", "postgres", "--url", &with_path(&pg, ""), "--json"]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(!out.all().contains(&password_of(&pg)), "{}", out.all());
    assert_eq!(env.listed(), Vec::<String>::new());
}
