//! Arguments that cannot be right are `Error::InvalidArgument`, never a silent answer:
//! a lookup key above `MAX_KEY_SIZE`, an inverted `compact_range`, and a snapshot of
//! another database passed in `ReadOptions`.

use shaledb::{Db, Error, Options, ReadOptions, MAX_KEY_SIZE};

#[test]
fn oversized_lookup_key_is_invalid_argument() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let at_limit = vec![b'k'; MAX_KEY_SIZE];
    db.put(&at_limit, "v")
        .expect("a key at the limit is allowed");
    assert_eq!(db.get(&at_limit).expect("get").as_deref(), Some(&b"v"[..]));
    let over = vec![b'k'; MAX_KEY_SIZE + 1];
    assert!(matches!(db.get(&over), Err(Error::InvalidArgument(_))));
    let r = db.multi_get(&[at_limit.clone(), over.clone()]);
    assert!(matches!(r[0], Ok(Some(_))));
    assert!(matches!(r[1], Err(Error::InvalidArgument(_))));
    assert!(matches!(
        db.snapshot().get(&over),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn inverted_compact_range_is_invalid_argument() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("a", "1").expect("put");
    assert!(matches!(
        db.compact_range(Some(b"z"), Some(b"a")),
        Err(Error::InvalidArgument(_))
    ));
    db.compact_range(Some(b"a"), Some(b"a"))
        .expect("a one-key range is fine");
    db.compact_range(Some(b"a"), Some(b"z"))
        .expect("an ordered range is fine");
}

#[test]
fn a_snapshot_of_another_database_is_invalid_argument() {
    let (d1, d2) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let db1 = Db::open(d1.path(), Options::default()).expect("open 1");
    let db2 = Db::open(d2.path(), Options::default()).expect("open 2");
    db1.put("k", "one").expect("put");
    db2.put("k", "two").expect("put");
    let foreign = db2.snapshot();
    let ro = ReadOptions {
        snapshot: Some(&foreign),
        ..ReadOptions::default()
    };
    assert!(matches!(
        db1.get_opt("k", &ro),
        Err(Error::InvalidArgument(_))
    ));
    assert!(db1
        .multi_get_opt(&["k"], &ro)
        .into_iter()
        .all(|r| matches!(r, Err(Error::InvalidArgument(_)))));
    let mut it = db1.iter_opt(&ro);
    assert!(matches!(it.next(), Some(Err(Error::InvalidArgument(_)))));
    assert!(it.next().is_none());
    assert!(matches!(
        db1.range_opt(.."z", &ro).next(),
        Some(Err(Error::InvalidArgument(_)))
    ));
    assert!(matches!(
        db1.prefix_opt("k", &ro).next_back(),
        Some(Err(Error::InvalidArgument(_)))
    ));
    let mut raw = db1.raw_iterator_opt(&ro);
    raw.seek_to_first();
    assert!(!raw.valid());
    assert!(matches!(raw.status(), Some(Error::InvalidArgument(_))));
    // Its own snapshot is fine.
    let own = db1.snapshot();
    let ro = ReadOptions {
        snapshot: Some(&own),
        ..ReadOptions::default()
    };
    assert_eq!(
        db1.get_opt("k", &ro).expect("get").as_deref(),
        Some(&b"one"[..])
    );
}
