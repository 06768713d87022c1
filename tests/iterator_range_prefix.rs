//! Forward iteration: `iter`, `range` with every kind of bound, and `prefix`, over data
//! spread across the memtable, L0 and L1, agree with a `BTreeMap` model; shadowed
//! versions and tombstones are hidden; an iterator reads the state as of its creation.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use shaledb::Db;

type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

fn collect(it: shaledb::DbIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("item"))
        .collect()
}

#[test]
fn range_and_prefix_match_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), common::tiny_options()).expect("open");
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for round in 0..4u64 {
        for i in 0..800u64 {
            let k = format!(
                "{}{:04}",
                ["ab", "ac", "b", "\u{7f}"][(i % 4) as usize],
                (i * 31 + round) % 500
            );
            if (i + round) % 7 == 0 {
                db.delete(&k).expect("delete");
                model.remove(k.as_bytes());
            } else {
                let v = common::value_for(i + round * 1000, 20);
                db.put(&k, &v).expect("put");
                model.insert(k.into_bytes(), v);
            }
        }
        if round < 3 {
            db.flush().expect("flush");
        }
    }
    let m = |lo: Bound<&[u8]>, hi: Bound<&[u8]>| -> Vec<(Vec<u8>, Vec<u8>)> {
        model
            .range::<[u8], _>((lo, hi))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(collect(db.iter()), m(Bound::Unbounded, Bound::Unbounded));
    let bounds: [KeyRange<'_>; 5] = [
        (Bound::Included(b"ab0100"), Bound::Excluded(b"ac0200")),
        (Bound::Excluded(b"ab0100"), Bound::Included(b"b0300")),
        (Bound::Unbounded, Bound::Excluded(b"ab0050")),
        (Bound::Included(b"b"), Bound::Unbounded),
        (Bound::Included(b"zzz"), Bound::Unbounded),
    ];
    for (lo, hi) in bounds {
        assert_eq!(
            collect(db.range::<&[u8], _>((lo, hi))),
            m(lo, hi),
            "range {lo:?}..{hi:?}"
        );
    }
    for p in [&b"ab"[..], b"ac01", b"\x7f", b"", b"zz"] {
        let want: Vec<_> = model
            .iter()
            .filter(|(k, _)| k.starts_with(p))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(collect(db.prefix(p)), want, "prefix {p:?}");
    }
}

#[test]
fn iterator_sees_the_state_at_its_creation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), common::tiny_options()).expect("open");
    for i in 0..100u32 {
        db.put(format!("k{i:03}"), "old").expect("put");
    }
    let it = db.iter();
    for i in 0..100u32 {
        db.put(format!("k{i:03}"), "new").expect("put");
    }
    db.put("k999", "added").expect("put");
    db.flush().expect("flush");
    let seen = collect(it);
    assert_eq!(seen.len(), 100);
    assert!(seen.iter().all(|(_, v)| v == b"old"));
}
