//! A second open of a locked directory fails with `Error::Locked` and changes nothing; the
//! lock is released by `close` and by the death of the process holding it.

mod common;

use std::ffi::OsStr;

use shaledb::{Db, Error, Options};

#[test]
fn second_open_in_process_is_locked_until_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put(b"k", b"v").expect("put");
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(matches!(
        Db::open(dir.path(), Options::default()),
        Err(Error::Locked(_))
    ));
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(before, after, "a refused open touches no file");

    // Another process (the CLI) is refused too, with a clear message.
    let out = common::shale(&[
        OsStr::new("--db"),
        dir.path().as_os_str(),
        OsStr::new("get"),
        OsStr::new("k"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("locked"));

    db.close().expect("close");
    let db = Db::open(dir.path(), Options::default()).expect("open after close");
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
}

#[test]
fn stale_lock_file_of_a_dead_process_does_not_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_dir = dir.path().join("db");
    // A process that opens the database and exits leaves LOCK behind, unlocked.
    let out = common::shale(&[
        OsStr::new("--db"),
        db_dir.as_os_str(),
        OsStr::new("put"),
        OsStr::new("k"),
        OsStr::new("v"),
    ]);
    assert!(out.status.success());
    assert!(db_dir.join("LOCK").exists());
    let db = Db::open(&db_dir, Options::default()).expect("stale LOCK must not block");
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"v"[..]));
}
