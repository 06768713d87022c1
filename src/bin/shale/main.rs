//! `shale`: the shaledb command line. It is a client of the library's public API only.
//!
//! Commands: `put`, `get`, `delete`, `delete-range`, `scan`, `load` (data.rs), `bench` (bench.rs),
//! `stats` (stats.rs), `verify`, `dump`, `idump` (inspect.rs), `compact`, `repair`,
//! `checkpoint` (admin.rs) and `crash` (crash.rs). Every failure prints `error: …` on
//! stderr (and, with `--json`, a JSON error object on stdout) and exits with the code
//! [`error::CliError::exit_code`] gives.

/// mimalloc for every allocation of the `shale` binary: the server and the benches make many
/// small, short-lived allocations (request arguments, keys, batches), where glibc's
/// allocator showed about 10% of `shale serve`'s event loop under `redis-benchmark`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (v2 and v3; libmimalloc-sys names
/// no constant for it): milliseconds before freed memory is returned to the system.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// With `--memory-budget`, mimalloc returns freed pages to the system at once instead of
/// after its default 10 ms. The budget bounds what the engine holds; memory the allocator
/// keeps after a fill's flushes and compactions is not the engine's, yet it counts toward
/// RSS: `shale --memory-budget 256MiB bench --num 10000000 --benchmarks
/// fillrandom,readrandom --reads 3000000` peaked at 303.5 MiB with the default delay and
/// 279.7 MiB with none (glibc's allocator: 256.0 MiB), fill and reads within the runs'
/// spread.
fn purge_freed_memory_promptly() {
    // SAFETY: `mi_option_set` only stores the value in mimalloc's option table; the
    // option exists in the bundled mimalloc and takes milliseconds.
    #[expect(unsafe_code, reason = "mimalloc's C option API")]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

mod admin;
mod bench;
mod codec;
mod crash;
mod data;
mod error;
mod inspect;
mod lz4check;
mod output;
mod serve;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use error::{CliError, CliResult};
use shaledb::{Compression, Db, Options};

/// shaledb: a persistent LSM-tree key-value store.
#[derive(Parser, Debug)]
#[command(name = "shale", version, about, propagate_version = true)]
struct Cli {
    /// The database directory.
    #[arg(long, env = "SHALE_DB", global = true)]
    db: Option<PathBuf>,
    /// Memtable size before a flush, e.g. `4MiB` (default 64 MiB).
    #[arg(long, global = true, value_parser = codec::parse_size)]
    write_buffer_size: Option<u64>,
    /// Target data block size, e.g. `4KiB` (default 4 KiB).
    #[arg(long, global = true, value_parser = codec::parse_size)]
    block_size: Option<u64>,
    /// Block compression (default lz4).
    #[arg(long, global = true)]
    compression: Option<CompressionArg>,
    /// Block cache capacity, e.g. `8MiB` (default 64 MiB).
    #[arg(long, global = true, value_parser = codec::parse_size)]
    block_cache_size: Option<u64>,
    /// Read tables through memory maps (`true`) or with positioned reads into the block
    /// cache (`false`); the default is `Options`' default.
    #[arg(long, global = true)]
    mmap_reads: Option<bool>,
    /// One memory budget for memtables, block cache and pinned index and filter blocks,
    /// e.g. `256MiB`; derives the write buffer size, positional reads and the block cache
    /// from it (`Options::memory_budget`).
    #[arg(long, global = true, value_parser = codec::parse_size)]
    memory_budget: Option<u64>,
    /// Bytes the live WAL is preallocated ahead of its records, e.g. `4MiB` (default
    /// 4 MiB; 0 turns it off; `Options::wal_preallocate_bytes`).
    #[arg(long, global = true, value_parser = codec::parse_size)]
    wal_preallocate: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CompressionArg {
    Lz4,
    None,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Set KEY to VALUE.
    Put {
        key: String,
        value: String,
        /// Expire the key after this long, e.g. `30s`, `5m`, `1500ms`, `2h`.
        #[arg(long, value_parser = codec::parse_duration)]
        ttl: Option<std::time::Duration>,
    },
    /// Print the value of KEY and a newline; exit 1 with `not found` if absent.
    Get { key: String },
    /// Delete KEY.
    Delete { key: String },
    /// Delete every key in [FROM, TO) with one range tombstone (O(1) whatever the range
    /// holds).
    DeleteRange {
        /// First key deleted (inclusive).
        from: String,
        /// End of the range (exclusive).
        to: String,
    },
    /// Print entries in key order (half-open range [--from, --to)).
    Scan(data::ScanArgs),
    /// Load records from a file (tsv, jsonl or deb822; LZ4 frames are detected).
    Load(data::LoadArgs),
    /// Run db_bench-style benchmarks.
    Bench(bench::BenchArgs),
    /// Show tables per level, counters and the recovery report.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check every checksum, MANIFEST reference and key order; exit non-zero on any problem.
    Verify {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the contents of one table, WAL or the MANIFEST.
    #[command(subcommand)]
    Dump(inspect::DumpWhat),
    /// Print internal keys (sequence number and type, tombstones included), read-only.
    Idump(inspect::IdumpArgs),
    /// Offline compaction: merge everything into the last level (takes the lock).
    Compact(admin::CompactArgs),
    /// Rebuild the MANIFEST from the tables and WALs found (after LevelDB's RepairDB).
    Repair(admin::RepairArgs),
    /// Write a consistent copy of the database into a new directory.
    Checkpoint(admin::CheckpointArgs),
    /// Serve the database over the Redis protocol (RESP2) until SIGTERM, SIGINT or
    /// SHUTDOWN.
    Serve(serve::ServeArgs),
    /// The crash-recovery harness: `enumerate` (simulated power loss) and `kill-loop`
    /// (SIGKILL of real processes).
    #[command(subcommand)]
    Crash(crash::CrashCmd),
}

impl Cli {
    fn options(&self) -> CliResult<Options> {
        let mut o = Options::default();
        if let Some(n) = self.write_buffer_size {
            o = o.write_buffer_size(
                usize::try_from(n).map_err(|_| CliError::Usage("--write-buffer-size too large".into()))?,
            );
        }
        if let Some(n) = self.block_size {
            o = o.block_size(
                usize::try_from(n).map_err(|_| CliError::Usage("--block-size too large".into()))?,
            );
        }
        if let Some(n) = self.block_cache_size {
            o = o.block_cache_size(n);
        }
        if let Some(on) = self.mmap_reads {
            o = o.mmap_reads(on);
        }
        if let Some(b) = self.memory_budget {
            o = o.memory_budget(b);
        }
        if let Some(b) = self.wal_preallocate {
            o = o.wal_preallocate_bytes(b);
        }
        if let Some(c) = self.compression {
            o = o.compression(match c {
                CompressionArg::Lz4 => Compression::Lz4,
                CompressionArg::None => Compression::None,
            });
        }
        Ok(o)
    }

    fn dir(&self) -> CliResult<&std::path::Path> {
        self.db.as_deref().ok_or_else(|| CliError::Usage("no database: pass --db DIR or set SHALE_DB".into()))
    }

    fn open(&self) -> CliResult<Db> {
        Ok(Db::open(self.dir()?, self.options()?)?)
    }

    /// True if the command was asked for JSON output.
    fn wants_json(&self) -> bool {
        match &self.command {
            Command::Stats { json } | Command::Verify { json } => *json,
            Command::Scan(a) => a.json,
            Command::Bench(a) => a.json,
            Command::Compact(a) => a.json,
            Command::Repair(a) => a.json,
            Command::Checkpoint(a) => a.json,
            _ => false,
        }
    }
}

fn run(cli: &Cli) -> CliResult<()> {
    match &cli.command {
        Command::Put { key, value, ttl } => {
            let db = cli.open()?;
            match ttl {
                Some(ttl) => db.put_with_ttl(key, value, *ttl)?,
                None => db.put(key, value)?,
            };
            db.close()?;
        }
        Command::Delete { key } => {
            let db = cli.open()?;
            db.delete(key)?;
            db.close()?;
        }
        Command::DeleteRange { from, to } => {
            let db = cli.open()?;
            db.delete_range(from, to)?;
            db.close()?;
        }
        Command::Serve(args) => serve::run(args, cli.dir()?, cli.options()?)?,
        Command::Get { key } => {
            let db = cli.open()?;
            let v = db.get(key)?.ok_or(CliError::NotFound)?;
            output::write_stdout(&[&v, b"\n"])?;
        }
        Command::Scan(args) => data::scan(&cli.open()?, args)?,
        Command::Load(args) => data::load(&cli.open()?, args)?,
        Command::Bench(args) => bench::run(args, cli.db.as_deref(), cli.options()?)?,
        Command::Stats { json } => stats::print(&cli.open()?, *json)?,
        Command::Verify { json } => inspect::verify(cli.dir()?, *json)?,
        Command::Dump(what) => inspect::dump(cli.db.as_deref(), what)?,
        Command::Idump(a) => inspect::idump(cli.dir()?, cli.options()?, a)?,
        Command::Compact(a) => admin::compact(cli.dir()?, cli.options()?, a)?,
        Command::Repair(a) => admin::repair(cli.dir()?, &cli.options()?, a)?,
        Command::Checkpoint(a) => admin::checkpoint(cli.dir()?, cli.options()?, a)?,
        Command::Crash(c) => crash::crash(cli.db.as_deref(), c)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    // Log lines (the server's database errors, warnings) go to stderr; RUST_LOG filters.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    if cli.memory_budget.is_some() {
        purge_freed_memory_promptly();
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(CliError::NotFound) => {
            eprintln!("not found");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            // `verify` has printed its JSON report already; other failures print one
            // JSON error object instead of their output.
            if cli.wants_json() && !matches!(e, CliError::Problems(_)) {
                let j = serde_json::json!({
                    "error": {"kind": e.kind(), "message": e.to_string(), "exit_code": e.exit_code()}
                });
                let _ = output::out(&format!("{j}\n"));
            }
            ExitCode::from(e.exit_code())
        }
    }
}
