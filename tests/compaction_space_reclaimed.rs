//! Disk space comes back: after overwriting every key several times and
//! `compact_range(None, None)`, the directory is at most 1.1x the size of a database that
//! holds only the live data; after deleting every key and compacting, no table is left and
//! the directory holds only metadata (under 5% of the live data's size).

mod common;

use shaledb::{Db, Options};

fn options() -> Options {
    Options::default()
        .write_buffer_size(64 << 10)
        .target_file_size(32 << 10)
        .max_bytes_for_level_base(128 << 10)
        .level0_file_num_compaction_trigger(2)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").metadata().expect("stat").len())
        .sum()
}

const KEYS: u64 = 5_000;

fn write_round(db: &Db, round: u64) {
    for i in 0..KEYS {
        db.put(format!("key{i:06}"), common::value_for(i * 31 + round, 100))
            .expect("put");
    }
}

#[test]
fn overwrites_and_deletes_give_their_space_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    for round in 0..5 {
        write_round(&db, round);
    }
    db.compact_range(None, None).expect("compact");
    let after_overwrites = dir_bytes(dir.path());
    let stats = db.stats();
    assert_eq!(
        stats.levels.iter().filter(|l| l.tables > 0).count(),
        1,
        "one level left: {:?}",
        stats.levels
    );
    assert!((stats.space_amplification - 1.0).abs() < 1e-9);

    // The same live data written once and compacted.
    let fresh = tempfile::tempdir().expect("tempdir");
    let live = Db::open(fresh.path(), options()).expect("open");
    write_round(&live, 4);
    live.compact_range(None, None).expect("compact");
    let live_bytes = dir_bytes(fresh.path());
    assert_eq!(common::scan_all(&db), common::scan_all(&live));
    let ratio = after_overwrites as f64 / live_bytes as f64;
    eprintln!("after 5 overwrite rounds: {after_overwrites} B on disk, live data {live_bytes} B, ratio {ratio:.3}");
    assert!(ratio <= 1.1, "ratio {ratio}");

    for i in 0..KEYS {
        db.delete(format!("key{i:06}")).expect("delete");
    }
    db.compact_range(None, None).expect("compact");
    let s = db.stats();
    assert_eq!(s.table_bytes(), 0, "no table survives: {:?}", s.levels);
    let left = dir_bytes(dir.path());
    eprintln!("after deleting everything: {left} B on disk");
    // What is left is metadata: the MANIFEST's edit log (which also tracks every WAL
    // switch and each table's identity, since issue 11), CURRENT, LOCK, an empty WAL.
    assert!(left < live_bytes / 15, "{left} bytes left of {live_bytes}");
    drop(db);
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert!(common::scan_all(&db).is_empty());
}
