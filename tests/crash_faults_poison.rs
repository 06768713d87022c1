//! Injected I/O failures on `SimFs` (docs/durability.md INV-17/18/19): a failed WAL append or
//! fsync poisons the database, every later write gets `Poisoned`, reads keep working,
//! nothing whose WAL write failed is visible, and after a reopen every acknowledged write
//! is intact. A failed fsync is never retried into a success.

use std::sync::Arc;

use shaledb::fs::sim::{CrashMode, Fault, OpKind, SimFs, SimRng};
use shaledb::{Db, Error, Options, WriteBatch, WriteOptions};

fn options(fs: &SimFs) -> Options {
    Options::default()
        .file_system(Arc::new(fs.clone()))
        .mmap_reads(false)
        .write_buffer_size(16 << 10)
}

fn fs_with_db() -> SimFs {
    let fs = SimFs::new();
    shaledb::fs::FileSystem::create_dir_all(&fs, std::path::Path::new("/db")).expect("mkdir");
    fs
}

fn sync_put(db: &Db, k: &str) -> shaledb::Result<u64> {
    let mut b = WriteBatch::new();
    b.put(k, format!("value of {k}"));
    db.write_opt(b, &WriteOptions { sync: true })
}

#[test]
fn failed_wal_append_poisons_and_hides_the_write() {
    let fs = fs_with_db();
    let db = Db::open("/db", options(&fs)).expect("open");
    sync_put(&db, "a").expect("first write");
    fs.fail_op(OpKind::Append, 1, Fault::Eio);
    assert!(matches!(sync_put(&db, "b"), Err(Error::Io(_))));
    assert!(
        matches!(sync_put(&db, "c"), Err(Error::Poisoned(_))),
        "later writes are refused"
    );
    assert_eq!(
        db.get("b").expect("reads work"),
        None,
        "the failed write is not visible"
    );
    assert_eq!(
        db.get("a").expect("get").as_deref(),
        Some(&b"value of a"[..])
    );
    drop(db);
    let db = Db::open("/db", options(&fs)).expect("reopen");
    assert_eq!(
        db.get("a").expect("get").as_deref(),
        Some(&b"value of a"[..])
    );
    assert_eq!(db.get("b").expect("get"), None);
    sync_put(&db, "d").expect("a reopened database accepts writes");
}

#[test]
fn failed_fsync_poisons_and_is_not_retried_into_success() {
    let fs = fs_with_db();
    let db = Db::open("/db", options(&fs)).expect("open");
    sync_put(&db, "a").expect("first write");
    // The fsync fails and the kernel drops the unsynced page: a retry would "succeed".
    fs.fail_op(OpKind::Sync, 1, Fault::SyncLosesData);
    assert!(matches!(sync_put(&db, "b"), Err(Error::Io(_))));
    assert!(matches!(sync_put(&db, "c"), Err(Error::Poisoned(_))));
    drop(db);
    // After a power loss only synced data remains; "a" was acknowledged as synced.
    let img = fs.crash_image(CrashMode::Durable, &mut SimRng::new(1));
    let db = Db::open("/db", options(&img)).expect("reopen");
    assert_eq!(
        db.get("a").expect("get").as_deref(),
        Some(&b"value of a"[..])
    );
    assert_eq!(db.get("b").expect("get"), None);
}

#[test]
fn out_of_space_during_flush_poisons_and_loses_nothing_acknowledged() {
    let fs = fs_with_db();
    let db = Db::open("/db", options(&fs)).expect("open");
    for i in 0..100 {
        sync_put(&db, &format!("k{i:03}")).expect("write");
    }
    // The flush creates a new WAL (file 1), then its table (file 2): out of space there.
    fs.fail_op(OpKind::Create, 2, Fault::NoSpace);
    assert!(db.flush().is_err(), "the flush fails");
    assert!(matches!(sync_put(&db, "later"), Err(Error::Poisoned(_))));
    assert_eq!(
        db.get("k050").expect("reads work").as_deref(),
        Some(&b"value of k050"[..])
    );
    drop(db);
    let db = Db::open("/db", options(&fs)).expect("reopen after space is back");
    for i in 0..100 {
        assert!(
            db.get(format!("k{i:03}")).expect("get").is_some(),
            "k{i:03}"
        );
    }
}
