//! Table reads through memory mappings and through positional reads give the same
//! results, and `max_open_files` bounds the open table files (handles are evicted and
//! reopened) without changing any result.

mod common;

use shaledb::{Db, Options};

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn workload(opts: Options) -> (Entries, shaledb::DbStats) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(
        dir.path(),
        opts.clone()
            .level0_file_num_compaction_trigger(100)
            .level0_slowdown_writes_trigger(100)
            .level0_stop_writes_trigger(100),
    )
    .expect("open");
    for t in 0..10u64 {
        for i in 0..300u64 {
            db.put(format!("k{:03}-{t}", i), common::value_for(i * 10 + t, 80))
                .expect("put");
        }
        db.flush().expect("flush");
    }
    assert_eq!(db.stats().levels[0].tables, 10);
    for t in 0..10u64 {
        for i in (0..300u64).step_by(13) {
            let got = db.get(format!("k{:03}-{t}", i)).expect("get");
            assert_eq!(
                got.as_deref(),
                Some(common::value_for(i * 10 + t, 80).as_slice())
            );
        }
    }
    let scan = common::scan_all(&db);
    let mut rev: Vec<_> = db
        .iter()
        .rev()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("item"))
        .collect();
    rev.reverse();
    assert_eq!(scan, rev);
    let stats = db.stats();
    db.close().expect("close");
    // Reopen: tables are opened again by recovery, through the same read mode.
    let db = Db::open(dir.path(), opts).expect("reopen");
    assert_eq!(common::scan_all(&db), scan);
    (scan, stats)
}

#[test]
fn mmap_and_pread_agree() {
    let (a, _) = workload(Options::default().mmap_reads(true).block_cache_size(0));
    let (b, _) = workload(Options::default().mmap_reads(false).block_cache_size(0));
    assert_eq!(a.len(), 3000);
    assert_eq!(a, b);
}

#[test]
fn max_open_files_bounds_handles() {
    let (_, s) = workload(Options::default().max_open_files(2).block_cache_size(0));
    assert!(
        s.open_table_files <= 2,
        "{} handles open",
        s.open_table_files
    );
    assert!(
        s.table_file_opens > 10,
        "evicted handles were reopened: {} opens",
        s.table_file_opens
    );
}
