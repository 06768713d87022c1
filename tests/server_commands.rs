//! Every command of `shale serve` through a real Redis client (the `redis` crate), as a
//! table of cases: the command, its arguments and the exact reply Redis 7.0 gives,
//! errors included. The cases run in order on one connection (later ones see the state
//! earlier ones left).

mod common;

use redis::Value;

fn s(x: &str) -> Value {
    Value::BulkString(x.as_bytes().to_vec())
}

fn ok() -> Value {
    Value::Okay
}

fn int(n: i64) -> Value {
    Value::Int(n)
}

fn err(prefix: &str) -> Result<Value, String> {
    Err(prefix.to_string())
}

fn run(con: &mut redis::Connection, line: &str) -> Result<Value, String> {
    let args = line.split(' ').collect::<Vec<_>>();
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query::<Value>(con).map_err(|e| {
        let detail = e.detail().unwrap_or_default().to_string();
        match e.code() {
            Some(code) => format!("{code} {detail}"),
            None => e.to_string(),
        }
    })
}

#[test]
fn every_command_answers_as_redis_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), shaledb::server::FsyncPolicy::EverySec);
    let mut con = server.conn();
    let cases: Vec<(&str, Result<Value, String>)> = vec![
        ("PING", Ok(Value::SimpleString("PONG".into()))),
        ("ECHO hi", Ok(s("hi"))),
        ("SET k v", Ok(ok())),
        ("GET k", Ok(s("v"))),
        ("GET nokey", Ok(Value::Nil)),
        ("GET", err("ERR wrong number of arguments for 'get' command")),
        ("SET k v NX", Ok(Value::Nil)),
        ("SET k w XX GET", Ok(s("v"))),
        ("SET k v EX 0", err("ERR invalid expire time in 'set' command")),
        ("SET k v EX -5", err("ERR invalid expire time in 'set' command")),
        ("SET k v EX abc", err("ERR value is not an integer or out of range")),
        ("SET k v NX XX", err("ERR syntax error")),
        ("SET k v EX 10 PX 100", err("ERR syntax error")),
        ("SET k v KEEPTTL EX 10", err("ERR syntax error")),
        ("SET t v EX 100", Ok(ok())),
        ("TTL t", Ok(int(100))),
        ("SET t v2 KEEPTTL", Ok(ok())),
        ("TTL t", Ok(int(100))),
        ("SET t v3", Ok(ok())),
        ("TTL t", Ok(int(-1))),
        ("TTL nokey", Ok(int(-2))),
        ("SETNX k x", Ok(int(0))),
        ("SETNX n1 x", Ok(int(1))),
        ("SETEX se 100 v", Ok(ok())),
        ("PSETEX pse 100000 v", Ok(ok())),
        ("SETEX se 0 v", err("ERR invalid expire time in 'setex' command")),
        ("GETSET k new", Ok(s("w"))),
        ("GETDEL k", Ok(s("new"))),
        ("GETDEL k", Ok(Value::Nil)),
        ("SET g v", Ok(ok())),
        ("GETEX g EX 50", Ok(s("v"))),
        ("TTL g", Ok(int(50))),
        ("GETEX g PERSIST", Ok(s("v"))),
        ("TTL g", Ok(int(-1))),
        ("GETEX g FOO", err("ERR syntax error")),
        ("MSET a 1 b 2", Ok(ok())),
        ("MSET a 1 b", err("ERR wrong number of arguments for 'mset' command")),
        ("MGET a b nokey", Ok(Value::Array(vec![s("1"), s("2"), Value::Nil]))),
        ("MSETNX a 9 c 3", Ok(int(0))),
        ("MSETNX c 3 d 4", Ok(int(1))),
        ("APPEND a 23", Ok(int(3))),
        ("STRLEN a", Ok(int(3))),
        ("STRLEN nokey", Ok(int(0))),
        ("SETRANGE a 5 xy", Ok(int(7))),
        ("GETRANGE a 0 -1", Ok(Value::BulkString(b"123\0\0xy".to_vec()))),
        ("GETRANGE a -2 -1", Ok(s("xy"))),
        ("SUBSTR a 0 1", Ok(s("12"))),
        ("SETRANGE a -1 x", err("ERR offset is out of range")),
        ("INCR i", Ok(int(1))),
        ("INCRBY i 10", Ok(int(11))),
        ("DECR i", Ok(int(10))),
        ("DECRBY i 3", Ok(int(7))),
        ("INCR a", err("ERR value is not an integer or out of range")),
        ("SET big 9223372036854775807", Ok(ok())),
        ("INCR big", err("ERR increment or decrement would overflow")),
        ("INCRBYFLOAT f 10.5", Ok(s("10.5"))),
        ("INCRBYFLOAT f abc", err("ERR value is not a valid float")),
        ("DEL a b nokey", Ok(int(2))),
        ("UNLINK c", Ok(int(1))),
        ("EXISTS d d nokey", Ok(int(2))),
        ("TYPE d", Ok(Value::SimpleString("string".into()))),
        ("TYPE nokey", Ok(Value::SimpleString("none".into()))),
        ("RENAME d d2", Ok(ok())),
        ("RENAME nokey x", err("ERR no such key")),
        ("RENAMENX d2 i", Ok(int(0))),
        ("RENAMENX d2 d3", Ok(int(1))),
        ("EXPIRE d3 100", Ok(int(1))),
        ("EXPIRE d3 200 NX", Ok(int(0))),
        ("EXPIRE d3 50 GT", Ok(int(0))),
        ("EXPIRE d3 300 GT", Ok(int(1))),
        ("EXPIRE d3 10 NX XX", err("ERR NX and XX, GT or LT options at the same time are not compatible")),
        ("EXPIRE d3 10 GT LT", err("ERR GT and LT options at the same time are not compatible")),
        ("TTL d3", Ok(int(300))),
        ("PEXPIRE d3 100000", Ok(int(1))),
        ("PTTL nokey", Ok(int(-2))),
        ("EXPIRETIME nokey", Ok(int(-2))),
        ("EXPIRETIME i", Ok(int(-1))),
        ("PERSIST d3", Ok(int(1))),
        ("PERSIST d3", Ok(int(0))),
        ("EXPIREAT d3 1", Ok(int(1))),
        ("EXISTS d3", Ok(int(0))),
        ("OBJECT ENCODING i", Ok(s("int"))),
        ("OBJECT ENCODING n1", Ok(s("embstr"))),
        ("OBJECT ENCODING nokey", Ok(Value::Nil)),
        ("SELECT 16", err("ERR DB index is out of range")),
        ("SELECT x", err("ERR value is not an integer or out of range")),
        ("SELECT 1", Ok(ok())),
        ("DBSIZE", Ok(int(0))),
        ("SET only1 v", Ok(ok())),
        ("KEYS *", Ok(Value::Array(vec![s("only1")]))),
        ("FLUSHDB", Ok(ok())),
        ("DBSIZE", Ok(int(0))),
        ("SELECT 0", Ok(ok())),
        ("KEYS n?", Ok(Value::Array(vec![s("n1")]))),
        ("KEYS [fg]", Ok(Value::Array(vec![s("f"), s("g")]))),
        ("RANDOMKEY", Ok(Value::Nil)).clone(),
        ("LPUSH l x", err("ERR unknown command 'LPUSH', with args beginning with: 'l' 'x'")),
        ("CONFIG GET appendfsync", Ok(Value::Array(vec![s("appendfsync"), s("everysec")]))),
        ("CONFIG SET appendfsync always", Ok(ok())),
        ("CONFIG GET appendfsync", Ok(Value::Array(vec![s("appendfsync"), s("always")]))),
        ("CONFIG SET nosuch 1", err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")),
        ("FUNCTION FLUSH", Ok(ok())),
        ("CLIENT SETNAME me", Ok(ok())),
        ("CLIENT GETNAME", Ok(s("me"))),
        ("AUTH x", err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")),
        ("HELLO 3", err("NOPROTO unsupported protocol version")),
    ];
    for (line, want) in cases {
        if line == "RANDOMKEY" {
            // Any key of db 0 (the table above leaves several).
            let got = run(&mut con, line).expect("randomkey");
            assert!(
                matches!(got, Value::BulkString(_)),
                "RANDOMKEY gave {got:?}"
            );
            continue;
        }
        let got = run(&mut con, line);
        match (&got, &want) {
            (Err(g), Err(w)) => {
                assert!(g.starts_with(w.trim_end()), "{line}: got {g:?}, want {w:?}")
            }
            _ => assert_eq!(got, want, "{line}"),
        }
    }
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).expect("dbsize");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).expect("keys");
    assert_eq!(
        n as usize,
        keys.len(),
        "DBSIZE counts exactly the keys: {keys:?}"
    );
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(&mut con)
        .expect("info");
    assert!(info.contains(&format!("db0:keys={n},expires=")), "{info}");
    drop(con);
    server.stop();
}

#[test]
fn scan_visits_every_key_once_with_match_and_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), shaledb::server::FsyncPolicy::No);
    let mut con = server.conn();
    for i in 0..1000 {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(i)
            .query(&mut con)
            .expect("set");
    }
    let _: () = redis::cmd("SET")
        .arg("other")
        .arg(1)
        .query(&mut con)
        .expect("set");
    let mut cursor = "0".to_string();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg("key:*")
            .arg("COUNT")
            .arg(37)
            .query(&mut con)
            .expect("scan");
        for k in keys {
            assert!(seen.insert(k.clone()), "{k} returned twice");
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 1000);
    assert!(!seen.contains("other"));
}
