//! `close(&self)` works through the `Arc<Db>` concurrent applications hold, is idempotent,
//! and afterwards every read through the handle, its snapshots and its iterators returns
//! `Error::Closed` (DESIGN.md §5.10).

use std::sync::Arc;

use shaledb::{Db, Error, Options};

#[test]
fn close_through_an_arc_ends_every_handle_snapshot_and_iterator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    for i in 0..10u32 {
        db.put(format!("k{i}"), "v").expect("put");
    }
    let snap = db.snapshot();
    let mut it = db.iter();
    assert!(
        it.next().expect("an item").is_ok(),
        "iterator works before close"
    );
    let mut raw = snap.raw_iterator();
    raw.seek_to_first();
    assert!(raw.valid());

    let other = Arc::clone(&db);
    std::thread::spawn(move || other.close().expect("close from another thread"))
        .join()
        .expect("thread");
    db.close().expect("a second close is a no-op");

    assert!(matches!(db.get("k1"), Err(Error::Closed)));
    assert!(matches!(db.put("k1", "v"), Err(Error::Closed)));
    assert!(db
        .multi_get(&["k1"])
        .into_iter()
        .all(|r| matches!(r, Err(Error::Closed))));
    assert!(matches!(db.flush(), Err(Error::Closed)));
    assert!(matches!(db.wait_for_compaction(), Err(Error::Closed)));
    assert!(matches!(snap.get("k1"), Err(Error::Closed)));
    assert!(snap
        .multi_get(&["k1"])
        .into_iter()
        .all(|r| matches!(r, Err(Error::Closed))));
    assert!(matches!(snap.iter().next(), Some(Err(Error::Closed))));
    assert!(matches!(db.iter().next_back(), Some(Err(Error::Closed))));
    // An iterator made before the close: its next step reports it, then it ends.
    assert!(matches!(it.next(), Some(Err(Error::Closed))));
    assert!(it.next().is_none());
    raw.next();
    assert!(!raw.valid());
    assert!(matches!(raw.status(), Some(Error::Closed)));
    raw.seek_to_first();
    assert!(matches!(raw.status(), Some(Error::Closed)));

    // The lock was released: the directory opens again with everything in it.
    drop(snap);
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(db.iter().count(), 10);
}
