//! Reads at past sequence numbers (`Db::snapshot_at`) with history retained: every
//! version at or above the history floor survives flushes and compactions (and reopening,
//! the floor is in the MANIFEST); below the floor a read is `Error::Compacted`, above the
//! latest `InvalidArgument`; raising the floor lets compaction reclaim the older versions;
//! with history off only the latest state can be read; `HistoryRetention::Last(n)` keeps
//! the newest `n` sequence numbers.

use std::collections::BTreeMap;

use shaledb::{Db, Error, HistoryRetention, Options, SequenceNumber};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn open(dir: &std::path::Path, r: HistoryRetention) -> Db {
    Db::open(
        dir,
        Options::default()
            .history_retention(r)
            .write_buffer_size(32 << 10),
    )
    .expect("open")
}

fn state_at(db: &Db, seqno: SequenceNumber) -> State {
    let snap = db.snapshot_at(seqno).expect("snapshot_at");
    snap.iter()
        .map(|r| {
            let (k, v) = r.expect("entry");
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

/// Writes a mixed history (puts, overwrites, deletes, range deletes, batches), with
/// flushes and compactions in between; returns the model state after each write.
fn write_history(db: &Db) -> Vec<(SequenceNumber, State)> {
    let mut model = State::new();
    let mut states = vec![(db.last_seqno(), model.clone())];
    for round in 0..6u32 {
        for i in 0..40u32 {
            let k = format!("k{:02}", (i * 7 + round) % 30).into_bytes();
            let s = if i % 9 == 4 {
                model.remove(&k);
                db.delete(&k).expect("delete")
            } else if i % 13 == 5 {
                let (a, b) = (
                    format!("k{:02}", i % 30).into_bytes(),
                    format!("k{:02}", i % 30 + 3).into_bytes(),
                );
                model.retain(|key, _| !(key >= &a && key < &b));
                db.delete_range(&a, &b).expect("delete_range")
            } else {
                let v = format!("v{round}-{i}").into_bytes();
                model.insert(k.clone(), v.clone());
                db.put(&k, &v).expect("put")
            };
            states.push((s, model.clone()));
        }
        db.flush().expect("flush");
        if round % 2 == 1 {
            db.compact_range(None, None).expect("compact");
        }
    }
    states
}

#[test]
fn every_revision_from_the_floor_reads_back_through_compaction_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), HistoryRetention::Manual);
    let start = db.history_floor().expect("history is on");
    assert_eq!(
        start,
        db.last_seqno(),
        "the floor starts at the latest sequence number"
    );
    let states = write_history(&db);
    db.compact_range(None, None).expect("compact");
    for (s, want) in &states {
        assert_eq!(&state_at(&db, *s), want, "at {s}");
    }
    drop(db);
    let db = open(dir.path(), HistoryRetention::Manual);
    assert_eq!(
        db.history_floor(),
        Some(start),
        "the floor survives reopening"
    );
    for (s, want) in &states {
        assert_eq!(&state_at(&db, *s), want, "at {s} after reopen");
    }
    // Above the latest: invalid.
    assert!(matches!(
        db.snapshot_at(db.last_seqno() + 1),
        Err(Error::InvalidArgument(_))
    ));

    // Raise the floor to the middle: reads below it fail, reads above still work, and
    // compaction reclaims the versions only older reads needed.
    let entries = |db: &Db| {
        let mut n = 0;
        db.for_each_internal_entry(&mut |_, _, _, _| {
            n += 1;
            true
        })
        .expect("visit");
        n
    };
    let before = entries(&db);
    let (mid, _) = states[states.len() / 2];
    db.set_history_floor(mid).expect("raise the floor");
    assert_eq!(
        db.set_history_floor(mid).map_err(|e| e.to_string()),
        Ok(()),
        "the same floor again is a no-op"
    );
    assert!(
        matches!(db.set_history_floor(mid - 1), Err(Error::Compacted { floor }) if floor == mid)
    );
    db.compact_range(None, None).expect("compact");
    assert!(entries(&db) < before, "raising the floor reclaims versions");
    match db.snapshot_at(mid - 1) {
        Err(Error::Compacted { floor }) => assert_eq!(floor, mid),
        other => panic!("expected Compacted, got {other:?}"),
    }
    for (s, want) in states.iter().filter(|(s, _)| *s >= mid) {
        assert_eq!(&state_at(&db, *s), want, "at {s} after raising the floor");
    }
}

#[test]
fn a_snapshot_below_a_raised_floor_keeps_its_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), HistoryRetention::Manual);
    let s1 = db.put(b"k", b"1").expect("put");
    let held = db.snapshot_at(s1).expect("snapshot_at");
    db.put(b"k", b"2").expect("put");
    let s3 = db.put(b"k", b"3").expect("put");
    db.set_history_floor(s3).expect("floor");
    db.compact_range(None, None).expect("compact");
    assert_eq!(
        held.get(b"k").expect("get").as_deref(),
        Some(&b"1"[..]),
        "a live snapshot is kept"
    );
    assert!(matches!(db.snapshot_at(s1), Err(Error::Compacted { .. })));
}

#[test]
fn with_history_off_only_the_latest_state_can_be_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), HistoryRetention::Off);
    let s1 = db.put(b"k", b"1").expect("put");
    let s2 = db.put(b"k", b"2").expect("put");
    assert_eq!(db.history_floor(), None);
    assert!(matches!(db.snapshot_at(s1), Err(Error::Compacted { floor }) if floor == s2));
    assert_eq!(
        db.snapshot_at(s2)
            .expect("latest")
            .get(b"k")
            .expect("get")
            .as_deref(),
        Some(&b"2"[..])
    );
    assert!(matches!(
        db.set_history_floor(s2),
        Err(Error::InvalidArgument(_))
    ));
    drop(db);
    // Turning history on starts the floor at the latest sequence number; turning it off
    // again clears it.
    let db = open(dir.path(), HistoryRetention::Manual);
    assert_eq!(db.history_floor(), Some(s2));
    drop(db);
    let db = open(dir.path(), HistoryRetention::Off);
    assert_eq!(db.history_floor(), None);
}

#[test]
fn last_n_keeps_the_newest_sequence_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path(), HistoryRetention::Last(10));
    let mut seqs = Vec::new();
    for i in 0..30u32 {
        seqs.push(db.put(b"k", i.to_string()).expect("put"));
    }
    db.compact_range(None, None).expect("compact");
    let latest = db.last_seqno();
    assert_eq!(db.history_floor(), Some(latest - 10));
    for (i, s) in seqs.iter().enumerate() {
        let r = db.snapshot_at(*s);
        if *s >= latest - 10 {
            assert_eq!(
                r.expect("kept").get(b"k").expect("get").as_deref(),
                Some(i.to_string().as_bytes())
            );
        } else {
            assert!(matches!(r, Err(Error::Compacted { .. })), "{s}");
        }
    }
}
