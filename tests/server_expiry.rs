//! Expiry and counts in `shale serve`: a key set with `PX 500` and never touched leaves
//! DBSIZE within 2 seconds (active expiry, as Redis's); TTLs and exact key counts survive
//! a restart; keys that expired while the server was down are reclaimed after it starts
//! (the expiry index is persistent). Expiry is a matter of time, so these tests wait for
//! the clock with a deadline; nothing else is synchronised by sleeping.

mod common;

use std::time::{Duration, Instant};

use shaledb::server::FsyncPolicy;

fn dbsize(con: &mut redis::Connection) -> i64 {
    redis::cmd("DBSIZE").query(con).expect("dbsize")
}

/// Polls `f` until it returns true or `limit` passes; returns the time it took.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn an_untouched_px_500_key_leaves_dbsize_within_2_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), FsyncPolicy::EverySec);
    let mut con = server.conn();
    let _: () = redis::cmd("SET")
        .arg("keep")
        .arg("v")
        .query(&mut con)
        .expect("set");
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(500)
        .query(&mut con)
        .expect("set");
    assert_eq!(dbsize(&mut con), 2);
    let took = within(Duration::from_millis(2_000), || dbsize(&mut con) == 1);
    let took = took.expect("the expired key left DBSIZE within 2 s");
    assert!(
        took >= Duration::from_millis(400),
        "not before it expired ({took:?})"
    );
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut con)
        .expect("info");
    assert!(info.contains("expired_keys:1"), "{info}");
}

#[test]
fn ttls_and_counts_survive_a_restart_and_expired_keys_are_reclaimed_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), FsyncPolicy::Always);
    let mut con = server.conn();
    for i in 0..1_000 {
        let mut c = redis::cmd("SET");
        c.arg(format!("k{i}")).arg(i);
        if i % 10 == 0 {
            c.arg("EX").arg(1_000);
        }
        let _: () = c.query(&mut con).expect("set");
    }
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("soon{i}"))
            .arg(i)
            .arg("PX")
            .arg(300)
            .query(&mut con)
            .expect("set");
    }
    assert_eq!(dbsize(&mut con), 1_050);
    drop(con);
    server.stop();

    let server = common::TestServer::start(dir.path(), FsyncPolicy::EverySec);
    let mut con = server.conn();
    let ttl: i64 = redis::cmd("TTL").arg("k10").query(&mut con).expect("ttl");
    assert!((990..=1_000).contains(&ttl), "TTL after restart: {ttl}");
    let ttl: i64 = redis::cmd("TTL").arg("k11").query(&mut con).expect("ttl");
    assert_eq!(ttl, -1);
    let took = within(Duration::from_millis(3_000), || dbsize(&mut con) == 1_000);
    assert!(
        took.is_some(),
        "the 50 keys that expired are reclaimed after the restart: {}",
        dbsize(&mut con)
    );
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(&mut con)
        .expect("info");
    assert!(info.contains("db0:keys=1000,expires=100,"), "{info}");
}
