//! A sequential load compacts by trivial moves: its L0 tables do not overlap each other
//! nor anything below, so each L0 compaction moves all of them down with one MANIFEST edit
//! and no table is rewritten (RocksDB does the same); the data reads back exactly, and a
//! random load still merges.

mod common;

use shaledb::{Db, Options};

fn options() -> Options {
    Options::default()
        .write_buffer_size(64 << 10)
        .target_file_size(64 << 10)
        .level0_file_num_compaction_trigger(4)
        .max_background_jobs(2)
}

fn load(db: &Db, keys: impl Iterator<Item = u64>) -> u64 {
    let mut n = 0;
    for (i, k) in keys.enumerate() {
        db.put(format!("key{k:08}"), common::value_for(i as u64, 100))
            .expect("put");
        n += 1;
    }
    db.flush().expect("flush");
    db.wait_for_compaction().expect("wait");
    n
}

#[test]
fn sequential_l0_tables_move_down_without_a_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let n = load(&db, 0..20_000u64);
    let s = db.stats();
    let moves: u64 = s.levels.iter().map(|l| l.trivial_moves).sum();
    assert!(moves >= 2, "L0 compactions were moves: {:?}", s.levels);
    assert_eq!(
        s.compaction_bytes_written, 0,
        "no table was rewritten: {:?}",
        s.levels
    );
    assert!(
        s.levels[1..].iter().map(|l| l.tables).sum::<usize>() >= 8,
        "{:?}",
        s.levels
    );
    let mut seen = 0u64;
    for (i, r) in db.iter().enumerate() {
        let (k, v) = r.expect("item");
        assert_eq!(k, format!("key{i:08}").as_bytes());
        assert_eq!(v, common::value_for(i as u64, 100));
        seen += 1;
    }
    assert_eq!(seen, n);
}

#[test]
fn random_l0_tables_still_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    load(&db, (0..20_000u64).map(|i| i.wrapping_mul(7_919) % 20_000));
    let s = db.stats();
    assert!(
        s.compaction_bytes_written > 0,
        "overlapping L0 tables were merged: {:?}",
        s.levels
    );
}
