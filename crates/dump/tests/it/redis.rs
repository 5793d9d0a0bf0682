//! Redis RDB and logical dumps against real servers: the shared one from scripts/services.sh
//! and private redis-server instances (fresh targets, and servers to kill).

use lifeboat_dump::{
    DumpError, Position, RedisConn, RedisMode, RedisRestoreOptions, RedisRestorer, RestoreOptions, Restorer, Source,
    SourceOptions,
};
use lifeboat_testkit::redis_server::PrivateRedis;
use lifeboat_testkit::resp::KeyDump;
use lifeboat_testkit::{R, Redis, closed_port, parse, redis_url, unique, with_password, with_path};
use tokio::io::AsyncReadExt;

/// Fills the current database with every type under `prefix`, including a 17 MiB binary value,
/// binary and unicode keys, and TTLs.
fn fill(r: &mut Redis, prefix: &str) {
    let p = |s: &str| format!("{prefix}{s}");
    let big: Vec<u8> = (0..17 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(r.cmd(&[b"SET", p("big").as_bytes(), &big]), R::Simple("OK".into()));
    r.cmd_str(&["SET", &p("str"), "héllo 🚀🦀 wörld"]);
    r.cmd_str(&["SET", &p("int"), "12345"]);
    let mut bin_key = prefix.as_bytes().to_vec();
    bin_key.extend_from_slice(b"\x00\xff\r\n binary \x01");
    r.cmd(&[b"SET", &bin_key, b"\x00\x01\x02\xfe\xff"]);
    r.cmd_str(&["SET", &p("🔑emoji-key"), "v"]);
    r.cmd_str(&["HSET", &p("hash"), "f1", "v1", "f2", "", "ünï", "😀"]);
    let many: Vec<String> = (0..300).map(|i| format!("field{i}")).collect();
    let key_bighash = p("bighash");
    let mut args: Vec<&str> = vec!["HSET", &key_bighash];
    for f in &many {
        args.push(f);
        args.push("x");
    }
    r.cmd_str(&args);
    r.cmd_str(&["RPUSH", &p("list"), "a", "b", "", "a"]);
    r.cmd_str(&["SADD", &p("set"), "x", "y", "z"]);
    r.cmd_str(&["SADD", &p("intset"), "1", "2", "3"]);
    r.cmd_str(&["ZADD", &p("zset"), "1.5", "one", "-2", "two", "inf", "three"]);
    r.cmd_str(&["XADD", &p("stream"), "1-1", "k", "v"]);
    r.cmd_str(&["XADD", &p("stream"), "2-0", "k2", "v2", "k3", "v3"]);
    r.cmd_str(&["XGROUP", "CREATE", &p("stream"), "grp", "0"]);
    r.cmd_str(&["XREADGROUP", "GROUP", "grp", "alice", "COUNT", "1", "STREAMS", &p("stream"), ">"]);
    r.cmd_str(&["SET", &p("ttl"), "expires later"]);
    r.cmd_str(&["PEXPIRE", &p("ttl"), "3600000"]);
    r.cmd_str(&["HSET", &p("ttlhash"), "a", "b"]);
    r.cmd_str(&["EXPIRE", &p("ttlhash"), "7200"]);
}

fn compare(a: &[KeyDump], b: &[KeyDump]) {
    assert_eq!(a.len(), b.len(), "key count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.0, y.0, "key");
        assert_eq!(x.1, y.1, "type of {:?}", String::from_utf8_lossy(&x.0));
        assert!(x.2 == y.2, "content of {:?} differs", String::from_utf8_lossy(&x.0));
        if x.3 < 0 {
            assert_eq!(x.3, y.3, "ttl of {:?}", String::from_utf8_lossy(&x.0));
        } else {
            assert!(
                y.3 > 0 && (x.3 - y.3).abs() < 120_000,
                "ttl of {:?}: {} vs {}",
                String::from_utf8_lossy(&x.0),
                x.3,
                y.3
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_round_trip_into_another_database() {
    let url = redis_url();
    let prefix = format!("{}:", unique("lbl"));
    let src_url = with_path(&url, "/1");
    let mut r = Redis::connect(&src_url);
    fill(&mut r, &prefix);
    r.cmd_str(&["SET", "unrelated-key-not-in-pattern", "x"]);
    let pattern = format!("{prefix}*");
    let before = r.snapshot(pattern.as_bytes());
    assert_eq!(before.len(), 14);

    let source = Source::from_url(
        &src_url,
        &SourceOptions { redis_mode: RedisMode::Logical, key_pattern: Some(pattern.clone()), ..Default::default() },
    )
    .unwrap();
    let mut dumps = source.dump().await.unwrap();
    assert_eq!(dumps.names(), ["redis.logical"]);
    let (bytes, meta) = dumps.next().await.unwrap().unwrap().into_vec().await.unwrap();
    assert!(bytes.starts_with(b"LBRLOG1\n"));
    assert_eq!(meta.databases, vec!["1"]);
    assert_eq!(meta.options, vec![format!("keys:{pattern}")]);
    assert!(matches!(meta.position, Some(Position::RedisReplication { exact: false, .. })));
    assert!(!serde_json::to_string(&meta).unwrap().contains(&parse(&url).password));

    let dst_url = with_path(&url, "/2");
    let report = Restorer::from_url(&dst_url, &RestoreOptions::default())
        .unwrap()
        .restore("redis.logical", &mut &bytes[..])
        .await
        .unwrap();
    assert_eq!(report.bytes, bytes.len() as u64);
    let mut d = Redis::connect(&dst_url);
    let after = d.snapshot(pattern.as_bytes());
    compare(&before, &after);
    assert_eq!(d.cmd_str(&["EXISTS", "unrelated-key-not-in-pattern"]), R::Int(0));

    // Restoring again replaces; without REPLACE an existing key is an error naming it.
    Restorer::from_url(&dst_url, &RestoreOptions::default())
        .unwrap()
        .restore("redis.logical", &mut &bytes[..])
        .await
        .unwrap();
    let strict = RedisRestorer::new(RedisConn::parse(&dst_url).unwrap(), RedisRestoreOptions { replace: false });
    let e = strict.restore("redis.logical", &mut &bytes[..]).await.unwrap_err();
    // The key named is the first the server refused, in SCAN order: a key with binary bytes
    // is named in hex, so the prefix may show either way.
    let hex_prefix: String = prefix.bytes().map(|b| format!("{b:02x}")).collect();
    let named = e.to_string().contains(&prefix) || e.to_string().contains(&hex_prefix);
    assert!(e.to_string().contains("BUSYKEY") && named, "{e}");

    // Truncated and foreign streams are refused.
    let e = strict.restore("redis.logical", &mut &bytes[..bytes.len() - 3]).await.unwrap_err();
    assert!(matches!(e, DumpError::InvalidStream { .. }), "{e}");
    let e = strict.restore("redis.logical", &mut &b"PGDMP..."[..]).await.unwrap_err();
    assert!(matches!(e, DumpError::InvalidStream { .. }), "{e}");

    for db in ["/1", "/2"] {
        let mut c = Redis::connect(&with_path(&url, db));
        for k in c.keys(pattern.as_bytes()) {
            c.cmd(&[b"DEL", &k]);
        }
        c.cmd_str(&["DEL", "unrelated-key-not-in-pattern"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_dump_of_every_database_restores_into_a_fresh_server() {
    let source_server = PrivateRedis::start("src-pw", None);
    let mut per_db = Vec::new();
    for db in ["3", "4"] {
        let mut r = Redis::connect(&format!("{}/{db}", source_server.url));
        fill(&mut r, &format!("db{db}:"));
        per_db.push((db, r.snapshot(b"*")));
    }
    let source =
        Source::from_url(&source_server.url, &SourceOptions { redis_mode: RedisMode::Logical, ..Default::default() })
            .unwrap();
    let (_, bytes, meta) = source.dump().await.unwrap().collect_all().await.unwrap().remove(0);
    assert_eq!(meta.databases, vec!["3", "4"]);

    let fresh = PrivateRedis::start("dst-pw", None);
    Restorer::from_url(&fresh.url, &RestoreOptions::default())
        .unwrap()
        .restore("redis.logical", &mut &bytes[..])
        .await
        .unwrap();
    for (db, before) in &per_db {
        let mut r = Redis::connect(&format!("{}/{db}", fresh.url));
        compare(before, &r.snapshot(b"*"));
    }
    let mut r = Redis::connect(&format!("{}/0", fresh.url));
    assert_eq!(r.cmd_str(&["DBSIZE"]), R::Int(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdb_snapshot_loads_into_a_new_server() {
    let source_server = PrivateRedis::start("rdb-pw", None);
    let mut before = Vec::new();
    for db in ["0", "5"] {
        let mut r = Redis::connect(&format!("{}/{db}", source_server.url));
        fill(&mut r, "k:");
        before.push(r.snapshot(b"*"));
    }
    let source = Source::from_url(&source_server.url, &SourceOptions::default()).unwrap();
    let mut dumps = source.dump().await.unwrap();
    assert_eq!(dumps.names(), ["dump.rdb"]);
    let (bytes, meta) = dumps.next().await.unwrap().unwrap().into_vec().await.unwrap();
    assert!(bytes.starts_with(b"REDIS"));
    match &meta.position {
        Some(Position::RedisReplication { replid, exact: true, .. }) => assert_eq!(replid.len(), 40),
        other => panic!("{other:?}"),
    }
    // A running server cannot load it: one clear error.
    let e = Restorer::from_url(&source_server.url, &RestoreOptions::default())
        .unwrap()
        .restore("dump.rdb", &mut &bytes[..])
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::Unsupported(_)) && e.to_string().contains("restart"), "{e}");

    let loaded = PrivateRedis::start("other-pw", Some(&bytes));
    for (db, snap) in ["0", "5"].iter().zip(&before) {
        let mut r = Redis::connect(&format!("{}/{db}", loaded.url));
        compare(snap, &r.snapshot(b"*"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_snapshot_fails_the_dump() {
    for mode in [RedisMode::Rdb, RedisMode::Logical] {
        let mut server = PrivateRedis::start("kill-pw", None);
        {
            let mut r = Redis::connect(&server.url);
            // Incompressible values: the RDB format compresses repetitive ones to nothing.
            let mut x: u64 = 0x9e3779b97f4a7c15;
            for i in 0..96 {
                let v: Vec<u8> = (0..1 << 20)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                r.cmd(&[b"SET", format!("key{i}").as_bytes(), &v]);
            }
        }
        let source = Source::from_url(&server.url, &SourceOptions { redis_mode: mode, ..Default::default() }).unwrap();
        let mut dumps = source.dump().await.unwrap();
        let mut stream = dumps.next().await.unwrap().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        stream.reader.read_exact(&mut buf).await.unwrap();
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let e = stream.copy_to(&mut tokio::io::sink()).await.unwrap_err();
        assert!(matches!(e, DumpError::ConnectFailed { .. } | DumpError::Io { .. }), "{mode:?}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_stream_closes_the_connection() {
    let server = PrivateRedis::start("drop-pw", None);
    {
        let mut r = Redis::connect(&server.url);
        let v = vec![7u8; 1 << 20];
        for i in 0..64 {
            r.cmd(&[b"SET", format!("key{i}").as_bytes(), &v]);
        }
    }
    for mode in [RedisMode::Rdb, RedisMode::Logical] {
        let source = Source::from_url(&server.url, &SourceOptions { redis_mode: mode, ..Default::default() }).unwrap();
        let mut dumps = source.dump().await.unwrap();
        let mut stream = dumps.next().await.unwrap().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        stream.reader.read_exact(&mut buf).await.unwrap();
        drop(stream);
        drop(dumps);
        let mut r = Redis::connect(&server.url);
        let mut tries = 0;
        loop {
            let R::Bulk(list) = r.cmd_str(&["CLIENT", "LIST"]) else { panic!() };
            if !String::from_utf8_lossy(&list).contains("name=lifeboat") {
                break;
            }
            tries += 1;
            assert!(tries < 100, "{mode:?}: lifeboat connection left open");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_password_and_refused_connection_give_clear_errors() {
    let url = redis_url();
    let pw = parse(&url).password;
    let e = Source::from_url(&with_password(&url, "not-the-password-123"), &SourceOptions::default())
        .unwrap()
        .dump()
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::AuthFailed { .. }), "{e}");
    let msg = format!("{e} {e:?}");
    assert!(!msg.contains("not-the-password-123") && !msg.contains(&pw), "{msg}");

    let u = parse(&url);
    let e = Source::from_url(&format!("redis://{}:{}/0", u.host, u.port), &SourceOptions::default())
        .unwrap()
        .dump()
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::AuthFailed { .. }) && e.to_string().contains("requires a password"), "{e}");

    let e = Source::from_url(&format!("redis://:x@127.0.0.1:{}/0", closed_port()), &SourceOptions::default())
        .unwrap()
        .dump()
        .await
        .unwrap_err();
    assert!(matches!(e, DumpError::ConnectFailed { .. }), "{e}");

    let e =
        Source::from_url(&url, &SourceOptions { key_pattern: Some("x*".into()), ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("logical"), "{e}");
}
