//! Debian's redis-cli and redis-benchmark (package redis-tools) against `shale serve`:
//! redis-cli's commands and `--scan` work, and every redis-benchmark test of the
//! supported commands runs without an error reply. Skipped, saying so, when the tools are
//! not installed (`.ci/fetch-redis.sh` installs them in CI).

mod common;

use std::process::Command;

fn tool(name: &str) -> Option<std::path::PathBuf> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!p.is_empty()).then(|| p.into())
}

#[test]
fn redis_cli_and_redis_benchmark_run_without_errors() {
    let (Some(cli), Some(bench)) = (tool("redis-cli"), tool("redis-benchmark")) else {
        eprintln!(
            "skipped: redis-cli or redis-benchmark not installed (apt-get install redis-tools)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), shaledb::server::FsyncPolicy::EverySec);
    let port = server.addr.rsplit(':').next().expect("port").to_string();
    let cli_run = |args: &[&str]| -> String {
        let out = Command::new(&cli)
            .arg("-p")
            .arg(&port)
            .args(args)
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "redis-cli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(cli_run(&["set", "greeting", "hello world"]), "OK\n");
    assert_eq!(cli_run(&["get", "greeting"]), "hello world\n");
    assert_eq!(cli_run(&["incrby", "n", "5"]), "5\n");
    assert_eq!(cli_run(&["dbsize"]), "2\n");
    let mut scanned: Vec<String> = cli_run(&["--scan"]).lines().map(str::to_string).collect();
    scanned.sort();
    assert_eq!(scanned, ["greeting", "n"]);
    assert!(cli_run(&["info", "keyspace"]).contains("db0:keys=2"));

    let out = Command::new(&bench)
        .args(["-p", &port, "-n", "5000", "-c", "20", "-r", "100000", "-q"])
        .args(["-t", "ping_inline,ping_mbulk,set,get,incr,mset"])
        .output()
        .expect("redis-benchmark");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("Error from server"), "{text}");
    for t in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET"] {
        assert!(text.contains(t), "{t} ran: {text}");
    }
    let out = Command::new(&bench)
        .args([
            "-p",
            &port,
            "-n",
            "2000",
            "-c",
            "20",
            "-P",
            "16",
            "-q",
            "-t",
            "set,get,incr,mset",
        ])
        .output()
        .expect("redis-benchmark -P 16");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("Error from server"),
        "{text}"
    );
}
