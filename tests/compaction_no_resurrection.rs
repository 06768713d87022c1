//! No resurrection: with snapshots, overwrites and deletes interleaved with background and
//! manual compactions, a deleted key never comes back, across reopens too; and each
//! snapshot keeps reading what it saw.

mod common;

use std::collections::BTreeMap;

use shaledb::{Db, Options};

fn options() -> Options {
    Options::default()
        .write_buffer_size(16 << 10)
        .target_file_size(8 << 10)
        .max_bytes_for_level_base(32 << 10)
        .max_bytes_for_level_multiplier(4)
        .level0_file_num_compaction_trigger(2)
        .max_background_jobs(3)
}

#[test]
fn deleted_keys_stay_deleted_through_compactions_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for epoch in 0..3u64 {
        let db = Db::open(dir.path(), options()).expect("open");
        let mut snapshots = Vec::new();
        for i in 0..6_000u64 {
            let k = format!("k{:05}", (i * 13 + epoch * 7) % 2_000).into_bytes();
            if (i + epoch) % 3 == 0 {
                db.delete(&k).expect("delete");
                model.remove(&k);
            } else {
                let v = common::value_for(i + epoch * 10_000, 40);
                db.put(&k, &v).expect("put");
                model.insert(k, v);
            }
            if i % 1_500 == 0 {
                snapshots.push((db.snapshot(), model.clone()));
            }
            if i % 2_000 == 1_999 {
                db.compact_range(None, None).expect("compact");
            }
        }
        for (snap, seen) in &snapshots {
            let got: Vec<_> = snap
                .iter()
                .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("item"))
                .collect();
            assert_eq!(
                got,
                seen.clone().into_iter().collect::<Vec<_>>(),
                "snapshot at {}",
                snap.seqno()
            );
        }
        drop(snapshots);
        db.compact_range(None, None)
            .expect("compact without snapshots");
        assert_eq!(
            common::scan_all(&db),
            model.clone().into_iter().collect::<Vec<_>>()
        );
        for i in 0..2_000u64 {
            let k = format!("k{i:05}").into_bytes();
            assert_eq!(
                db.get(&k).expect("get").map(|v| v.to_vec()),
                model.get(&k).cloned(),
                "key {i}"
            );
        }
    }
    let db = Db::open(dir.path(), options()).expect("final reopen");
    assert_eq!(common::scan_all(&db), model.into_iter().collect::<Vec<_>>());
}
