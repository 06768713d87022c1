//! The MANIFEST is replaced by a new one holding a single snapshot edit once it grows past
//! `max_manifest_file_size`, so it stays bounded while a database stays open; the new one
//! describes everything (tables, WALs tracked as live, counters), the old one is deleted,
//! and the database reopens with every record.

mod common;

use shaledb::{Db, Options};

#[test]
fn the_manifest_rolls_over_and_stays_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || {
        Options::default()
            .write_buffer_size(4 << 10)
            .max_manifest_file_size(16 << 10)
    };
    let db = Db::open(dir.path(), opts()).expect("open");
    let first = db.stats().manifest_number;
    let mut max_bytes = 0;
    for i in 0..6_000u32 {
        db.put(format!("k{i:05}"), [b'v'; 100]).expect("put");
        if i % 500 == 0 {
            max_bytes = max_bytes.max(db.stats().manifest_bytes);
        }
    }
    db.wait_for_compaction().expect("settle");
    let s = db.stats();
    assert!(
        s.manifest_number > first,
        "rolled over: MANIFEST-{} then MANIFEST-{}",
        first,
        s.manifest_number
    );
    assert!(max_bytes < 64 << 10, "bounded: {max_bytes} bytes at most");
    let manifests: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("MANIFEST-"))
        .collect();
    assert_eq!(
        manifests.len(),
        1,
        "the old MANIFESTs are deleted: {manifests:?}"
    );
    drop(db);
    let out = common::shale_db(dir.path(), &["verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let db = Db::open(dir.path(), opts()).expect("reopen");
    assert_eq!(db.iter().count(), 6_000);
    // A live WAL the rolled MANIFEST tracks is still checked at open.
    assert!(db.recovery_report().manifest_edits >= 1);
}
