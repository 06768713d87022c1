//! 8 threads × 1,000 read-modify-write increments of one counter, each retried until it
//! commits, end at exactly 8,000: with optimistic transactions (`get_for_update` then
//! `put`, retried on `Error::Conflict`) and with `compare_and_swap` (retried on
//! `CasError`). A lost update would leave the counter short.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use shaledb::{Db, Error, Options};

const THREADS: u64 = 8;
const PER_THREAD: u64 = 1_000;

fn parse(v: Option<&[u8]>) -> u64 {
    v.map_or(0, |b| {
        std::str::from_utf8(b)
            .expect("utf8")
            .parse()
            .expect("a number")
    })
}

fn open() -> (tempfile::TempDir, Arc<Db>) {
    let dir = tempfile::tempdir().expect("tempdir");
    // A small write buffer, so memtable switches and flushes happen during the run.
    let db = Db::open(dir.path(), Options::default().write_buffer_size(64 << 10)).expect("open");
    (dir, Arc::new(db))
}

#[test]
fn transactions_lose_no_increment() {
    let (_dir, db) = open();
    let conflicts = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (db, conflicts) = (Arc::clone(&db), Arc::clone(&conflicts));
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    loop {
                        let mut txn = db.transaction();
                        let n = parse(txn.get_for_update(b"counter").expect("get").as_deref());
                        txn.put(b"counter", (n + 1).to_string()).expect("put");
                        // Some unrelated writes in the same transactions.
                        txn.put(format!("t{t}-{i}"), b"x").expect("put");
                        match txn.commit() {
                            Ok(_) => break,
                            Err(Error::Conflict { key }) => {
                                assert_eq!(key, b"counter");
                                conflicts.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("commit: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(
        parse(db.get(b"counter").expect("get").as_deref()),
        THREADS * PER_THREAD
    );
    assert_eq!(
        db.prefix(b"t").count() as u64,
        THREADS * PER_THREAD,
        "every committed side write is there"
    );
    eprintln!("{} conflicts retried", conflicts.load(Ordering::Relaxed));
}

#[test]
fn compare_and_swap_loses_no_increment() {
    let (_dir, db) = open();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    let mut current = db.get(b"counter").expect("get");
                    loop {
                        let next = (parse(current.as_deref()) + 1).to_string();
                        match db
                            .compare_and_swap(b"counter", current.as_deref(), Some(next.as_bytes()))
                            .expect("cas")
                        {
                            Ok(_) => break,
                            Err(e) => current = e.current,
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(
        parse(db.get(b"counter").expect("get").as_deref()),
        THREADS * PER_THREAD
    );
}

#[test]
fn compare_and_swap_semantics() {
    let (_dir, db) = open();
    // Absent expected absent: creates.
    let s1 = db
        .compare_and_swap(b"k", None, Some(b"1"))
        .expect("cas")
        .expect("swapped");
    assert_eq!(
        db.get_with_seqno(b"k").expect("get"),
        Some((b"1"[..].into(), s1))
    );
    // Wrong expectation: nothing written, the current value reported.
    let e = db
        .compare_and_swap(b"k", None, Some(b"2"))
        .expect("cas")
        .expect_err("mismatch");
    assert_eq!(e.current.as_deref(), Some(&b"1"[..]));
    let e = db
        .compare_and_swap(b"k", Some(b"0"), Some(b"2"))
        .expect("cas")
        .expect_err("mismatch");
    assert_eq!(e.current.as_deref(), Some(&b"1"[..]));
    assert_eq!(db.last_seqno(), s1, "a failed swap writes nothing");
    // Right expectation, delete.
    db.compare_and_swap(b"k", Some(b"1"), None)
        .expect("cas")
        .expect("swapped");
    assert_eq!(db.get(b"k").expect("get"), None);
    let e = db
        .compare_and_swap(b"k", Some(b"1"), Some(b"3"))
        .expect("cas")
        .expect_err("absent");
    assert_eq!(e.current, None);
}

#[test]
fn synced_transactions_of_many_threads_share_commit_groups() {
    // Each thread increments its own counter, so nothing conflicts; commits that arrive
    // while a group fsyncs join the next group, checked or not.
    let (_dir, db) = open();
    let opts = shaledb::TransactionOptions {
        set_snapshot: true,
        sync: true,
    };
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let key = format!("counter-{t}");
                for _ in 0..100 {
                    let mut txn = db.transaction_opt(&opts);
                    let n = parse(txn.get_for_update(&key).expect("get").as_deref());
                    txn.put(&key, (n + 1).to_string()).expect("put");
                    txn.commit().expect("no conflict between distinct keys");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    for t in 0..THREADS {
        assert_eq!(
            parse(db.get(format!("counter-{t}")).expect("get").as_deref()),
            100
        );
    }
    let s = db.stats();
    assert!(
        s.write_groups < THREADS * 100,
        "{} groups for {} synced transactions: they never shared one",
        s.write_groups,
        THREADS * 100
    );
}
