//! The `_opt` read variants and the snapshot's read methods agree with the plain ones:
//! `range_opt` and `prefix_opt` with `fill_cache: false` (a one-off scan that leaves the
//! block cache alone), `Snapshot::multi_get` and `Snapshot::raw_iterator`.

use shaledb::{Db, Options, ReadOptions};

fn keys(it: shaledb::DbIterator) -> Vec<String> {
    it.map(|r| String::from_utf8(r.expect("item").0.to_vec()).expect("utf8"))
        .collect()
}

#[test]
fn range_and_prefix_opt_match_range_and_prefix_without_filling_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().block_size(256)).expect("open");
    for i in 0..2_000u32 {
        db.put(
            format!("{}{i:05}", if i % 2 == 0 { "a" } else { "b" }),
            vec![b'x'; 100],
        )
        .expect("put");
    }
    db.flush().expect("flush");
    let cold = ReadOptions {
        fill_cache: false,
        ..ReadOptions::default()
    };
    let before = db.stats().block_cache;
    let via_opt = keys(db.range_opt("a00100".."b00000", &cold));
    let mid = db.stats().block_cache;
    assert_eq!(
        mid.blocks, before.blocks,
        "fill_cache: false must not insert blocks"
    );
    assert!(mid.misses > before.misses, "the scan read blocks from disk");
    assert_eq!(via_opt, keys(db.range("a00100".."b00000")));
    assert_eq!(via_opt.len(), 950);
    assert_eq!(keys(db.prefix_opt("b", &cold)), keys(db.prefix("b")));
    assert_eq!(keys(db.prefix_opt("b", &cold)).len(), 1000);
}

#[test]
fn snapshot_multi_get_and_raw_iterator_read_at_the_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("a", "1").expect("put");
    db.put("b", "1").expect("put");
    let snap = db.snapshot();
    db.put("a", "2").expect("put");
    db.delete("b").expect("delete");
    db.put("c", "2").expect("put");
    let got: Vec<_> = snap
        .multi_get(&["a", "b", "c"])
        .into_iter()
        .map(|r| r.expect("get"))
        .collect();
    assert_eq!(got, vec![Some("1".into()), Some("1".into()), None]);
    let mut raw = snap.raw_iterator();
    raw.seek_to_first();
    let mut seen = Vec::new();
    while raw.valid() {
        seen.push((raw.key().cloned(), raw.value().cloned()));
        raw.next();
    }
    assert!(raw.status().is_none());
    assert_eq!(
        seen,
        vec![
            (Some("a".into()), Some("1".into())),
            (Some("b".into()), Some("1".into()))
        ]
    );
}
