//! The server's key counts (docs/server.md §2, §3): a database's DBSIZE is the wrapping sum
//! of its count records. Writers update a few count slots, one record per command; the
//! per-stripe records of databases written before count slots are read and kept as
//! constants; counts written by two threads at once stay exact across a reopen; records
//! whose sum is negative are refused.

#![allow(
    clippy::big_endian_bytes,
    reason = "the count record's number is big-endian in the key"
)]

use std::sync::Arc;

use shaledb::server::keyspace::{data_key, KeyState, Keyspace, NewState, COUNT_SLOTS};
use shaledb::{Db, Error, Options};

fn count_record(db: u8, number: u16, keys: u64, expires: u64) -> (Vec<u8>, Vec<u8>) {
    let mut k = vec![b'm', db];
    k.extend_from_slice(&number.to_be_bytes());
    let mut v = keys.to_le_bytes().to_vec();
    v.extend_from_slice(&expires.to_le_bytes());
    (k, v)
}

fn string_value(v: &[u8]) -> Vec<u8> {
    let mut s = vec![0u8];
    s.extend_from_slice(v);
    s
}

/// Sets (`Some`) or deletes (`None`) each key through the keyspace's write discipline.
fn apply(ks: &Keyspace, db: usize, ops: &[(&[u8], Option<&[u8]>)]) {
    let keys: Vec<&[u8]> = ops.iter().map(|(k, _)| *k).collect();
    let mut lock = ks.lock(db, &keys);
    let states: Vec<KeyState> = keys
        .iter()
        .map(|k| ks.state(&lock, k).expect("state"))
        .collect();
    let changes: Vec<(&[u8], &KeyState, NewState)> = ops
        .iter()
        .zip(&states)
        .map(|((k, v), st)| {
            let new = match v {
                Some(v) => NewState::Set(v.to_vec(), None),
                None => NewState::Delete,
            };
            (*k, st, new)
        })
        .collect();
    ks.write(&mut lock, &changes).expect("write");
}

fn data_keys(db: &Db, logical: u8) -> u64 {
    db.prefix([b'k', logical])
        .inspect(|r| assert!(r.is_ok(), "scan: {r:?}"))
        .count() as u64
}

fn count_records(db: &Db, logical: u8) -> Vec<u16> {
    db.prefix([b'm', logical])
        .map(|r| {
            let (k, _) = r.expect("scan");
            u16::from_be_bytes([k[2], k[3]])
        })
        .collect()
}

#[test]
fn per_stripe_records_of_an_older_database_are_kept_and_added_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        // As a database written before count slots: three keys counted by stripe 700's
        // record, two by stripe 2's (a number that is now a slot).
        let db = Db::open(dir.path(), Options::default()).expect("open");
        for k in [&b"a"[..], b"b", b"c", b"d", b"e"] {
            db.put(data_key(0, k), string_value(b"v")).expect("put");
        }
        let (k, v) = count_record(0, 700, 3, 0);
        db.put(k, v).expect("put");
        let (k, v) = count_record(0, 2, 2, 0);
        db.put(k, v).expect("put");
        db.close().expect("close");
    }
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("reopen"));
    let ks = Keyspace::open(Arc::clone(&db), false).expect("keyspace");
    assert_eq!(ks.dbsize(0), 5);
    apply(&ks, 0, &[(b"a", None), (b"b", None)]);
    assert_eq!(ks.dbsize(0), 3);
    apply(
        &ks,
        0,
        &[
            (b"f", Some(b"1")),
            (b"g", Some(b"2")),
            (b"h", Some(b"3")),
            (b"c", Some(b"4")),
        ],
    );
    assert_eq!(ks.dbsize(0), 6);
    assert_eq!(data_keys(&db, 0), 6);
    // The old stripe record is never rewritten; the writes went to slot records.
    let numbers = count_records(&db, 0);
    assert!(
        numbers.contains(&700),
        "the per-stripe record stays: {numbers:?}"
    );
    assert!(
        numbers
            .iter()
            .all(|n| *n == 700 || usize::from(*n) < COUNT_SLOTS),
        "{numbers:?}"
    );
    drop(ks);
    db.close().expect("close");

    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("reopen"));
    let ks = Keyspace::open(Arc::clone(&db), false).expect("keyspace");
    assert_eq!(ks.dbsize(0), 6, "the counts survive a reopen");
    ks.flush_db(0).expect("flushdb");
    assert_eq!(ks.dbsize(0), 0);
    assert!(
        count_records(&db, 0).is_empty(),
        "FLUSHDB removes every count record"
    );
}

#[test]
fn a_multi_key_write_puts_one_count_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    let ks = Keyspace::open(Arc::clone(&db), false).expect("keyspace");
    let before = db.stats().last_seqno;
    let keys: Vec<Vec<u8>> = (0..10).map(|i| format!("key:{i}").into_bytes()).collect();
    let ops: Vec<(&[u8], Option<&[u8]>)> = keys
        .iter()
        .map(|k| (k.as_slice(), Some(&b"v"[..])))
        .collect();
    apply(&ks, 0, &ops);
    // Ten data entries and one count record: eleven sequence numbers.
    assert_eq!(db.stats().last_seqno - before, 11);
    assert_eq!(count_records(&db, 0).len(), 1);
    assert_eq!(ks.dbsize(0), 10);
    // An overwrite changes no count and writes no count record.
    let before = db.stats().last_seqno;
    apply(&ks, 0, &ops);
    assert_eq!(db.stats().last_seqno - before, 10);
}

#[test]
fn two_writer_threads_keep_the_counts_exact_across_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Arc::new(
            Db::open(dir.path(), Options::default().write_buffer_size(256 << 10)).expect("open"),
        );
        let ks = Arc::new(Keyspace::open(Arc::clone(&db), false).expect("keyspace"));
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let ks = Arc::clone(&ks);
                s.spawn(move || {
                    // Overlapping keys: each thread sets and deletes keys the other one
                    // also touches.
                    let mut x = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1);
                    for _ in 0..3_000 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let a = format!("k{}", x % 500).into_bytes();
                        let b = format!("k{}", (x >> 20) % 500).into_bytes();
                        if x.is_multiple_of(3) || a == b {
                            apply(&ks, 0, &[(&a, None)]);
                        } else {
                            apply(&ks, 0, &[(&a, Some(b"v")), (&b, Some(b"w"))]);
                        }
                    }
                });
            }
        });
        assert_eq!(ks.dbsize(0), data_keys(&db, 0));
        drop(ks);
        db.close().expect("close");
    }
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("reopen"));
    let ks = Keyspace::open(Arc::clone(&db), false).expect("keyspace");
    assert_eq!(ks.dbsize(0), data_keys(&db, 0));
    assert!(count_records(&db, 0)
        .iter()
        .all(|n| usize::from(*n) < COUNT_SLOTS));
}

#[test]
fn count_records_that_sum_below_zero_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(dir.path(), Options::default()).expect("open"));
    // One slot's share of -1 keys, and nothing else: a negative count.
    let (k, v) = count_record(3, 1, u64::MAX, 0);
    db.put(k, v).expect("put");
    match Keyspace::open(Arc::clone(&db), false) {
        Err(Error::Corruption { .. }) => {}
        Err(e) => panic!("expected Corruption, got {e}"),
        Ok(_) => panic!("a negative key count was accepted"),
    }
}
