//! Property test: `iter`, `range`, `prefix`, their reverse, interleaved `next`/`next_back`,
//! the raw cursor and snapshots all agree with a `BTreeMap` model across flushes,
//! compactions and reopens.
//!
//! Cases: 24 by default; set `PROPTEST_CASES` for long runs.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use shaledb::{Db, Options, Snapshot};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u16),
    Delete(u8),
    Flush,
    Snapshot,
    DropSnapshot,
    Reopen,
    Check(u8, u8),
}

fn key(i: u8) -> Vec<u8> {
    format!("{}/{:02}", ["a", "ab", "b", "c"][usize::from(i % 4)], i / 4).into_bytes()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::Put(k % 64, v)),
        4 => any::<u8>().prop_map(|k| Op::Delete(k % 64)),
        1 => Just(Op::Flush),
        1 => Just(Op::Snapshot),
        1 => Just(Op::DropSnapshot),
        1 => Just(Op::Reopen),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Op::Check(a % 64, b % 64)),
    ]
}

fn options() -> Options {
    Options::default()
        .write_buffer_size(4096)
        .block_size(64)
        .block_restart_interval(2)
        .level0_file_num_compaction_trigger(2)
}

fn collect(
    it: impl Iterator<Item = shaledb::Result<(shaledb::Bytes, shaledb::Bytes)>>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.map(|r| {
        r.map(|(k, v)| (k.to_vec(), v.to_vec()))
            .expect("iterator item")
    })
    .collect()
}

fn expect(model: &Model, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .range::<[u8], _>((lo, hi))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check_db(db: &Db, model: &Model, a: u8, b: u8) {
    let all = expect(model, Bound::Unbounded, Bound::Unbounded);
    assert_eq!(collect(db.iter()), all);
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(collect(db.iter().rev()), rev);
    let (lo, hi) = if key(a) <= key(b) {
        (key(a), key(b))
    } else {
        (key(b), key(a))
    };
    assert_eq!(
        collect(db.range(lo.as_slice()..hi.as_slice())),
        expect(model, Bound::Included(&lo), Bound::Excluded(&hi))
    );
    let mut r = expect(model, Bound::Excluded(&lo), Bound::Included(&hi));
    r.reverse();
    assert_eq!(
        collect(
            db.range::<&[u8], _>((
                Bound::Excluded(lo.as_slice()),
                Bound::Included(hi.as_slice())
            ))
            .rev()
        ),
        r
    );
    for p in [&b"a"[..], b"ab/", b"c/0", b""] {
        let want: Vec<_> = all
            .iter()
            .filter(|(k, _)| k.starts_with(p))
            .cloned()
            .collect();
        assert_eq!(collect(db.prefix(p)), want);
        let mut want_rev = want.clone();
        want_rev.reverse();
        assert_eq!(collect(db.prefix(p).rev()), want_rev);
    }
    // Alternating ends meet in the middle without repeating or skipping an entry.
    let mut it = db.iter();
    let (mut front, mut back) = (Vec::new(), Vec::new());
    for i in 0.. {
        let item = if (i + usize::from(a)) % 3 == 0 {
            it.next_back()
        } else {
            it.next()
        };
        let Some(item) = item else { break };
        let (k, v) = item.expect("item");
        if (i + usize::from(a)) % 3 == 0 {
            back.push((k.to_vec(), v.to_vec()))
        } else {
            front.push((k.to_vec(), v.to_vec()))
        }
    }
    back.reverse();
    front.extend(back);
    assert_eq!(front, all);
    // The raw cursor: seek, then next and prev.
    let mut c = db.raw_iterator();
    c.seek(&lo);
    let first_ge = model
        .range::<[u8], _>((Bound::Included(lo.as_slice()), Bound::Unbounded))
        .next();
    assert_eq!(
        c.key().map(|k| k.to_vec()),
        first_ge.map(|(k, _)| k.clone())
    );
    if c.valid() {
        c.next();
        let second = model
            .range::<[u8], _>((Bound::Included(lo.as_slice()), Bound::Unbounded))
            .nth(1);
        assert_eq!(c.key().map(|k| k.to_vec()), second.map(|(k, _)| k.clone()));
        if c.valid() {
            c.prev();
            assert_eq!(
                c.key().map(|k| k.to_vec()),
                first_ge.map(|(k, _)| k.clone())
            );
        }
    }
    c.seek_for_prev(&hi);
    let last_le = model
        .range::<[u8], _>((Bound::Unbounded, Bound::Included(hi.as_slice())))
        .next_back();
    assert_eq!(c.key().map(|k| k.to_vec()), last_le.map(|(k, _)| k.clone()));
    if c.valid() {
        c.prev();
        let before = model
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(hi.as_slice())))
            .nth_back(1);
        assert_eq!(c.key().map(|k| k.to_vec()), before.map(|(k, _)| k.clone()));
    }
    assert!(c.status().is_none());
    for k in [a, b] {
        assert_eq!(
            db.get(key(k)).expect("get").map(|v| v.to_vec()),
            model.get(&key(k)).cloned()
        );
    }
}

fn check_snapshot(s: &Snapshot, model: &Model) {
    let all = expect(model, Bound::Unbounded, Bound::Unbounded);
    assert_eq!(collect(s.iter()), all);
    let mut rev = all;
    rev.reverse();
    assert_eq!(collect(s.iter().rev()), rev);
    for (k, v) in model {
        assert_eq!(s.get(k).expect("get").as_deref(), Some(v.as_slice()));
    }
}

fn run(ops: &[Op]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = Db::open(dir.path(), options()).expect("open");
    let mut model = Model::new();
    let mut snaps: Vec<(Snapshot, Model)> = Vec::new();
    for op in ops {
        match op {
            Op::Put(k, v) => {
                let value = common::value_for(u64::from(*v), usize::from(*v % 300));
                db.put(key(*k), &value).expect("put");
                model.insert(key(*k), value);
            }
            Op::Delete(k) => {
                db.delete(key(*k)).expect("delete");
                model.remove(&key(*k));
            }
            Op::Flush => db.flush().expect("flush"),
            Op::Snapshot => snaps.push((db.snapshot(), model.clone())),
            Op::DropSnapshot => {
                if !snaps.is_empty() {
                    snaps.remove(0);
                }
            }
            Op::Reopen => {
                snaps.clear();
                drop(db);
                db = Db::open(dir.path(), options()).expect("reopen");
            }
            Op::Check(a, b) => {
                check_db(&db, &model, *a, *b);
                for (s, m) in &snaps {
                    check_snapshot(s, m);
                }
            }
        }
    }
    db.flush().expect("flush");
    check_db(&db, &model, 0, 63);
    for (s, m) in &snaps {
        check_snapshot(s, m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn iterators_and_snapshots_match_the_model(ops in proptest::collection::vec(op(), 1..400)) {
        run(&ops);
    }
}
