//! `delete_range` hides every covered key from `get`, `multi_get`, iterators in both
//! directions and later snapshots, wherever the covered keys and the tombstone sit
//! (memtable, L0, deeper levels), before and after flushes, compactions and a reopen;
//! earlier snapshots still see the keys. Data-driven: each case names where the values
//! and the tombstone live when the reads run.

use shaledb::{Db, Options};

fn key(i: u32) -> String {
    format!("k{i:04}")
}

/// Where the data is when the reads run.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Values and tombstone in the memtable.
    AllInMemtable,
    /// Values in the last level, tombstone in the memtable.
    ValuesCompactedTombstoneInMemtable,
    /// Values in the last level, tombstone flushed to L0 (its table holds no covered key,
    /// so its bloom filter says every covered key is absent).
    ValuesCompactedTombstoneInL0,
    /// Both compacted into the last level.
    AllCompacted,
}

fn check(db: &Db, when: &str) {
    // Covered: [k0100, k0200) and [k0150, k0300) overlapping, so [k0100, k0300).
    for i in [0u32, 99, 100, 150, 199, 200, 299, 300, 399] {
        let want = if (100..300).contains(&i) {
            None
        } else {
            Some(format!("v{i}"))
        };
        let got = db
            .get(key(i))
            .expect("get")
            .map(|v| String::from_utf8(v.to_vec()).expect("utf8"));
        assert_eq!(got, want, "{when}: get {}", key(i));
    }
    let keys: Vec<String> = (0..400).map(key).collect();
    let mg = db.multi_get(&keys);
    for (i, r) in mg.into_iter().enumerate() {
        assert_eq!(
            r.expect("multi_get").is_some(),
            !(100..300).contains(&i),
            "{when}: multi_get {}",
            key(i as u32)
        );
    }
    let fwd: Vec<_> = db.iter().map(|r| r.expect("iter").0).collect();
    assert_eq!(fwd.len(), 200, "{when}: forward count");
    assert_eq!(fwd[99].as_ref(), key(99).as_bytes(), "{when}");
    assert_eq!(
        fwd[100].as_ref(),
        key(300).as_bytes(),
        "{when}: the iterator jumps the range"
    );
    let mut back: Vec<_> = db.iter().rev().map(|r| r.expect("rev").0).collect();
    back.reverse();
    assert_eq!(back, fwd, "{when}: backward equals forward");
    let inside: Vec<_> = db
        .range(key(120)..key(310))
        .map(|r| r.expect("range").0)
        .collect();
    assert_eq!(inside.len(), 10, "{when}: range over the deleted span");
    let mut raw = db.raw_iterator();
    raw.seek(key(150));
    assert_eq!(
        raw.key().map(|k| k.to_vec()),
        Some(key(300).into_bytes()),
        "{when}: raw seek"
    );
    raw.seek_for_prev(key(250));
    assert_eq!(
        raw.key().map(|k| k.to_vec()),
        Some(key(99).into_bytes()),
        "{when}: raw seek_for_prev"
    );
    raw.next();
    assert_eq!(
        raw.key().map(|k| k.to_vec()),
        Some(key(300).into_bytes()),
        "{when}: raw next"
    );
}

#[test]
fn covered_keys_read_as_deleted_at_every_stage() {
    for stage in [
        Stage::AllInMemtable,
        Stage::ValuesCompactedTombstoneInMemtable,
        Stage::ValuesCompactedTombstoneInL0,
        Stage::AllCompacted,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Options::default()).expect("open");
        for i in 0..400u32 {
            db.put(key(i), format!("v{i}")).expect("put");
        }
        if !matches!(stage, Stage::AllInMemtable) {
            db.compact_range(None, None).expect("values down");
        }
        let before = db.snapshot();
        db.delete_range(key(100), key(200)).expect("delete_range");
        db.delete_range(key(150), key(300))
            .expect("overlapping delete_range");
        match stage {
            Stage::ValuesCompactedTombstoneInL0 => db.flush().expect("flush"),
            Stage::AllCompacted => {
                db.flush().expect("flush");
                db.compact_range(None, None).expect("compact");
            }
            _ => {}
        }
        let when = format!("{stage:?}");
        check(&db, &when);
        assert_eq!(
            before.get(key(150)).expect("snapshot get").as_deref(),
            Some(&b"v150"[..]),
            "{when}: old snapshot"
        );
        assert_eq!(
            before.iter().count(),
            400,
            "{when}: old snapshot iterates every key"
        );
        drop(before);
        db.compact_range(None, None)
            .expect("compact with no snapshot");
        check(&db, &format!("{when}, compacted"));
        drop(db);
        let db = Db::open(dir.path(), Options::default()).expect("reopen");
        check(&db, &format!("{when}, reopened"));
    }
}

#[test]
fn a_put_after_the_range_delete_is_visible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("b", "old").expect("put");
    db.delete_range("a", "z").expect("delete_range");
    db.put("b", "new").expect("put");
    assert_eq!(db.get("b").expect("get").as_deref(), Some(&b"new"[..]));
    db.flush().expect("flush");
    db.compact_range(None, None).expect("compact");
    assert_eq!(db.get("b").expect("get").as_deref(), Some(&b"new"[..]));
    assert_eq!(db.iter().count(), 1);
}

#[test]
fn inverted_and_empty_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("m", "v").expect("put");
    assert!(matches!(
        db.delete_range("z", "a"),
        Err(shaledb::Error::InvalidArgument(_))
    ));
    db.delete_range("m", "m")
        .expect("an empty range is a no-op write");
    assert_eq!(db.get("m").expect("get").as_deref(), Some(&b"v"[..]));
    // A memtable holding only the empty range flushes to no table, and the database
    // reopens (an empty table would have no key range for the MANIFEST).
    db.flush().expect("flush");
    db.delete_range("q", "q").expect("empty range alone");
    db.flush().expect("flush of an empty range alone");
    drop(db);
    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(db.get("m").expect("get").as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_checkpoint_carries_unflushed_range_deletes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path().join("db"), Options::default()).expect("open");
    for i in 0..100u32 {
        db.put(key(i), format!("v{i}")).expect("put");
    }
    db.flush().expect("values in a table");
    db.delete_range(key(10), key(90))
        .expect("delete_range, still in the memtable");
    let copy = dir.path().join("copy");
    db.checkpoint(&copy).expect("checkpoint");
    let c = Db::open(&copy, Options::default()).expect("open the copy");
    assert_eq!(
        c.iter().count(),
        20,
        "the copy applies the unflushed range tombstone"
    );
    assert_eq!(c.get(key(50)).expect("get"), None);
}
