//! Side-by-side db_bench workloads on shaledb, RocksDB and fjall (issue: benchmarks).
//!
//! `shaledb-peers --num 1000000` runs every workload on each engine, each engine in its own
//! child process (so `/proc/self/io` and peak RSS are its own), with identical seeded key
//! sequences and comparable settings: LZ4, 10-bit bloom filters, 64 MiB write buffer, an
//! 8 MiB block cache with index and filter blocks pinned, 2 background jobs, WAL on, no
//! fsync except `fillsync`. Every engine reads with positional reads into its block cache
//! (shaledb's memory-mapped reads are off), and before the first read-only workload after
//! a write workload each engine flushes and waits for its compactions, untimed (`settle`).
//! RocksDB reuses one `ReadOptions`. It prints a table and JSON lines and writes an SVG chart.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::Parser;
use comfy_table::Table;
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_json::{json, Value};

/// The workloads, in the order they run (fills start a fresh database).
const WORKLOADS: [&str; 13] = [
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readmissing",
    "readseq",
    "readreverse",
    "seekrandom",
    "readwhilewriting",
    "ycsb-a",
    "deleterandom",
    "fillbatch",
    "fillsync",
];

const CACHE_BYTES: usize = 8 << 20;
const WRITE_BUFFER_BYTES: usize = 64 << 20;

#[derive(Parser, Debug)]
struct Args {
    /// Keys per workload.
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Comma-separated engines.
    #[arg(long, default_value = "shaledb,rocksdb,fjall")]
    engines: String,
    /// Comma-separated workloads (default: all).
    #[arg(long)]
    workloads: Option<String>,
    /// Where to write the chart.
    #[arg(long, default_value = "peers.svg")]
    chart: PathBuf,
    /// Where to write the JSON results.
    #[arg(long, default_value = "peers.json")]
    json: PathBuf,
    /// Print each engine's own per-level statistics to stderr after every workload.
    #[arg(long)]
    engine_stats: bool,
    /// Lookups of readrandom, readmissing and readwhilewriting, and ten times the seeks of
    /// seekrandom (default: `--num`); for large `--num`, where the keys take long to read
    /// once each.
    #[arg(long)]
    reads: Option<u64>,
    /// Run one engine in this process (used by the parent).
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// What every engine offers the workloads.
trait Engine: Sync {
    fn put(&self, k: &[u8], v: &[u8], sync: bool);
    fn delete(&self, k: &[u8]);
    fn get(&self, k: &[u8]) -> bool;
    fn put_batch(&self, items: &[(Vec<u8>, &[u8])]);
    /// Entries seen walking forward (or backward) through everything.
    fn scan(&self, reverse: bool) -> u64;
    /// Seek to `k` and read up to `n` entries.
    fn seek_next(&self, k: &[u8], n: usize) -> usize;
    /// Flushes the memtable and waits for background compaction to finish (untimed), so
    /// that read workloads find every engine in a settled state, not mid-compaction behind a
    /// full memtable.
    fn settle(&self);
    /// The engine's own per-level statistics (compactions, bytes read and written per
    /// level), for `--engine-stats`; `None` where the engine offers none.
    fn level_stats(&self) -> Option<String> {
        None
    }
}

struct Shale(shaledb::Db);
impl Engine for Shale {
    fn put(&self, k: &[u8], v: &[u8], sync: bool) {
        let mut b = shaledb::WriteBatch::new();
        b.put(k, v);
        self.0
            .write_opt(b, &shaledb::WriteOptions { sync })
            .expect("put");
    }
    fn delete(&self, k: &[u8]) {
        self.0.delete(k).expect("delete");
    }
    fn get(&self, k: &[u8]) -> bool {
        self.0.get(k).expect("get").is_some()
    }
    fn put_batch(&self, items: &[(Vec<u8>, &[u8])]) {
        let mut b = shaledb::WriteBatch::new();
        for (k, v) in items {
            b.put(k, v);
        }
        self.0.write(b).expect("batch");
    }
    fn scan(&self, reverse: bool) -> u64 {
        if reverse {
            self.0.iter().rev().map(|r| r.expect("item")).count() as u64
        } else {
            self.0.iter().map(|r| r.expect("item")).count() as u64
        }
    }
    fn seek_next(&self, k: &[u8], n: usize) -> usize {
        self.0.range(k..).take(n).map(|r| r.expect("item")).count()
    }
    fn settle(&self) {
        self.0.flush().expect("flush");
        self.0.wait_for_compaction().expect("wait for compaction");
    }
    fn level_stats(&self) -> Option<String> {
        let s = self.0.stats();
        let mut out = String::from("level tables bytes compactions read_bytes written_bytes\n");
        for (i, l) in s.levels.iter().enumerate() {
            out.push_str(&format!(
                "L{i} {} {} {} {} {}\n",
                l.tables, l.bytes, l.compactions, l.bytes_read, l.bytes_written
            ));
        }
        if !s.write_phases.is_empty() {
            out.push_str(
                "write phase (since open) count mean_us p50_us p99_us p999_us max_us total_ms\n",
            );
            for p in &s.write_phases {
                out.push_str(&format!(
                    "{} {} {:.1} {:.1} {:.1} {:.1} {:.1} {:.0}\n",
                    p.phase,
                    p.count,
                    p.mean_us,
                    p.p50_us,
                    p.p99_us,
                    p.p999_us,
                    p.max_us,
                    p.total_us / 1000.0
                ));
            }
        }
        Some(out)
    }
}

/// The database and one `ReadOptions` reused by every get (the crate's `get_pinned`
/// builds and frees a C++ `ReadOptions` per call).
struct Rocks(rocksdb::DB, rocksdb::ReadOptions);
impl Engine for Rocks {
    fn put(&self, k: &[u8], v: &[u8], sync: bool) {
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(sync);
        self.0.put_opt(k, v, &wo).expect("put");
    }
    fn delete(&self, k: &[u8]) {
        self.0.delete(k).expect("delete");
    }
    fn get(&self, k: &[u8]) -> bool {
        self.0.get_pinned_opt(k, &self.1).expect("get").is_some()
    }
    fn put_batch(&self, items: &[(Vec<u8>, &[u8])]) {
        let mut b = rocksdb::WriteBatch::default();
        for (k, v) in items {
            b.put(k, v);
        }
        self.0.write(b).expect("batch");
    }
    fn scan(&self, reverse: bool) -> u64 {
        let mode = if reverse {
            rocksdb::IteratorMode::End
        } else {
            rocksdb::IteratorMode::Start
        };
        self.0.iterator(mode).map(|r| r.expect("item")).count() as u64
    }
    fn seek_next(&self, k: &[u8], n: usize) -> usize {
        self.0
            .iterator(rocksdb::IteratorMode::From(k, rocksdb::Direction::Forward))
            .take(n)
            .map(|r| r.expect("item"))
            .count()
    }
    fn settle(&self) {
        self.0.flush().expect("flush");
        let mut w = rocksdb::WaitForCompactOptions::default();
        w.set_flush(true);
        self.0.wait_for_compact(&w).expect("wait for compaction");
    }
    fn level_stats(&self) -> Option<String> {
        self.0.property_value("rocksdb.stats").ok().flatten()
    }
}

struct Fjall(fjall::Database, fjall::Keyspace);
impl Engine for Fjall {
    fn put(&self, k: &[u8], v: &[u8], sync: bool) {
        self.1.insert(k, v).expect("put");
        if sync {
            self.0
                .persist(fjall::PersistMode::SyncAll)
                .expect("persist");
        }
    }
    fn delete(&self, k: &[u8]) {
        self.1.remove(k).expect("delete");
    }
    fn get(&self, k: &[u8]) -> bool {
        self.1.get(k).expect("get").is_some()
    }
    fn put_batch(&self, items: &[(Vec<u8>, &[u8])]) {
        let mut b = self.0.batch();
        for (k, v) in items {
            b.insert(&self.1, k.as_slice(), *v);
        }
        b.commit().expect("batch");
    }
    fn scan(&self, reverse: bool) -> u64 {
        if reverse {
            self.1
                .iter()
                .rev()
                .map(|g| g.into_inner().expect("item"))
                .count() as u64
        } else {
            self.1.iter().map(|g| g.into_inner().expect("item")).count() as u64
        }
    }
    fn seek_next(&self, k: &[u8], n: usize) -> usize {
        self.1
            .range(k..)
            .take(n)
            .map(|g| g.into_inner().expect("item"))
            .count()
    }
    fn settle(&self) {
        // fjall 3 offers no public wait for compaction; this flushes the memtable.
        self.1.rotate_memtable_and_wait().expect("flush");
    }
}

fn open(engine: &str, dir: &Path) -> Box<dyn Engine> {
    match engine {
        "shaledb" => Box::new(Shale(
            shaledb::Db::open(
                dir,
                shaledb::Options::default()
                    .write_buffer_size(WRITE_BUFFER_BYTES)
                    .block_cache_size(CACHE_BYTES as u64)
                    .bits_per_key(10)
                    // Positional reads into the block cache, as RocksDB and fjall read:
                    // memory-mapped reads would serve misses from the page cache outside
                    // the 8 MiB budget.
                    .mmap_reads(false)
                    .max_background_jobs(2)
                    // `SHALEDB_WRITE_PHASES=1` times the write path's phases (printed with
                    // `--engine-stats`); off in published runs, since it costs clock reads.
                    .write_phase_histograms(std::env::var_os("SHALEDB_WRITE_PHASES").is_some()),
            )
            .expect("open shaledb"),
        )),
        "rocksdb" => {
            let mut o = rocksdb::Options::default();
            o.create_if_missing(true);
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            o.set_write_buffer_size(WRITE_BUFFER_BYTES);
            o.set_max_background_jobs(2);
            let mut t = rocksdb::BlockBasedOptions::default();
            t.set_bloom_filter(10.0, false);
            let cache = rocksdb::Cache::new_lru_cache(CACHE_BYTES);
            t.set_block_cache(&cache);
            // Index and filter blocks held by the table readers (pinned), not in the cache:
            // the same as shaledb, and as BENCHMARKS.md's RocksDB setup.
            t.set_cache_index_and_filter_blocks(false);
            o.set_block_based_table_factory(&t);
            Box::new(Rocks(
                rocksdb::DB::open(&o, dir).expect("open rocksdb"),
                rocksdb::ReadOptions::default(),
            ))
        }
        "fjall" => {
            use fjall::config::PinningPolicy;
            let db = fjall::Database::builder(dir)
                .cache_size(CACHE_BYTES as u64)
                .worker_threads(2)
                .open()
                .expect("open fjall");
            let ks = db
                .keyspace("bench", || {
                    fjall::KeyspaceCreateOptions::default()
                        .max_memtable_size(WRITE_BUFFER_BYTES as u64)
                        .filter_block_pinning_policy(PinningPolicy::all(true))
                        .index_block_pinning_policy(PinningPolicy::all(true))
                })
                .expect("keyspace");
            Box::new(Fjall(db, ks))
        }
        other => panic!("unknown engine {other}"),
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("{i:016}").into_bytes()
}

/// 1 MiB of value bytes that LZ4 halves (random runs, each repeated once).
fn values() -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(301 ^ 0x5eed);
    let mut v = Vec::with_capacity(1 << 20);
    while v.len() < 1 << 20 {
        let run: Vec<u8> = (0..50).map(|_| rng.random_range(b' '..=b'~')).collect();
        v.extend_from_slice(&run);
        v.extend_from_slice(&run);
    }
    v
}

fn io_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn dir_bytes(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        std::fs::read_dir(p).map_or(0, |rd| {
            rd.flatten()
                .map(|e| {
                    let m = e.metadata();
                    match m {
                        Ok(m) if m.is_dir() => walk(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    }
                })
                .sum()
        })
    }
    walk(dir)
}

/// Runs the workloads on one engine in this process; prints one JSON line per workload.
fn child(engine: &str, args: &Args) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(engine);
    let vals = values();
    let value = |i: u64| {
        let off = (i as usize * 100) % (vals.len() - 100);
        &vals[off..off + 100]
    };
    let wanted: Vec<String> = args.workloads.as_deref().map_or_else(
        || WORKLOADS.iter().map(|s| (*s).to_owned()).collect(),
        |w| w.split(',').map(str::to_owned).collect(),
    );
    let mut db: Option<Box<dyn Engine>> = None;
    let mut settled = false;
    let num = args.num;
    for (pos, name) in WORKLOADS.iter().enumerate() {
        if !wanted.iter().any(|w| w == name) {
            continue;
        }
        let fresh = matches!(*name, "fillseq" | "fillrandom" | "fillbatch" | "fillsync");
        if fresh || db.is_none() {
            drop(db.take());
            let _ = std::fs::remove_dir_all(&dir);
            db = Some(open(engine, &dir));
        }
        let d = db.as_deref().expect("open");
        let reads_only = matches!(
            *name,
            "readrandom" | "readmissing" | "readseq" | "readreverse" | "seekrandom"
        );
        if fresh || !reads_only {
            settled = false;
        } else if !settled {
            d.settle();
            settled = true;
        }
        let mut rng = SmallRng::seed_from_u64(301 + pos as u64);
        let mut hist = Histogram::<u64>::new(3).expect("histogram");
        let ops = match *name {
            "fillsync" => num / 100,
            "readrandom" | "readmissing" | "seekrandom" | "readwhilewriting" => {
                args.reads.unwrap_or(num)
            }
            _ => num,
        };
        let written_before = io_written();
        let started = Instant::now();
        let mut timed = |f: &mut dyn FnMut()| {
            let t = Instant::now();
            f();
            let _ = hist.record(t.elapsed().as_nanos() as u64);
        };
        let mut user_bytes = 0u64;
        let mut scanned = 0u64;
        match *name {
            "fillseq" | "fillrandom" | "overwrite" | "fillsync" => {
                for i in 0..ops {
                    let k = if *name == "fillseq" {
                        i
                    } else {
                        rng.random_range(0..num)
                    };
                    let kb = key(k);
                    timed(&mut || d.put(&kb, value(i), *name == "fillsync"));
                    user_bytes += 116;
                }
            }
            "fillbatch" => {
                for chunk in 0..ops / 1000 {
                    let items: Vec<(Vec<u8>, &[u8])> = (0..1000)
                        .map(|j| (key(chunk * 1000 + j), value(j)))
                        .collect();
                    timed(&mut || d.put_batch(&items));
                    user_bytes += 116 * 1000;
                }
            }
            "readrandom" => {
                for _ in 0..ops {
                    let kb = key(rng.random_range(0..num));
                    timed(&mut || {
                        d.get(&kb);
                    });
                }
            }
            "readmissing" => {
                for _ in 0..ops {
                    let mut kb = key(rng.random_range(0..num));
                    kb.push(b'.');
                    timed(&mut || {
                        d.get(&kb);
                    });
                }
            }
            "readseq" | "readreverse" => {
                let t = Instant::now();
                scanned = d.scan(*name == "readreverse");
                let _ = hist.record(t.elapsed().as_nanos() as u64 / scanned.max(1));
            }
            "seekrandom" => {
                for _ in 0..ops / 10 {
                    let kb = key(rng.random_range(0..num));
                    timed(&mut || {
                        d.seek_next(&kb, 10);
                    });
                }
            }
            "deleterandom" => {
                for _ in 0..ops {
                    let kb = key(rng.random_range(0..num));
                    timed(&mut || d.delete(&kb));
                    user_bytes += 16;
                }
            }
            "readwhilewriting" => {
                let stop = AtomicBool::new(false);
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let mut wrng = SmallRng::seed_from_u64(77);
                        let mut i = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            d.put(&key(wrng.random_range(0..num)), value(i), false);
                            i += 1;
                        }
                    });
                    for _ in 0..ops {
                        let kb = key(rng.random_range(0..num));
                        timed(&mut || {
                            d.get(&kb);
                        });
                    }
                    stop.store(true, Ordering::Relaxed);
                });
            }
            "ycsb-a" => {
                let zipf = Zipf::new(num as f64, 0.99).expect("zipf");
                for i in 0..ops {
                    let k = (zipf.sample(&mut rng) as u64)
                        .saturating_sub(1)
                        .min(num - 1);
                    // Scatter the hot keys over the key space, as YCSB hashes them.
                    let kb = key(k.wrapping_mul(0x9e37_79b9_7f4a_7c15) % num);
                    if rng.random_bool(0.5) {
                        timed(&mut || {
                            d.get(&kb);
                        });
                    } else {
                        timed(&mut || d.put(&kb, value(i), false));
                        user_bytes += 116;
                    }
                }
            }
            _ => unreachable!(),
        }
        let secs = started.elapsed().as_secs_f64();
        let n_ops = match *name {
            "readseq" | "readreverse" => scanned,
            "seekrandom" => ops / 10,
            "fillbatch" => ops / 1000 * 1000,
            _ => ops,
        };
        let wrote = io_written().saturating_sub(written_before);
        let line = json!({
            "engine": engine, "workload": name, "ops": n_ops, "seconds": secs,
            "ops_per_sec": n_ops as f64 / secs.max(1e-9),
            "p50_us": hist.value_at_quantile(0.5) as f64 / 1000.0,
            "p99_us": hist.value_at_quantile(0.99) as f64 / 1000.0,
            "p999_us": hist.value_at_quantile(0.999) as f64 / 1000.0,
            "write_amp": if user_bytes > 0 { Some(wrote as f64 / user_bytes as f64) } else { None },
            "bytes_on_disk": dir_bytes(&dir),
            "peak_rss_kib": peak_rss_kib(),
        });
        println!("{line}");
        if args.engine_stats {
            if let Some(stats) = d.level_stats() {
                eprintln!("{engine} {name} level statistics:\n{stats}");
            }
        }
        eprintln!(
            "{engine} {name}: {:.0} ops/s",
            n_ops as f64 / secs.max(1e-9)
        );
    }
}

fn chart(results: &[Value], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let engines = ["shaledb", "rocksdb", "fjall"];
    let colors = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
    ];
    let workloads: Vec<&str> = WORKLOADS
        .iter()
        .copied()
        .filter(|w| results.iter().any(|r| r["workload"] == *w))
        .collect();
    let max = results
        .iter()
        .filter_map(|r| r["ops_per_sec"].as_f64())
        .fold(1.0, f64::max);
    let root = SVGBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut c = ChartBuilder::on(&root)
        .caption("kops/s per workload (log scale)", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..workloads.len() as f64, (1f64..max * 1.5).log_scale())?;
    c.configure_mesh()
        .x_labels(workloads.len())
        .x_label_formatter(&|x| {
            workloads
                .get(*x as usize)
                .map_or(String::new(), |s| (*s).to_owned())
        })
        .y_desc("ops/s")
        .draw()?;
    for (ei, e) in engines.iter().enumerate() {
        let bars: Vec<_> = workloads
            .iter()
            .enumerate()
            .filter_map(|(wi, w)| {
                let r = results
                    .iter()
                    .find(|r| r["engine"] == *e && r["workload"] == *w)?;
                let v = r["ops_per_sec"].as_f64()?;
                let x0 = wi as f64 + 0.1 + ei as f64 * 0.27;
                Some(Rectangle::new(
                    [(x0, 1.0), (x0 + 0.25, v.max(1.0))],
                    colors[ei].filled(),
                ))
            })
            .collect();
        c.draw_series(bars)?.label(*e).legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 10, y + 5)], colors[ei].filled())
        });
    }
    c.configure_series_labels().border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Some(engine) = &args.child {
        child(engine, &args);
        return;
    }
    let exe = std::env::current_exe().expect("exe");
    let mut results: Vec<Value> = Vec::new();
    for engine in args.engines.split(',') {
        let mut cmd = Command::new(&exe);
        cmd.arg("--child")
            .arg(engine)
            .arg("--num")
            .arg(args.num.to_string());
        if let Some(w) = &args.workloads {
            cmd.arg("--workloads").arg(w);
        }
        if args.engine_stats {
            cmd.arg("--engine-stats");
        }
        if let Some(r) = args.reads {
            cmd.arg("--reads").arg(r.to_string());
        }
        let out = cmd.output().expect("run child");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                results.push(v);
            }
        }
    }
    let mut t = Table::new();
    t.set_header([
        "workload",
        "engine",
        "kops/s",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "W-amp",
        "disk MiB",
        "peak RSS MiB",
    ]);
    for w in WORKLOADS {
        for r in results.iter().filter(|r| r["workload"] == w) {
            t.add_row([
                w.to_owned(),
                r["engine"].as_str().unwrap_or("").to_owned(),
                format!("{:.1}", r["ops_per_sec"].as_f64().unwrap_or(0.0) / 1000.0),
                format!("{:.1}", r["p50_us"].as_f64().unwrap_or(0.0)),
                format!("{:.1}", r["p99_us"].as_f64().unwrap_or(0.0)),
                format!("{:.1}", r["p999_us"].as_f64().unwrap_or(0.0)),
                r["write_amp"]
                    .as_f64()
                    .map_or("-".into(), |w| format!("{w:.2}")),
                format!(
                    "{:.1}",
                    r["bytes_on_disk"].as_f64().unwrap_or(0.0) / 1048576.0
                ),
                format!("{:.0}", r["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0),
            ]);
        }
    }
    println!("{t}");
    std::fs::write(
        &args.json,
        serde_json::to_string_pretty(&results).expect("json"),
    )
    .expect("write json");
    if let Err(e) = chart(&results, &args.chart) {
        eprintln!("chart: {e}");
    }
    println!(
        "results: {}, chart: {}",
        args.json.display(),
        args.chart.display()
    );
}
