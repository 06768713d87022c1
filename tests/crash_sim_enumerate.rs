//! Layer 2 of the crash harness, a CI-sized run: a seeded workload on `SimFs`, crashed
//! after every few file operations and after every sync, every crash image mode reopened
//! and checked against the oracle, some crashed again during recovery. Zero violations, and
//! the run must have lost some unsynced write (or it tested nothing: HARNESS-NOLOSS).
//!
//! `SHALE_CRASH_OPS` raises the workload size for long runs.

use shaledb::crash::enumerate::{run, EnumerateConfig};
use shaledb::crash::WorkloadSpec;
use shaledb::fs::sim::CrashMode;

#[test]
fn enumerated_crash_images_recover_correctly() {
    let ops = std::env::var("SHALE_CRASH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let cfg = EnumerateConfig {
        spec: WorkloadSpec {
            seed: 0x5eed_1234,
            ops,
            keys: 40,
        },
        stride: 4,
        modes: CrashMode::ALL.to_vec(),
        double_crash_every: 5,
        max_points: 0,
        repro_dir: None,
    };
    let s = run(&cfg, &mut |_, _| {});
    eprintln!("{s:?}");
    assert!(
        s.violations.is_empty(),
        "{} violations, first: {}",
        s.violations.len(),
        s.violations[0]
    );
    assert!(s.crash_points > 50, "{} crash points", s.crash_points);
    assert!(s.double_crashes > 0);
    assert!(
        s.lost_unsynced > 0,
        "HARNESS-NOLOSS: no image lost an unsynced write"
    );
}
