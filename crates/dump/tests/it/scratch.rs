//! Scratch targets on the real servers: created, listed as leftovers, dropped; a name without
//! the prefix is never dropped; a started Redis leaves no process; a non-empty designated
//! Redis is refused and an empty one is flushed after.

use lifeboat_dump::{
    DumpError, SCRATCH_PREFIX, ScratchDatabase, ScratchRedis, ScratchRedisOptions, drop_leftover, leftover_databases,
    scratch_created,
};
use lifeboat_testkit::process::{alive, wait_gone};
use lifeboat_testkit::redis_server::PrivateRedis;
use lifeboat_testkit::sql::psql;
use lifeboat_testkit::{R, Redis, closed_port, mysql_url, pg_url, with_port};

use crate::common::servers_shared;

async fn leftovers_are_listed_and_dropped(url: &str) {
    let a = ScratchDatabase::create(url, None, "leftover").await.unwrap();
    let b = ScratchDatabase::create(url, None, "leftover").await.unwrap();
    assert_ne!(a.name(), b.name());
    let created = scratch_created(a.name()).unwrap();
    assert!(created > 1_700_000_000, "{created}");
    let listed = leftover_databases(url, None).await.unwrap();
    assert!(listed.contains(&a.name().to_string()) && listed.contains(&b.name().to_string()), "{listed:?}");
    assert!(listed.iter().all(|n| n.starts_with(SCRATCH_PREFIX)));

    let (na, nb) = (a.name().to_string(), b.name().to_string());
    std::mem::forget(a); // a drill that died: nothing drops it
    drop_leftover(url, None, &na).await.unwrap();
    b.drop_database().await.unwrap();
    let listed = leftover_databases(url, None).await.unwrap();
    assert!(!listed.contains(&na) && !listed.contains(&nb), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leftovers_are_listed_and_dropped_and_other_names_refused() {
    let _servers = servers_shared().await;
    let url = pg_url();
    leftovers_are_listed_and_dropped(&url).await;
    let e = drop_leftover(&url, None, "postgres").await.unwrap_err();
    assert!(matches!(e, DumpError::InvalidOptions { .. }) && e.to_string().contains("not a scratch database"), "{e}");
    assert_eq!(psql(&url, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'postgres';"), "1");

    // Sessions on a scratch database do not keep it from being dropped.
    let s = ScratchDatabase::create(&url, None, "busy").await.unwrap();
    let mut holder = lifeboat_testkit::sql::psql_spawn(&url, s.name(), "SELECT pg_sleep(60);");
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.drop_database().await.unwrap();
    let _ = holder.kill();
    let _ = holder.wait();

    // A scratch database only takes a single database's stream.
    let s = ScratchDatabase::create(&url, None, "globals").await.unwrap();
    let e = s.restorer().unwrap().restore("globals.sql", &mut &b"CREATE ROLE x;"[..]).await.unwrap_err();
    assert!(e.to_string().contains("single database"), "{e}");
    s.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_leftovers_are_listed_and_dropped_and_other_names_refused() {
    let _servers = servers_shared().await;
    let url = mysql_url();
    leftovers_are_listed_and_dropped(&url).await;
    let e = drop_leftover(&url, None, "mysql").await.unwrap_err();
    assert!(e.to_string().contains("not a scratch database"), "{e}");
}

#[tokio::test]
async fn an_unreachable_server_fails_with_the_reason() {
    let e = ScratchDatabase::create(&with_port(&pg_url(), closed_port()), None, "x").await.unwrap_err();
    assert!(e.to_string().contains("creating scratch database"), "{e}");
    let e = ScratchDatabase::create("redis://127.0.0.1:1", None, "x").await.unwrap_err();
    assert!(e.to_string().contains("PostgreSQL or MySQL"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_redis_leaves_no_process_when_stopped_or_dropped() {
    let s = ScratchRedis::start(ScratchRedisOptions::default()).await.unwrap();
    let pid = s.pid().unwrap();
    assert!(alive(pid));
    assert!(s.url().starts_with("redis://127.0.0.1:") && !s.url().contains('@'), "{}", s.url());
    // It asks for its password: the URL alone is refused.
    let mut anon = Redis::connect(s.url());
    assert!(matches!(anon.cmd(&[b"PING"]), R::Err(e) if e.starts_with("NOAUTH")));
    s.stop().await.unwrap();
    assert!(wait_gone(pid, 10), "stopped server {pid} is gone");

    let s = ScratchRedis::start(ScratchRedisOptions::default()).await.unwrap();
    let pid = s.pid().unwrap();
    drop(s);
    assert!(wait_gone(pid, 10), "dropped server {pid} is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_designated_redis_must_be_empty_and_is_flushed_after() {
    let server = PrivateRedis::start("designated-pw", None);
    let mut r = Redis::connect(&server.url);
    r.cmd_str(&["SELECT", "2"]);
    r.cmd_str(&["SET", "precious", "data"]);
    let opts = ScratchRedisOptions { designated: Some(server.url.clone()), ..Default::default() };
    let e = ScratchRedis::start(opts.clone()).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("not empty") && msg.contains("db2: 1 keys"), "{msg}");
    assert!(!msg.contains("designated-pw"), "{msg}");
    assert_eq!(r.cmd_str(&["GET", "precious"]), R::Bulk(b"data".to_vec()), "left alone");

    r.cmd_str(&["FLUSHALL"]);
    let s = ScratchRedis::start(opts).await.unwrap();
    assert!(s.pid().is_none());
    r.cmd_str(&["SET", "restored", "x"]);
    s.stop().await.unwrap();
    assert_eq!(r.cmd_str(&["DBSIZE"]), R::Int(0), "flushed after");

    let e = ScratchRedis::start(ScratchRedisOptions {
        server_binary: Some("/nonexistent/redis-server".into()),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(e.to_string().contains("redis-server"), "{e}");
}
