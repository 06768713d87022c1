//! `Db::sync_wal` (RocksDB's `SyncWAL`) makes every acknowledged write durable: writes made
//! with `sync: false`, then `sync_wal()`, survive a power loss (a durable-only crash image
//! of the simulated file system); without it they need not.

use std::sync::Arc;

use shaledb::fs::sim::{CrashMode, SimFs, SimRng};
use shaledb::fs::FileSystem;
use shaledb::{Db, Options};

fn options(fs: &SimFs) -> Options {
    Options::default()
        .file_system(Arc::new(fs.clone()))
        .mmap_reads(false)
}

fn keys_after_power_loss(fs: &SimFs) -> usize {
    let img = fs.crash_image(CrashMode::Durable, &mut SimRng::new(1));
    let db = Db::open("/db", options(&img)).expect("open the crash image");
    db.iter().count()
}

#[test]
fn sync_wal_makes_unsynced_writes_durable() {
    let fs = SimFs::new();
    fs.create_dir_all(std::path::Path::new("/db"))
        .expect("mkdir");
    let db = Db::open("/db", options(&fs)).expect("open");
    for i in 0..100u32 {
        db.put(format!("k{i:03}"), "v").expect("put without sync");
    }
    assert_eq!(
        keys_after_power_loss(&fs),
        0,
        "unsynced writes are not durable yet"
    );
    db.sync_wal().expect("sync_wal");
    assert_eq!(
        keys_after_power_loss(&fs),
        100,
        "sync_wal made every acknowledged write durable"
    );
    for i in 100..150u32 {
        db.put(format!("k{i:03}"), "v").expect("put");
    }
    db.sync_wal().expect("sync_wal again");
    assert_eq!(keys_after_power_loss(&fs), 150);
}
