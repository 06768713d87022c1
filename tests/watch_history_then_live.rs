//! `Db::watch`: the history after `since` then every new commit, for a key range, with no
//! gap and no duplicate across memtable switches, flushes (WAL rotation) and the switch
//! from history to live; a watcher that falls more than its buffer behind is disconnected
//! with `Error::Lagged` without ever blocking a writer, and resumes from the sequence
//! number it names; puts with a TTL produce `Expired` events by the database's clock
//! unless something replaced them; close ends a watcher with `Error::Closed`.

use std::sync::Arc;
use std::time::Duration;

use shaledb::{Db, Error, ManualClock, Options, SequenceNumber, WalRetention, WatchEvent};

fn options() -> Options {
    Options::default()
        .write_buffer_size(8 << 10)
        .wal_retention(WalRetention {
            max_bytes: 1 << 30,
            max_age: Duration::ZERO,
        })
}

/// Puts `k{i}` for `i` in `range`, alternating keys inside and outside [k1, k3); returns
/// the sequence numbers of the writes inside.
fn write(db: &Db, range: std::ops::Range<u32>) -> Vec<SequenceNumber> {
    let mut inside = Vec::new();
    for i in range {
        let key = if i % 2 == 0 {
            format!("k2-{i:05}")
        } else {
            format!("k5-{i:05}")
        };
        let s = db
            .put(&key, format!("v{i}-{}", "x".repeat(60)))
            .expect("put");
        if i % 2 == 0 {
            inside.push(s);
        }
    }
    inside
}

#[test]
fn history_then_live_with_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(Db::open(dir.path(), options()).expect("open"));
    write(&db, 0..50);
    let since = db.last_seqno();
    let mut want = write(&db, 50..600);
    db.flush().expect("flush");
    let mut w = db.watch(b"k1".as_slice()..b"k3".as_slice(), since);
    // Live writes from another thread, across more memtable switches.
    let writer = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || write(&db, 600..1200))
    };
    want.extend(writer.join().expect("writer"));
    let mut got = Vec::new();
    while got.len() < want.len() {
        match w.recv().expect("event") {
            WatchEvent::Put { seqno, key, .. } => {
                assert!(key.starts_with(b"k2-"), "only the watched range");
                got.push(seqno);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, want);
    assert!(w.try_recv().is_none(), "nothing more");
    assert_eq!(
        w.resume_point(),
        db.last_seqno(),
        "the last batch (outside the range) was consumed too"
    );
}

#[test]
fn a_lagging_watcher_is_disconnected_without_blocking_writers_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let since = db.last_seqno();
    let mut w = db.watch_with_buffer(b"k1".as_slice()..b"k3".as_slice(), since, 4);
    // 200 commits with nobody reading: writes must all return.
    let want = write(&db, 0..400);
    let mut got = Vec::new();
    let resume = loop {
        match w.recv() {
            Ok(e) => got.push(e.seqno()),
            Err(Error::Lagged { resume_from }) => break resume_from,
            Err(e) => panic!("unexpected {e}"),
        }
    };
    assert!(
        !got.is_empty() && got.len() < want.len(),
        "got {} of {}",
        got.len(),
        want.len()
    );
    assert_eq!(got, want[..got.len()]);
    assert!(
        resume >= *got.last().expect("some") && resume < want[got.len()],
        "every batch up to resume_from was delivered"
    );
    let mut w2 = db.watch(b"k1".as_slice()..b"k3".as_slice(), resume);
    for &s in &want[got.len()..] {
        assert_eq!(w2.recv().expect("event").seqno(), s);
    }
}

#[test]
fn deletes_range_deletes_and_expiries_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_000_000));
    let db = Db::open(dir.path(), options().clock(clock.clone())).expect("open");
    let mut w = db.watch(b"a".as_slice()..b"m".as_slice(), db.last_seqno());
    let s1 = db
        .put_with_ttl(b"b", b"1", Duration::from_millis(500))
        .expect("put");
    let s2 = db
        .put_with_ttl(b"c", b"1", Duration::from_millis(500))
        .expect("put");
    let s3 = db.put(b"c", b"2").expect("overwrite cancels the expiry");
    let s4 = db.delete(b"d").expect("delete");
    let s5 = db
        .delete_range(b"k", b"z")
        .expect("range delete overlapping the watch");
    db.delete_range(b"n", b"z")
        .expect("range delete outside the watch");
    let seqs: Vec<_> = (0..5).map(|_| w.recv().expect("event")).collect();
    assert!(matches!(&seqs[0], WatchEvent::Put { seqno, expires_at: Some(_), .. } if *seqno == s1));
    assert!(matches!(&seqs[1], WatchEvent::Put { seqno, .. } if *seqno == s2));
    assert!(matches!(&seqs[2], WatchEvent::Put { seqno, expires_at: None, .. } if *seqno == s3));
    assert!(matches!(&seqs[3], WatchEvent::Delete { seqno, .. } if *seqno == s4));
    assert!(matches!(&seqs[4], WatchEvent::DeleteRange { seqno, .. } if *seqno == s5));
    assert!(w.try_recv().is_none(), "not expired yet");
    clock.advance(Duration::from_millis(500));
    match w.try_recv() {
        Some(Ok(WatchEvent::Expired { seqno, key })) => {
            assert_eq!(seqno, s1);
            assert_eq!(key.as_ref(), b"b");
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    assert!(
        w.try_recv().is_none(),
        "c was overwritten before it expired"
    );
    db.close().expect("close");
    assert!(matches!(w.recv(), Err(Error::Closed)));
    assert!(w.next().is_none(), "the iterator ends after the error");
}

#[test]
fn a_start_whose_wals_are_gone_is_compacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put(b"a", b"1").expect("put");
    db.flush().expect("flush");
    db.put(b"a", b"2").expect("put");
    let mut w = db.watch(b"a".as_slice()..b"b".as_slice(), 0);
    assert!(matches!(
        w.startup_error(),
        Some(Error::Compacted { floor: 1 })
    ));
    assert!(
        matches!(w.recv(), Err(Error::Compacted { floor: 1 })),
        "the first item is the error"
    );
    assert!(w.next().is_none(), "then the watcher ends");
    let mut w = db.watch(b"a".as_slice()..b"b".as_slice(), 99);
    assert!(matches!(w.next(), Some(Err(Error::InvalidArgument(_)))));
    assert!(w.next().is_none());
    // From the floor it names, it works.
    let mut w = db.watch(b"a".as_slice()..b"b".as_slice(), 1);
    assert!(w.startup_error().is_none());
    assert!(matches!(
        w.recv().expect("event"),
        WatchEvent::Put { seqno: 2, .. }
    ));
}
