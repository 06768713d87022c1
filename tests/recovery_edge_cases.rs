//! Recovery edge cases: leftovers of a crash during the very first open, a torn tail
//! followed by an empty newer WAL (a crash inside an earlier recovery), and
//! `create_if_missing(false)` on a directory without a database.

mod common;

use std::fs::OpenOptions;

use shaledb::{Db, Error, Options};

#[test]
fn empty_wal_and_manifest_without_current_open_as_a_new_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("000002.log"), b"").expect("wal");
    std::fs::write(dir.path().join("MANIFEST-000003"), b"partial").expect("manifest");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    assert!(db.recovery_report().created);
    db.put(b"k", b"v").expect("put");
    assert_eq!(db.put(b"k2", b"v").expect("put"), 2);
}

#[test]
fn wal_with_data_but_no_current_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("000002.log"), b"not empty").expect("wal");
    assert!(matches!(
        Db::open(dir.path(), Options::default()),
        Err(Error::Corruption { .. })
    ));
}

#[test]
fn torn_tail_followed_by_an_empty_wal_is_still_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        for i in 0..5u32 {
            db.put(format!("k{i}"), vec![b'x'; 500]).expect("put");
        }
        db.close().expect("close");
    }
    let wal = common::wal_files(dir.path()).pop().expect("a WAL");
    let len = std::fs::metadata(&wal).expect("stat").len();
    OpenOptions::new()
        .write(true)
        .open(&wal)
        .expect("open")
        .set_len(len - (shaledb::wal::HEADER_LEN + shaledb::wal::SYNC_PREFIX_MAX_LEN) as u64 - 10)
        .expect("truncate");
    // What a crash right after recovery created its new WAL leaves behind.
    std::fs::write(dir.path().join("999999.log"), b"").expect("empty newer WAL");
    let db = Db::open(dir.path(), Options::default()).expect("torn tail tolerated");
    assert_eq!(db.recovery_report().records_replayed, 4);
    assert_eq!(db.recovery_report().tail_records_dropped, 1);
    assert!(db.get("k3").expect("get").is_some());
    assert_eq!(db.get("k4").expect("get"), None);
}

#[test]
fn create_if_missing_false_refuses_an_empty_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || Options::default().create_if_missing(false);
    assert!(matches!(
        Db::open(dir.path(), opts()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Db::open(dir.path().join("absent"), opts()),
        Err(Error::InvalidArgument(_))
    ));
    drop(Db::open(dir.path(), Options::default()).expect("create"));
    assert!(
        Db::open(dir.path(), opts()).is_ok(),
        "an existing database opens"
    );
    assert!(matches!(
        Db::open(dir.path(), Options::default().error_if_exists(true)),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn damaged_snapshot_edit_is_corruption_and_tables_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        db.put(b"k", b"v").expect("put");
        db.flush().expect("flush");
        db.close().expect("close");
    }
    // Reopen once so the MANIFEST holds only its snapshot edit.
    drop(Db::open(dir.path(), Options::default()).expect("reopen"));
    let manifest = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("MANIFEST-"))
        })
        .expect("manifest");
    let mut bytes = std::fs::read(&manifest).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&manifest, &bytes).expect("write");
    let wals_before = common::wal_files(dir.path()).len();
    assert!(matches!(
        Db::open(dir.path(), Options::default()),
        Err(Error::Corruption { .. })
    ));
    assert_eq!(
        common::wal_files(dir.path()).len(),
        wals_before,
        "nothing was deleted"
    );
    assert!(std::fs::read_dir(dir.path()).expect("ls").any(|e| e
        .expect("entry")
        .path()
        .extension()
        .is_some_and(|x| x == "sst")));
}
