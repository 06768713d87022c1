//! `estimate_num_keys` (O(1), from table properties and memtable counts) and
//! `approximate_size` (bytes on disk of a key range, through the index blocks) stay within
//! their documented error bounds.

use shaledb::{Db, Options};

#[test]
fn estimates_track_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(
        dir.path(),
        Options::default().compression(shaledb::Compression::None),
    )
    .expect("open");
    assert_eq!(db.estimate_num_keys(), 0);
    for i in 0..20_000u32 {
        db.put(format!("k{i:06}"), [b'v'; 100]).expect("put");
    }
    assert_eq!(
        db.estimate_num_keys(),
        20_000,
        "memtable entries count exactly"
    );
    db.flush().expect("flush");
    assert_eq!(
        db.estimate_num_keys(),
        20_000,
        "table entries count exactly"
    );
    for i in 0..5_000u32 {
        db.delete(format!("k{i:06}")).expect("delete");
    }
    assert_eq!(
        db.estimate_num_keys(),
        15_000,
        "a tombstone cancels itself and what it hides"
    );
    db.compact_range(None, None).expect("compact");
    assert_eq!(db.estimate_num_keys(), 15_000);

    let all = db.approximate_size(None, None).expect("size");
    let table_bytes: u64 = db.stats().levels.iter().map(|l| l.bytes).sum();
    assert_eq!(all, table_bytes, "the whole range is every table");
    let half = db
        .approximate_size(Some(b"k005000"), Some(b"k012500"))
        .expect("size");
    let expect = all as f64 / 2.0;
    assert!(
        (half as f64 - expect).abs() < 0.05 * all as f64 + 8192.0,
        "half the keys: {half} of {all}"
    );
    assert_eq!(
        db.approximate_size(Some(b"z"), None).expect("size"),
        0,
        "nothing above the keys"
    );
    assert_eq!(
        db.approximate_size(None, Some(b"a")).expect("size"),
        0,
        "nothing below the keys"
    );
}
