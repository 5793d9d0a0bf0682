//! Helpers of the lifeboat-ops integration tests: service URLs written by scripts/services.sh,
//! datasets and checksums for PostgreSQL, MariaDB and Redis, a repository on a temporary
//! directory, a storage that fails mid-stream, and process inspection.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use futures::StreamExt;
use lifeboat_crypto::Argon2Params;
use lifeboat_repo::{Credential, InitOptions, Repository};
use lifeboat_storage::{ByteStream, FsStorage, Op, PutOptions, Storage, StorageError};

/// The repository password of every test repository.
pub const REPO_PASSWORD: &str = "ops test repository password";

/// The URL of a test service: from the environment, else from the env file that
/// scripts/services.sh writes ($LIFEBOAT_TEST_ENV, default <workspace>/target/test-services.env).
/// Fails (never skips) when neither has it.
pub fn service_url(var: &str) -> String {
    if let Ok(v) = std::env::var(var)
        && !v.is_empty()
    {
        return v;
    }
    let file = env_file();
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
         (it installs and starts PostgreSQL, MariaDB and Redis for the tests and writes that file), \
         or point LIFEBOAT_TEST_ENV at the env file it wrote",
        file.display()
    );
}

fn env_file() -> PathBuf {
    std::env::var("LIFEBOAT_TEST_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-services.env"))
}

pub fn pg_url() -> String {
    service_url("LIFEBOAT_TEST_PG_URL")
}

pub fn mysql_url() -> String {
    service_url("LIFEBOAT_TEST_MYSQL_URL")
}

pub fn redis_url() -> String {
    service_url("LIFEBOAT_TEST_REDIS_URL")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call (a valid SQL identifier).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// Parts of a service URL for the helpers' own client calls.
pub struct Url {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
}

pub fn parse(url: &str) -> Url {
    let u = url::Url::parse(url).expect("test URL");
    Url {
        user: u.username().to_string(),
        password: u.password().unwrap_or("").to_string(),
        host: u.host_str().unwrap_or("127.0.0.1").to_string(),
        port: u.port().expect("test URL has a port"),
    }
}

/// The password of a service URL (the needle for "never recorded" checks).
pub fn password_of(url: &str) -> String {
    let p = parse(url).password;
    assert!(p.len() >= 8, "the test service password is too short to search for reliably");
    p
}

/// Replaces the path (database) of a URL.
pub fn with_path(url: &str, path: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(path);
    u.to_string()
}

/// Replaces the password of a URL.
pub fn with_password(url: &str, pw: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_password(Some(pw)).unwrap();
    u.to_string()
}

/// Replaces the port of a URL.
pub fn with_port(url: &str, port: u16) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_port(Some(port)).unwrap();
    u.to_string()
}

/// A port on loopback that nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    p
}

fn run(cmd: &mut Command, input: &str, what: &str) -> String {
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
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        input.chars().take(2000).collect::<String>()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs SQL through psql on `db` (ON_ERROR_STOP), returns the unaligned tuples-only output.
pub fn psql(url: &str, db: &str, sql: &str) -> String {
    let u = parse(url);
    run(
        Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", &u.host, "-p", &u.port.to_string()])
            .args(["-U", &u.user, "-d", db])
            .env("PGPASSWORD", &u.password),
        sql,
        "psql",
    )
    .trim()
    .to_string()
}

/// Runs SQL through the mariadb client (batch mode, no column names).
pub fn mysql(url: &str, db: Option<&str>, sql: &str) -> String {
    let u = parse(url);
    let mut cmd = Command::new("mariadb");
    cmd.args(["--no-defaults", "--batch", "--skip-column-names", "--default-character-set=utf8mb4"])
        .args(["--max-allowed-packet=1G", "-h", &u.host, "-P", &u.port.to_string(), "-u", &u.user])
        .env("MYSQL_PWD", &u.password);
    if let Some(d) = db {
        cmd.arg(d);
    }
    run(&mut cmd, sql, "mariadb").trim().to_string()
}

fn digest(text: &str) -> String {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    format!("{} bytes, {:016x}", text.len(), h.finish())
}

// ---------------------------------------------------------------- PostgreSQL

/// Creates database `db` holding a small table with text in several scripts, a sequence, a
/// view, an index and `rows` rows of a wide table (`z_big`, about 230 bytes a row, half of it
/// hex digests that compress about 2:1). pg_dump writes `a_small`'s data before `z_big`'s.
pub fn pg_dataset(url: &str, db: &str, rows: u32) {
    psql(url, "postgres", &format!("CREATE DATABASE {db};"));
    psql(
        url,
        db,
        &format!(
            r#"
CREATE TABLE a_small (id int PRIMARY KEY, name text NOT NULL, note text, flag boolean);
INSERT INTO a_small SELECT i, 'name ' || i, 'héllo wörld 🚀 日本語 '' \ ' || i, i % 2 = 0 FROM generate_series(1, 500) i;
INSERT INTO a_small VALUES (0, '', NULL, NULL);
CREATE SEQUENCE order_no START 100 INCREMENT 3;
SELECT setval('order_no', 4242);
CREATE TABLE z_big (
    id bigint PRIMARY KEY, payload text, raw bytea, amount numeric(14,2), at timestamptz, tags text[], doc jsonb
);
INSERT INTO z_big
SELECT i, md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text), decode(md5((i * 3)::text), 'hex'),
       (i * 37 % 100000) / 100.0, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute',
       ARRAY['t' || (i % 10), 'u' || (i % 7)], jsonb_build_object('n', i, 's', md5((i * 11)::text))
FROM generate_series(1, {rows}) i;
CREATE INDEX z_big_amount ON z_big (amount);
CREATE VIEW z_summary AS SELECT count(*) AS n, sum(amount) AS total FROM z_big;
"#
        ),
    );
}

/// A digest of every table's content plus the schema objects of a PostgreSQL database.
pub fn pg_fingerprint(url: &str, db: &str) -> String {
    let tables = psql(
        url,
        db,
        "SELECT coalesce(string_agg(tablename, ' ' ORDER BY tablename), '') FROM pg_tables WHERE schemaname = 'public';",
    );
    let mut parts = vec![format!("tables: {tables}")];
    for t in tables.split_whitespace() {
        parts.push(format!(
            "{t}: {}",
            psql(
                url,
                db,
                &format!(
                    "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') FROM {t} x;"
                )
            )
        ));
    }
    for (what, q) in [
        (
            "views",
            "SELECT string_agg(viewname || '=' || md5(definition), ',' ORDER BY viewname) FROM pg_views WHERE schemaname='public'",
        ),
        (
            "sequences",
            "SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'null') || '/' || increment_by, ',' ORDER BY sequencename) FROM pg_sequences WHERE schemaname='public'",
        ),
        (
            "indexes",
            "SELECT string_agg(indexname || '=' || md5(indexdef), ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname='public'",
        ),
    ] {
        parts.push(format!("{what}: {}", psql(url, db, &format!("{q};"))));
    }
    parts.join("\n")
}

/// The user tables of a PostgreSQL database.
pub fn pg_tables(url: &str, db: &str) -> String {
    psql(
        url,
        db,
        "SELECT coalesce(string_agg(tablename, ' ' ORDER BY tablename), '') FROM pg_tables WHERE schemaname = 'public';",
    )
}

pub fn pg_db_exists(url: &str, db: &str) -> bool {
    psql(url, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}';")) == "1"
}

pub fn pg_drop(url: &str, db: &str) {
    psql(url, "postgres", &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE);"));
}

// ---------------------------------------------------------------- MariaDB

/// Creates database `db` with a small table in several scripts, `rows` rows of a wide table
/// (`z_big`), a view, a trigger and a stored function.
pub fn mysql_dataset(url: &str, db: &str, rows: u32) {
    mysql(url, None, &format!("CREATE DATABASE `{db}` CHARACTER SET utf8mb4;"));
    mysql(
        url,
        Some(db),
        &format!(
            r#"
CREATE TABLE a_small (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT, flag BOOLEAN) ENGINE=InnoDB;
INSERT INTO a_small SELECT seq, CONCAT('name ', seq), CONCAT('héllo wörld 🚀 日本語 '' \\ ', seq), seq % 2 = 0 FROM seq_1_to_500;
INSERT INTO a_small VALUES (0, '', NULL, NULL);
CREATE TABLE z_big (
    id BIGINT PRIMARY KEY, payload VARCHAR(255), raw VARBINARY(32), amount DECIMAL(14,2), at DATETIME(6), doc LONGTEXT
) ENGINE=InnoDB;
INSERT INTO z_big
SELECT seq, CONCAT(MD5(seq), MD5(seq * 7), MD5(seq * 13)), UNHEX(MD5(seq * 3)), (seq * 37 % 100000) / 100.0,
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq MINUTE, JSON_OBJECT('n', seq, 's', MD5(seq * 11))
FROM seq_1_to_{rows};
CREATE INDEX z_big_amount ON z_big (amount);
CREATE VIEW z_summary AS SELECT COUNT(*) AS n, SUM(amount) AS total FROM z_big;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(64));
CREATE TRIGGER a_small_audit AFTER INSERT ON a_small FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('insert ', NEW.id));
CREATE FUNCTION add_up(a INT, b INT) RETURNS INT DETERMINISTIC RETURN a + b;
"#
        ),
    );
}

/// A digest of every table's content plus views, triggers and routines of a MariaDB database.
pub fn mysql_fingerprint(url: &str, db: &str) -> String {
    let tables = mysql(
        url,
        None,
        &format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' AND table_type = 'BASE TABLE' ORDER BY table_name;"
        ),
    );
    let mut parts = vec![format!("tables: {}", tables.split_whitespace().collect::<Vec<_>>().join(" "))];
    for t in tables.split_whitespace() {
        let count = mysql(url, Some(db), &format!("SELECT COUNT(*) FROM `{t}`;"));
        let rows = mysql(url, Some(db), &format!("SELECT * FROM `{t}` ORDER BY 1;"));
        parts.push(format!("{t}: {count} rows, {}", digest(&rows)));
    }
    for (what, q) in [
        (
            "views",
            format!(
                "SELECT table_name, MD5(REPLACE(view_definition, '`{db}`.', '')) FROM information_schema.views WHERE table_schema = '{db}' ORDER BY 1;"
            ),
        ),
        (
            "triggers",
            format!(
                "SELECT trigger_name, MD5(action_statement) FROM information_schema.triggers WHERE trigger_schema = '{db}' ORDER BY 1;"
            ),
        ),
        (
            "routines",
            format!(
                "SELECT routine_name, MD5(routine_definition) FROM information_schema.routines WHERE routine_schema = '{db}' ORDER BY 1;"
            ),
        ),
    ] {
        parts.push(format!("{what}: {}", mysql(url, None, &q).replace('\n', ", ")));
    }
    parts.join("\n")
}

pub fn mysql_drop(url: &str, db: &str) {
    mysql(url, None, &format!("DROP DATABASE IF EXISTS `{db}`;"));
}

// ---------------------------------------------------------------- Redis

/// A key's type, canonical content and expiry class.
pub type KeyState = (String, Vec<Vec<u8>>, &'static str);

/// A minimal blocking RESP client for setting up and checking Redis contents.
pub struct Redis {
    rd: std::io::BufReader<std::net::TcpStream>,
    wr: std::net::TcpStream,
}

#[derive(Debug, Clone, PartialEq)]
pub enum R {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Simple(String),
    Err(String),
    Arr(Vec<R>),
}

impl Redis {
    /// Connects to the URL's server, authenticates and selects the URL's database.
    pub fn connect(url: &str) -> Redis {
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

    pub fn cmd(&mut self, args: &[&[u8]]) -> R {
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
        assert!(line.len() >= 3, "short reply {line:?}");
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
                if n < 0 {
                    return R::Nil;
                }
                R::Arr((0..n).map(|_| self.read()).collect())
            }
            _ => panic!("bad reply {line:?}"),
        }
    }

    /// Every key of the selected database matching `pattern`, sorted.
    pub fn keys(&mut self, pattern: &[u8]) -> Vec<Vec<u8>> {
        let mut cursor = b"0".to_vec();
        let mut keys = Vec::new();
        loop {
            let R::Arr(parts) = self.cmd(&[b"SCAN", &cursor, b"MATCH", pattern, b"COUNT", b"1000"]) else {
                panic!("SCAN")
            };
            let (R::Bulk(c), R::Arr(ks)) = (&parts[0], &parts[1]) else { panic!("SCAN reply") };
            keys.extend(ks.iter().filter_map(|k| if let R::Bulk(k) = k { Some(k.clone()) } else { None }));
            cursor = c.clone();
            if cursor == b"0" {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    fn members(r: R) -> Vec<Vec<u8>> {
        let R::Arr(v) = r else { panic!("expected an array, got {r:?}") };
        v.into_iter().map(|x| if let R::Bulk(b) = x { b } else { panic!("expected bulk strings") }).collect()
    }

    /// (type, canonical content, has-TTL) of every key matching `pattern`. TTLs are compared
    /// as present/absent plus "more than a minute left", as they tick while the test runs.
    pub fn snapshot(&mut self, pattern: &[u8]) -> BTreeMap<Vec<u8>, KeyState> {
        let mut out = BTreeMap::new();
        for k in self.keys(pattern) {
            let R::Simple(t) = self.cmd(&[b"TYPE", &k]) else { panic!("TYPE") };
            let content = match t.as_str() {
                "string" => match self.cmd(&[b"GET", &k]) {
                    R::Bulk(b) => vec![b],
                    other => panic!("GET {other:?}"),
                },
                "list" => Self::members(self.cmd(&[b"LRANGE", &k, b"0", b"-1"])),
                "zset" => Self::members(self.cmd(&[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"])),
                "hash" => {
                    let flat = Self::members(self.cmd(&[b"HGETALL", &k]));
                    let mut pairs: Vec<Vec<u8>> =
                        flat.chunks(2).map(|c| [c[0].clone(), b"=".to_vec(), c[1].clone()].concat()).collect();
                    pairs.sort();
                    pairs
                }
                "set" => {
                    let mut m = Self::members(self.cmd(&[b"SMEMBERS", &k]));
                    m.sort();
                    m
                }
                other => panic!("unexpected type {other}"),
            };
            let R::Int(ttl) = self.cmd(&[b"PTTL", &k]) else { panic!("PTTL") };
            let ttl = match ttl {
                -1 => "no expiry",
                t if t > 60_000 => "expires in more than a minute",
                _ => "expires soon",
            };
            out.insert(k, (t, content, ttl));
        }
        out
    }
}

/// Writes 7 keys of every common type under `prefix` (binary keys and values, TTLs) into the
/// URL's database, plus `big` string keys of 64 KiB of incompressible bytes each.
pub fn redis_dataset(url: &str, prefix: &str, big: u32) {
    let mut r = Redis::connect(url);
    let p = prefix.as_bytes();
    let key = |s: &[u8]| [p, s].concat();
    assert_eq!(r.cmd(&[b"SET", &key(b":plain"), "héllo 🚀".as_bytes()]), R::Simple("OK".into()));
    assert_eq!(r.cmd(&[b"SET", &key(b":bin\x00\xff"), b"\x00\x01\x02\xfe\xff"]), R::Simple("OK".into()));
    assert_eq!(r.cmd(&[b"SET", &key(b":ttl"), b"expires", b"EX", b"3600"]), R::Simple("OK".into()));
    r.cmd(&[b"HSET", &key(b":hash"), b"a", b"1", b"b", b"2", b"\xff", b"\x00"]);
    r.cmd(&[b"RPUSH", &key(b":list"), b"x", b"y", b"x", b""]);
    r.cmd(&[b"SADD", &key(b":set"), b"m1", b"m2", b"m3"]);
    r.cmd(&[b"ZADD", &key(b":zset"), b"1.5", b"one", b"-2", b"two", b"1e10", b"three"]);
    r.cmd(&[b"EXPIRE", &key(b":hash"), b"7200"]);
    for i in 0..big {
        let value = random_bytes(65536, u64::from(i) + 1);
        assert_eq!(r.cmd(&[b"SET", &key(format!(":big:{i}").as_bytes()), &value]), R::Simple("OK".into()));
    }
}

/// Deterministic pseudo-random bytes (xorshift64*): incompressible, for volume.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Deletes every key under `prefix` in the URL's database.
pub fn redis_clear(url: &str, prefix: &str) {
    let mut r = Redis::connect(url);
    for k in r.keys(format!("{prefix}*").as_bytes()) {
        r.cmd(&[b"DEL", &k]);
    }
}

// ---------------------------------------------------------------- repository

/// A repository on a temporary directory, with a cheap key derivation.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

pub fn cheap_init() -> InitOptions {
    InitOptions { kdf: Argon2Params::MINIMUM, segment_size: 64 * 1024, ..Default::default() }
}

impl TestRepo {
    /// A new repository in a new temporary directory.
    pub async fn new() -> TestRepo {
        let dir = tempfile::Builder::new().prefix("lifeboat-ops-test-").tempdir().unwrap();
        let storage = Arc::new(FsStorage::new(dir.path()));
        let repo = Repository::init(storage, Credential::password(REPO_PASSWORD), cheap_init()).await.unwrap();
        TestRepo { dir, repo }
    }

    /// A new repository whose storage fails every `data/` upload after `limit` bytes.
    pub async fn failing_after(limit: u64) -> (TestRepo, Arc<FailingStorage>) {
        let dir = tempfile::Builder::new().prefix("lifeboat-ops-test-").tempdir().unwrap();
        let inner = Arc::new(FsStorage::new(dir.path()));
        Repository::init(inner.clone(), Credential::password(REPO_PASSWORD), cheap_init()).await.unwrap();
        let failing = Arc::new(FailingStorage::new(inner, limit));
        let repo = Repository::open(failing.clone(), Credential::password(REPO_PASSWORD)).await.unwrap();
        (TestRepo { dir, repo }, failing)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Every file under `<repo>/<sub>` (temporary files included).
    pub fn files_under(&self, sub: &str) -> Vec<PathBuf> {
        all_files(&self.dir.path().join(sub))
    }

    /// The ids of the listed backups; fails on unreadable manifests.
    pub async fn listed(&self) -> Vec<String> {
        let (manifests, unreadable) = self.repo.list().await.unwrap();
        assert!(unreadable.is_empty(), "unreadable manifests: {unreadable:?}");
        manifests.into_iter().map(|m| m.id).collect()
    }

    /// Asserts that the repository holds no backup, no data object, no lock and no debris.
    pub async fn assert_empty_after_failure(&self, what: &str) {
        assert_eq!(self.listed().await, Vec::<String>::new(), "{what}: a failed backup was listed");
        assert_eq!(self.files_under("backups"), Vec::<PathBuf>::new(), "{what}: manifests left");
        assert_eq!(self.files_under("data"), Vec::<PathBuf>::new(), "{what}: data objects left");
        assert_eq!(self.files_under("locks"), Vec::<PathBuf>::new(), "{what}: locks left");
    }
}

/// Every non-directory entry under `dir`, recursively (empty when `dir` is absent).
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A storage that behaves like the wrapped one, except that uploads under `data/` fail once
/// `limit` bytes of them went through (a repository that becomes unavailable mid-stream).
#[derive(Debug)]
pub struct FailingStorage {
    inner: Arc<FsStorage>,
    limit: u64,
    passed: Arc<AtomicU64>,
    pub failures: AtomicU32,
}

/// The message of the injected failure.
pub const INJECTED: &str = "injected failure: repository unavailable";

impl FailingStorage {
    pub fn new(inner: Arc<FsStorage>, limit: u64) -> Self {
        FailingStorage { inner, limit, passed: Arc::new(AtomicU64::new(0)), failures: AtomicU32::new(0) }
    }
}

#[async_trait::async_trait]
impl lifeboat_storage::layer::StorageLayer for FailingStorage {
    type Inner = FsStorage;

    fn inner(&self) -> &FsStorage {
        &self.inner
    }

    async fn put_with_options(
        &self,
        key: &str,
        body: ByteStream,
        size_hint: Option<u64>,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        if !key.starts_with("data/") {
            return self.inner.put_with_options(key, body, size_hint, options).await;
        }
        let (passed, limit, location, owned) = (self.passed.clone(), self.limit, self.inner.location(), key.to_owned());
        let mut tripped = false;
        let body: ByteStream = Box::pin(body.map(move |item| {
            if tripped {
                return Err(StorageError::Backend {
                    op: Op::Put,
                    location: location.clone(),
                    key: owned.clone(),
                    message: INJECTED.into(),
                    transient: false,
                });
            }
            let chunk = item?;
            if passed.fetch_add(chunk.len() as u64, Ordering::SeqCst) + chunk.len() as u64 > limit {
                tripped = true;
                return Err(StorageError::Backend {
                    op: Op::Put,
                    location: location.clone(),
                    key: owned.clone(),
                    message: INJECTED.into(),
                    transient: false,
                });
            }
            Ok(chunk)
        }));
        let result = self.inner.put_with_options(key, body, size_hint, options).await;
        if result.is_err() {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
}

// ---------------------------------------------------------------- processes

/// Processes named `tool` (by /proc/PID/comm) whose command line or environment mentions
/// `needle`, excluding zombies already gone.
pub fn tool_processes(tool: &str, needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else { continue };
        if comm.trim() != tool {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let mentions = |b: &[u8]| b.windows(needle.len()).any(|w| w == needle.as_bytes());
        if mentions(&cmdline) || mentions(&environ) {
            found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// The pids of the children of this process that run `tool`.
pub fn my_children(tool: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map(|(_, n)| n).unwrap_or("");
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(me) && name == tool {
            out.push(pid);
        }
    }
    out
}

/// Waits up to `secs` for `check` to return an empty list; returns what is left.
pub fn wait_until_empty<T>(secs: u64, mut check: impl FnMut() -> Vec<T>) -> Vec<T> {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let left = check();
        if left.is_empty() || std::time::Instant::now() >= end {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Flips one byte of the file at `path`, `fraction` of the way through it.
pub fn damage_file(path: &Path, fraction: f64) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = ((bytes.len() as f64) * fraction) as usize;
    bytes[at] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

/// Reads a whole file to a string (for the raw dump checks).
pub fn read_text(path: &Path) -> String {
    let mut s = String::new();
    std::fs::File::open(path).unwrap().read_to_string(&mut s).unwrap();
    s
}

// ---------------------------------------------------------------- clean-up

/// Drops test databases (or deletes test keys) when it goes out of scope, also when the test
/// failed. Best effort and panic-free: it runs during unwinding.
pub enum Cleanup {
    /// PostgreSQL server URL and database names.
    Pg(String, Vec<String>),
    /// MariaDB server URL and database names.
    My(String, Vec<String>),
    /// Redis database URLs and a key prefix.
    Redis(Vec<String>, String),
}

impl Cleanup {
    /// Drops these PostgreSQL databases at the end of the test.
    pub fn pg(url: &str, dbs: &[&String]) -> Cleanup {
        Cleanup::Pg(url.to_string(), dbs.iter().map(|d| d.to_string()).collect())
    }

    /// Drops these MariaDB databases at the end of the test.
    pub fn my(url: &str, dbs: &[&String]) -> Cleanup {
        Cleanup::My(url.to_string(), dbs.iter().map(|d| d.to_string()).collect())
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::Pg(url, dbs) => {
                let u = parse(url);
                for db in dbs {
                    let _ = Command::new("psql")
                        .args(["-X", "-q", "-h", &u.host, "-p", &u.port.to_string(), "-U", &u.user, "-d", "postgres"])
                        .arg("-c")
                        .arg(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                        .env("PGPASSWORD", &u.password)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
            Cleanup::My(url, dbs) => {
                let u = parse(url);
                for db in dbs {
                    let _ = Command::new("mariadb")
                        .args(["--no-defaults", "-h", &u.host, "-P", &u.port.to_string(), "-u", &u.user])
                        .arg("-e")
                        .arg(format!("DROP DATABASE IF EXISTS `{db}`"))
                        .env("MYSQL_PWD", &u.password)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
            Cleanup::Redis(urls, prefix) => {
                for url in urls.iter() {
                    let _ = redis_delete_quietly(url, prefix);
                }
            }
        }
    }
}

/// Deletes the keys under `prefix` without panicking (for clean-up during unwinding).
fn redis_delete_quietly(url: &str, prefix: &str) -> std::io::Result<()> {
    let u = url::Url::parse(url).map_err(std::io::Error::other)?;
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap_or("127.0.0.1"), u.port().unwrap_or(6379)))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let db = u.path().trim_start_matches('/');
    let script = "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1";
    let pattern = format!("{prefix}*");
    let mut commands: Vec<Vec<&str>> = Vec::new();
    if let Some(pw) = u.password() {
        commands.push(vec!["AUTH", pw]);
    }
    commands.push(vec!["SELECT", if db.is_empty() { "0" } else { db }]);
    commands.push(vec!["EVAL", script, "0", &pattern]);
    let mut out = Vec::new();
    for c in &commands {
        out.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
        for a in c {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    s.write_all(&out)?;
    let mut reader = std::io::BufReader::new(s);
    for _ in &commands {
        let mut line = String::new();
        reader.read_line(&mut line)?;
    }
    Ok(())
}
