//! An iterator pins the Version it started on: while it is open, compaction replaces and
//! deletes its input tables, and the iterator still returns the complete, correct
//! sequence. The files go away once it is dropped.

use std::collections::BTreeSet;

use shaledb::{Db, Options};

fn table_files(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .filter(|n| n.ends_with(".sst"))
        .collect()
}

#[test]
fn open_iterator_survives_compaction_of_its_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = Options::default()
        .level0_file_num_compaction_trigger(3)
        .block_cache_size(0);
    let db = Db::open(dir.path(), opts).expect("open");
    for round in 0..2u32 {
        for i in 0..1000u32 {
            db.put(format!("key{i:05}"), format!("r{round}-{i}"))
                .expect("put");
        }
        db.flush().expect("flush");
    }
    let before = table_files(dir.path());
    assert_eq!(before.len(), 2, "two L0 tables, below the trigger");

    let mut it = db.iter();
    let first = it.next().expect("an entry").expect("ok");
    assert_eq!(&first.0[..], b"key00000");

    // A third flush triggers the L0 -> L1 compaction of all three tables.
    for i in 0..1000u32 {
        db.put(format!("key{i:05}"), format!("r2-{i}"))
            .expect("put");
    }
    db.flush().expect("flush");
    // Wait for the compaction through the public stats (no sleeping).
    while db.stats().levels[0].tables != 0 {
        std::thread::yield_now();
    }
    assert_eq!(db.stats().compaction_count, 1);
    let during = table_files(dir.path());
    assert!(
        before.is_subset(&during),
        "files pinned by the iterator are still on disk"
    );

    let rest: Vec<_> = it.map(|r| r.expect("item")).collect();
    assert_eq!(rest.len(), 999);
    for (n, (k, v)) in rest.iter().enumerate() {
        let i = n + 1;
        assert_eq!(k.as_ref(), format!("key{i:05}").as_bytes());
        assert_eq!(
            v.as_ref(),
            format!("r1-{i}").as_bytes(),
            "the iterator reads its own Version"
        );
    }
    let after = table_files(dir.path());
    assert!(
        before.is_disjoint(&after),
        "dropping the iterator released the compacted inputs"
    );
}
