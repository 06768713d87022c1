//! Metamorphic test (Pebble style): one seeded operation sequence runs under several
//! option sets that stress different paths: a tiny write buffer, 64-byte blocks, restart
//! interval 1, compression on and off, bloom filters on and off, mmap on and off. Every
//! run must give identical reads, and all must match a `BTreeMap` model, across reopens.
//! The operations include puts with TTLs and clock advances (each run has its own
//! `ManualClock` starting at the same instant), so every option set must expire alike,
//! and range deletes, so every option set must apply range tombstones alike (in
//! memtables, L0 and the levels, across table cuts of every size).
//!
//! Cases: 8 by default; set `PROPTEST_CASES` for long runs.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shaledb::{Compression, Db, Options};

#[derive(Debug, Clone)]
enum Op {
    Put(u16, u16),
    /// A put that expires this many milliseconds later.
    PutTtl(u16, u16, u16),
    /// Moves the database's clock forward.
    Advance(u16),
    Delete(u16),
    /// Deletes keys `[k, k + n)`.
    DeleteRange(u16, u16),
    Flush,
    Reopen,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (any::<u16>(), any::<u16>()).prop_map(|(k, v)| Op::Put(k % 300, v)),
        3 => (any::<u16>(), any::<u16>(), 1..5_000u16).prop_map(|(k, v, t)| Op::PutTtl(k % 300, v, t)),
        2 => (1..3_000u16).prop_map(Op::Advance),
        4 => any::<u16>().prop_map(|k| Op::Delete(k % 300)),
        1 => (any::<u16>(), 0..40u16).prop_map(|(k, n)| Op::DeleteRange(k % 300, n)),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
    ]
}

fn option_sets() -> Vec<(&'static str, Options)> {
    let small = || {
        Options::default()
            .write_buffer_size(4096)
            .level0_file_num_compaction_trigger(2)
    };
    vec![
        ("defaults", Options::default()),
        ("tiny write buffer", small()),
        (
            "64-byte blocks, restart interval 1",
            small().block_size(64).block_restart_interval(1),
        ),
        (
            "no compression, no bloom",
            small().compression(Compression::None).bits_per_key(0),
        ),
        (
            "positional reads, no block cache",
            small().mmap_reads(false).block_cache_size(0),
        ),
        (
            // 1% of a 64 KiB buffer: a 640-byte memtable key filter, so it fills and
            // answers "maybe" often, and "no" for absent keys.
            "memtable key filter, manual WAL flush",
            Options::default()
                .write_buffer_size(64 << 10)
                .memtable_bloom_size_ratio(0.01)
                .manual_wal_flush(true),
        ),
        (
            "small levels, 3 jobs",
            small()
                .target_file_size(4096)
                .max_bytes_for_level_base(8192)
                .max_background_jobs(3),
        ),
    ]
}

fn value(k: u16, v: u16) -> Vec<u8> {
    let mut out = format!("{k}:{v}:").into_bytes();
    out.resize(usize::from(v % 200) + 8, b'a' + (v % 26) as u8);
    out
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Every run's clock starts here (Unix milliseconds).
const T0: u64 = 1_700_000_000_000;

fn run(ops: &[Op], opts: &Options) -> (Entries, Entries) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = std::sync::Arc::new(shaledb::ManualClock::new(T0));
    let opts = &opts.clone().clock(clock.clone());
    let mut db = Db::open(dir.path(), opts.clone()).expect("open");
    for op in ops {
        match op {
            Op::Put(k, v) => drop(db.put(format!("k{k:04}"), value(*k, *v)).expect("put")),
            Op::PutTtl(k, v, t) => drop(
                db.put_with_ttl(
                    format!("k{k:04}"),
                    value(*k, *v),
                    std::time::Duration::from_millis(u64::from(*t)),
                )
                .expect("put ttl"),
            ),
            Op::Advance(ms) => clock.advance(std::time::Duration::from_millis(u64::from(*ms))),
            Op::Delete(k) => drop(db.delete(format!("k{k:04}")).expect("delete")),
            Op::DeleteRange(k, n) => {
                db.delete_range(format!("k{k:04}"), format!("k{:04}", k + n))
                    .expect("delete_range");
            }
            Op::Flush => db.flush().expect("flush"),
            Op::Compact => db.compact_range(None, None).expect("compact"),
            Op::Reopen => {
                drop(db);
                db = Db::open(dir.path(), opts.clone()).expect("reopen");
            }
        }
    }
    let fwd: Entries = db
        .iter()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("item"))
        .collect();
    let mut rev: Entries = db
        .iter()
        .rev()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("item"))
        .collect();
    rev.reverse();
    (fwd, rev)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(8),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_option_set_reads_the_same(ops in proptest::collection::vec(op(), 1..600)) {
        // Key -> (value, expiry); a key is live while the clock is below its expiry.
        let mut model: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)> = BTreeMap::new();
        let mut now = T0;
        for op in &ops {
            match op {
                Op::Put(k, v) => { model.insert(format!("k{k:04}").into_bytes(), (value(*k, *v), None)); }
                Op::PutTtl(k, v, t) => {
                    model.insert(format!("k{k:04}").into_bytes(), (value(*k, *v), Some(now + u64::from(*t))));
                }
                Op::Advance(ms) => now += u64::from(*ms),
                Op::Delete(k) => { model.remove(format!("k{k:04}").as_bytes()); }
                Op::DeleteRange(k, n) => {
                    let (lo, hi) = (format!("k{k:04}").into_bytes(), format!("k{:04}", k + n).into_bytes());
                    model.retain(|key, _| !(key >= &lo && key < &hi));
                }
                _ => {}
            }
        }
        let want: Entries =
            model.into_iter().filter(|(_, (_, e))| e.is_none_or(|e| e > now)).map(|(k, (v, _))| (k, v)).collect();
        for (name, opts) in option_sets() {
            let (fwd, rev) = run(&ops, &opts);
            prop_assert_eq!(&fwd, &want, "{} differs from the model", name);
            prop_assert_eq!(&rev, &want, "{} reversed differs", name);
        }
    }
}
