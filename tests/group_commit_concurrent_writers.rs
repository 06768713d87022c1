//! Concurrent writers, some with `sync`: every write gets a distinct sequence number,
//! batches stay atomic, and everything is readable before and after a reopen.

use std::sync::Arc;

use shaledb::{Db, Options, WriteBatch, WriteOptions};

#[test]
fn concurrent_writers_get_distinct_sequence_numbers_and_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(
        Db::open(dir.path(), Options::default().write_buffer_size(256 << 10)).expect("open"),
    );
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..500u32 {
                    let mut b = WriteBatch::new();
                    b.put(format!("t{t}-{i:04}-a"), format!("{t}:{i}"));
                    b.put(format!("t{t}-{i:04}-b"), format!("{t}:{i}"));
                    let sync = i % 50 == 0;
                    seqs.push(db.write_opt(b, &WriteOptions { sync }).expect("write"));
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "sequence numbers are unique");
    assert_eq!(
        db.last_seqno(),
        8 * 500 * 2,
        "two operations per batch, numbered densely"
    );
    let groups = db.stats().write_groups;
    assert!(groups <= 4000, "{groups} WAL appends for 4000 batches");
    drop(db);

    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    for t in 0..8u32 {
        for i in 0..500u32 {
            let want = format!("{t}:{i}");
            for s in ["a", "b"] {
                let got = db.get(format!("t{t}-{i:04}-{s}")).expect("get");
                assert_eq!(got.as_deref(), Some(want.as_bytes()));
            }
        }
    }
}
