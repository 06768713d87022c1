//! `wait_for_compaction` (RocksDB's `WaitForCompact`) returns only once no flush or
//! compaction is running or due: every memtable is flushed and L0 is below its trigger.

use shaledb::{Db, Options};

#[test]
fn returns_with_no_flush_or_compaction_running_or_due() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options::default()
        .write_buffer_size(32 << 10)
        .level0_file_num_compaction_trigger(2)
        .max_write_buffer_number(4);
    let db = Db::open(dir.path(), opts).expect("open");
    for round in 0..6u32 {
        for i in 0..2_000u32 {
            db.put(
                format!("k{:06}", (i * 7919 + round) % 5_000),
                vec![b'v'; 64],
            )
            .expect("put");
        }
        db.wait_for_compaction().expect("wait");
        let s = db.stats();
        assert_eq!(
            s.immutable_memtables, 0,
            "round {round}: a memtable still waits for its flush"
        );
        assert!(
            s.levels[0].tables < 2,
            "round {round}: L0 holds {} tables, at its trigger",
            s.levels[0].tables
        );
        assert!(
            s.levels.iter().all(|l| l.score < 1.0),
            "round {round}: a level is over target: {:?}",
            s.levels
        );
    }
    // Nothing to do: returns at once, repeatedly.
    db.wait_for_compaction().expect("idle wait");
    db.wait_for_compaction().expect("idle wait");
}
