//! `shale bench`: db_bench-style workloads on a fresh database (a temporary directory
//! unless `--db` is given). Keys are the decimal key number, zero-padded to `--key-size`;
//! values come from a seeded buffer that compresses to about half, like db_bench's.

use std::path::Path;
use std::time::Instant;

use crate::error::{CliError, CliResult};
use clap::Args;
use comfy_table::Table;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shaledb::{Db, Options};

/// Options of `shale bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Comma-separated workloads: fillseq, fillrandom, fillsync (random keys, every write
    /// fsynced; `--threads` writers), overwrite, deleteseq, deleterange (`--range-deletes` range tombstones of
    /// `--range-size` keys each, at random starts), flush, wait (until background
    /// compaction settles), compact,
    /// readrandom, readmissing, readseq, readreverse, seekrandom, multireadrandom,
    /// readwhilewriting, rmw (read-modify-write as a get then a plain put), txn (the same
    /// as an optimistic transaction: get_for_update, put, commit), txncontended
    /// (`--threads` threads each committing `--num` / threads transactions that increment
    /// one of `--hot-keys` counters, retrying on conflict; the note gives the retry rate).
    #[arg(long, default_value = "fillseq,fillrandom,overwrite,readrandom,readseq")]
    benchmarks: String,
    /// Reader threads of readwhilewriting (one more thread writes); writer threads of
    /// fillsync (each writes `--num` / threads synced puts, sharing fsyncs through group
    /// commit) and of txncontended.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Operations per workload.
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Operations of readrandom, readmissing, seekrandom and multireadrandom (their keys
    /// still drawn from all `--num`), as db_bench's `--reads`; default `--num`.
    #[arg(long)]
    reads: Option<u64>,
    /// Key size in bytes.
    #[arg(long, default_value_t = 16)]
    key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Seed of the key sequence and value bytes.
    #[arg(long, default_value_t = 301)]
    seed: u64,
    /// Write every fill and overwrite with this TTL (`put_with_ttl`, e.g. `1h`), to
    /// measure what expiry costs.
    #[arg(long, value_parser = crate::codec::parse_duration)]
    ttl: Option<std::time::Duration>,
    /// Range tombstones the deleterange workload writes.
    #[arg(long, default_value_t = 10_000)]
    range_deletes: u64,
    /// Keys each deleterange tombstone covers.
    #[arg(long, default_value_t = 10)]
    range_size: u64,
    /// Counters txncontended's transactions increment.
    #[arg(long, default_value_t = 16)]
    hot_keys: u64,
    /// Open the database with `HistoryRetention::Manual` (every version kept from the
    /// start), to measure what history costs in space (see the compact workload's note).
    #[arg(long)]
    history: bool,
    /// Time the write path's phases (`Options::write_phase_histograms`) and print their
    /// latency histograms over the whole run (queue, memtable switch and stalls, WAL
    /// append and sync, memtable insert): where a write's 99th percentile goes.
    #[arg(long)]
    write_phases: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

struct Outcome {
    name: String,
    /// Bytes this process wrote to storage during the workload over the user bytes it
    /// wrote (write workloads only), as BENCHMARKS.md defines write amplification.
    write_amp: Option<f64>,
    /// Time writes spent stalled, in milliseconds.
    stall_ms: f64,
    /// Most L0 tables seen (sampled every 4,096 operations).
    max_l0: usize,
    /// Block cache hits and misses during this workload.
    cache: (u64, u64),
    ops: u64,
    secs: f64,
    bytes: u64,
    note: String,
    /// Per-operation latency: p50, p99, p99.9 and max, in microseconds.
    latency: Option<[f64; 4]>,
}

/// Per-operation latencies of one workload, in nanoseconds (an HDR histogram, 3
/// significant digits).
struct Latency(hdrhistogram::Histogram<u64>);

impl Latency {
    fn new() -> Self {
        Latency(hdrhistogram::Histogram::new(3).expect("3 significant digits is valid"))
    }

    /// Runs `f`, recording how long it took.
    fn time<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let r = f();
        // The histogram resizes itself, so a record fails only past 2^63 ns.
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX >> 1);
        let _ = self.0.record(ns.min(u64::MAX >> 1));
        r
    }

    fn merge(&mut self, other: &Latency) {
        // Both histograms auto-resize, so adding cannot fail for range reasons.
        let _ = self.0.add(&other.0);
    }

    /// p50, p99, p99.9 and max in microseconds; `None` if nothing was recorded.
    fn summary(&self) -> Option<[f64; 4]> {
        if self.0.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some([
            us(self.0.value_at_quantile(0.5)),
            us(self.0.value_at_quantile(0.99)),
            us(self.0.value_at_quantile(0.999)),
            us(self.0.max()),
        ])
    }
}

/// The write phases' latencies as a table.
fn phase_table(phases: &[shaledb::PhaseLatency]) -> Table {
    let mut t = Table::new();
    t.set_header(["phase", "count", "mean", "p50", "p99", "p99.9", "max", "total ms"]);
    for p in phases {
        t.add_row([
            p.phase.to_owned(),
            p.count.to_string(),
            format!("{:.1}", p.mean_us),
            format!("{:.1}", p.p50_us),
            format!("{:.1}", p.p99_us),
            format!("{:.1}", p.p999_us),
            format!("{:.1}", p.max_us),
            format!("{:.0}", p.total_us / 1000.0),
        ]);
    }
    t
}

/// A buffer of value bytes: random runs repeated once, so LZ4 halves it.
fn value_source(seed: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let mut buf = Vec::with_capacity(1 << 20);
    while buf.len() < 1 << 20 {
        let run: Vec<u8> = (0..50).map(|_| rng.random_range(b' '..=b'~')).collect();
        buf.extend_from_slice(&run);
        buf.extend_from_slice(&run);
    }
    buf
}

struct Workload<'a> {
    a: &'a BenchArgs,
    values: Vec<u8>,
    value_pos: usize,
}

impl Workload<'_> {
    fn key(&self, i: u64) -> Vec<u8> {
        let s = format!("{i:0width$}", width = self.a.key_size);
        s.as_bytes()[s.len().saturating_sub(self.a.key_size)..].to_vec()
    }
    fn value(&mut self) -> &[u8] {
        let n = self.a.value_size;
        if self.value_pos + n > self.values.len() {
            self.value_pos = 0;
        }
        self.value_pos += n;
        &self.values[self.value_pos - n..self.value_pos]
    }
}

/// `threads` readers each do `num` random reads while one writer overwrites random keys
/// until they finish. Returns (reads that found a value, writes done).
fn read_while_writing(d: &Db, w: &Workload<'_>, a: &BenchArgs) -> CliResult<(u64, u64, Latency)> {
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let writer = s.spawn(|| -> CliResult<u64> {
            let mut rng = SmallRng::seed_from_u64(a.seed ^ 0x77);
            let mut writes = 0u64;
            let mut pos = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = w.key(rng.random_range(0..a.num));
                if pos + a.value_size > w.values.len() {
                    pos = 0;
                }
                d.put(&key, &w.values[pos..pos + a.value_size])?;
                pos += a.value_size;
                writes += 1;
            }
            Ok(writes)
        });
        let readers: Vec<_> = (0..a.threads.max(1))
            .map(|t| {
                s.spawn(move || -> CliResult<(u64, Latency)> {
                    let mut rng = SmallRng::seed_from_u64(a.seed.wrapping_add(1000 + t as u64));
                    let mut found = 0u64;
                    let mut lat = Latency::new();
                    for _ in 0..a.num {
                        let key = w.key(rng.random_range(0..a.num));
                        found += u64::from(lat.time(|| d.get(&key))?.is_some());
                    }
                    Ok((found, lat))
                })
            })
            .collect();
        let mut found = 0;
        let mut lat = Latency::new();
        let mut first_err = None;
        for r in readers {
            match r.join().map_err(|_| CliError::from("reader thread panicked")).and_then(|x| x) {
                Ok((f, l)) => {
                    found += f;
                    lat.merge(&l);
                }
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let writes = writer.join().map_err(|_| CliError::from("writer thread panicked"))??;
        first_err.map_or(Ok((found, writes, lat)), Err)
    })
}

/// `fillsync` with `a.threads` writers: each writes `a.num / a.threads` random keys, each
/// put its own batch with `sync: true`, so concurrent writers share fsyncs through group
/// commit. Returns (writes, their latencies).
fn synced_writers(d: &Db, w: &Workload<'_>, a: &BenchArgs) -> CliResult<(u64, Latency)> {
    let threads = a.threads.max(1);
    let per_thread = a.num / threads as u64;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> CliResult<Latency> {
                    let mut rng = SmallRng::seed_from_u64(a.seed.wrapping_add(3000 + t as u64));
                    let mut own =
                        Workload { a, values: w.values.clone(), value_pos: (t * 997) % w.values.len() };
                    let mut lat = Latency::new();
                    for _ in 0..per_thread {
                        let key = own.key(rng.random_range(0..a.num));
                        let value = own.value().to_vec();
                        lat.time(|| -> CliResult<()> {
                            let mut b = shaledb::WriteBatch::new();
                            b.put(&key, &value);
                            d.write_opt(b, &shaledb::WriteOptions { sync: true })?;
                            Ok(())
                        })?;
                    }
                    Ok(lat)
                })
            })
            .collect();
        let mut lat = Latency::new();
        for h in handles {
            lat.merge(&h.join().map_err(|_| CliError::from("writer thread panicked"))??);
        }
        Ok((per_thread * threads as u64, lat))
    })
}

/// `txncontended`: `a.threads` threads each commit `a.num / a.threads` increments of a
/// random one of `a.hot_keys` counters as optimistic transactions, retrying on conflict.
/// Returns (commits, conflicts retried).
fn contended_transactions(d: &Db, w: &Workload<'_>, a: &BenchArgs) -> CliResult<(u64, u64)> {
    let threads = a.threads.max(1);
    let per_thread = a.num / threads as u64;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> CliResult<u64> {
                    let mut rng = SmallRng::seed_from_u64(a.seed.wrapping_add(2000 + t as u64));
                    let mut retries = 0u64;
                    for _ in 0..per_thread {
                        let key = w.key(rng.random_range(0..a.hot_keys.max(1)));
                        loop {
                            let mut txn = d.transaction();
                            let n: u64 = txn
                                .get_for_update(&key)?
                                .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
                                .unwrap_or(0);
                            txn.put(&key, (n + 1).to_string())?;
                            match txn.commit() {
                                Ok(_) => break,
                                Err(shaledb::Error::Conflict { .. }) => retries += 1,
                                Err(e) => return Err(e.into()),
                            }
                        }
                    }
                    Ok(retries)
                })
            })
            .collect();
        let mut retries = 0;
        for h in handles {
            retries += h.join().map_err(|_| CliError::from("transaction thread panicked"))??;
        }
        Ok((per_thread * threads as u64, retries))
    })
}

/// `write_bytes` of /proc/self/io: bytes this process caused to be written to storage.
fn process_write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok())
}

/// Peak resident set size in KiB (VmHWM of /proc/self/status).
fn peak_rss_kib() -> Option<u64> {
    let st = std::fs::read_to_string("/proc/self/status").ok()?;
    st.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn hit_rate((hits, misses): (u64, u64)) -> String {
    if hits + misses == 0 {
        return "-".into();
    }
    format!("{:.1}%", 100.0 * hits as f64 / (hits + misses) as f64)
}

fn dir_usage(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(m) = e.metadata() {
                if m.is_file() {
                    files += 1;
                    bytes += m.len();
                }
            }
        }
    }
    (files, bytes)
}

pub fn run(a: &BenchArgs, db_dir: Option<&Path>, opts: Options) -> CliResult<()> {
    let opts = if a.history { opts.history_retention(shaledb::HistoryRetention::Manual) } else { opts };
    let opts = if a.write_phases { opts.write_phase_histograms(true) } else { opts };
    let tmp = tempfile::tempdir()?;
    let dir = db_dir.map_or_else(|| tmp.path().join("bench-db"), Path::to_path_buf);
    let mut w = Workload { a, values: value_source(a.seed), value_pos: 0 };
    let mut db: Option<Db> = None;
    let mut results = Vec::new();
    let entry_bytes = (a.key_size + a.value_size) as u64;
    for (position, name) in a.benchmarks.split(',').map(str::trim).filter(|s| !s.is_empty()).enumerate() {
        let fresh = matches!(name, "fillseq" | "fillrandom" | "fillsync");
        if fresh || db.is_none() {
            if let Some(d) = db.take() {
                d.close()?;
            }
            if fresh && dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
            db = Some(Db::open(&dir, opts.clone())?);
        }
        let d = db.as_ref().ok_or("no database")?;
        // Each workload draws its own key sequence (db_bench does the same), so that
        // readrandom does not replay the keys overwrite just wrote.
        let mut rng = SmallRng::seed_from_u64(a.seed.wrapping_add(position as u64));
        let reads = a.reads.unwrap_or(a.num);
        let ops = if matches!(name, "readrandom" | "readmissing" | "seekrandom" | "multireadrandom") {
            reads
        } else {
            a.num
        };
        eprintln!("running {name} ({ops} ops)...");
        let stats_before = d.stats();
        let cache_before = stats_before.block_cache;
        let written_before = process_write_bytes();
        let mut max_l0 = stats_before.levels[0].tables;
        let started = Instant::now();
        let mut note = String::new();
        let mut lat = Latency::new();
        let (ops, bytes) = match name {
            "fillsync" if a.threads > 1 => {
                let (n, l) = synced_writers(d, &w, a)?;
                lat.merge(&l);
                note = format!("{} writers, {:.2} writes per fsync", a.threads, {
                    let st = d.stats();
                    n as f64 / (st.wal_syncs - stats_before.wal_syncs).max(1) as f64
                });
                (n, n * entry_bytes)
            }
            "fillseq" | "fillrandom" | "overwrite" | "fillsync" => {
                let bar = indicatif::ProgressBar::with_draw_target(
                    Some(a.num),
                    indicatif::ProgressDrawTarget::stderr(),
                );
                for i in 0..a.num {
                    let k = if name == "fillseq" { i } else { rng.random_range(0..a.num) };
                    let key = w.key(k);
                    let value = w.value();
                    lat.time(|| -> CliResult<()> {
                        if name == "fillsync" {
                            let mut b = shaledb::WriteBatch::new();
                            b.put(&key, value);
                            d.write_opt(b, &shaledb::WriteOptions { sync: true })?;
                        } else if let Some(ttl) = a.ttl {
                            d.put_with_ttl(&key, value, ttl)?;
                        } else {
                            d.put(&key, value)?;
                        }
                        Ok(())
                    })?;
                    if i % 4096 == 4095 {
                        bar.inc(4096);
                        max_l0 = max_l0.max(d.stats().levels[0].tables);
                    }
                }
                bar.finish_and_clear();
                (a.num, a.num * entry_bytes)
            }
            "readrandom" => {
                let mut found = 0u64;
                for _ in 0..reads {
                    let key = w.key(rng.random_range(0..a.num));
                    found += u64::from(lat.time(|| d.get(&key))?.is_some());
                }
                note = format!("{found} of {reads} found");
                (reads, found * entry_bytes)
            }
            "readseq" | "readreverse" => {
                let mut n = 0u64;
                let mut bytes = 0u64;
                let it: Box<dyn Iterator<Item = shaledb::Result<_>>> =
                    if name == "readseq" { Box::new(d.iter()) } else { Box::new(d.iter().rev()) };
                for item in it {
                    let (k, v): (shaledb::Bytes, shaledb::Bytes) = item?;
                    n += 1;
                    bytes += (k.len() + v.len()) as u64;
                }
                (n, bytes)
            }
            "deleteseq" => {
                for i in 0..a.num {
                    let key = w.key(i);
                    lat.time(|| d.delete(&key))?;
                }
                (a.num, a.num * a.key_size as u64)
            }
            "deleterange" => {
                for _ in 0..a.range_deletes {
                    let start = rng.random_range(0..a.num);
                    d.delete_range(w.key(start), w.key(start + a.range_size))?;
                }
                note = format!("{} tombstones of {} keys each", a.range_deletes, a.range_size);
                (a.range_deletes, a.range_deletes * 2 * a.key_size as u64)
            }
            "flush" => {
                d.flush()?;
                (1, 0)
            }
            "wait" => {
                d.wait_for_compaction()?;
                (1, 0)
            }
            "compact" => {
                let before = dir_usage(&dir).1;
                d.compact_range(None, None)?;
                let after = dir_usage(&dir).1;
                note = format!("bytes on disk {before} -> {after}");
                (1, 0)
            }
            "readmissing" => {
                // Keys of the same length and range that were never written, as db_bench's
                // readmissing does by appending a '.'.
                let mut found = 0u64;
                for _ in 0..reads {
                    let mut key = w.key(rng.random_range(0..a.num));
                    if let Some(last) = key.last_mut() {
                        *last = b'.';
                    }
                    found += u64::from(lat.time(|| d.get(&key))?.is_some());
                }
                note = format!("{found} of {reads} found");
                (reads, 0)
            }
            "seekrandom" => {
                // A seek plus 10 nexts per operation.
                let mut it = d.raw_iterator();
                let mut bytes = 0u64;
                for _ in 0..reads {
                    let key = w.key(rng.random_range(0..a.num));
                    lat.time(|| {
                        it.seek(key);
                        for _ in 0..10 {
                            let Some(v) = it.value() else { break };
                            bytes += v.len() as u64 + a.key_size as u64;
                            it.next();
                        }
                    });
                }
                if let Some(e) = it.status() {
                    return Err(CliError::Failed(e.to_string()));
                }
                (reads, bytes)
            }
            "multireadrandom" => {
                let mut found = 0u64;
                let mut done = 0u64;
                while done < reads {
                    let n = (reads - done).min(100);
                    let keys: Vec<Vec<u8>> = (0..n).map(|_| w.key(rng.random_range(0..a.num))).collect();
                    for r in d.multi_get(&keys) {
                        found += u64::from(r?.is_some());
                    }
                    done += n;
                }
                note = format!("{found} of {reads} found, batches of 100");
                (reads, found * entry_bytes)
            }
            "rmw" | "txn" => {
                for _ in 0..a.num {
                    let key = w.key(rng.random_range(0..a.num));
                    let value = w.value();
                    lat.time(|| -> CliResult<()> {
                        if name == "txn" {
                            let mut t = d.transaction();
                            t.get_for_update(&key)?;
                            t.put(&key, value)?;
                            t.commit()?;
                        } else {
                            d.get(&key)?;
                            d.put(&key, value)?;
                        }
                        Ok(())
                    })?;
                }
                (a.num, a.num * entry_bytes)
            }
            "txncontended" => {
                let (commits, retries) = contended_transactions(d, &w, a)?;
                note = format!(
                    "{} threads on {} keys: {retries} conflicts retried, {:.3} retries per commit",
                    a.threads,
                    a.hot_keys,
                    retries as f64 / commits.max(1) as f64
                );
                (commits, commits * entry_bytes)
            }
            "readwhilewriting" => {
                let (found, writes, reads) = read_while_writing(d, &w, a)?;
                lat.merge(&reads);
                note = format!(
                    "{} readers: {found} of {} found; {writes} writes meanwhile",
                    a.threads,
                    a.num * a.threads as u64
                );
                (a.num * a.threads as u64, found * entry_bytes)
            }
            other => return Err(CliError::Usage(format!("unknown benchmark {other:?}"))),
        };
        let secs = started.elapsed().as_secs_f64();
        let after = d.stats();
        let c = after.block_cache;
        let cache = (c.hits - cache_before.hits, c.misses - cache_before.misses);
        let is_write =
            matches!(name, "fillseq" | "fillrandom" | "overwrite" | "deleteseq" | "fillsync" | "rmw" | "txn");
        let write_amp = match (is_write, written_before, process_write_bytes()) {
            (true, Some(b), Some(e)) => Some((e - b) as f64 / bytes.max(1) as f64),
            _ => None,
        };
        let stall_ms = (after.stall_micros() - stats_before.stall_micros()) as f64 / 1000.0;
        max_l0 = max_l0.max(after.levels[0].tables);
        results.push(Outcome {
            name: name.to_owned(),
            write_amp,
            stall_ms,
            max_l0,
            cache,
            ops,
            secs,
            bytes,
            note,
            latency: lat.summary(),
        });
    }
    let end_stats = db.as_ref().map(Db::stats);
    if let Some(d) = db.take() {
        d.close()?;
    }
    let (files, disk) = dir_usage(&dir);
    if a.json {
        let rows: Vec<_> = results
            .iter()
            .map(|r| {
                json!({
                    "benchmark": r.name, "ops": r.ops, "seconds": r.secs,
                    "micros_per_op": r.secs * 1e6 / r.ops.max(1) as f64,
                    "ops_per_sec": r.ops as f64 / r.secs.max(1e-9),
                    "mb_per_sec": r.bytes as f64 / 1e6 / r.secs.max(1e-9),
                    "note": r.note,
                    "write_amplification": r.write_amp,
                    "stall_ms": r.stall_ms,
                    "max_l0_tables": r.max_l0,
                    "block_cache_hits": r.cache.0,
                    "block_cache_misses": r.cache.1,
                    "p50_micros": r.latency.map(|l| l[0]),
                    "p99_micros": r.latency.map(|l| l[1]),
                    "p999_micros": r.latency.map(|l| l[2]),
                    "max_micros": r.latency.map(|l| l[3]),
                })
            })
            .collect();
        let levels = end_stats.as_ref().map(|s| &s.levels);
        let phases = end_stats.as_ref().map(|s| &s.write_phases).filter(|p| !p.is_empty());
        let v = json!({"results": rows, "levels": levels, "write_phases": phases, "files_on_disk": files, "bytes_on_disk": disk, "peak_rss_kib": peak_rss_kib()});
        crate::output::write_stdout(&[v.to_string().as_bytes(), b"\n"])?;
    } else {
        let mut t = Table::new();
        t.set_header([
            "benchmark",
            "ops",
            "micros/op",
            "ops/s",
            "MB/s",
            "cache hit",
            "W-amp",
            "stall ms",
            "max L0",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "max µs",
            "note",
        ]);
        for r in &results {
            let lat = |i: usize| r.latency.map_or_else(|| "-".into(), |l| format!("{:.1}", l[i]));
            t.add_row([
                r.name.clone(),
                r.ops.to_string(),
                format!("{:.3}", r.secs * 1e6 / r.ops.max(1) as f64),
                format!("{:.0}", r.ops as f64 / r.secs.max(1e-9)),
                format!("{:.1}", r.bytes as f64 / 1e6 / r.secs.max(1e-9)),
                hit_rate(r.cache),
                r.write_amp.map_or_else(|| "-".into(), |w| format!("{w:.2}")),
                format!("{:.0}", r.stall_ms),
                r.max_l0.to_string(),
                lat(0),
                lat(1),
                lat(2),
                lat(3),
                r.note.clone(),
            ]);
        }
        let rss =
            peak_rss_kib().map_or_else(|| "unknown".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        let levels = end_stats.as_ref().map_or_else(String::new, |s| {
            format!(
                "levels at the end, counters since open (write amplification {:.2}):\n{}\n",
                s.write_amplification,
                crate::stats::level_table(s)
            )
        });
        let phases = end_stats.as_ref().filter(|s| !s.write_phases.is_empty()).map_or_else(String::new, |s| {
            format!("write phases over the run (µs; queue and commit per write, the rest per commit group):\n{}\n", phase_table(&s.write_phases))
        });
        let text = format!(
            "{t}\n{levels}{phases}on disk: {files} files, {disk} bytes ({:.1} MiB); peak RSS {rss}\n",
            disk as f64 / f64::from(1u32 << 20)
        );
        crate::output::write_stdout(&[text.as_bytes()])?;
    }
    Ok(())
}
