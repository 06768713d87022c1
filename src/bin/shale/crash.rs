//! `shale crash`: the crash-recovery harness (docs/durability.md §3).
//!
//! - `enumerate`: layer 2, simulated power loss on `SimFs` at every few file operations and
//!   after every sync, each crash image reopened and checked against the oracle.
//! - `kill-loop`: layer 1, real processes: a driver starts `shale crash worker` processes
//!   that run a seeded multi-threaded mix of writes and reads on `--db`, SIGKILLs each at a
//!   random moment (one in ten during open and recovery), then reopens the database and
//!   checks it against the oracle the workers kept outside the database directory. One
//!   cycle in twenty runs `shale compact` under the same kill schedule instead, and one in
//!   fifty lets the worker close cleanly.
//!
//! The oracle of layer 1 is `ops.log`: before each write a worker appends an intent line
//! (`I op_id key:op_or_- ...`), after the acknowledgement a commit line
//! (`C op_id first_seq last_seq sync`), each with one unbuffered `write` so it survives the
//! kill. Both modes end with a summary block and one JSON line, and exit non-zero on any
//! violation; `enumerate` also on HARNESS-NOLOSS.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::CliResult;
use crate::output::out;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shaledb::crash::enumerate::{run, EnumerateConfig};
use shaledb::crash::{key_bytes, make_value, probe_liveness, verify, Commit, Item, Oracle, WorkloadSpec};
use shaledb::fs::sim::CrashMode;
use shaledb::{Db, Options, WriteBatch, WriteOptions};

/// `shale crash` subcommands.
#[derive(Subcommand, Debug)]
pub enum CrashCmd {
    /// Layer 2: enumerate simulated power-loss crash points of a seeded workload.
    Enumerate(EnumerateArgs),
    /// Layer 1: SIGKILL worker processes on --db in a loop and verify every recovery.
    KillLoop(KillLoopArgs),
    /// One worker process of the kill loop (started by `kill-loop`).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// Options of `shale crash enumerate`.
#[derive(Args, Debug)]
pub struct EnumerateArgs {
    /// Seed of the workload and of every crash image (decimal or 0x-hex).
    #[arg(long, default_value = "0x5eed1234", value_parser = parse_seed)]
    seed: u64,
    /// Operations in the workload.
    #[arg(long, default_value_t = 300)]
    ops: usize,
    /// Keys the workload writes.
    #[arg(long, default_value_t = 64)]
    keys: u32,
    /// Crash points advance by 1 to this many file operations (plus every sync).
    #[arg(long, default_value_t = 3)]
    stride: u64,
    /// One image in this many is crashed again during its recovery.
    #[arg(long, default_value_t = 5)]
    double_every: u64,
    /// Run this many seeds, from --seed upward.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Where each violation's repro directory goes (ops, options, crash point, image).
    #[arg(long, default_value = "repro")]
    repro: PathBuf,
}

/// Options of `shale crash kill-loop`.
#[derive(Args, Debug)]
pub struct KillLoopArgs {
    /// Seed of the kill schedule and the workers (decimal or 0x-hex).
    #[arg(long, default_value = "0x5eed1234", value_parser = parse_seed)]
    seed: u64,
    /// How long to run, e.g. `120s` or `10m`.
    #[arg(long, default_value = "120s")]
    duration: String,
    /// The oracle directory (default: a sibling of --db named `<db>.oracle`).
    #[arg(long)]
    oracle: Option<PathBuf>,
}

/// Options of `shale crash worker`.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[arg(long)]
    oracle: PathBuf,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    cycle: u64,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Close cleanly after this many operations.
    #[arg(long)]
    clean_after: Option<u64>,
}

const KEYS: u32 = 1_000;

/// A seed in decimal or `0x` hexadecimal, as the summaries print it.
fn parse_seed(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("bad seed {s:?}: {e}"))
}

pub fn crash(db: Option<&Path>, cmd: &CrashCmd) -> CliResult<()> {
    match cmd {
        CrashCmd::Enumerate(a) => enumerate(a),
        CrashCmd::KillLoop(a) => kill_loop(db.ok_or("kill-loop needs --db DIR")?, a),
        CrashCmd::Worker(a) => worker(db.ok_or("worker needs --db DIR")?, a),
    }
}

fn enumerate(a: &EnumerateArgs) -> CliResult<()> {
    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let mut total = shaledb::crash::enumerate::Summary::default();
    for seed in a.seed..a.seed + a.seeds.max(1) {
        let cfg = EnumerateConfig {
            spec: WorkloadSpec { seed, ops: a.ops, keys: a.keys },
            stride: a.stride,
            modes: CrashMode::ALL.to_vec(),
            double_crash_every: a.double_every,
            max_points: 0,
            repro_dir: Some(a.repro.clone()),
        };
        let s = run(&cfg, &mut |done, n| {
            bar.set_length(n);
            bar.set_position(done);
        });
        total.workload_fs_ops += s.workload_fs_ops;
        for (k, v) in s.op_counts {
            *total.op_counts.entry(k).or_insert(0) += v;
        }
        total.crash_points += s.crash_points;
        for (k, v) in s.images {
            *total.images.entry(k).or_insert(0) += v;
        }
        total.recoveries_ok += s.recoveries_ok;
        total.double_crashes += s.double_crashes;
        total.lost_unsynced += s.lost_unsynced;
        total.acked_writes += s.acked_writes;
        total.synced_writes += s.synced_writes;
        total.wal_removed.0 += s.wal_removed.0;
        total.wal_removed.1 += s.wal_removed.1;
        total.violations.extend(s.violations);
    }
    bar.finish_and_clear();
    let s = total;
    let noloss = s.lost_unsynced == 0;
    let mut by_inv: BTreeMap<String, u64> = BTreeMap::new();
    for v in &s.violations {
        *by_inv.entry(v.split_whitespace().next().unwrap_or("?").to_owned()).or_insert(0) += 1;
    }
    let images: Vec<String> = s.images.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let ops: Vec<String> = s.op_counts.iter().map(|(k, v)| format!("{k:?} {v}")).collect();
    let mut text = format!(
        "shale-crash summary  seed={:#x}  mode=enumerate  seeds={}  duration={:.1}s\n\
         \x20 workload .............. {} ops x {} seeds, {} file operations per run ({})\n\
         \x20 crash points .......... {}\n\
         \x20 crash images .......... {} ({})\n\
         \x20 recoveries ............ {} ok, double crashes {}\n\
         \x20 writes acked .......... {} (synced {}), images that lost an unsynced write {}\n\
         \x20 WAL removed ........... {} images, {} refused naming it, the rest kept every synced write\n\
         \x20 VIOLATIONS ............ {}\n",
        a.seed,
        a.seeds.max(1),
        started.elapsed().as_secs_f64(),
        a.ops,
        a.seeds.max(1),
        s.workload_fs_ops / a.seeds.max(1),
        ops.join(", "),
        s.crash_points,
        s.total_images(),
        images.join(", "),
        s.recoveries_ok,
        s.double_crashes,
        s.acked_writes,
        s.synced_writes,
        s.lost_unsynced,
        s.wal_removed.0,
        s.wal_removed.1,
        s.violations.len(),
    );
    for v in s.violations.iter().take(20) {
        text.push_str(&format!("VIOLATION {v}\n"));
    }
    if !s.violations.is_empty() {
        text.push_str(&format!("repro directories under {}/\n", a.repro.display()));
    }
    if noloss {
        text.push_str("HARNESS-NOLOSS: no image lost an unsynced write; the run tested nothing\n");
    }
    let line = json!({
        "seed": format!("{:#x}", a.seed), "mode": "enumerate", "crash_points": s.crash_points,
        "images": s.total_images(), "recoveries": s.recoveries_ok, "double_crashes": s.double_crashes,
        "ops_acked": s.acked_writes, "lost_unsynced": s.lost_unsynced,
        "wal_removed": s.wal_removed.0, "wal_removed_refused": s.wal_removed.1, "violations": by_inv,
    });
    out(&format!("{text}{line}\n"))?;
    if !s.violations.is_empty() {
        return Err(format!("{} violations", s.violations.len()).into());
    }
    if noloss {
        return Err("HARNESS-NOLOSS: the run lost no unsynced write, so it tested nothing".into());
    }
    Ok(())
}

/// Reads the ops log (a missing one is an empty oracle).
fn read_oracle(path: &Path) -> Oracle {
    Oracle::parse_log(&std::fs::read_to_string(path).unwrap_or_default())
}

/// Checks the database in `dir` against the ops log with the harness's one oracle
/// (`shaledb::crash::verify`), then probes liveness, recording the probe in the log so its
/// sequence number is accounted for. Returns the violations and the keys checked.
fn verify_dir(dir: &Path, oracle: &Oracle, log: &Path, cycle: u64) -> (Vec<String>, u64) {
    let db = match Db::open(dir, Options::default()) {
        Ok(db) => db,
        Err(e) => return (vec![format!("INV-20 open failed after a kill: {e}")], 0),
    };
    let mut v = match verify(&db, oracle, KEYS, true) {
        Ok((found, _)) => found,
        Err(e) => vec![format!("INV-08 reading the recovered database failed: {e}")],
    };
    match probe_liveness(&db) {
        Ok(seq) => {
            let line = Oracle::commit_line(liveness_op(cycle), Commit { first: seq, last: seq, sync: true });
            let appended = OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(e) = appended {
                v.push(format!("HARNESS cannot append to the ops log: {e}"));
            }
        }
        Err(e) => v.push(format!("INV-23 no write progress after recovery: {e}")),
    }
    (v, u64::from(KEYS))
}

/// The op id of cycle `cycle`'s liveness probe: outside every worker's op ids
/// (`cycle << 32 | n` with `n` far below `u32::MAX`).
fn liveness_op(cycle: u64) -> u64 {
    (cycle << 32) | u64::from(u32::MAX)
}

fn kill_loop(dir: &Path, a: &KillLoopArgs) -> CliResult<()> {
    let duration = crate::codec::parse_duration(&a.duration)?;
    let oracle_dir = a.oracle.clone().unwrap_or_else(|| dir.with_extension("oracle"));
    std::fs::create_dir_all(&oracle_dir)?;
    let log = oracle_dir.join("ops.log");
    let exe = std::env::current_exe()?;
    let mut rng = SmallRng::seed_from_u64(a.seed);
    let started = Instant::now();
    let (mut cycles, mut kills, mut during_open, mut offline, mut clean, mut recoveries) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut violations: Vec<String> = Vec::new();
    let mut verified = 0u64;
    let mut recovery_ms: Vec<f64> = Vec::new();
    let bar = ProgressBar::with_draw_target(Some(duration.as_secs()), ProgressDrawTarget::stderr());
    while started.elapsed() < duration && violations.is_empty() {
        cycles += 1;
        let roll = rng.random_range(0..100);
        let mut cmd = Command::new(&exe);
        cmd.arg("--db").arg(dir).stdout(Stdio::null()).stderr(Stdio::null());
        let asked_clean = roll < 2;
        let is_offline = (2..7).contains(&roll);
        if is_offline {
            cmd.arg("compact");
            offline += 1;
        } else {
            cmd.args(["crash", "worker", "--seed"])
                .arg(a.seed.to_string())
                .arg("--cycle")
                .arg(cycles.to_string())
                .arg("--threads")
                .arg(rng.random_range(1..=4).to_string())
                .arg("--oracle")
                .arg(&log);
            if asked_clean {
                cmd.arg("--clean-after").arg("2000");
                clean += 1;
            }
        }
        let delay = if rng.random_range(0..10) == 0 {
            if !asked_clean {
                during_open += 1;
            }
            Duration::from_millis(rng.random_range(0..50))
        } else {
            Duration::from_millis(rng.random_range(50..1500))
        };
        let mut child = cmd.spawn()?;
        if asked_clean {
            let status = child.wait()?;
            if !status.success() {
                violations.push(format!("worker asked to close cleanly failed: {status}"));
            }
        } else {
            std::thread::sleep(delay);
            let exited = child.try_wait()?;
            if let Some(status) = exited {
                if !is_offline || !status.success() {
                    violations.push(format!(
                        "cycle {cycles}: the child exited on its own before the kill: {status}"
                    ));
                }
            } else {
                child.kill()?;
                kills += 1;
            }
            child.wait()?;
        }
        let t = Instant::now();
        let oracle = read_oracle(&log);
        let (found, checked) = verify_dir(dir, &oracle, &log, cycles);
        recovery_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        recoveries += 1;
        verified += checked;
        violations.extend(found.into_iter().map(|v| format!("{v} (cycle {cycles}, seed {:#x})", a.seed)));
        bar.set_position(started.elapsed().as_secs());
    }
    bar.finish_and_clear();
    let oracle = read_oracle(&log);
    let (acked, synced) = oracle.acked_counts();
    recovery_ms.sort_by(f64::total_cmp);
    let pct =
        |p: f64| recovery_ms.get(((recovery_ms.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0.0);
    let mut text = format!(
        "shale-crash summary  seed={:#x}  mode=kill-loop  duration={:.1}s\n\
         \x20 cycles run ............ {cycles}  (offline-tool {offline}, clean-shutdown {clean})\n\
         \x20 kills ................. {kills}  (during open or recovery {during_open})\n\
         \x20 recoveries ............ {recoveries} verified   p50 {:.0}ms  p99 {:.0}ms  max {:.0}ms\n\
         \x20 ops acked ............. {acked}  (sync {synced}); pending at a kill {}\n\
         \x20 key checks ............ {verified}\n\
         \x20 VIOLATIONS ............ {}\n",
        a.seed,
        started.elapsed().as_secs_f64(),
        pct(0.5),
        pct(0.99),
        recovery_ms.last().copied().unwrap_or(0.0),
        oracle.pending().count(),
        violations.len()
    );
    for v in &violations {
        text.push_str(&format!("VIOLATION {v}\n"));
    }
    let line = json!({"seed": format!("{:#x}", a.seed), "mode": "kill-loop", "cycles": cycles, "kills": kills,
        "ops_acked": acked, "verified": verified, "violations": violations});
    out(&format!("{text}{line}\n"))?;
    if !violations.is_empty() {
        return Err(format!("{} violations", violations.len()).into());
    }
    Ok(())
}

fn worker(dir: &Path, a: &WorkerArgs) -> CliResult<()> {
    let mut rng = SmallRng::seed_from_u64(a.seed ^ a.cycle.wrapping_mul(0x9e37_79b9));
    let opts = Options::default()
        .write_buffer_size(rng.random_range(64 << 10..=1 << 20))
        .target_file_size(rng.random_range(64 << 10..=1 << 20))
        .max_bytes_for_level_base(1 << 20)
        .level0_file_num_compaction_trigger(rng.random_range(2..=8))
        .level0_slowdown_writes_trigger(12)
        .level0_stop_writes_trigger(20)
        .block_size(rng.random_range(1 << 10..=16 << 10))
        .block_restart_interval(rng.random_range(1..=16))
        .bits_per_key(rng.random_range(0..=20))
        // Small, so kills also land during MANIFEST rollovers.
        .max_manifest_file_size(rng.random_range(4 << 10..=64 << 10));
    // One cycle in three buffers WAL records until `flush_wal` (manual_wal_flush): a
    // write is then acknowledged (its commit line logged) only once a flush_wal, a sync
    // write or a memtable switch after it has returned.
    let manual_wal_flush = rng.random_range(0..3) == 0;
    // Half the cycles give memtables a key filter (answers must not change).
    let bloom = if rng.random_range(0..2) == 0 { 0.0 } else { 0.02 };
    // WAL writeback from off to every 4 KiB, so kills also land during background syncs.
    let writeback = [0, 4 << 10, 64 << 10, 1 << 20][rng.random_range(0..4)];
    let opts = opts
        .manual_wal_flush(manual_wal_flush)
        .memtable_bloom_size_ratio(bloom)
        .wal_bytes_per_sync(writeback);
    let db = Db::open(dir, opts)?;
    let log = OpenOptions::new().create(true).append(true).open(&a.oracle)?;
    let next = AtomicU64::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..a.threads.max(1) {
            let (db, log, next, failed) = (&db, &log, &next, &failed);
            s.spawn(move || {
                let mut rng = SmallRng::seed_from_u64(a.seed ^ (a.cycle << 8) ^ t as u64);
                // Commit lines of this thread's writes not yet known to be flushed.
                let mut unflushed = String::new();
                let ack = |unflushed: &mut String, db: &Db| -> bool {
                    if unflushed.is_empty() {
                        return true;
                    }
                    let mut w = log;
                    let ok = db.flush_wal(false).is_ok() && w.write_all(unflushed.as_bytes()).is_ok();
                    unflushed.clear();
                    ok
                };
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if a.clean_after.is_some_and(|c| n >= c) || failed.load(Ordering::Relaxed) {
                        if !ack(&mut unflushed, db) {
                            failed.store(true, Ordering::Relaxed);
                        }
                        return;
                    }
                    let op_id = (a.cycle << 32) | n;
                    let roll = rng.random_range(0..100);
                    let sync = rng.random_range(0..20) == 0;
                    let len = |rng: &mut SmallRng| {
                        if rng.random_range(0..20) == 0 {
                            32 << 10
                        } else {
                            rng.random_range(0..512)
                        }
                    };
                    let mut batch = WriteBatch::new();
                    let mut items: Vec<Item> = Vec::new();
                    let mut txn_plan = None;
                    match roll {
                        0..=39 => {
                            let k = rng.random_range(0..KEYS);
                            let l = len(&mut rng);
                            // One put in five carries a TTL the run never reaches.
                            if rng.random_range(0..5) == 0 {
                                let ttl = Duration::from_secs(3600);
                                batch.put_with_ttl(key_bytes(k), make_value(k, op_id, l), ttl);
                            } else {
                                batch.put(key_bytes(k), make_value(k, op_id, l));
                            }
                            items.push(Item::Put(k));
                        }
                        40..=45 => {
                            let k = rng.random_range(0..KEYS);
                            batch.delete(key_bytes(k));
                            items.push(Item::Delete(k));
                        }
                        46..=47 => {
                            let from = rng.random_range(0..KEYS);
                            let to = from + rng.random_range(1..=8);
                            batch.delete_range(key_bytes(from), key_bytes(to));
                            items.push(Item::DeleteRange(from, to));
                        }
                        58..=62 => {
                            // A read-modify-write transaction over 1-4 keys, retried on
                            // conflict; its batch is in key order.
                            let keys: std::collections::BTreeSet<u32> =
                                (0..rng.random_range(1..=4)).map(|_| rng.random_range(0..KEYS)).collect();
                            let lens: Vec<u32> = keys.iter().map(|_| len(&mut rng)).collect();
                            items = keys.iter().map(|&k| Item::Put(k)).collect();
                            txn_plan = Some((keys, lens));
                        }
                        48..=57 => {
                            for _ in 0..rng.random_range(2..=16) {
                                let k = rng.random_range(0..KEYS);
                                if rng.random_range(0..5) == 0 {
                                    batch.delete(key_bytes(k));
                                    items.push(Item::Delete(k));
                                } else {
                                    let l = len(&mut rng);
                                    batch.put(key_bytes(k), make_value(k, op_id, l));
                                    items.push(Item::Put(k));
                                }
                            }
                        }
                        63..=87 => {
                            let _ = db.get(key_bytes(rng.random_range(0..KEYS)));
                            continue;
                        }
                        88..=97 => {
                            let _ =
                                db.range(key_bytes(rng.random_range(0..KEYS)).as_slice()..).take(20).count();
                            continue;
                        }
                        _ => {
                            let _ = db.flush();
                            continue;
                        }
                    }
                    let mut w = log;
                    if w.write_all(Oracle::intent_line(op_id, &items).as_bytes()).is_err() {
                        failed.store(true, Ordering::Relaxed);
                        return;
                    }
                    // A transaction's commit takes one sequence number for all its items.
                    let n_ops = if txn_plan.is_some() { 1 } else { items.len() as u64 };
                    let result = match txn_plan.take() {
                        Some((keys, lens)) => match commit_txn(db, &keys, &lens, op_id, sync) {
                            Ok(Some(last)) => Ok(last),
                            // Gave up after conflicts: the intent stays pending, which the
                            // oracle allows (nothing of it was written).
                            Ok(None) => continue,
                            Err(e) => Err(e),
                        },
                        None => db.write_opt(batch, &WriteOptions { sync }),
                    };
                    match result {
                        Ok(last) => {
                            let line =
                                Oracle::commit_line(op_id, Commit { first: last + 1 - n_ops, last, sync });
                            if manual_wal_flush && !sync {
                                // Acknowledged only after a flush: every fourth write, or
                                // when eight are waiting, this thread flushes and logs them.
                                unflushed.push_str(&line);
                                if (rng.random_range(0..4) == 0 || unflushed.len() > 8 * line.len())
                                    && !ack(&mut unflushed, db)
                                {
                                    failed.store(true, Ordering::Relaxed);
                                    return;
                                }
                                continue;
                            }
                            // A sync write flushed every record appended before it, this
                            // thread's buffered ones included: they are acknowledged too.
                            unflushed.push_str(&line);
                            let lines = std::mem::take(&mut unflushed);
                            if w.write_all(lines.as_bytes()).is_err() {
                                failed.store(true, Ordering::Relaxed);
                                return;
                            }
                        }
                        Err(_) => {
                            failed.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            });
        }
    });
    if failed.load(Ordering::Relaxed) {
        return Err("a write failed".into());
    }
    Ok(db.close()?)
}

/// Commits a read-modify-write transaction putting `keys` (values of `lens` bytes made
/// for `op_id`), retrying up to 8 times on conflict. `Ok(None)`: every attempt conflicted.
///
/// # Errors
/// The commit's error other than a conflict.
fn commit_txn(
    db: &Db,
    keys: &std::collections::BTreeSet<u32>,
    lens: &[u32],
    op_id: u64,
    sync: bool,
) -> shaledb::Result<Option<u64>> {
    let opts = shaledb::TransactionOptions { set_snapshot: true, sync };
    for _ in 0..8 {
        let mut txn = db.transaction_opt(&opts);
        for (&k, &l) in keys.iter().zip(lens) {
            txn.get_for_update(key_bytes(k))?;
            txn.put(key_bytes(k), make_value(k, op_id, l))?;
        }
        match txn.commit() {
            Err(shaledb::Error::Conflict { .. }) => {}
            r => return r.map(Some),
        }
    }
    Ok(None)
}
