//! Optimistic transactions: the commit-time conflict check (`Error::Conflict`, nothing
//! written) stays right when the other write was flushed and compacted meanwhile; write
//! skew is prevented when both keys are read `for_update` and allowed (documented) when
//! not; a read-only transaction and `rollback` write nothing; without `set_snapshot` a key
//! conflicts only when it changed after the transaction first saw it.

use shaledb::{Db, Error, Options, TransactionOptions};

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    (dir, db)
}

fn conflict_key(r: shaledb::Result<u64>) -> Vec<u8> {
    match r {
        Err(Error::Conflict { key }) => key,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn second_of_two_updaters_conflicts_and_leaves_no_trace() {
    for (flush, compact) in [(false, false), (true, false), (true, true)] {
        let (_dir, db) = open();
        db.put(b"k", b"0").expect("put");
        let mut a = db.transaction();
        let mut b = db.transaction();
        assert_eq!(
            a.get_for_update(b"k").expect("get").as_deref(),
            Some(&b"0"[..])
        );
        assert_eq!(
            b.get_for_update(b"k").expect("get").as_deref(),
            Some(&b"0"[..])
        );
        a.put(b"k", b"a").expect("put");
        b.put(b"k", b"b").expect("put");
        b.put(b"other", b"b").expect("put");
        a.commit().expect("first commit wins");
        if flush {
            db.flush().expect("flush");
        }
        if compact {
            db.compact_range(None, None).expect("compact");
            assert_eq!(
                db.stats().levels[0].tables,
                0,
                "the write left the memtable and L0"
            );
        }
        let before = db.last_seqno();
        assert_eq!(
            conflict_key(b.commit()),
            b"k",
            "flush {flush} compact {compact}"
        );
        assert_eq!(
            db.last_seqno(),
            before,
            "a conflicting commit writes nothing"
        );
        assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"a"[..]));
        assert_eq!(db.get(b"other").expect("get"), None);
    }
}

#[test]
fn a_deletion_or_range_deletion_after_the_snapshot_conflicts() {
    let (_dir, db) = open();
    db.put(b"k", b"0").expect("put");
    let mut t = db.transaction();
    t.get_for_update(b"k").expect("get");
    db.delete(b"k").expect("delete");
    db.compact_range(None, None).expect("compact");
    t.put(b"k", b"1").expect("put");
    assert_eq!(
        conflict_key(t.commit()),
        b"k",
        "a tombstone compacted away still conflicts"
    );

    db.put(b"k", b"0").expect("put");
    let mut t = db.transaction();
    t.get_for_update(b"k").expect("get");
    db.delete_range(b"a", b"z").expect("delete_range");
    assert_eq!(
        conflict_key(t.commit()),
        b"k",
        "a read-only transaction is checked too"
    );
}

#[test]
fn blind_writes_conflict_with_newer_commits() {
    let (_dir, db) = open();
    let mut t = db.transaction();
    db.put(b"k", b"other").expect("put");
    t.put(b"k", b"mine").expect("put");
    assert_eq!(conflict_key(t.commit()), b"k");
    // A key written before the snapshot does not conflict.
    let mut t = db.transaction();
    t.put(b"k", b"mine").expect("put");
    t.commit().expect("commit");
    assert_eq!(db.get(b"k").expect("get").as_deref(), Some(&b"mine"[..]));
}

#[test]
fn write_skew_is_prevented_only_with_get_for_update() {
    // Invariant to keep: at least one of x, y is "on". Each transaction turns one off
    // after seeing the other on.
    for for_update in [true, false] {
        let (_dir, db) = open();
        db.put(b"x", b"on").expect("put");
        db.put(b"y", b"on").expect("put");
        let mut t1 = db.transaction();
        let mut t2 = db.transaction();
        let read = |t: &mut shaledb::Transaction, k: &[u8]| {
            if for_update {
                t.get_for_update(k).expect("get")
            } else {
                t.get(k).expect("get")
            }
        };
        assert!(read(&mut t1, b"y").is_some_and(|v| v == "on"));
        assert!(read(&mut t2, b"x").is_some_and(|v| v == "on"));
        t1.put(b"x", b"off").expect("put");
        t2.put(b"y", b"off").expect("put");
        t1.commit().expect("t1");
        let r2 = t2.commit();
        if for_update {
            assert_eq!(conflict_key(r2), b"x");
            assert_eq!(db.get(b"y").expect("get").as_deref(), Some(&b"on"[..]));
        } else {
            // Snapshot isolation allows write skew (documented on `Transaction`).
            r2.expect("t2 commits");
            assert_eq!(db.get(b"y").expect("get").as_deref(), Some(&b"off"[..]));
        }
    }
}

#[test]
fn rollback_and_drop_write_nothing() {
    let (_dir, db) = open();
    let before = db.last_seqno();
    let mut t = db.transaction();
    t.put(b"a", b"1").expect("put");
    t.rollback();
    {
        let mut t = db.transaction();
        t.put(b"b", b"1").expect("put");
    }
    assert_eq!(db.last_seqno(), before);
    assert_eq!(db.iter().count(), 0);
}

#[test]
fn without_a_snapshot_only_changes_after_the_first_read_conflict() {
    let (_dir, db) = open();
    let opts = TransactionOptions {
        set_snapshot: false,
        ..TransactionOptions::default()
    };
    let mut t = db.transaction_opt(&opts);
    db.put(b"k", b"before-read").expect("put");
    // Reads see the latest state, and tracking starts now.
    assert_eq!(
        t.get_for_update(b"k").expect("get").as_deref(),
        Some(&b"before-read"[..])
    );
    t.put(b"k", b"mine").expect("put");
    t.commit()
        .expect("a change before the first read does not conflict");

    let mut t = db.transaction_opt(&opts);
    t.get_for_update(b"k").expect("get");
    db.put(b"k", b"after-read").expect("put");
    db.flush().expect("flush");
    db.compact_range(None, None).expect("compact");
    assert_eq!(conflict_key(t.commit()), b"k");
}

#[test]
fn commit_returns_one_sequence_number_and_is_atomic() {
    let (_dir, db) = open();
    let mut t = db.transaction();
    for i in 0..10 {
        t.put(format!("k{i}"), b"v").expect("put");
    }
    t.delete_range(b"k8", b"k9").expect("delete_range");
    t.put(b"k8", b"after the range delete").expect("put");
    let snap = db.snapshot();
    let s = t.commit().expect("commit");
    assert_eq!(s, db.last_seqno());
    assert_eq!(s, snap.seqno() + 1, "a commit takes one sequence number");
    assert_eq!(
        snap.iter().count(),
        0,
        "the snapshot before sees none of it"
    );
    assert_eq!(db.iter().count(), 10);
    assert_eq!(
        db.get(b"k8").expect("get").as_deref(),
        Some(&b"after the range delete"[..])
    );
    for i in 0..10 {
        let (_, seq) = db
            .get_with_seqno(format!("k{i}"))
            .expect("get")
            .expect("present");
        assert_eq!(seq, s, "every key of the commit has its revision");
    }
    // The same after recovery from the WAL, and after a flush.
    drop(snap);
    let path = db.path().to_path_buf();
    db.close().expect("close");
    let db = Db::open(&path, Options::default()).expect("reopen");
    assert_eq!(db.last_seqno(), s);
    db.flush().expect("flush");
    for i in 0..10 {
        assert_eq!(
            db.get_with_seqno(format!("k{i}"))
                .expect("get")
                .expect("present")
                .1,
            s
        );
    }
    assert_eq!(
        db.get(b"k8").expect("get").as_deref(),
        Some(&b"after the range delete"[..])
    );
}

#[test]
fn oversized_arguments_are_refused_before_commit() {
    let (_dir, db) = open();
    let mut t = db.transaction();
    let big = vec![0u8; shaledb::MAX_KEY_SIZE + 1];
    assert!(matches!(t.put(&big, b"v"), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        t.get_for_update(&big),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        t.delete_range(b"z", b"a"),
        Err(Error::InvalidArgument(_))
    ));
    t.commit().expect("nothing to commit");
}
