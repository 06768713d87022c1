//! Property test of the data lifecycle: puts with and without TTLs, deletes, range
//! deletes, clock advances, snapshots, flushes, compactions and reopens, against a
//! `BTreeMap` model with a model clock. Reads are compared forward, reverse, by `get` and
//! by `multi_get`, on the database and on a snapshot.
//!
//! Built with the planted bug `bug-range-del-filter-miss` (a table's range tombstones
//! ignored when its bloom filter rules the key out) this test must fail; `.ci/run`
//! checks that it does.
//!
//! Cases: 24 by default; set `PROPTEST_CASES` for long runs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use shaledb::{Db, ManualClock, Options};

/// Key -> (value, expiry in model milliseconds).
type Model = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u16),
    PutTtl(u8, u16, u16),
    Delete(u8),
    DeleteRange(u8, u8),
    Advance(u16),
    Flush,
    Compact,
    Snapshot,
    Reopen,
    Check,
}

fn key(i: u8) -> Vec<u8> {
    format!("k{:02}", i % 32).into_bytes()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::Put(k, v)),
        6 => (any::<u8>(), any::<u16>(), 1..2_000u16).prop_map(|(k, v, t)| Op::PutTtl(k, v, t)),
        3 => any::<u8>().prop_map(Op::Delete),
        3 => (any::<u8>(), 0..12u8).prop_map(|(a, n)| Op::DeleteRange(a, n)),
        3 => (1..1_500u16).prop_map(Op::Advance),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Reopen),
        2 => Just(Op::Check),
    ]
}

fn live(model: &Model, now: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .iter()
        .filter(|(_, (_, e))| e.is_none_or(|e| e > now))
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect()
}

fn check(db: &Db, snap: Option<&(shaledb::Snapshot, Model)>, model: &Model, now: u64) {
    let want = live(model, now);
    let got: Vec<_> = db
        .iter()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("item"))
        .collect();
    assert_eq!(got, want, "forward at {now}");
    let mut rev: Vec<_> = db
        .iter()
        .rev()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("item"))
        .collect();
    rev.reverse();
    assert_eq!(rev, want, "reverse at {now}");
    let keys: Vec<Vec<u8>> = (0..32).map(key).collect();
    let multi = db.multi_get(&keys);
    for (k, m) in keys.iter().zip(multi) {
        let expect = want.iter().find(|(wk, _)| wk == k).map(|(_, v)| v.clone());
        assert_eq!(
            db.get(k).expect("get").map(|v| v.to_vec()),
            expect,
            "get {k:?}"
        );
        assert_eq!(
            m.expect("multi_get").map(|v| v.to_vec()),
            expect,
            "multi_get {k:?}"
        );
    }
    if let Some((s, smodel)) = snap {
        let want = live(smodel, now);
        let got: Vec<_> = s
            .iter()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("item"))
            .collect();
        assert_eq!(got, want, "snapshot at {now}");
    }
}

fn options(clock: &Arc<ManualClock>) -> Options {
    Options::default()
        .clock(clock.clone())
        .write_buffer_size(4096)
        .block_size(64)
        .level0_file_num_compaction_trigger(2)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
    ))]

    #[test]
    fn lifecycle_reads_match_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(1_000_000));
        let t0 = 1_000_000u64;
        let mut now = t0;
        let mut db = Db::open(dir.path(), options(&clock)).expect("open");
        let mut model = Model::new();
        let mut snap: Option<(shaledb::Snapshot, Model)> = None;
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    db.put(key(k), v.to_le_bytes()).expect("put");
                    model.insert(key(k), (v.to_le_bytes().to_vec(), None));
                }
                Op::PutTtl(k, v, t) => {
                    db.put_with_ttl(key(k), v.to_le_bytes(), Duration::from_millis(u64::from(t))).expect("put ttl");
                    model.insert(key(k), (v.to_le_bytes().to_vec(), Some(now + u64::from(t))));
                }
                Op::Delete(k) => {
                    db.delete(key(k)).expect("delete");
                    model.remove(&key(k));
                }
                Op::DeleteRange(a, n) => {
                    // [key(a), key(a + n)), clamped to the 32-key space.
                    let (lo, hi) = (key(a), format!("k{:02}", (u32::from(a % 32) + u32::from(n)).min(32)).into_bytes());
                    db.delete_range(&lo, &hi).expect("delete_range");
                    model.retain(|k, _| !(k >= &lo && k < &hi));
                }
                Op::Advance(ms) => {
                    clock.advance(Duration::from_millis(u64::from(ms)));
                    now += u64::from(ms);
                }
                Op::Flush => db.flush().expect("flush"),
                Op::Compact => db.compact_range(None, None).expect("compact"),
                Op::Snapshot => snap = Some((db.snapshot(), model.clone())),
                Op::Reopen => {
                    snap = None;
                    drop(db);
                    db = Db::open(dir.path(), options(&clock)).expect("reopen");
                }
                Op::Check => check(&db, snap.as_ref(), &model, now),
            }
        }
        check(&db, snap.as_ref(), &model, now);
        prop_assert_eq!(clock.now_millis_for_test(), now);
    }
}

trait Now {
    fn now_millis_for_test(&self) -> u64;
}

impl Now for ManualClock {
    fn now_millis_for_test(&self) -> u64 {
        shaledb::Clock::now_millis(self)
    }
}
