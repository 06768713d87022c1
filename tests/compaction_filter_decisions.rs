//! A compaction filter sees each key's newest value during compaction and can keep,
//! remove or rewrite it; a version a live snapshot can see is never shown to it, so the
//! snapshot's reads do not change; it never runs on reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use shaledb::{Bytes, CompactionFilter, Db, Decision, Options};

#[derive(Debug, Default)]
struct Janitor {
    calls: AtomicU64,
}

impl CompactionFilter for Janitor {
    fn filter(
        &self,
        _level: usize,
        key: &[u8],
        value: &[u8],
        _expiry: Option<std::time::SystemTime>,
    ) -> Decision {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if key.starts_with(b"tmp:") {
            Decision::Remove
        } else if key.starts_with(b"up:") {
            Decision::ChangeValue(Bytes::from(value.to_ascii_uppercase()))
        } else {
            Decision::Keep
        }
    }
}

#[test]
fn filter_removes_and_rewrites_but_never_under_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let janitor = Arc::new(Janitor::default());
    let db = Db::open(
        dir.path(),
        Options::default().compaction_filter(janitor.clone()),
    )
    .expect("open");
    for i in 0..100u32 {
        db.put(format!("tmp:{i:03}"), "scratch").expect("put");
        db.put(format!("up:{i:03}"), "quiet").expect("put");
        db.put(format!("keep:{i:03}"), "same").expect("put");
    }
    // Reads never run the filter.
    assert_eq!(
        db.get("tmp:000").expect("get").as_deref(),
        Some(&b"scratch"[..])
    );
    assert_eq!(db.iter().count(), 300);
    assert_eq!(
        janitor.calls.load(Ordering::Relaxed),
        0,
        "no compaction yet"
    );

    // Under a snapshot, nothing it can see is filtered.
    let snap = db.snapshot();
    db.compact_range(None, None).expect("compact");
    assert_eq!(
        snap.get("tmp:005").expect("get").as_deref(),
        Some(&b"scratch"[..])
    );
    assert_eq!(
        db.get("up:005").expect("get").as_deref(),
        Some(&b"quiet"[..])
    );
    assert_eq!(
        janitor.calls.load(Ordering::Relaxed),
        0,
        "every version is visible to the snapshot"
    );
    drop(snap);

    db.compact_range(None, None).expect("compact");
    assert_eq!(db.get("tmp:005").expect("get"), None, "removed");
    assert_eq!(
        db.get("up:005").expect("get").as_deref(),
        Some(&b"QUIET"[..]),
        "rewritten"
    );
    assert_eq!(
        db.get("keep:005").expect("get").as_deref(),
        Some(&b"same"[..])
    );
    assert_eq!(db.iter().count(), 200);
    assert_eq!(db.stats().compaction_filter_decisions, 200);
    assert_eq!(janitor.calls.load(Ordering::Relaxed), 300);
}
