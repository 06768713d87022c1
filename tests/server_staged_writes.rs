//! A pipeline chunk's string commands stage their writes and commit them as one engine
//! write (docs/server.md §3): later commands of the chunk read what earlier ones staged,
//! key counts move only at the commit, a busy stripe makes the chunk commit before it
//! waits, a commit that fails answers every command that staged into it with the error,
//! and through a real connection a pipeline answers exactly as the same commands sent one
//! by one.

mod common;

use std::io::Write;

use shaledb::server::keyspace::{Keyspace, NewState, Staged};
use shaledb::{Db, Options};

fn open_keyspace(dir: &std::path::Path) -> (std::sync::Arc<Db>, Keyspace) {
    let db = std::sync::Arc::new(Db::open(dir, Options::default()).expect("open"));
    let ks = Keyspace::open(std::sync::Arc::clone(&db), false).expect("keyspace");
    (db, ks)
}

/// Stages `SET key value` for each pair, as a chunk's commands would.
fn stage_sets<'a>(ks: &'a Keyspace, staged: &mut Staged<'a>, pairs: &[(&[u8], &[u8])]) {
    for (k, v) in pairs {
        assert!(ks.lock_staged(staged, 0, &[k]), "stripes free");
        let st = ks.staged_state(staged, k).expect("state");
        ks.stage_write(staged, &[(k, &st, NewState::Set(v.to_vec(), None))])
            .expect("stage");
    }
}

#[test]
fn staged_writes_read_back_in_the_chunk_and_count_at_the_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, ks) = open_keyspace(dir.path());
    let mut staged = Staged::default();
    stage_sets(
        &ks,
        &mut staged,
        &[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")],
    );
    // Staged, not written: the chunk sees them, the engine and DBSIZE do not yet.
    let a = staged.overlay(0, b"a").and_then(|s| s.value().cloned());
    assert_eq!(a.as_deref(), Some(&b"3"[..]));
    assert!(
        staged.overlay(1, b"a").is_none(),
        "another logical database"
    );
    assert_eq!(ks.dbsize(0), 0);
    assert_eq!(
        db.get(shaledb::server::keyspace::data_key(0, b"a"))
            .expect("get"),
        None
    );
    // The second SET of `a` found it staged, so it counts once.
    let seq_before = db.snapshot().seqno();
    ks.commit_staged(&mut staged).expect("commit");
    assert!(staged.is_empty());
    assert_eq!(ks.dbsize(0), 2);
    assert_eq!(
        ks.get(0, b"a").expect("get").map(|(v, _)| v).as_deref(),
        Some(&b"3"[..])
    );
    assert_eq!(
        ks.get(0, b"b").expect("get").map(|(v, _)| v).as_deref(),
        Some(&b"2"[..])
    );
    // One atomic write: three values and one count record, four sequence numbers.
    assert_eq!(db.snapshot().seqno() - seq_before, 4);
    // Deleting through a later chunk counts down, and the counts survive a reopen.
    assert!(ks.lock_staged(&mut staged, 0, &[b"a"]));
    let st = ks.staged_state(&staged, b"a").expect("state");
    ks.stage_write(&mut staged, &[(b"a", &st, NewState::Delete)])
        .expect("stage");
    assert_eq!(ks.dbsize(0), 2);
    ks.commit_staged(&mut staged).expect("commit");
    assert_eq!(ks.dbsize(0), 1);
    drop(staged);
    drop(ks);
    drop(db);
    let (_db, ks) = open_keyspace(dir.path());
    assert_eq!(ks.dbsize(0), 1);
}

#[test]
fn a_busy_stripe_is_tried_not_waited_for_while_writes_are_staged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_db, ks) = open_keyspace(dir.path());
    let mut staged = Staged::default();
    stage_sets(&ks, &mut staged, &[(b"x", b"1")]);
    // Another writer (the active-expiry thread, say) holds the stripe of `y`.
    let other = ks.lock(0, &[b"y"]);
    assert!(
        !ks.lock_staged(&mut staged, 0, &[b"y"]),
        "must not wait holding stripes"
    );
    // Another logical database cannot join either.
    assert!(!ks.lock_staged(&mut staged, 1, &[b"z"]));
    drop(other);
    ks.commit_staged(&mut staged).expect("commit");
    assert!(
        ks.lock_staged(&mut staged, 0, &[b"y"]),
        "nothing staged: the lock waits, in stripe order"
    );
    ks.commit_staged(&mut staged).expect("commit nothing");
    assert_eq!(ks.dbsize(0), 1);
}

/// One RESP2 reply, as this test compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum R {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<R>),
}

fn read_line(r: &mut impl std::io::BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).expect("read a reply line");
    assert!(line.ends_with("\r\n"), "cut reply line {line:?}");
    line.truncate(line.len() - 2);
    line
}

fn read_reply(r: &mut impl std::io::BufRead) -> R {
    let line = read_line(r);
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" => R::Status(rest.into()),
        "-" => R::Error(rest.into()),
        ":" => R::Int(rest.parse().expect("integer reply")),
        "$" if rest == "-1" => R::Bulk(None),
        "$" => {
            let mut v = vec![0u8; rest.parse::<usize>().expect("bulk length") + 2];
            r.read_exact(&mut v).expect("bulk");
            v.truncate(v.len() - 2);
            R::Bulk(Some(v))
        }
        "*" => R::Array(
            (0..rest.parse::<usize>().expect("array length"))
                .map(|_| read_reply(r))
                .collect(),
        ),
        _ => panic!("not a RESP2 reply: {line:?}"),
    }
}

/// Sends `commands` as one pipeline in one write and reads one reply per command.
fn pipeline(addr: &str, commands: &[&[&str]]) -> Vec<R> {
    let mut req = Vec::new();
    for c in commands {
        req.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
        for a in *c {
            req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    sock.write_all(&req).expect("send");
    let mut reader = std::io::BufReader::new(sock);
    commands.iter().map(|_| read_reply(&mut reader)).collect()
}

#[test]
fn a_pipeline_answers_as_its_commands_one_by_one() {
    let commands: &[&[&str]] = &[
        &["SET", "n", "5"],
        &["INCR", "n"],
        &["INCRBY", "n", "10"],
        &["GET", "n"],
        &["MSET", "x", "1", "y", "2", "x", "3"],
        &["MGET", "x", "y", "n", "nope"],
        &["APPEND", "x", "z"],
        &["STRLEN", "x"],
        &["SETNX", "x", "q"],
        &["DBSIZE"],
        &["SET", "e", "v", "PX", "100000"],
        &["EXISTS", "e"],
        &["INCR", "x"],
        &["SET", "n", "7", "GET"],
        &["DEL", "y"],
        &["GETSET", "y", "back"],
        &["DBSIZE"],
        &["SELECT", "1"],
        &["SET", "n", "other"],
        &["DBSIZE"],
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir.path(), shaledb::server::FsyncPolicy::EverySec);
    let piped = pipeline(&server.addr, commands);
    server.stop();
    let dir2 = tempfile::tempdir().expect("tempdir");
    let server = common::TestServer::start(dir2.path(), shaledb::server::FsyncPolicy::EverySec);
    let one_by_one: Vec<R> = commands
        .iter()
        .flat_map(|c| pipeline(&server.addr, &[c]))
        .collect();
    // SELECT holds for its connection only: send the last commands together.
    let tail = pipeline(&server.addr, &commands[17..]);
    server.stop();
    assert_eq!(piped[..17], one_by_one[..17]);
    assert_eq!(piped[17..], tail[..]);
    let ok = || R::Status("OK".into());
    let b = |s: &str| R::Bulk(Some(s.as_bytes().to_vec()));
    let expect = vec![
        ok(),
        R::Int(6),
        R::Int(16),
        b("16"),
        ok(),
        R::Array(vec![b("3"), b("2"), b("16"), R::Bulk(None)]),
        R::Int(2),
        R::Int(2),
        R::Int(0),
        R::Int(3),
        ok(),
        R::Int(1),
        R::Error("ERR value is not an integer or out of range".into()),
        b("16"),
        R::Int(1),
        R::Bulk(None),
        R::Int(4),
        ok(),
        ok(),
        R::Int(1),
    ];
    assert_eq!(piped, expect);
}

#[test]
fn a_failed_commit_answers_every_staging_command_with_its_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, ks) = open_keyspace(dir.path());
    let mut chunk = shaledb::server::StagedChunk::default();
    for (i, k) in [&b"a"[..], b"b"].into_iter().enumerate() {
        chunk.command = i;
        assert!(ks.lock_staged(&mut chunk.writes, 0, &[k]));
        let st = ks.staged_state(&chunk.writes, k).expect("state");
        ks.stage_write(
            &mut chunk.writes,
            &[(k, &st, NewState::Set(b"v".to_vec(), None))],
        )
        .expect("stage");
        chunk.commands.push(i);
    }
    // The engine fails every write from now on.
    db.close().expect("close");
    chunk.commit(&ks);
    let failed: Vec<usize> = chunk.failed.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, vec![0, 1], "both staging commands answer the error");
    assert!(chunk.failed.iter().all(|(_, r)| r.is_error()));
    assert!(chunk.writes.is_empty() && chunk.commands.is_empty());
    assert_eq!(ks.dbsize(0), 0, "no count moves for a write that failed");
    // The commit released the stripes.
    drop(ks.lock(0, &[b"a", b"b"]));
}
