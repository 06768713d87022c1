//! Memory stays bounded: however fast writers go, the number of immutable memtables never
//! exceeds `max_write_buffer_number - 1`; writers wait (a write stall) instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use shaledb::{Db, Options};

#[test]
fn immutable_memtables_never_exceed_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options::default()
        .write_buffer_size(64 << 10)
        .max_write_buffer_number(2);
    let db = Arc::new(Db::open(dir.path(), opts).expect("open"));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (db, done) = (Arc::clone(&db), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut max_seen = 0;
            while !done.load(Ordering::Acquire) {
                max_seen = max_seen.max(db.stats().immutable_memtables);
                std::thread::yield_now();
            }
            max_seen
        })
    };
    for i in 0..20_000u32 {
        db.put(format!("{i:08}"), [b'v'; 200]).expect("put");
    }
    done.store(true, Ordering::Release);
    let max_seen = watcher.join().expect("watcher");
    assert!(
        max_seen <= 1,
        "saw {max_seen} immutable memtables with max_write_buffer_number 2"
    );
    let s = db.stats();
    assert!(
        s.flush_count >= 20,
        "4 MB through 64 KiB buffers flushes many times: {s:?}"
    );
    assert!(
        s.memtable_bytes <= (64 << 10) + (1 << 20),
        "memtable within its buffer plus one group"
    );
}
