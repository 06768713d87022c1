//! `--requirepass` (NOAUTH before AUTH, WRONGPASS, then commands), `--maxclients`
//! (Redis's refusal text), and the server commands clients use on connect: COMMAND
//! COUNT/INFO/DOCS, TIME, CLIENT ID/LIST, INFO sections.

mod common;

use std::io::{Read, Write};

use shaledb::server::{FsyncPolicy, ServerConfig};

fn raw(addr: &str, input: &[u8], want: usize) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(input).expect("write");
    let mut out = vec![0u8; want];
    s.read_exact(&mut out).expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn requirepass_gates_every_command_until_auth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ServerConfig {
        requirepass: Some("s3cret".into()),
        ..ServerConfig::default()
    };
    let server = common::TestServer::start_with(dir.path(), config);
    let cases: &[(&[u8], &str)] = &[
        (b"GET k\r\n", "-NOAUTH Authentication required.\r\n"),
        (
            b"AUTH nope\r\n",
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        ),
        (
            b"AUTH s3cret\r\nSET k v\r\nGET k\r\n",
            "+OK\r\n+OK\r\n$1\r\nv\r\n",
        ),
        (b"AUTH default s3cret\r\nPING\r\n", "+OK\r\n+PONG\r\n"),
    ];
    for (input, want) in cases {
        assert_eq!(
            raw(&server.addr, input, want.len()),
            *want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn maxclients_refuses_with_redis_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ServerConfig {
        maxclients: 1,
        appendfsync: FsyncPolicy::No,
        ..ServerConfig::default()
    };
    let server = common::TestServer::start_with(dir.path(), config);
    let mut first = server.conn();
    let _: String = redis::cmd("PING")
        .query(&mut first)
        .expect("the one allowed client");
    let want = "-ERR max number of clients reached\r\n";
    assert_eq!(raw(&server.addr, b"PING\r\n", want.len()), want);
    let _ = redis::cmd("NOSUCH").query::<()>(&mut first);
    let stats: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut first)
        .expect("info");
    assert!(
        stats.contains("total_connections_received:1\r\n"),
        "{stats}"
    );
    assert!(stats.contains("rejected_connections:1\r\n"), "{stats}");
    assert!(
        stats.contains("total_error_replies:1\r\n"),
        "an unknown command is an error reply: {stats}"
    );
    let port: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("port")
        .query(&mut first)
        .expect("config");
    assert_eq!(
        port[1],
        server.addr.rsplit(':').next().expect("port"),
        "the real port, not 0"
    );
}

#[test]
fn server_commands_clients_use_on_connect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), FsyncPolicy::EverySec);
    let mut con = server.conn();
    let count: i64 = redis::cmd("COMMAND")
        .arg("COUNT")
        .query(&mut con)
        .expect("count");
    assert_eq!(count as usize, shaledb::server::COMMANDS.len());
    let info: Vec<redis::Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("get")
        .arg("nosuch")
        .query(&mut con)
        .expect("info");
    assert_eq!(info.len(), 2);
    assert_eq!(
        info[1],
        redis::Value::Nil,
        "an unknown command's info is nil"
    );
    let docs: Vec<redis::Value> = redis::cmd("COMMAND")
        .arg("DOCS")
        .query(&mut con)
        .expect("docs");
    assert!(docs.is_empty());
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut con).expect("time");
    assert!(secs > 1_700_000_000 && micros < 1_000_000);
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).expect("id");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut con)
        .expect("list");
    assert!(list.contains(&format!("id={id} ")), "{list}");
    let all: String = redis::cmd("INFO").query(&mut con).expect("info");
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Keyspace",
    ] {
        assert!(all.contains(section), "{section} missing");
    }
    assert!(all.contains("appendfsync:everysec"));
    let only: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut con)
        .expect("info stats");
    assert!(only.contains("expired_keys:") && !only.contains("# Server"));
}
