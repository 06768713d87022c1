//! The etcd-style store of `examples/mvcc_kv.rs`, case by case against etcd's documented
//! semantics: revisions start at 1 and grow by one per change; `put` returns the previous
//! key-value; create/mod revision and version bookkeeping; deleting nothing does not bump
//! the revision; a missing key compares as a zero key-value except for a value compare;
//! a txn is one revision; ranges at every revision match a model, also after reopening;
//! `compact` makes older reads `Compacted` and compacting the same revision twice is an
//! error; watches start at a revision; leases are TTLs.

#[path = "../examples/mvcc_kv.rs"]
#[allow(dead_code)]
mod mvcc_kv;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mvcc_kv::{Cmp, Compare, Event, KvError, Op, OpResponse, Store, Target};

type Model = BTreeMap<Vec<u8>, (Vec<u8>, i64, i64, i64)>; // value, create, mod, version

fn snapshot(store: &Store, rev: i64) -> Model {
    let r = store.range(b"\0", &[0], rev, 0, false).expect("range");
    assert_eq!(r.count, r.kvs.len());
    r.kvs
        .into_iter()
        .map(|kv| {
            (
                kv.key,
                (kv.value, kv.create_revision, kv.mod_revision, kv.version),
            )
        })
        .collect()
}

#[test]
fn revisions_puts_and_deletes_follow_etcd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    assert_eq!(
        store.revision().expect("rev"),
        1,
        "a new store is at revision 1"
    );
    let (r2, prev) = store.put(b"a", b"1", None).expect("put");
    assert_eq!((r2, prev), (2, None));
    let (r3, prev) = store.put(b"a", b"2", None).expect("put");
    assert_eq!(r3, 3);
    let prev = prev.expect("previous key-value");
    assert_eq!(
        (
            prev.value.as_slice(),
            prev.create_revision,
            prev.mod_revision,
            prev.version
        ),
        (&b"1"[..], 2, 2, 1)
    );
    let kv = &store.range(b"a", b"", 0, 0, false).expect("range").kvs[0];
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
    // Deleting nothing keeps the revision.
    let (r, deleted) = store.delete_range(b"zz", b"").expect("delete");
    assert_eq!((r, deleted.len()), (3, 0));
    let (r4, deleted) = store.delete_range(b"a", b"").expect("delete");
    assert_eq!(r4, 4);
    assert_eq!(deleted.len(), 1);
    // A re-created key starts over: new create revision, version 1.
    let (r5, _) = store.put(b"a", b"3", None).expect("put");
    let kv = &store.range(b"a", b"", 0, 0, false).expect("range").kvs[0];
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r5, r5, 1)
    );
}

#[test]
fn compares_on_missing_keys_and_txn_as_one_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let cmp = |target: Target, cmp: Cmp| Compare {
        key: b"missing".to_vec(),
        cmp,
        target,
    };
    let put = |k: &[u8]| Op::Put {
        key: k.to_vec(),
        value: b"v".to_vec(),
        lease: None,
    };
    for (c, want) in [
        (cmp(Target::Version(0), Cmp::Equal), true),
        (cmp(Target::CreateRevision(0), Cmp::Equal), true),
        (cmp(Target::ModRevision(0), Cmp::Equal), true),
        (cmp(Target::ModRevision(1), Cmp::Less), true),
        (cmp(Target::Value(Vec::new()), Cmp::Equal), false),
        (cmp(Target::Value(Vec::new()), Cmp::NotEqual), false),
    ] {
        let before = store.revision().expect("rev");
        let r = store.txn(std::slice::from_ref(&c), &[], &[]).expect("txn");
        assert_eq!(r.succeeded, want, "{c:?}");
        assert_eq!(
            r.revision, before,
            "a txn that changes nothing keeps the revision"
        );
    }
    let before = store.revision().expect("rev");
    let r = store
        .txn(
            &[cmp(Target::Version(0), Cmp::Equal)],
            &[
                put(b"x"),
                put(b"y"),
                Op::Range {
                    key: b"x".to_vec(),
                    range_end: b"z".to_vec(),
                },
            ],
            &[put(b"f")],
        )
        .expect("txn");
    assert!(r.succeeded);
    assert_eq!(r.revision, before + 1, "several puts are one revision");
    assert!(
        matches!(&r.responses[2], OpResponse::Range { kvs } if kvs.len() == 2),
        "a txn reads its own writes"
    );
    let kvs = store.range(b"x", b"z", 0, 0, false).expect("range").kvs;
    assert!(kvs.iter().all(|kv| kv.mod_revision == before + 1));
    let r = store
        .txn(
            &[Compare {
                key: b"x".to_vec(),
                cmp: Cmp::Equal,
                target: Target::Value(b"other".to_vec()),
            }],
            &[put(b"s")],
            &[put(b"f")],
        )
        .expect("txn");
    assert!(!r.succeeded);
    assert_eq!(
        store.range(b"f", b"", 0, 0, false).expect("range").count,
        1,
        "the failure branch ran"
    );
    assert_eq!(store.range(b"s", b"", 0, 0, false).expect("range").count, 0);
}

#[test]
fn ranges_at_every_revision_match_the_model_after_reopen_and_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut history: Vec<(i64, Model)> = Vec::new();
    {
        let store = Store::open_with(
            dir.path(),
            shaledb::Options::default().write_buffer_size(16 << 10),
        )
        .expect("open");
        let mut model = Model::new();
        history.push((1, model.clone()));
        for i in 0..300u32 {
            let k = format!("k{:02}", (i * 7) % 40).into_bytes();
            let rev = if i % 10 == 9 {
                let (rev, deleted) = store.delete_range(&k, b"").expect("delete");
                assert_eq!(deleted.len(), usize::from(model.remove(&k).is_some()));
                rev
            } else {
                let v = format!("v{i}").into_bytes();
                let (rev, _) = store.put(&k, &v, None).expect("put");
                let e = model.entry(k).or_insert((Vec::new(), rev, rev, 0));
                *e = (v, e.1, rev, e.3 + 1);
                rev
            };
            if history.last().is_some_and(|(r, _)| *r != rev) {
                history.push((rev, model.clone()));
            }
        }
        for (rev, want) in &history {
            assert_eq!(&snapshot(&store, *rev), want, "at {rev}");
        }
        let r = store
            .range(b"k", b"l", history[100].0, 5, false)
            .expect("range");
        assert_eq!(
            (r.kvs.len(), r.count, r.more),
            (5, history[100].1.len(), true),
            "limit and total count"
        );
        let r = store.range(b"k", b"l", 0, 0, true).expect("count only");
        assert!(r.kvs.is_empty() && r.count == history.last().expect("last").1.len());
        store.close().expect("close");
    }
    let store = Store::open(dir.path()).expect("reopen");
    for (rev, want) in &history {
        assert_eq!(&snapshot(&store, *rev), want, "at {rev} after reopen");
    }
    let current = store.revision().expect("rev");
    assert!(matches!(
        store.range(b"a", b"", current + 1, 0, false),
        Err(KvError::FutureRevision)
    ));
    let mid = history[history.len() / 2].0;
    store.compact(mid).expect("compact");
    assert!(
        matches!(store.compact(mid), Err(KvError::Compacted { compact_revision }) if compact_revision == mid),
        "twice"
    );
    assert!(matches!(
        store.compact(current + 1),
        Err(KvError::FutureRevision)
    ));
    assert!(matches!(
        store.range(b"a", b"", mid - 1, 0, false),
        Err(KvError::Compacted { .. })
    ));
    for (rev, want) in history.iter().filter(|(r, _)| *r >= mid) {
        assert_eq!(&snapshot(&store, *rev), want, "at {rev} after compact");
    }
}

#[test]
fn watches_start_at_a_revision_and_leases_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(shaledb::ManualClock::new(5_000_000));
    let store = Store::open_with(dir.path(), shaledb::Options::default().clock(clock.clone()))
        .expect("open");
    let (r2, _) = store.put(b"/a", b"1", None).expect("put");
    store.put(b"/b", b"1", None).expect("put");
    store.put(b"/outside", b"1", None).expect("put");
    let (r5, _) = store.delete_range(b"/a", b"").expect("delete");
    let mut w = store.watch(b"/a", b"/c", r2).expect("watch");
    let t = Duration::from_secs(5);
    assert!(
        matches!(w.next_event(t), Some(Ok(Event::Put(kv))) if kv.key == b"/a" && kv.mod_revision == r2)
    );
    assert!(matches!(w.next_event(t), Some(Ok(Event::Put(kv))) if kv.key == b"/b"));
    assert!(
        matches!(w.next_event(t), Some(Ok(Event::Delete { key, mod_revision })) if key == b"/a" && mod_revision == r5)
    );
    // Leases: a leased key reads until its TTL passes, then is gone and watched as deleted.
    let (r6, _) = store
        .put(b"/b", b"leased", Some(Duration::from_secs(10)))
        .expect("put");
    assert!(
        matches!(w.next_event(t), Some(Ok(Event::Put(kv))) if kv.mod_revision == r6 && kv.lease_ttl_ms == 10_000)
    );
    assert_eq!(
        store.range(b"/b", b"", 0, 0, false).expect("range").count,
        1
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        store.range(b"/b", b"", 0, 0, false).expect("range").count,
        0
    );
    assert!(matches!(w.next_event(t), Some(Ok(Event::Delete { key, .. })) if key == b"/b"));
    // A watch from a compacted revision is refused.
    store.compact(r5).expect("compact");
    assert!(matches!(
        store.watch(b"/a", b"/c", r2),
        Err(KvError::Compacted { .. })
    ));
}
