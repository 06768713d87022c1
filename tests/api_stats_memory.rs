//! `Db::stats().memory` reports the memory the engine holds by component: memtables
//! (what their arenas, trees and filters allocated), the block cache's charge, and the
//! index and filter blocks the live tables pin; `total` is their sum.

use shaledb::{Db, Options};

#[test]
fn memory_by_component_follows_writes_flushes_and_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(
        dir.path(),
        Options::default().memtable_bloom_size_ratio(0.01),
    )
    .expect("open");
    let empty = db.stats().memory;
    assert_eq!((empty.block_cache, empty.table_readers), (0, 0));
    // An empty memtable holds its key filter (1% of the 64 MiB write buffer).
    assert!(empty.memtables >= (64 << 20) / 100 - 64, "{empty:?}");

    for i in 0..20_000u32 {
        db.put(format!("key{i:08}"), vec![b'v'; 100]).expect("put");
    }
    let written = db.stats();
    assert!(
        written.memory.memtables >= written.memtable_bytes,
        "{:?}",
        written.memory
    );
    assert!(
        written.memory.memtables >= 20_000 * 116,
        "{:?}",
        written.memory
    );

    db.flush().expect("flush");
    let flushed = db.stats().memory;
    assert!(
        flushed.memtables < written.memory.memtables,
        "the flushed memtable is gone"
    );
    assert!(
        flushed.table_readers > 0,
        "the new table pins its index and filter"
    );

    for i in (0..20_000u32).step_by(97) {
        assert!(db.get(format!("key{i:08}")).expect("get").is_some());
    }
    let read = db.stats().memory;
    assert!(read.block_cache > 0, "reads filled the block cache");
    assert_eq!(
        read.total,
        read.memtables + read.block_cache + read.table_readers
    );
}
