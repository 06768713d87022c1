//! Property test of optimistic transactions: up to three transactions interleave begin,
//! `get` / `get_for_update` reads, writes computed from what they read, and commits,
//! between plain puts, flushes and compactions. Checked against a serial model:
//!
//! - a commit succeeds exactly when no key it wrote or read `for_update` was written by
//!   another commit after it began (no missed conflict, no spurious one, whatever was
//!   flushed or compacted meanwhile);
//! - every committed transaction's `for_update` reads equal what a serial execution at its
//!   commit point would read (the committed history is serializable in commit order), and
//!   its plain reads equal its begin snapshot;
//! - a refused commit leaves no trace, and the database always equals the model.
//!
//! Cases: 32 by default; set `PROPTEST_CASES` for long runs.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shaledb::{Db, Error, Options, Transaction};

#[derive(Debug, Clone)]
enum Op {
    Begin(usize),
    Get(usize, u8),
    GetForUpdate(usize, u8),
    /// Writes to key `.1` the sum of what the transaction read plus `.2`.
    Write(usize, u8, u8),
    Delete(usize, u8),
    Commit(usize),
    Put(u8, u8),
    Flush,
    Compact,
}

fn key(k: u8) -> Vec<u8> {
    vec![b'k', b'0' + k % 6]
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..3usize;
    prop_oneof![
        3 => slot.clone().prop_map(Op::Begin),
        2 => (slot.clone(), any::<u8>()).prop_map(|(t, k)| Op::Get(t, k)),
        4 => (slot.clone(), any::<u8>()).prop_map(|(t, k)| Op::GetForUpdate(t, k)),
        4 => (slot.clone(), any::<u8>(), any::<u8>()).prop_map(|(t, k, v)| Op::Write(t, k, v)),
        1 => (slot.clone(), any::<u8>()).prop_map(|(t, k)| Op::Delete(t, k)),
        3 => slot.prop_map(Op::Commit),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
    ]
}

/// The model: key -> (value, logical time of the commit that last wrote it).
type Model = BTreeMap<Vec<u8>, (Option<u64>, u64)>;

struct Open {
    txn: Transaction,
    began: u64,
    /// The committed state at begin, for plain reads.
    at_begin: Model,
    /// Keys read `for_update` -> value read; keys written -> buffered value.
    for_update: BTreeMap<Vec<u8>, Option<u64>>,
    writes: BTreeMap<Vec<u8>, Option<u64>>,
    sum: u64,
}

fn parse(v: Option<shaledb::Bytes>) -> Option<u64> {
    v.map(|b| {
        std::str::from_utf8(&b)
            .expect("utf8")
            .parse()
            .expect("number")
    })
}

fn value_of(m: &Model, k: &[u8]) -> Option<u64> {
    m.get(k).and_then(|(v, _)| *v)
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().write_buffer_size(4 << 10)).expect("open");
    let mut model = Model::new();
    let mut clock = 0u64; // advances at every commit
    let mut slots: Vec<Option<Open>> = vec![None, None, None];
    for op in ops {
        match op {
            Op::Begin(t) => {
                slots[*t] = Some(Open {
                    txn: db.transaction(),
                    began: clock,
                    at_begin: model.clone(),
                    for_update: BTreeMap::new(),
                    writes: BTreeMap::new(),
                    sum: 0,
                });
            }
            Op::Get(t, k) | Op::GetForUpdate(t, k) => {
                let Some(o) = slots[*t].as_mut() else {
                    continue;
                };
                let k = key(*k);
                let got = if matches!(op, Op::Get(..)) {
                    parse(o.txn.get(&k).expect("get"))
                } else {
                    parse(o.txn.get_for_update(&k).expect("get_for_update"))
                };
                // Own writes first, else the begin snapshot.
                let want = match o.writes.get(&k) {
                    Some(v) => *v,
                    None => value_of(&o.at_begin, &k),
                };
                prop_assert_eq!(got, want, "read of {:?} in transaction {}", k, t);
                if matches!(op, Op::GetForUpdate(..)) && !o.writes.contains_key(&k) {
                    o.for_update.entry(k).or_insert(got);
                }
                o.sum += got.unwrap_or(0);
            }
            Op::Write(t, k, v) | Op::Delete(t, k @ v) => {
                let Some(o) = slots[*t].as_mut() else {
                    continue;
                };
                let k = key(*k);
                let val = if matches!(op, Op::Write(..)) {
                    Some(o.sum + u64::from(*v))
                } else {
                    None
                };
                match val {
                    Some(x) => o.txn.put(&k, x.to_string()).expect("put"),
                    None => o.txn.delete(&k).expect("delete"),
                }
                o.writes.insert(k, val);
            }
            Op::Commit(t) => {
                let Some(o) = slots[*t].take() else { continue };
                let tracked: Vec<&Vec<u8>> = o.for_update.keys().chain(o.writes.keys()).collect();
                let changed = tracked
                    .iter()
                    .find(|k| model.get(**k).is_some_and(|(_, at)| *at > o.began));
                match o.txn.commit() {
                    Ok(_) => {
                        prop_assert!(changed.is_none(), "missed a conflict on {:?}", changed);
                        // Serializable: the for_update reads are what a serial run reads now.
                        for (k, v) in &o.for_update {
                            prop_assert_eq!(
                                *v,
                                value_of(&model, k),
                                "stale for_update read of {:?}",
                                k
                            );
                        }
                        clock += 1;
                        for (k, v) in o.writes {
                            model.insert(k, (v, clock));
                        }
                    }
                    Err(Error::Conflict { key }) => {
                        prop_assert!(changed.is_some(), "spurious conflict on {:?}", key);
                        prop_assert!(tracked.contains(&&key), "the conflict names a tracked key");
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("commit: {e}"))),
                }
            }
            Op::Put(k, v) => {
                db.put(key(*k), v.to_string()).expect("put");
                clock += 1;
                model.insert(key(*k), (Some(u64::from(*v)), clock));
            }
            Op::Flush => db.flush().expect("flush"),
            Op::Compact => db.compact_range(None, None).expect("compact"),
        }
        let have: Vec<(Vec<u8>, u64)> = db
            .iter()
            .map(|r| {
                let (k, v) = r.expect("entry");
                (k.to_vec(), parse(Some(v)).expect("value"))
            })
            .collect();
        let want: Vec<(Vec<u8>, u64)> = model
            .iter()
            .filter_map(|(k, (v, _))| v.map(|v| (k.clone(), v)))
            .collect();
        prop_assert_eq!(have, want);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(32),
        ..ProptestConfig::default()
    })]

    #[test]
    fn committed_histories_are_serializable(ops in proptest::collection::vec(op(), 1..120)) {
        run(&ops)?;
    }
}
