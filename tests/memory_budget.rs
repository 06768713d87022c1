//! `Options::memory_budget`: one number bounds memtables, block cache and pinned index and
//! filter blocks, as `DbStats::memory` counts them, and the block cache gets exactly what
//! the documented formula leaves.

use shaledb::{Db, Error, Options};

const MIB: u64 = 1 << 20;

#[test]
fn a_budget_below_8_mib_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    match Db::open(dir.path(), Options::default().memory_budget(4 * MIB)) {
        Err(Error::InvalidArgument(msg)) => assert!(msg.contains("memory_budget"), "{msg}"),
        other => panic!("expected InvalidArgument, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn memory_stays_within_the_budget_and_the_cache_gets_the_rest() {
    let budget = 16 * MIB;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().memory_budget(budget)).expect("open");
    // About 26 MiB of keys and values: many flushes of the 2 MiB write buffers.
    let n = 200_000u64;
    let value = vec![b'v'; 120];
    for i in 0..n {
        db.put(format!("key{:012}", i * 7919 % n), &value)
            .expect("put");
    }
    db.wait_for_compaction().expect("wait");
    // Read everything twice, so the block cache fills as far as it may.
    for _ in 0..2 {
        for i in 0..n {
            assert!(
                db.get(format!("key{i:012}")).expect("get").is_some(),
                "key {i} lost"
            );
        }
    }
    let s = db.stats();
    let m = s.memory;
    assert_eq!(m.budget, Some(budget));
    assert!(m.block_cache > 0, "the reads used no block cache: {m:?}");
    assert!(
        m.table_readers > 0,
        "no pinned index or filter blocks: {m:?}"
    );
    assert!(
        m.total <= budget,
        "memory {m:?} over the budget of {budget} bytes"
    );
    // The documented split: write buffers of budget / 8, each reserved with 2 MiB of arena
    // slack and its key filter (1% of the write buffer by default), two of them; the cache
    // gets the rest less the pinned blocks.
    let filter = ((budget / 8) as f64 * 0.01) as u64;
    let reservation = 2 * (budget / 8 + 2 * MIB + filter);
    assert_eq!(
        s.block_cache.capacity,
        budget - reservation - m.table_readers,
        "{m:?}"
    );
    assert!(m.memtables <= reservation, "{m:?}");
}
