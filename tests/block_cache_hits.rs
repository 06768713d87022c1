//! The block cache: repeated reads of one block hit it, its usage stays within its
//! capacity, and a zero-sized cache is off.

use shaledb::{Db, Options};

fn fill(db: &Db) {
    for i in 0..20_000u32 {
        db.put(format!("key{i:06}"), [b'v'; 100]).expect("put");
    }
    db.flush().expect("flush");
}

#[test]
fn repeated_reads_hit_the_cache_within_capacity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().block_cache_size(256 << 10)).expect("open");
    fill(&db);
    let before = db.stats().block_cache;
    for _ in 0..10 {
        assert!(db.get("key000123").expect("get").is_some());
    }
    let after = db.stats().block_cache;
    assert_eq!(after.misses - before.misses, 1, "the first read misses");
    assert_eq!(after.hits - before.hits, 9, "the next nine hit");
    for i in (0..20_000u32).step_by(7) {
        db.get(format!("key{i:06}")).expect("get");
    }
    let s = db.stats().block_cache;
    assert!(
        s.usage <= s.capacity,
        "usage {} above capacity {}",
        s.usage,
        s.capacity
    );
    assert!(s.blocks > 10);
}

#[test]
fn zero_capacity_turns_the_cache_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().block_cache_size(0)).expect("open");
    fill(&db);
    assert!(db.get("key000001").expect("get").is_some());
    let s = db.stats().block_cache;
    assert_eq!((s.capacity, s.hits, s.misses, s.blocks), (0, 0, 0, 0));
}
