//! Background WAL writeback (`Options::wal_bytes_per_sync`, RocksDB's `wal_bytes_per_sync`):
//! once that many bytes are in the WAL unsynced, a background thread fdatasyncs it, so
//! writes made with `sync: false` become durable without any sync of the caller's (a
//! durable-only crash image of the simulated file system keeps them, oldest first). With
//! it off they stay volatile until a sync.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shaledb::fs::sim::{CrashMode, SimFs, SimRng};
use shaledb::fs::FileSystem;
use shaledb::{Db, Options};

const EVERY: u64 = 16 << 10;
const VALUE: usize = 1024;
const WRITES: usize = 200;

fn options(fs: &SimFs, every: u64) -> Options {
    Options::default()
        .file_system(Arc::new(fs.clone()))
        .mmap_reads(false)
        .wal_bytes_per_sync(every)
}

/// Writes `WRITES` keys of `VALUE` bytes without sync.
fn write_unsynced(every: u64) -> (SimFs, Db) {
    let fs = SimFs::new();
    fs.create_dir_all(std::path::Path::new("/db"))
        .expect("mkdir");
    let db = Db::open("/db", options(&fs, every)).expect("open");
    for i in 0..WRITES {
        db.put(format!("k{i:04}"), vec![b'v'; VALUE])
            .expect("put without sync");
    }
    (fs, db)
}

/// The keys a power loss now leaves.
fn keys_after_power_loss(fs: &SimFs) -> Vec<String> {
    let img = fs.crash_image(CrashMode::Durable, &mut SimRng::new(1));
    let db = Db::open("/db", options(&img, 0)).expect("open the crash image");
    db.iter()
        .map(|r| String::from_utf8(r.expect("entry").0.to_vec()).expect("utf-8"))
        .collect()
}

#[test]
fn writeback_makes_unsynced_writes_durable_oldest_first() {
    let (fs, db) = write_unsynced(EVERY);
    // Waits for the background thread's first completed sync (a condition, with a deadline).
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.stats().wal_writebacks == 0 {
        assert!(
            Instant::now() < deadline,
            "no WAL writeback within 60 s of {WRITES} KiB of unsynced writes"
        );
        std::thread::yield_now();
    }
    let kept = keys_after_power_loss(&fs);
    // The first request came once EVERY bytes were unsynced; its sync covers every record
    // written before it, so at least the records of the first EVERY bytes.
    let at_least = EVERY as usize / (VALUE + 64);
    assert!(
        kept.len() >= at_least,
        "only {} keys durable after a writeback, want >= {at_least}",
        kept.len()
    );
    let expected: Vec<String> = (0..kept.len()).map(|i| format!("k{i:04}")).collect();
    assert_eq!(
        kept, expected,
        "the durable keys are a prefix of the writes"
    );
    db.close().expect("close");
}

#[test]
fn without_writeback_unsynced_writes_stay_volatile() {
    let (fs, db) = write_unsynced(0);
    assert_eq!(db.stats().wal_writebacks, 0);
    assert!(
        keys_after_power_loss(&fs).is_empty(),
        "nothing synced the WAL"
    );
    db.sync_wal().expect("sync_wal");
    assert_eq!(keys_after_power_loss(&fs).len(), WRITES);
}
