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

#[test]
fn deleted_tables_leave_the_caches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options::default().level0_file_num_compaction_trigger(2);
    let db = Db::open(dir.path(), opts).expect("open");
    fill(&db);
    for i in (0..20_000u32).step_by(50) {
        db.get(format!("key{i:06}")).expect("get");
    }
    let cached = db.stats().block_cache.blocks;
    assert!(cached > 50, "reads cached blocks: {cached}");
    assert_eq!(db.stats().open_table_files, 1);
    // A second flush makes two L0 tables and triggers their compaction into L1.
    fill(&db);
    // The compacted inputs are evicted from the caches just before their files are
    // deleted, so wait for the directory to hold only the output table.
    let tables = || {
        std::fs::read_dir(dir.path())
            .expect("ls")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sst"))
            })
            .count()
    };
    while db.stats().levels[0].tables != 0 || tables() != 1 {
        std::thread::yield_now();
    }
    let s = db.stats();
    assert_eq!(
        s.levels[6].tables, 1,
        "a small database compacts L0 into the last level"
    );
    assert_eq!(
        s.block_cache.blocks, 0,
        "blocks of the deleted tables were evicted"
    );
    assert_eq!(
        s.open_table_files, 1,
        "only the live table's file stays open"
    );
}
