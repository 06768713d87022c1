//! The harness's mutation gate (RELIABILITY.md §3.3): built with a planted bug, the layer-2
//! enumeration must report a violation. Run by `.ci/run` as
//! `cargo test --features bug-skip-wal-sync --test crash_sim_planted_bugs` and likewise
//! with `bug-skip-table-dir-fsync`. Without a planted bug the test checks nothing and says
//! so.

#[test]
fn planted_bug_is_caught() {
    if !cfg!(any(
        feature = "bug-skip-wal-sync",
        feature = "bug-skip-table-dir-fsync"
    )) {
        eprintln!("skipped: build with --features bug-skip-wal-sync or bug-skip-table-dir-fsync");
        return;
    }
    let cfg = shaledb::crash::enumerate::EnumerateConfig {
        spec: shaledb::crash::WorkloadSpec {
            seed: 0xb06,
            ops: 150,
            keys: 40,
        },
        stride: 4,
        modes: vec![
            shaledb::fs::sim::CrashMode::Durable,
            shaledb::fs::sim::CrashMode::Meta,
        ],
        double_crash_every: 0,
        max_points: 0,
    };
    let s = shaledb::crash::enumerate::run(&cfg, &mut |_, _| {});
    eprintln!(
        "planted bug: {} violations; first: {:?}",
        s.violations.len(),
        s.violations.first()
    );
    assert!(
        !s.violations.is_empty(),
        "the harness missed the planted bug"
    );
}
