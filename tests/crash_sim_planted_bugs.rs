//! The harness's mutation gate (docs/durability.md §3.3). Without a planted bug, this seed and
//! configuration run clean; built with one (`.ci/run` runs
//! `cargo test --features bug-skip-wal-sync --test crash_sim_planted_bugs` and likewise
//! `bug-skip-table-dir-fsync`, `bug-skip-wal-tracking` and `bug-skip-sync-wal`), the layer-2 enumeration must
//! report the violation that bug causes.

use shaledb::crash::enumerate::{run, EnumerateConfig};
use shaledb::crash::WorkloadSpec;
use shaledb::fs::sim::CrashMode;

#[test]
fn planted_bug_is_caught_and_clean_build_is_clean() {
    let cfg = EnumerateConfig {
        spec: WorkloadSpec {
            seed: 0xb06,
            // `sync_wal` is 2% of the workload: the bug needs a longer run to be met.
            ops: if cfg!(feature = "bug-skip-sync-wal") {
                350
            } else {
                150
            },
            keys: 40,
        },
        // Every crash point for the `sync_wal` bug: its windows (a write acknowledged after
        // a skipped sync, before the next WAL seal syncs it) are a few operations wide, and a
        // stride of 4 stopped meeting one when the compaction picker's base level changed
        // the operation sequence (issue 15).
        stride: if cfg!(feature = "bug-skip-sync-wal") {
            1
        } else {
            4
        },
        modes: vec![CrashMode::Durable, CrashMode::Meta],
        double_crash_every: 0,
        max_points: 0,
        repro_dir: None,
    };
    let s = run(&cfg, &mut |_, _| {});
    eprintln!(
        "{} violations; first: {:?}",
        s.violations.len(),
        s.violations.first()
    );
    let has = |id: &str| s.violations.iter().any(|v| v.starts_with(id));
    if cfg!(feature = "bug-skip-sync-wal") {
        assert!(
            has("INV-01"),
            "a write acknowledged before a skipped Db::sync_wal lost must be reported as INV-01"
        );
    } else if cfg!(feature = "bug-skip-wal-sync") {
        assert!(
            has("INV-01"),
            "a synced write lost must be reported as INV-01"
        );
    } else if cfg!(feature = "bug-skip-table-dir-fsync") {
        assert!(
            has("INV-20") || has("INV-01"),
            "a lost table must fail the open or lose synced data"
        );
    } else if cfg!(feature = "bug-skip-wal-tracking") {
        assert!(
            has("INV-01") || has("INV-03"),
            "an untracked WAL removed must lose synced data silently, and be reported"
        );
    } else {
        assert!(
            s.wal_removed.1 > 0,
            "some WAL-removed images are refused by name: {:?}",
            s.wal_removed
        );
        assert!(
            s.violations.is_empty(),
            "baseline: {:?}",
            s.violations.first()
        );
        assert!(
            s.lost_unsynced > 0,
            "the baseline run lost an unsynced write, so the gate can see loss"
        );
    }
}
