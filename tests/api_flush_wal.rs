//! `Options::manual_wal_flush` with `Db::flush_wal` (RocksDB's `manual_wal_flush` and
//! `FlushWAL`): unsynced writes stay in memory until `flush_wal`, so a process kill (a
//! `Process` crash image of the simulated file system: everything handed to the kernel
//! survives) loses exactly the writes made since the last flush; `flush_wal(true)` makes
//! them survive a power loss; a `sync: true` write, a memtable switch and close flush too.

use std::sync::Arc;

use shaledb::fs::sim::{CrashMode, SimFs, SimRng};
use shaledb::fs::FileSystem;
use shaledb::{Db, Options, WriteBatch, WriteOptions};

fn options(fs: &SimFs, manual: bool) -> Options {
    Options::default()
        .file_system(Arc::new(fs.clone()))
        .mmap_reads(false)
        .manual_wal_flush(manual)
}

fn keys_after(fs: &SimFs, mode: CrashMode) -> usize {
    let img = fs.crash_image(mode, &mut SimRng::new(1));
    let db = Db::open("/db", options(&img, false)).expect("open the crash image");
    db.iter().count()
}

fn open(manual: bool) -> (SimFs, Db) {
    let fs = SimFs::new();
    fs.create_dir_all(std::path::Path::new("/db"))
        .expect("mkdir");
    let db = Db::open("/db", options(&fs, manual)).expect("open");
    (fs, db)
}

fn put(db: &Db, range: std::ops::Range<u32>) {
    for i in range {
        db.put(format!("k{i:04}"), "v").expect("put without sync");
    }
}

#[test]
fn unflushed_writes_are_visible_but_lost_by_a_process_kill() {
    let (fs, db) = open(true);
    put(&db, 0..100);
    assert_eq!(
        db.iter().count(),
        100,
        "buffered writes are readable at once"
    );
    assert_eq!(
        keys_after(&fs, CrashMode::Process),
        0,
        "nothing reached the kernel yet"
    );
    db.flush_wal(false).expect("flush_wal");
    assert_eq!(
        keys_after(&fs, CrashMode::Process),
        100,
        "flushed writes survive a kill"
    );
    assert_eq!(
        keys_after(&fs, CrashMode::Durable),
        0,
        "but not a power loss"
    );
    put(&db, 100..150);
    assert_eq!(
        keys_after(&fs, CrashMode::Process),
        100,
        "the next 50 are buffered again"
    );
    db.flush_wal(true).expect("flush_wal with sync");
    assert_eq!(
        keys_after(&fs, CrashMode::Durable),
        150,
        "flush_wal(true) made all durable"
    );
}

#[test]
fn without_the_option_every_write_reaches_the_kernel() {
    let (fs, db) = open(false);
    put(&db, 0..10);
    assert_eq!(keys_after(&fs, CrashMode::Process), 10);
    db.flush_wal(false).expect("flush_wal is a no-op");
    db.flush_wal(true).expect("flush_wal(true) syncs");
    assert_eq!(keys_after(&fs, CrashMode::Durable), 10);
}

#[test]
fn a_sync_write_flushes_the_writes_buffered_before_it() {
    let (fs, db) = open(true);
    put(&db, 0..20);
    let mut b = WriteBatch::new();
    b.put("z", "synced");
    db.write_opt(b, &WriteOptions { sync: true })
        .expect("sync write");
    assert_eq!(keys_after(&fs, CrashMode::Durable), 21);
}

#[test]
fn a_memtable_switch_and_close_flush_the_buffer() {
    let (fs, db) = open(true);
    put(&db, 0..20);
    db.flush()
        .expect("flush the memtable: the WAL is sealed first");
    assert_eq!(keys_after(&fs, CrashMode::Durable), 20);
    put(&db, 20..30);
    db.close().expect("close");
    assert_eq!(keys_after(&fs, CrashMode::Durable), 30);
}

#[test]
fn a_megabyte_of_records_goes_out_without_a_flush() {
    let (fs, db) = open(true);
    let value = vec![b'x'; 4096];
    for i in 0..400u32 {
        db.put(format!("k{i:04}"), &value).expect("put");
    }
    // 400 records of about 4 KiB pass the 1 MiB buffer limit once or more.
    let survived = keys_after(&fs, CrashMode::Process);
    assert!(
        (200..400).contains(&survived),
        "{survived} of 400 reached the kernel"
    );
}
