//! An expired newer version never lets an older, non-expiring version show through: an
//! old value compacted to the last level, a newer expiring value compacted part of the way
//! down; as time passes, `get` is `None` at every point after the expiry, before and
//! after every compaction.

use std::sync::Arc;
use std::time::Duration;

use shaledb::{Db, ManualClock, Options};

#[test]
fn an_expired_entry_hides_older_versions_at_every_stage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_000_000));
    let opts = || {
        Options::default()
            .clock(clock.clone())
            .level0_file_num_compaction_trigger(4)
    };
    let db = Db::open(dir.path(), opts()).expect("open");
    for i in 0..200u32 {
        db.put(format!("k{i:03}"), "old, forever").expect("put");
    }
    db.compact_range(None, None)
        .expect("old values to the last level");
    for i in 0..200u32 {
        db.put_with_ttl(format!("k{i:03}"), "new, short", Duration::from_secs(10))
            .expect("put ttl");
    }
    db.flush()
        .expect("the expiring values in L0, above the old ones");
    let check = |when: &str| {
        for i in (0..200u32).step_by(17) {
            assert_eq!(
                db.get(format!("k{i:03}")).expect("get"),
                None,
                "k{i:03} {when}"
            );
        }
        assert_eq!(db.iter().count(), 0, "{when}");
        assert_eq!(db.iter().rev().count(), 0, "{when}");
    };
    assert_eq!(
        db.get("k005").expect("get").as_deref(),
        Some(&b"new, short"[..])
    );
    clock.advance(Duration::from_secs(10));
    check("after expiry, expiring values in L0");
    db.compact_range(Some(b"k000"), Some(b"k099"))
        .expect("half of the range down");
    check("after a partial compaction");
    db.wait_for_compaction().expect("background work");
    check("after background compaction");
    db.compact_range(None, None).expect("everything down");
    check("after a full compaction");
    drop(db);
    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(db.iter().count(), 0, "after reopen");
}
