//! `Options::write_phase_histograms` times every write's phases: `stats().write_phases`
//! lists commit, queue, make_room, wal_append, wal_sync and memtable, with one commit and
//! one queue sample per write, one sample of the leader's phases per commit group, and
//! percentiles in order. Off by default: the list is then empty.

use shaledb::{Db, Options, WriteBatch, WriteOptions, WritePhase};

#[test]
fn phases_are_timed_per_write_and_per_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().write_phase_histograms(true)).expect("open");
    for i in 0..200u32 {
        db.put(format!("key{i:05}"), [b'v'; 100]).expect("put");
    }
    let mut b = WriteBatch::new();
    b.put("synced", "yes");
    db.write_opt(b, &WriteOptions { sync: true })
        .expect("synced write");
    let stats = db.stats();
    let phases = &stats.write_phases;
    let names: Vec<&str> = phases.iter().map(|p| p.phase).collect();
    assert_eq!(
        names,
        WritePhase::ALL.iter().map(|p| p.name()).collect::<Vec<_>>()
    );
    assert_eq!(
        names,
        [
            "commit",
            "queue",
            "make_room",
            "wal_append",
            "wal_sync",
            "memtable"
        ]
    );
    let by = |n: &str| phases.iter().find(|p| p.phase == n).expect("phase listed");
    // One thread: every write leads its own group.
    assert_eq!(by("commit").count, 201);
    assert_eq!(by("queue").count, 201);
    assert_eq!(stats.write_groups, 201);
    for leader_phase in ["make_room", "wal_append", "memtable"] {
        assert_eq!(by(leader_phase).count, stats.write_groups, "{leader_phase}");
    }
    assert_eq!(by("wal_sync").count, 1, "only the synced group fdatasyncs");
    for p in phases.iter().filter(|p| p.count > 0) {
        assert!(p.p50_us <= p.p99_us && p.p99_us <= p.p999_us, "{p:?}");
        // Two significant digits: a percentile may round up past the largest sample by 1 %.
        assert!(p.p999_us <= p.max_us * 1.01 + 0.001, "{p:?}");
        // The total is exact; the maximum is its bucket's top, at most 1 % above.
        assert!(p.total_us * 1.01 + 0.001 >= p.max_us, "{p:?}");
        assert!(p.max_us > 0.0, "{p:?}");
    }
    // A write's commit covers its own phases.
    assert!(
        by("commit").total_us >= by("wal_sync").total_us,
        "{phases:?}"
    );
}

#[test]
fn off_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("k", "v").expect("put");
    assert!(db.stats().write_phases.is_empty());
}
