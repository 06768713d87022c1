//! Writes survive a flush, compactions and a reopen, and reads agree with a model.

mod common;

use std::collections::BTreeMap;

use shaledb::Db;

#[test]
fn writes_survive_flush_compaction_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = BTreeMap::new();
    {
        let db = Db::open(dir.path(), common::tiny_options()).expect("open");
        for i in 0..5000u64 {
            let k = format!("key{:06}", (i * 7919) % 3000).into_bytes();
            if i % 11 == 0 {
                db.delete(&k).expect("delete");
                model.remove(&k);
            } else {
                let v = common::value_for(i, 100);
                db.put(&k, &v).expect("put");
                model.insert(k, v);
            }
        }
        db.flush().expect("flush");
        let stats = db.stats();
        assert!(
            stats.flush_count > 5,
            "tiny write buffer must flush often: {stats:?}"
        );
        assert!(
            stats.compaction_count > 0,
            "L0 trigger 2 must compact: {stats:?}"
        );
        assert_eq!(
            common::scan_all(&db),
            model.clone().into_iter().collect::<Vec<_>>()
        );
        db.close().expect("close");
    }
    let db = Db::open(dir.path(), common::tiny_options()).expect("reopen");
    for (k, v) in &model {
        assert_eq!(db.get(k).expect("get").as_deref(), Some(v.as_slice()));
    }
    assert_eq!(db.get(b"key999999").expect("get"), None);
    assert_eq!(common::scan_all(&db), model.into_iter().collect::<Vec<_>>());
}

#[test]
fn unflushed_writes_are_replayed_from_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), shaledb::Options::default()).expect("open");
        db.put(b"a", b"1").expect("put");
        db.put(b"b", b"2").expect("put");
        db.delete(b"a").expect("delete");
        // Dropped without close: Drop is best effort and must not lose anything either.
    }
    let db = Db::open(dir.path(), shaledb::Options::default()).expect("reopen");
    let r = db.recovery_report();
    assert_eq!(r.records_replayed, 3);
    assert_eq!(r.recovered_seqno, 3);
    assert_eq!(db.get(b"a").expect("get"), None);
    assert_eq!(db.get(b"b").expect("get").as_deref(), Some(&b"2"[..]));
    assert_eq!(db.last_seqno(), 3);
    assert_eq!(
        db.put(b"c", b"3").expect("put"),
        4,
        "sequence numbers are never reused"
    );
}
