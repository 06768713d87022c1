//! WAL preallocation (`Options::wal_preallocate_bytes`, docs/format.md §2.1–2.2): the live
//! WAL's file runs ahead of its records in zeros; recovery reads that zero tail as the
//! log's clean end (nothing counted as dropped); every synced write survives a crash in
//! every crash mode; a refused `fallocate` costs only the preallocation; a sealed WAL is cut
//! back to its records.

mod common;

use std::path::Path;
use std::sync::Arc;

use shaledb::fs::sim::{CrashMode, Fault, OpKind, SimFs, SimRng};
use shaledb::fs::FileSystem;
use shaledb::{Db, Options, WriteBatch, WriteOptions};

fn key(i: u32) -> String {
    format!("key{i:05}")
}

fn value(i: u32) -> Vec<u8> {
    format!("value {i} ").repeat(8).into_bytes()
}

fn sync_put(db: &Db, i: u32) {
    let mut b = WriteBatch::new();
    b.put(key(i), value(i));
    db.write_opt(b, &WriteOptions { sync: true })
        .expect("synced put");
}

/// On a real file system: the live WAL is a whole number of 1 MiB chunks, longer than its
/// records; a copy of the directory taken while the database runs (what a process kill
/// leaves) opens with every write and nothing dropped; the WAL sealed by `close` is cut
/// back to its records.
#[test]
fn live_wal_runs_ahead_in_zeros_and_recovers_whole() {
    const CHUNK: u64 = 1 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().wal_preallocate_bytes(CHUNK)).expect("open");
    for i in 0..2_000 {
        sync_put(&db, i);
    }
    let live = common::wal_files(dir.path());
    assert_eq!(live.len(), 1);
    let bytes = std::fs::read(&live[0]).expect("read WAL");
    let records_end = bytes.iter().rposition(|&b| b != 0).expect("records") + 1;
    assert_eq!(bytes.len() as u64 % CHUNK, 0, "the file is whole chunks");
    assert!(
        bytes.len() - records_end > 1000,
        "zeros run ahead of the records"
    );

    let copy = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(dir.path()).expect("ls") {
        let p = e.expect("entry").path();
        if p.is_file() && p.file_name().is_some_and(|n| n != "LOCK") {
            std::fs::copy(&p, copy.path().join(p.file_name().expect("name"))).expect("copy");
        }
    }
    let reopened = Db::open(copy.path(), Options::default()).expect("open the copy");
    let r = reopened.recovery_report();
    assert_eq!(r.records_replayed, 2_000);
    assert_eq!(
        (r.tail_records_dropped, r.tail_bytes_dropped),
        (0, 0),
        "a zero tail is a clean end"
    );
    for i in [0, 999, 1_999] {
        assert_eq!(reopened.get(key(i)).expect("get"), Some(value(i).into()));
    }
    drop(reopened);

    db.close().expect("close");
    for w in common::wal_files(dir.path()) {
        let len = std::fs::metadata(&w).expect("stat").len();
        assert!(
            len < CHUNK && len % CHUNK != 0,
            "{}: a sealed WAL is cut back to its records ({len} bytes)",
            w.display()
        );
    }
}

fn sim_options(fs: &SimFs) -> Options {
    Options::default()
        .file_system(Arc::new(fs.clone()))
        .mmap_reads(false)
        .write_buffer_size(1 << 20)
        .wal_preallocate_bytes(16 << 10)
        .inline_background(true)
}

fn sim_wal_bytes(fs: &SimFs) -> Vec<u8> {
    let names = fs.list(Path::new("/db")).expect("ls");
    let wal = names.iter().find(|n| n.ends_with(".log")).expect("a WAL");
    fs.read_all(&Path::new("/db").join(wal)).expect("read WAL")
}

/// On the simulated file system, in every crash mode and several seeds: after 300 synced
/// puts (crossing several 16 KiB chunks) and 40 unsynced ones, the image opens, holds every
/// synced put, and any unsynced put it holds is exact. In the modes that keep only synced
/// bytes the WAL ends in a zero tail that recovery does not count as dropped.
#[test]
fn synced_writes_survive_every_crash_mode_over_a_zero_tail() {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/db")).expect("mkdir");
    let db = Db::open("/db", sim_options(&fs)).expect("open");
    for i in 0..300 {
        sync_put(&db, i);
    }
    for i in 300..340 {
        db.put(key(i), value(i)).expect("put");
    }
    assert!(
        fs.op_counts().get(&OpKind::Allocate).copied().unwrap_or(0) >= 3,
        "grew chunk by chunk"
    );
    for mode in CrashMode::ALL {
        for seed in 1..=4 {
            let img = fs.crash_image(mode, &mut SimRng::new(seed));
            let wal = sim_wal_bytes(&img);
            assert_eq!(
                wal.len() % (16 << 10),
                0,
                "{mode:?}/{seed}: the WAL is whole chunks"
            );
            let zero_tail = wal.len() - wal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            let reopened = Db::open("/db", sim_options(&img)).expect("the image opens");
            if mode == CrashMode::Durable {
                assert!(zero_tail > 0, "{mode:?}/{seed}: a zero tail");
                assert_eq!(
                    reopened.recovery_report().tail_bytes_dropped,
                    0,
                    "{mode:?}/{seed}"
                );
            }
            for i in 0..300 {
                assert_eq!(
                    reopened.get(key(i)).expect("get"),
                    Some(value(i).into()),
                    "{mode:?}/{seed}: synced {i}"
                );
            }
            for i in 300..340 {
                let got = reopened.get(key(i)).expect("get");
                assert!(
                    got.is_none() || got == Some(value(i).into()),
                    "{mode:?}/{seed}: unsynced {i} is exact or absent"
                );
            }
        }
    }
}

/// A file system that refuses to preallocate (ENOSPC from `fallocate`) costs nothing but
/// the preallocation: writes go on, nothing is poisoned, and everything is recovered.
#[test]
fn refused_preallocation_is_not_an_error() {
    let fs = SimFs::new();
    fs.create_dir_all(Path::new("/db")).expect("mkdir");
    fs.fail_op(OpKind::Allocate, 1, Fault::NoSpace);
    let db = Db::open("/db", sim_options(&fs)).expect("open");
    for i in 0..100 {
        sync_put(&db, i);
    }
    assert_eq!(
        fs.op_counts().get(&OpKind::Allocate).copied(),
        Some(1),
        "tried once, then went on without"
    );
    let wal = sim_wal_bytes(&fs);
    assert!(
        !wal.len().is_multiple_of(16 << 10),
        "no preallocated chunks ({} bytes)",
        wal.len()
    );
    drop(db);
    let img = fs.crash_image(CrashMode::Durable, &mut SimRng::new(1));
    let reopened = Db::open("/db", sim_options(&img)).expect("reopen");
    for i in 0..100 {
        assert_eq!(reopened.get(key(i)).expect("get"), Some(value(i).into()));
    }
}
