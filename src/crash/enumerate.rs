//! Layer 2: crash-point enumeration on `SimFs` (docs/durability.md §3.5), after Pebble's
//! `TestDBCompactionCrash` and CrashMonkey.
//!
//! 1. A dry run of the seeded workload counts its N mutating file operations and notes
//!    which were syncs.
//! 2. For k = 1, then k += 1..=stride, and for every sync (CrashMonkey's persistence
//!    points): run the workload again on a fresh `SimFs` whose power fails right after
//!    operation k; build one crash image per mode; reopen each and check it against the
//!    oracle, then check that writes make progress.
//! 3. For a share of the images, crash again at a random operation *during* recovery,
//!    reopen that image and check again (INV-20).
//!
//! Flushes and compactions run inline (`Options::inline_background`), so every run is
//! deterministic and a violation reproduces from the seed and crash point it prints.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::{generate, probe_liveness, run_workload, verify, Oracle, WorkloadSpec};
use crate::db::Db;
use crate::error::Error;
use crate::fs::sim::{CrashMode, OpKind, SimFs, SimRng};
use crate::fs::FileSystem as _;
use crate::options::Options;

/// Where the simulated database lives.
pub const DB_DIR: &str = "/db";

/// What to enumerate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumerateConfig {
    /// The workload.
    pub spec: WorkloadSpec,
    /// Crash points advance by 1 to `stride` operations.
    pub stride: u64,
    /// Crash image modes to build at every crash point.
    pub modes: Vec<CrashMode>,
    /// One image in this many also gets a crash during its recovery (0: never).
    pub double_crash_every: u64,
    /// Stop after this many crash points (0: no limit).
    pub max_points: usize,
    /// Where to write a repro directory for each failing image (`None`: nowhere).
    pub repro_dir: Option<std::path::PathBuf>,
}

/// Figures of a run (docs/durability.md §3.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Mutating file operations of the workload (dry run).
    pub workload_fs_ops: u64,
    /// File operations of the dry run by kind.
    pub op_counts: BTreeMap<OpKind, u64>,
    /// Crash points run.
    pub crash_points: u64,
    /// Crash images built and checked, by mode.
    pub images: BTreeMap<&'static str, u64>,
    /// Recoveries that opened.
    pub recoveries_ok: u64,
    /// Images crashed again during their recovery.
    pub double_crashes: u64,
    /// Images on which an acknowledged, unsynced write was (legally) lost.
    pub lost_unsynced: u64,
    /// Acknowledged writes over all runs, and of those synced.
    pub acked_writes: u64,
    /// Synced acknowledged writes over all runs.
    pub synced_writes: u64,
    /// Durable images whose newest non-empty WAL was then removed, and of those, the
    /// ones whose open refused with `Corruption` naming it (the rest opened and must
    /// still hold every synced write).
    pub wal_removed: (u64, u64),
    /// Violations, each with its invariant ID, crash point and mode.
    pub violations: Vec<String>,
}

impl Summary {
    /// Every image checked.
    pub fn total_images(&self) -> u64 {
        self.images.values().sum()
    }
}

/// Options that make flushes and compactions happen after a few kilobytes, inline.
pub fn sim_options(fs: &SimFs) -> Options {
    Options::default()
        .file_system(Arc::new(fs.clone()))
        .inline_background(true)
        .write_buffer_size(4096)
        .block_size(512)
        .target_file_size(4096)
        .max_bytes_for_level_base(8192)
        .max_bytes_for_level_multiplier(4)
        .level0_file_num_compaction_trigger(2)
        .level0_slowdown_writes_trigger(8)
        .level0_stop_writes_trigger(12)
        .block_cache_size(1 << 20)
        .mmap_reads(false)
        // Small, so the workload rolls the MANIFEST over and crash points land inside.
        .max_manifest_file_size(4096)
}

fn fresh_fs() -> SimFs {
    let fs = SimFs::new();
    // Step 0 of every run: the directory exists, durably.
    let _ = fs.create_dir_all(Path::new(DB_DIR));
    fs
}

/// Runs the workload once on `fs` (which may be set to crash). Returns the oracle and a
/// violation if a read disagreed with the model during the run.
fn run_once(fs: &SimFs, spec: &WorkloadSpec, ops: &[super::Op]) -> (Oracle, Option<String>) {
    let mut oracle = Oracle::default();
    let Ok(db) = Db::open(DB_DIR, sim_options(fs)) else { return (oracle, None) };
    let bad = run_workload(&db, ops, &mut oracle).err();
    let _ = spec;
    drop(db);
    (oracle, bad)
}

/// Opens `img`, checks it, and checks that writes make progress. Appends violations.
fn check_image(
    img: &SimFs,
    oracle: &Oracle,
    keys: u32,
    keeps_unsynced: bool,
    what: &str,
    s: &mut Summary,
) -> Option<u64> {
    let db = match Db::open(DB_DIR, sim_options(img)) {
        Ok(db) => db,
        Err(e) => {
            s.violations.push(format!("INV-20 open failed on a legal crash image: {e} ({what})"));
            return None;
        }
    };
    let recovery_ops = img.ops();
    s.recoveries_ok += 1;
    match verify(&db, oracle, keys, keeps_unsynced) {
        Ok((found, lost)) => {
            s.lost_unsynced += u64::from(lost);
            s.violations.extend(found.into_iter().map(|v| format!("{v} ({what})")));
        }
        Err(e) => s.violations.push(format!("INV-08 reading the recovered database failed: {e} ({what})")),
    }
    if let Err(e) = probe_liveness(&db) {
        s.violations.push(format!("INV-23 no write progress after recovery: {e} ({what})"));
    }
    Some(recovery_ops)
}

/// Removes the newest non-empty WAL of `img`, then opens it: a refusal must name that WAL
/// (or the MANIFEST), and a successful open must hold every synced write.
fn check_wal_removed(img: &SimFs, oracle: &Oracle, keys: u32, what: &str, s: &mut Summary) {
    let dir = Path::new(DB_DIR);
    let Ok(names) = img.list(dir) else { return };
    let mut wals: Vec<(u64, String)> = names
        .iter()
        .filter_map(|n| match crate::filename::parse_file_name(n) {
            Some(crate::filename::FileType::Wal(w)) => Some((w, n.clone())),
            _ => None,
        })
        .filter(|(_, n)| img.open(&dir.join(n)).is_ok_and(|f| f.size() > 0))
        .collect();
    wals.sort();
    let Some((_, victim)) = wals.pop() else { return };
    let victim = dir.join(victim);
    if img.remove(&victim).is_err() {
        return;
    }
    s.wal_removed.0 += 1;
    *s.images.entry("wal-removed").or_insert(0) += 1;
    match Db::open(DB_DIR, sim_options(img)) {
        Err(Error::Corruption { file, .. })
            if file == victim
                || file.file_name().is_some_and(|n| n.to_string_lossy().starts_with("MANIFEST-")) =>
        {
            s.wal_removed.1 += 1;
        }
        Err(e) => {
            s.violations.push(format!("INV-20 open without a WAL failed without naming it: {e} ({what})"))
        }
        Ok(db) => match verify(&db, oracle, keys, false) {
            Ok((found, _)) => s.violations.extend(found.into_iter().map(|v| format!("{v} ({what})"))),
            Err(e) => {
                s.violations.push(format!("INV-08 reading the recovered database failed: {e} ({what})"))
            }
        },
    }
}

/// Runs the enumeration; `progress(done, total)` is called after each crash point.
pub fn run(cfg: &EnumerateConfig, progress: &mut dyn FnMut(u64, u64)) -> Summary {
    let ops = generate(&cfg.spec);
    let mut s = Summary::default();
    // 1. The dry run.
    let dry = fresh_fs();
    let base = dry.ops();
    let (oracle, bad) = run_once(&dry, &cfg.spec, &ops);
    if let Some(b) = bad {
        s.violations.push(format!("{b} (dry run)"));
    }
    let _ = oracle;
    let n = dry.ops();
    s.workload_fs_ops = n - base;
    s.op_counts = dry.op_counts();
    // 2. The crash points.
    let mut rng = SimRng::new(cfg.spec.seed ^ 0x00c4_a54b);
    let mut points = Vec::new();
    let mut k = base + 1;
    while k <= n {
        points.push(k);
        k += 1 + rng.below(cfg.stride.max(1));
    }
    points.extend(dry.sync_ops().into_iter().filter(|&p| p > base));
    points.sort_unstable();
    points.dedup();
    if cfg.max_points > 0 && points.len() > cfg.max_points {
        let step = points.len().div_ceil(cfg.max_points);
        points = points.into_iter().step_by(step).collect();
    }
    let total = points.len() as u64;
    for (i, &k) in points.iter().enumerate() {
        let fs = fresh_fs();
        fs.crash_after(k);
        let (oracle, bad) = run_once(&fs, &cfg.spec, &ops);
        let (acked, synced) = oracle.acked_counts();
        s.acked_writes += acked;
        s.synced_writes += synced;
        if let Some(b) = bad {
            s.violations.push(format!("{b} (seed {:#x}, crash after op {k}, during the run)", cfg.spec.seed));
        }
        for (mi, &mode) in cfg.modes.iter().enumerate() {
            let image_seed = cfg.spec.seed ^ (k << 8) ^ mi as u64;
            let img = fs.crash_image(mode, &mut SimRng::new(image_seed));
            *s.images.entry(mode.name()).or_insert(0) += 1;
            let what = format!("seed {:#x}, crash after op {k}, image {}", cfg.spec.seed, mode.name());
            let before = s.violations.len();
            let recovery_ops =
                check_image(&img, &oracle, cfg.spec.keys, mode.keeps_unsynced(), &what, &mut s);
            if s.violations.len() > before {
                if let Some(root) = &cfg.repro_dir {
                    let dir = root.join(format!("{:x}-{k}-{}", cfg.spec.seed, mode.name()));
                    // The image as the crash left it, before recovery touched it.
                    let pristine = fs.crash_image(mode, &mut SimRng::new(image_seed));
                    let found = s.violations[before..].to_vec();
                    if let Err(e) = write_repro(&dir, cfg, k, mode, image_seed, &ops, &found, &pristine) {
                        s.violations.push(format!("REPRO could not write {}: {e}", dir.display()));
                    }
                }
            }
            // 3. A crash during recovery of the same image, then recovery again.
            if let Some(r) = recovery_ops.filter(|&r| r > 0) {
                if cfg.double_crash_every > 0 && (k + mi as u64).is_multiple_of(cfg.double_crash_every) {
                    let again = fs.crash_image(mode, &mut SimRng::new(image_seed));
                    let mut r2 = SimRng::new(image_seed ^ 0xdd);
                    again.crash_after(again.ops() + 1 + r2.below(r));
                    drop(Db::open(DB_DIR, sim_options(&again)));
                    let img2 = again.crash_image(CrashMode::Durable, &mut r2);
                    s.double_crashes += 1;
                    let what2 = format!("{what}, crashed again during recovery");
                    check_image(&img2, &oracle, cfg.spec.keys, false, &what2, &mut s);
                }
            }
        }
        // 4. Every third point: a durable image that then loses its newest non-empty WAL
        //    (an operator's mistake, a faulty disk). Open must refuse naming it, or open
        //    with every synced write: the MANIFEST tracks live WALs.
        if k.is_multiple_of(3) {
            let img = fs.crash_image(CrashMode::Durable, &mut SimRng::new(cfg.spec.seed ^ (k << 8) ^ 0x77));
            let what =
                format!("seed {:#x}, crash after op {k}, image durable, newest WAL removed", cfg.spec.seed);
            check_wal_removed(&img, &oracle, cfg.spec.keys, &what, &mut s);
        }
        s.crash_points += 1;
        progress(i as u64 + 1, total);
    }
    s
}

/// Writes a repro directory: the workload, the options, the crash point and image mode,
/// the violations, and the crash image as real files (openable with `shale`).
#[expect(clippy::too_many_arguments, reason = "everything a repro needs")]
fn write_repro(
    dir: &Path,
    cfg: &EnumerateConfig,
    k: u64,
    mode: CrashMode,
    image_seed: u64,
    ops: &[super::Op],
    violations: &[String],
    image: &SimFs,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let ops_text: String = ops.iter().enumerate().map(|(i, op)| format!("{} {op:?}\n", i + 1)).collect();
    std::fs::write(dir.join("ops.txt"), ops_text)?;
    std::fs::write(dir.join("options.txt"), format!("{:#?}\n", sim_options(&SimFs::new())))?;
    std::fs::write(
        dir.join("crash.txt"),
        format!(
            "seed {:#x}\nworkload {:?}\ncrash after file operation {k}\nimage mode {}\nimage seed {image_seed:#x}\n\n{}\n",
            cfg.spec.seed,
            cfg.spec,
            mode.name(),
            violations.join("\n")
        ),
    )?;
    image.export_to(&dir.join("image"))
}
