//! The `shale` command: put/get/delete, `get` of a missing key, scan with escaping and
//! JSON Lines, and `scan --json | load` copying a database.

mod common;

use std::ffi::OsStr;
use std::path::Path;

fn run(db: &Path, args: &[&str]) -> std::process::Output {
    let mut a = vec![OsStr::new("--db"), db.as_os_str()];
    a.extend(args.iter().map(OsStr::new));
    common::shale(&a)
}

#[test]
fn put_get_delete_and_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    assert!(run(&db, &["put", "greeting", "hello\tworld"])
        .status
        .success());
    let out = run(&db, &["get", "greeting"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello\tworld\n");
    assert!(run(&db, &["delete", "greeting"]).status.success());
    let out = run(&db, &["get", "greeting"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "not found");
    let out = common::shale(&[OsStr::new("get"), OsStr::new("x")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
}

#[test]
fn scan_escapes_and_json_copies_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    {
        let db = shaledb::Db::open(&src, shaledb::Options::default()).expect("open");
        db.put(b"a\tb", b"line1\nline2\\").expect("put");
        db.put(b"bin\xff", b"\x00\x01").expect("put");
        db.put(b"plain", b"caf\xc3\xa9").expect("put");
        db.close().expect("close");
    }
    let out = run(&src, &["scan"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a\\tb\tline1\\nline2\\\\\nbin\\xff\t\\x00\\x01\nplain\tcaf\\xc3\\xa9\n"
    );
    let out = run(&src, &["scan", "--from", "b", "--to", "p", "--keys-only"]);
    assert_eq!(out.stdout, b"bin\\xff\n");
    let out = run(&src, &["scan", "--limit", "1", "--keys-only"]);
    assert_eq!(out.stdout, b"a\\tb\n");
    let out = run(&src, &["scan", "--reverse", "--keys-only"]);
    assert_eq!(out.stdout, b"plain\nbin\\xff\na\\tb\n");
    let out = run(&src, &["scan", "--reverse", "--from", "b", "--keys-only"]);
    assert_eq!(out.stdout, b"plain\nbin\\xff\n");

    let json = run(&src, &["scan", "--json"]);
    assert!(json.status.success());
    let dump = dir.path().join("dump.jsonl");
    std::fs::write(&dump, &json.stdout).expect("write dump");
    let dst = dir.path().join("dst");
    let out = run(
        &dst,
        &[
            "load",
            "--format",
            "jsonl",
            dump.to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run(&dst, &["scan"]).stdout, run(&src, &["scan"]).stdout);

    let tsv = dir.path().join("dump.tsv");
    std::fs::write(&tsv, run(&src, &["scan"]).stdout).expect("write tsv");
    let dst2 = dir.path().join("dst2");
    assert!(run(&dst2, &["load", tsv.to_str().expect("utf-8 path")])
        .status
        .success());
    assert_eq!(run(&dst2, &["scan", "--json"]).stdout, json.stdout);
}

#[test]
fn stats_prints_levels_as_table_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    assert!(run(&db, &["put", "k", "v"]).status.success());
    let out = run(&db, &["stats", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["last_seqno"], 1);
    assert_eq!(v["levels"].as_array().map(Vec::len), Some(7));
    assert_eq!(v["recovery"]["records_replayed"], 1);
    let out = run(&db, &["stats"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("L0"));
}
