//! `kill -9` of `shale serve` during a write load from several connections, under each
//! fsync policy, then a restart on the same directory: every write the server
//! acknowledged is there (a process kill loses nothing that reached the WAL, whatever the
//! policy; the policies differ only on power loss).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Starts `shale serve` on a free port; returns the child and its address.
fn spawn(dir: &std::path::Path, policy: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shale"))
        .arg("--db")
        .arg(dir)
        .args(["serve", "--port", "0", "--appendfsync", policy])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn shale serve");
    let stderr = child.stderr.take().expect("stderr");
    // Recovery may log first: a kill -9 in the middle of a WAL append leaves a torn
    // record that the restart drops with a warning (an unacknowledged write).
    let mut reader = BufReader::new(stderr);
    let mut seen = Vec::new();
    let addr = loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("stderr line");
        if let Some(addr) = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(',').next())
        {
            break addr.to_string();
        }
        seen.push(line);
        assert!(
            n > 0 && seen.len() < 100,
            "no start line from shale serve: {seen:?}"
        );
    };
    (child, addr)
}

#[test]
fn acknowledged_writes_survive_kill_9_under_every_policy() {
    for policy in ["always", "everysec", "no"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut child, addr) = spawn(dir.path(), policy);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (addr, stop) = (addr.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let client = redis::Client::open(format!("redis://{addr}/")).expect("client");
                    let mut con = client.get_connection().expect("connect");
                    let mut acked = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let r: redis::RedisResult<()> = redis::cmd("SET")
                            .arg(format!("w{t}:{acked}"))
                            .arg(acked)
                            .query(&mut con);
                        if r.is_err() {
                            break; // the server died under this write
                        }
                        acked += 1;
                    }
                    acked
                })
            })
            .collect();
        // Let the load run until at least a few hundred writes are acknowledged.
        let probe = redis::Client::open(format!("redis://{addr}/")).expect("client");
        let mut pc = probe.get_connection().expect("connect");
        loop {
            let n: i64 = redis::cmd("DBSIZE").query(&mut pc).expect("dbsize");
            if n >= 2_000 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<u64> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();

        let (mut child, addr) = spawn(dir.path(), policy);
        let client = redis::Client::open(format!("redis://{addr}/")).expect("client");
        let mut con = client.get_connection().expect("connect");
        let mut total = 0;
        for (t, &n) in acked.iter().enumerate() {
            for i in 0..n {
                let v: Option<u64> = redis::cmd("GET")
                    .arg(format!("w{t}:{i}"))
                    .query(&mut con)
                    .expect("get");
                assert_eq!(v, Some(i), "{policy}: acknowledged write w{t}:{i} lost");
            }
            total += n;
        }
        let n: i64 = redis::cmd("DBSIZE").query(&mut con).expect("dbsize");
        assert!(
            n as u64 >= total,
            "{policy}: DBSIZE {n} below the {total} acknowledged keys"
        );
        assert!(
            n as u64 <= total + 4,
            "{policy}: DBSIZE {n}: at most one write in flight per writer"
        );
        let _ = redis::cmd("SHUTDOWN").query::<()>(&mut con);
        child.wait().expect("clean exit");
        eprintln!("{policy}: {total} acknowledged writes, all present after kill -9");
    }
}
