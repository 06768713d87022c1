//! What compaction does with range tombstones: covered versions no snapshot can see are
//! dropped and tombstones vanish at the bottommost level (space comes back); a snapshot
//! keeps what it sees; a tombstone spanning many output tables is cut between them so
//! each table's key range covers its pieces and the tables of a level never overlap
//! (`tool::verify` checks both); a bloom-filter miss never hides a covering tombstone.

use shaledb::fs::RealFs;
use shaledb::{tool, Db, Options, ValueType};

fn key(i: u32) -> String {
    format!("k{i:05}")
}

fn small_tables() -> Options {
    Options::default()
        .write_buffer_size(64 << 10)
        .target_file_size(16 << 10)
        .max_bytes_for_level_base(64 << 10)
}

/// Every table's range tombstones, as `(table path, start, end, seqno)`.
fn tombstones_on_disk(dir: &std::path::Path) -> Vec<(String, Vec<u8>, Vec<u8>, u64)> {
    let mut out = Vec::new();
    for (_, meta) in tool::dump_manifest(&RealFs, dir).expect("manifest").tables {
        let path = shaledb::filename::table_path(dir, meta.number);
        tool::for_each_table_entry(&RealFs, &path, &mut |k, seq, t, v| {
            if t == ValueType::RangeDeletion {
                out.push((path.display().to_string(), k.to_vec(), v.to_vec(), seq));
            }
            true
        })
        .expect("table");
    }
    out
}

#[test]
fn covered_versions_and_bottommost_tombstones_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), small_tables()).expect("open");
    for i in 0..5_000u32 {
        db.put(key(i), vec![b'x'; 100]).expect("put");
    }
    db.compact_range(None, None).expect("compact");
    let before = db.approximate_size(None, None).expect("size");
    db.delete_range(key(0), key(5_000))
        .expect("delete everything");
    db.compact_range(None, None).expect("compact");
    assert_eq!(db.iter().count(), 0);
    let after = db.approximate_size(None, None).expect("size");
    let tables: usize = db.stats().levels.iter().map(|l| l.tables).sum();
    assert_eq!(
        tables, 0,
        "no table left ({before} B before, {after} B after)"
    );
    db.close().expect("close");
    assert!(tombstones_on_disk(dir.path()).is_empty());
}

#[test]
fn a_snapshot_keeps_what_it_sees_and_tables_stay_disjoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), small_tables()).expect("open");
    for i in 0..5_000u32 {
        db.put(key(i), vec![b'y'; 100]).expect("put");
    }
    db.compact_range(None, None).expect("compact");
    let snap = db.snapshot();
    // Wide ranges with gaps between them, so the tombstones span many output tables and
    // some output cuts fall inside a tombstone.
    for (a, b) in [(100u32, 2_100u32), (2_500, 2_600), (3_000, 4_900)] {
        db.delete_range(key(a), key(b)).expect("delete_range");
    }
    db.compact_range(None, None)
        .expect("compact with the snapshot alive");
    assert_eq!(
        snap.iter().count(),
        5_000,
        "the snapshot still sees every key"
    );
    assert_eq!(
        snap.get(key(1_000)).expect("get").map(|v| v.len()),
        Some(100)
    );
    let live = 5_000 - 2_000 - 100 - 1_900;
    assert_eq!(db.iter().count(), live);
    assert_eq!(db.iter().rev().count(), live);
    assert_eq!(db.get(key(2_099)).expect("get"), None);
    assert!(db.get(key(2_100)).expect("get").is_some());
    let tables: usize = db.stats().levels.iter().map(|l| l.tables).sum();
    assert!(tables > 3, "several output tables ({tables})");
    drop(snap);
    db.close().expect("close");
    let on_disk = tombstones_on_disk(dir.path());
    let holders: std::collections::BTreeSet<_> = on_disk.iter().map(|t| t.0.clone()).collect();
    assert!(
        holders.len() > 1,
        "the tombstones were cut across tables: {holders:?}"
    );
    for c in tool::verify(&RealFs, dir.path()) {
        assert!(c.ok, "verify: {} {}", c.file, c.detail);
    }
    // Reopened, the compaction without the snapshot drops the covered keys and, at the
    // bottommost level, the tombstones.
    let db = Db::open(dir.path(), small_tables()).expect("reopen");
    assert_eq!(db.iter().count(), live);
    db.compact_range(None, None).expect("compact");
    assert_eq!(db.iter().count(), live);
    db.close().expect("close");
    assert!(tombstones_on_disk(dir.path()).is_empty());
}

#[test]
fn a_bloom_filter_miss_does_not_hide_the_tables_tombstone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for i in 0..1_000u32 {
        db.put(key(i), "old").expect("put");
    }
    db.compact_range(None, None)
        .expect("values to the last level");
    // One L0 table holding a point key outside the range (so it has a bloom filter, which
    // rules every covered key out) and the range tombstone.
    db.put("zzz", "other").expect("put");
    db.delete_range(key(0), key(1_000)).expect("delete_range");
    db.flush().expect("flush");
    for i in (0..1_000u32).step_by(37) {
        assert_eq!(db.get(key(i)).expect("get"), None, "{}", key(i));
    }
    let keys: Vec<String> = (0..1_000).map(key).collect();
    assert!(db
        .multi_get(&keys)
        .into_iter()
        .all(|r| r.expect("multi_get").is_none()));
    assert_eq!(db.get("zzz").expect("get").as_deref(), Some(&b"other"[..]));
}
