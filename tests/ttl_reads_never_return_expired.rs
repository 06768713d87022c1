//! Per-key TTL: from the expiry instant on (millisecond precision, the database's clock),
//! `get`, `multi_get`, iterators in both directions, raw iterators and snapshots treat the
//! key as deleted; before it, every read path reports the expiry with the value.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use shaledb::{Db, ManualClock, Options, WriteBatch};

const T0: u64 = 1_700_000_000_000;

fn keys(db: &Db) -> Vec<String> {
    db.iter()
        .map(|r| String::from_utf8(r.expect("item").0.to_vec()).expect("utf8"))
        .collect()
}

fn rev_keys(db: &Db) -> Vec<String> {
    db.iter()
        .rev()
        .map(|r| String::from_utf8(r.expect("item").0.to_vec()).expect("utf8"))
        .collect()
}

#[test]
fn every_read_path_hides_an_expired_key_from_the_expiry_instant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let db = Db::open(dir.path(), Options::default().clock(clock.clone())).expect("open");
    db.put("a", "forever").expect("put");
    db.put_with_ttl("b", "short", Duration::from_millis(1_000))
        .expect("put ttl");
    let mut batch = WriteBatch::new();
    batch.put_with_ttl("c", "longer", Duration::from_secs(60));
    batch.put_expire_at("d", "at", UNIX_EPOCH + Duration::from_millis(T0 + 1_000));
    db.write(batch).expect("batch");
    let snap = db.snapshot();

    let (v, exp) = db.get_with_expiry("b").expect("get").expect("present");
    assert_eq!(
        (v.as_ref(), exp),
        (
            &b"short"[..],
            Some(UNIX_EPOCH + Duration::from_millis(T0 + 1_000))
        )
    );
    assert_eq!(
        db.get_with_expiry("a").expect("get").expect("present").1,
        None,
        "no expiry"
    );
    let mut it = db.iter();
    let first = it.next_with_expiry().expect("an item").expect("ok");
    assert_eq!((first.0.as_ref(), first.2), (&b"a"[..], None));
    let second = it.next_with_expiry().expect("an item").expect("ok");
    assert_eq!(
        second.2,
        Some(UNIX_EPOCH + Duration::from_millis(T0 + 1_000))
    );
    assert_eq!(keys(&db), ["a", "b", "c", "d"]);

    clock.advance(Duration::from_millis(999));
    assert!(
        db.get("b").expect("get").is_some(),
        "one millisecond before the expiry"
    );
    clock.advance(Duration::from_millis(1));
    for reader in ["get", "multi_get", "snapshot"] {
        let got = match reader {
            "get" => db.get("b").expect("get"),
            "multi_get" => db.multi_get(&["b"]).pop().expect("one").expect("ok"),
            _ => snap.get("b").expect("get"),
        };
        assert_eq!(got, None, "{reader} at the expiry instant");
    }
    assert_eq!(
        db.get("d").expect("get"),
        None,
        "put_expire_at expires at its instant"
    );
    assert_eq!(keys(&db), ["a", "c"]);
    assert_eq!(rev_keys(&db), ["c", "a"]);
    assert_eq!(snap.iter().count(), 2);
    let mut raw = db.raw_iterator();
    raw.seek("b");
    assert_eq!(raw.key().map(|k| k.to_vec()), Some(b"c".to_vec()));
    assert_eq!(
        raw.expiry(),
        Some(UNIX_EPOCH + Duration::from_millis(T0 + 60_000))
    );
    raw.prev();
    assert_eq!(raw.key().map(|k| k.to_vec()), Some(b"a".to_vec()));

    // The same after a flush and a compaction, and after a reopen.
    db.flush().expect("flush");
    assert_eq!(keys(&db), ["a", "c"]);
    db.compact_range(None, None).expect("compact");
    assert_eq!(keys(&db), ["a", "c"]);
    assert!(
        db.stats().expired_entries_reclaimed >= 2,
        "{}",
        db.stats().expired_entries_reclaimed
    );
    drop(snap);
    drop(db);
    let db = Db::open(dir.path(), Options::default().clock(clock.clone())).expect("reopen");
    assert_eq!(keys(&db), ["a", "c"]);
    clock.advance(Duration::from_secs(60));
    assert_eq!(keys(&db), ["a"]);
}
