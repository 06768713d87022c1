//! [`Options`] (per database, checked once in `Db::open`) and [`WriteOptions`] (per write).
//!
//! Setters are builder-style and named after the option, as in RocksDB:
//! `Options::default().write_buffer_size(4 << 20).block_size(16 << 10)`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::{FileSystem, RealFs};
pub use crate::sstable::format::Compression;

/// Largest user key accepted, in bytes (64 KiB). Larger keys get
/// [`Error::InvalidArgument`]. The empty key is allowed.
pub const MAX_KEY_SIZE: usize = 64 << 10;

/// Largest value accepted, in bytes (64 MiB). Larger values get [`Error::InvalidArgument`].
pub const MAX_VALUE_SIZE: usize = 64 << 20;

/// Largest encoded [`crate::WriteBatch`], in bytes (1 GiB): a batch is one WAL record and
/// is held in memory whole.
pub const MAX_BATCH_SIZE: usize = 1 << 30;

/// The lowest CPU priority, a nice value for [`Options::compaction_thread_nice`] (19).
pub const COMPACTION_THREAD_NICE: i32 = 19;

/// What recovery does with a damaged WAL record, after RocksDB's `WALRecoveryMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalRecoveryMode {
    /// Default. A damaged or incomplete suffix of the newest WAL (nothing valid after it)
    /// is a torn tail: it is dropped and counted. Damage anywhere else fails `open` with
    /// [`Error::Corruption`].
    TolerateCorruptedTailRecords,
    /// Any damaged record, even a torn tail, fails `open`.
    AbsoluteConsistency,
    /// Stop replay at the first damaged record anywhere and open with what came before it.
    /// The bytes after it, including later WALs, are counted in the recovery report's
    /// `tail_bytes_dropped` and deleted.
    PointInTimeRecovery,
}

/// Options for one database, fixed when it is opened.
#[derive(Clone)]
pub struct Options {
    pub(crate) create_if_missing: bool,
    pub(crate) error_if_exists: bool,
    pub(crate) write_buffer_size: usize,
    pub(crate) max_write_buffer_number: usize,
    pub(crate) block_size: usize,
    pub(crate) block_restart_interval: usize,
    pub(crate) compression: Compression,
    pub(crate) bits_per_key: usize,
    pub(crate) block_cache_size: u64,
    pub(crate) max_open_files: usize,
    pub(crate) mmap_reads: bool,
    pub(crate) memory_budget: Option<u64>,
    pub(crate) manual_wal_flush: bool,
    pub(crate) write_phase_histograms: bool,
    pub(crate) wal_bytes_per_sync: u64,
    pub(crate) wal_preallocate_bytes: u64,
    pub(crate) history_retention: HistoryRetention,
    pub(crate) wal_retention: WalRetention,
    pub(crate) memtable_bloom_size_ratio: f64,
    pub(crate) level0_file_num_compaction_trigger: usize,
    pub(crate) level0_slowdown_writes_trigger: usize,
    pub(crate) level0_stop_writes_trigger: usize,
    pub(crate) max_bytes_for_level_base: u64,
    pub(crate) max_bytes_for_level_multiplier: u64,
    pub(crate) max_background_jobs: usize,
    pub(crate) compaction_thread_nice: Option<i32>,
    pub(crate) target_file_size: u64,
    pub(crate) wal_recovery_mode: WalRecoveryMode,
    pub(crate) inline_background: bool,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) compaction_filter: Option<Arc<dyn CompactionFilter>>,
    pub(crate) max_manifest_file_size: u64,
}

/// What a [`CompactionFilter`] decides for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Keep the entry as it is.
    Keep,
    /// Remove the key: the entry becomes a tombstone (so older versions in lower levels
    /// stay hidden), which the last level drops as it drops any tombstone.
    Remove,
    /// Keep the key with this value instead (its expiry, if any, is kept).
    ChangeValue(bytes::Bytes),
}

/// Application logic run by compaction on each key's newest value (RocksDB's
/// `CompactionFilter`), to drop or rewrite data in the background: stale sessions, rows of
/// a dropped tenant, values to migrate.
///
/// Guarantees:
/// - it sees only the newest version of a key among the data being compacted (a newer
///   version elsewhere, in a memtable or a higher level, shadows whatever it decides), and
///   only when no live snapshot can see that version, so a snapshot's reads never change
///   under it; versions kept for snapshots are never shown to it;
/// - it never sees tombstones or expired entries (compaction reclaims those itself);
/// - it runs in compaction threads only: never on memtable reads, never on `get` or
///   iterators, and a key is filtered only when a compaction happens to merge it, so a
///   `Remove` takes effect at the latest when the key's data is next compacted
///   (`Db::compact_range` forces that);
/// - `Remove` above the last level writes a tombstone; at the last level with no snapshot
///   the key is dropped.
///
/// It must be deterministic for a key and value, fast, and must not call back into the
/// database.
pub trait CompactionFilter: Send + Sync + std::fmt::Debug {
    /// Decides for the newest value of `key` at compaction output `level` (0–6); `expiry`
    /// is the key's expiry time for an expiring put.
    fn filter(
        &self,
        level: usize,
        key: &[u8],
        value: &[u8],
        expiry: Option<std::time::SystemTime>,
    ) -> Decision;
}

/// The engine's clock for expiry times (TTL): Unix time in milliseconds. Reads compare an
/// entry's expiry with it, compaction drops what has expired by it, and
/// `WriteBatch::put_with_ttl` adds its TTL to it at commit. It must not run backwards.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

/// The system's wall clock (the default [`Clock`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to (RocksDB's `MockSystemClock`), for tests of
/// expiry: starts at the given Unix milliseconds; [`ManualClock::advance`] moves it.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    /// A clock reading `start_millis`.
    pub fn new(start_millis: u64) -> Self {
        ManualClock(std::sync::atomic::AtomicU64::new(start_millis))
    }
    /// Moves the clock forward by `d` (millisecond precision).
    pub fn advance(&self, d: std::time::Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("create_if_missing", &self.create_if_missing)
            .field("error_if_exists", &self.error_if_exists)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("max_write_buffer_number", &self.max_write_buffer_number)
            .field("block_size", &self.block_size)
            .field("block_restart_interval", &self.block_restart_interval)
            .field("compression", &self.compression)
            .field("bits_per_key", &self.bits_per_key)
            .field("block_cache_size", &self.block_cache_size)
            .field("max_open_files", &self.max_open_files)
            .field("mmap_reads", &self.mmap_reads)
            .field("memory_budget", &self.memory_budget)
            .field("manual_wal_flush", &self.manual_wal_flush)
            .field("write_phase_histograms", &self.write_phase_histograms)
            .field("wal_bytes_per_sync", &self.wal_bytes_per_sync)
            .field("wal_preallocate_bytes", &self.wal_preallocate_bytes)
            .field("history_retention", &self.history_retention)
            .field("wal_retention", &self.wal_retention)
            .field("memtable_bloom_size_ratio", &self.memtable_bloom_size_ratio)
            .field("level0_file_num_compaction_trigger", &self.level0_file_num_compaction_trigger)
            .field("level0_slowdown_writes_trigger", &self.level0_slowdown_writes_trigger)
            .field("level0_stop_writes_trigger", &self.level0_stop_writes_trigger)
            .field("max_bytes_for_level_base", &self.max_bytes_for_level_base)
            .field("max_bytes_for_level_multiplier", &self.max_bytes_for_level_multiplier)
            .field("max_background_jobs", &self.max_background_jobs)
            .field("compaction_thread_nice", &self.compaction_thread_nice)
            .field("target_file_size", &self.target_file_size)
            .field("wal_recovery_mode", &self.wal_recovery_mode)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            error_if_exists: false,
            write_buffer_size: 64 << 20,
            max_write_buffer_number: 2,
            block_size: 4 << 10,
            block_restart_interval: 16,
            compression: Compression::Lz4,
            bits_per_key: 10,
            block_cache_size: 64 << 20,
            max_open_files: 1000,
            mmap_reads: true,
            memory_budget: None,
            manual_wal_flush: false,
            write_phase_histograms: false,
            wal_bytes_per_sync: 1 << 20,
            wal_preallocate_bytes: 4 << 20,
            history_retention: HistoryRetention::Off,
            wal_retention: WalRetention::default(),
            memtable_bloom_size_ratio: 0.01,
            level0_file_num_compaction_trigger: 4,
            level0_slowdown_writes_trigger: 20,
            level0_stop_writes_trigger: 36,
            max_bytes_for_level_base: 256 << 20,
            max_bytes_for_level_multiplier: 10,
            max_background_jobs: 2,
            compaction_thread_nice: None,
            target_file_size: 64 << 20,
            wal_recovery_mode: WalRecoveryMode::TolerateCorruptedTailRecords,
            inline_background: false,
            fs: Arc::new(RealFs),
            clock: Arc::new(SystemClock),
            compaction_filter: None,
            max_manifest_file_size: 8 << 20,
        }
    }
}

impl Options {
    /// Create the directory and an empty database if none exists (default `true`).
    #[must_use]
    pub fn create_if_missing(mut self, v: bool) -> Self {
        self.create_if_missing = v;
        self
    }
    /// Fail with [`Error::InvalidArgument`] if a database already exists (default `false`).
    #[must_use]
    pub fn error_if_exists(mut self, v: bool) -> Self {
        self.error_if_exists = v;
        self
    }
    /// Bytes of key, value and per-entry overhead a memtable holds before it is frozen and
    /// flushed (default 64 MiB, at least 4 KiB).
    #[must_use]
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }
    /// The MANIFEST size in bytes past which it is replaced by a new one holding a single
    /// snapshot edit (default 8 MiB, RocksDB's `max_manifest_file_size`; 0 never rolls
    /// over). Keeps the MANIFEST, and the time an open spends replaying it, bounded while
    /// a database stays open.
    #[must_use]
    pub fn max_manifest_file_size(mut self, bytes: u64) -> Self {
        self.max_manifest_file_size = bytes;
        self
    }

    /// Memtables (the mutable one plus immutable ones waiting to flush) allowed in memory
    /// before writers stall (default 2, at least 2).
    #[must_use]
    pub fn max_write_buffer_number(mut self, n: usize) -> Self {
        self.max_write_buffer_number = n;
        self
    }
    /// Target uncompressed size of a data block in bytes (default 4 KiB, 64 B to 4 MiB).
    /// Blocks end between 90 % of it and it, unless one entry is larger than a tenth of it
    /// (docs/format.md §3.1).
    #[must_use]
    pub fn block_size(mut self, bytes: usize) -> Self {
        self.block_size = bytes;
        self
    }
    /// Entries between restart points in a data block (default 16, 1 to 1024).
    #[must_use]
    pub fn block_restart_interval(mut self, n: usize) -> Self {
        self.block_restart_interval = n;
        self
    }
    /// Block compression (default [`Compression::Lz4`]).
    #[must_use]
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }
    /// Bloom filter bits per key in every table (default 10, about 0.8% false positives
    /// with 7 probes; 0 writes no filter; at most 64).
    #[must_use]
    pub fn bits_per_key(mut self, bits: usize) -> Self {
        self.bits_per_key = bits;
        self
    }
    /// Bytes of decompressed data blocks kept in the shared block cache (default 64 MiB;
    /// 0 disables it). Index and filter blocks are pinned by each open table instead.
    #[must_use]
    pub fn block_cache_size(mut self, bytes: u64) -> Self {
        self.block_cache_size = bytes;
        self
    }
    /// Table files kept open (or mapped) at once (default 1000, at least 1). When more are
    /// needed the cache evicts handles (S3-FIFO, close to least-recently-used); an evicted
    /// table is reopened when next read. Index and filter blocks stay in
    /// memory either way.
    #[must_use]
    pub fn max_open_files(mut self, n: usize) -> Self {
        self.max_open_files = n;
        self
    }
    /// Read tables through read-only memory mappings (default `true`) instead of
    /// positional reads (`pread`). Mapped uncompressed blocks are never copied.
    #[must_use]
    pub fn mmap_reads(mut self, on: bool) -> Self {
        self.mmap_reads = on;
        self
    }
    /// One number, in bytes, that bounds the memory the engine holds: memtables, the block
    /// cache and the index and filter blocks the open tables pin (what
    /// `DbStats::memory` reports). Default: none (each of those is set on its own).
    ///
    /// When set, [`Db::open`] derives the rest from it, overriding what was set:
    /// - `write_buffer_size` becomes `bytes / 8`, so the `max_write_buffer_number` (2)
    ///   write buffers take about a quarter of the budget;
    /// - `mmap_reads` becomes `false`: pages of a mapped table count toward the process's
    ///   resident memory but toward no budget, so reads go through positional reads into
    ///   the block cache (at 10M keys about 20 % slower than mapped reads on a warm page
    ///   cache; README "Memory budget");
    /// - the block cache gets what is left: `bytes` less the memtables' reservation
    ///   (`max_write_buffer_number` ×
    ///   (`write_buffer_size` + 2 MiB of arena slack + key filter)) less the bytes the live
    ///   tables pin, at least 1 MiB. It is resized after
    ///   every flush and compaction, as tables come and go (RocksDB charges memtables and
    ///   pinned blocks to its block cache for the same end: `WriteBufferManager`,
    ///   `cache_index_and_filter_blocks`).
    ///
    /// Not counted: blocks that live iterators hold outside the cache, the allocator's
    /// overhead, and the pinned blocks of a database so large that they alone exceed the
    /// budget (the cache then stays at its 1 MiB floor and `DbStats::memory.total` shows
    /// the excess). At least 8 MiB; [`Error::InvalidArgument`] below.
    #[must_use]
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = Some(bytes);
        self
    }
    /// Keep WAL records of unsynced writes in memory until [`Db::flush_wal`] (default
    /// `false`; RocksDB's `manual_wal_flush`). A write with `sync: false` then returns
    /// without a system call, and a process crash loses the writes not yet flushed: the
    /// application acknowledges them only after `flush_wal`. Records also reach the
    /// operating system with every sync (a `sync: true` write, [`Db::sync_wal`]), at a
    /// memtable switch, at close, and when 1 MiB is buffered. Power-loss guarantees do
    /// not change. `shale serve` uses it to write each event-loop round's records with
    /// one `write()`, as Redis writes its append-only file once per round.
    ///
    /// [`Db::flush_wal`]: crate::db::Db::flush_wal
    /// [`Db::sync_wal`]: crate::db::Db::sync_wal
    #[must_use]
    pub fn manual_wal_flush(mut self, on: bool) -> Self {
        self.manual_wal_flush = on;
        self
    }
    /// Time every write's phases (queue, memtable switch and stalls, WAL append, WAL
    /// sync, memtable insert) into latency histograms that [`Db::stats`] reports as
    /// `write_phases` (default `false`; the counterpart of RocksDB's statistics histograms
    /// and `PerfContext` write timers). Costs about 25 ns per clock read, four to six per
    /// write; see `db/phases.rs`.
    ///
    /// [`Db::stats`]: crate::db::Db::stats
    #[must_use]
    pub fn write_phase_histograms(mut self, on: bool) -> Self {
        self.write_phase_histograms = on;
        self
    }
    /// Bytes of unsynced WAL after which a background thread fdatasyncs the live WAL
    /// (RocksDB's `wal_bytes_per_sync`; default 1 MiB, 0 turns it off). It changes no
    /// guarantee: writes are acknowledged as before and the sync runs without the WAL lock
    /// (as [`Db::sync_wal`] does). It keeps the WAL's dirty pages few, so the fsync that
    /// retires a full WAL at a memtable switch, which runs under the WAL lock, has little
    /// left to write: without it that fsync writes a whole write buffer's worth of log
    /// (64 MiB by default) while every writer waits. Under [`Options::manual_wal_flush`]
    /// it also hands the buffered records to the operating system. Not run with
    /// `inline_background` (the deterministic test schedule).
    ///
    /// [`Db::sync_wal`]: crate::db::Db::sync_wal
    #[must_use]
    pub fn wal_bytes_per_sync(mut self, bytes: u64) -> Self {
        self.wal_bytes_per_sync = bytes;
        self
    }

    /// Bytes by which the live WAL's file is preallocated ahead of its records (default
    /// 4 MiB, capped at the write buffer size; 0 turns it off), with `fallocate(2)`, as
    /// RocksDB preallocates its WAL. A synced append over preallocated space does not
    /// change the file's size, so its `fdatasync` skips a metadata update: on this
    /// project's ext4 test machine 4 KiB-or-smaller appends synced one by one ran about
    /// 1.4× as fast (see README.md "fillsync"). The zeros after the last record read as
    /// the log's clean end (docs/format.md §2.2); a retired or closed WAL is cut back to
    /// its records when sealed. File systems that cannot preallocate simply do not.
    #[must_use]
    pub fn wal_preallocate_bytes(mut self, bytes: u64) -> Self {
        self.wal_preallocate_bytes = bytes;
        self
    }

    /// The WAL's preallocation chunk in bytes: [`Options::wal_preallocate_bytes`], at most
    /// the write buffer size.
    pub(crate) fn wal_prealloc_chunk(&self) -> u64 {
        self.wal_preallocate_bytes.min(self.write_buffer_size as u64)
    }

    /// Keep old versions for reads at past sequence numbers (default
    /// [`HistoryRetention::Off`]); see [`HistoryRetention`], [`Db::snapshot_at`] and
    /// [`Db::set_history_floor`]. The cost is space: every overwritten or deleted version
    /// at or above the floor stays on disk until the floor passes it.
    ///
    /// [`Db::snapshot_at`]: crate::db::Db::snapshot_at
    /// [`Db::set_history_floor`]: crate::db::Db::set_history_floor
    #[must_use]
    pub fn history_retention(mut self, r: HistoryRetention) -> Self {
        self.history_retention = r;
        self
    }

    /// Keep WAL files after their memtable is flushed, in `archive/` under the database
    /// directory, for [`Db::changes_since`] and [`Db::watch`] (RocksDB's `WAL_ttl_seconds`
    /// and `WAL_size_limit_MB`); default: none kept. See [`WalRetention`].
    ///
    /// [`Db::changes_since`]: crate::db::Db::changes_since
    /// [`Db::watch`]: crate::db::Db::watch
    #[must_use]
    pub fn wal_retention(mut self, r: WalRetention) -> Self {
        self.wal_retention = r;
        self
    }
    /// Give each memtable a whole-key bloom filter of this fraction of
    /// `write_buffer_size` (default 0.01; 0: none; at most 0.25; RocksDB's
    /// `memtable_prefix_bloom_size_ratio` with `memtable_whole_key_filtering`). A point
    /// read of a key the memtable does not hold then costs one probe of a 64-byte block
    /// instead of a tree search; every insert sets 3 bits. 0.01 of a 64 MiB buffer is
    /// 671 KB, about 14 bits per entry of 16+100 bytes (under 1% false positives). Worth it
    /// where reads of absent or flushed keys are common, as for `shale serve`, which reads
    /// every key it writes. The filter is probed without the memtable's mutex, so such a
    /// read never waits for a writer: on by default since issue 15's fourth stop
    /// (`shaledb-peers --num 10000000 --workloads fillrandom,readwhilewriting`: reads
    /// beside a writer 89.6K → 102.5K/s; RocksDB 101K in the same harness). Its bytes
    /// count toward the write buffer (a flush comes 1 % sooner) and the memory budget.
    #[must_use]
    pub fn memtable_bloom_size_ratio(mut self, ratio: f64) -> Self {
        self.memtable_bloom_size_ratio = if ratio.is_finite() { ratio.clamp(0.0, 0.25) } else { 0.0 };
        self
    }

    /// Bytes of a new memtable's key filter.
    pub(crate) fn memtable_filter_bytes(&self) -> usize {
        (self.write_buffer_size as f64 * self.memtable_bloom_size_ratio) as usize
    }
    /// Number of L0 tables that triggers a compaction into the base level (default 4, at least 1).
    #[must_use]
    pub fn level0_file_num_compaction_trigger(mut self, n: usize) -> Self {
        self.level0_file_num_compaction_trigger = n;
        self
    }
    /// Number of L0 tables at which each write is delayed by 1 ms (default 20), so that
    /// compaction can catch up before writes must stop.
    #[must_use]
    pub fn level0_slowdown_writes_trigger(mut self, n: usize) -> Self {
        self.level0_slowdown_writes_trigger = n;
        self
    }
    /// Number of L0 tables at which writes wait until compaction brings L0 below it
    /// (default 36). Writes never fail because of a stall.
    #[must_use]
    pub fn level0_stop_writes_trigger(mut self, n: usize) -> Self {
        self.level0_stop_writes_trigger = n;
        self
    }
    /// Target size in bytes of the base level, the level L0 compacts into (default
    /// 256 MiB). Level sizes are dynamic, as RocksDB's
    /// `level_compaction_dynamic_level_bytes`: the last level holds what it holds, each
    /// level above targets a tenth (the multiplier) of the one below, and levels whose
    /// target would fall below this base stay empty.
    #[must_use]
    pub fn max_bytes_for_level_base(mut self, bytes: u64) -> Self {
        self.max_bytes_for_level_base = bytes;
        self
    }
    /// Ratio between the target sizes of adjacent levels (default 10, 2 to 100).
    #[must_use]
    pub fn max_bytes_for_level_multiplier(mut self, m: u64) -> Self {
        self.max_bytes_for_level_multiplier = m;
        self
    }
    /// Background jobs: one flush thread plus `max_background_jobs - 1` compaction threads
    /// (default 2, at least 2). Compactions run at once only on disjoint tables.
    #[must_use]
    pub fn max_background_jobs(mut self, n: usize) -> Self {
        self.max_background_jobs = n;
        self
    }
    /// The nice value compaction threads set for themselves when they start (Linux only;
    /// default `None`: they keep the priority of the thread that opened the database, as
    /// in RocksDB; [`COMPACTION_THREAD_NICE`] (19) is the lowest CPU priority). RocksDB's
    /// `Env::LowerThreadPoolCPUPriority(LOW, kLow)`. When the application's threads and
    /// the background threads want more cores than there are, a compaction at a low
    /// priority yields its core to a read or a write instead of making it wait for its
    /// time slice; in exchange compactions finish later, so L0 grows (reads consult more
    /// tables, the disk holds more) until `level0_slowdown_writes_trigger` slows the
    /// writers, and the debt is paid when the load drops. The flush thread keeps normal
    /// priority: a full memtable waits for it. Measured on a 2-core machine (DESIGN.md
    /// §5.1): with `Some(19)`, one reader beside an unthrottled writer on a 10M-key
    /// database read at p99.9 56-83 µs instead of 834-2,177, and 130-140K reads/s
    /// instead of 86-101K; but a seekrandom right after an overwrite (its compactions
    /// pending) fell from 83K to 70K seeks/s (p99 21-27 -> 66 µs), and the next write
    /// workload paid the deferred compactions (ycsb-a write amplification 3.71 -> 5.81).
    /// Hence off by default. A value outside -20..=19 is `Error::InvalidArgument` at
    /// open; lowering it below the process's own needs privileges, and a refused
    /// `setpriority` is only logged.
    #[must_use]
    pub fn compaction_thread_nice(mut self, nice: Option<i32>) -> Self {
        self.compaction_thread_nice = nice;
        self
    }
    /// Size in bytes at which compaction cuts an output table (default 64 MiB).
    #[must_use]
    pub fn target_file_size(mut self, bytes: u64) -> Self {
        self.target_file_size = bytes;
        self
    }
    /// What recovery does with damaged WAL records (default
    /// [`WalRecoveryMode::TolerateCorruptedTailRecords`]).
    #[must_use]
    pub fn wal_recovery_mode(mut self, m: WalRecoveryMode) -> Self {
        self.wal_recovery_mode = m;
        self
    }
    /// Run flushes and compactions inline, in the writing thread, instead of on background
    /// threads: a deterministic schedule for the crash harness, so a failure reproduces
    /// from its seed (docs/durability.md §3.5). Not for production use.
    #[doc(hidden)]
    #[must_use]
    pub fn inline_background(mut self, on: bool) -> Self {
        self.inline_background = on;
        self
    }
    /// The clock expiry times are read against (default: [`SystemClock`]); tests pass a
    /// [`ManualClock`] to move time.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The compaction filter run on each key's newest value as compaction merges it
    /// (default: none); see [`CompactionFilter`] for what it sees and when.
    #[must_use]
    pub fn compaction_filter(mut self, f: Arc<dyn CompactionFilter>) -> Self {
        self.compaction_filter = Some(f);
        self
    }

    /// The file system every file operation goes through (default: the real disk).
    #[must_use]
    pub fn file_system(mut self, fs: Arc<dyn FileSystem>) -> Self {
        self.fs = fs;
        self
    }

    /// The table-building subset of the options.
    pub(crate) fn table_options(&self) -> crate::sstable::TableOptions {
        crate::sstable::TableOptions {
            block_size: self.block_size,
            restart_interval: self.block_restart_interval,
            compression: self.compression,
            bits_per_key: self.bits_per_key,
        }
    }

    /// Checks every option against its documented range.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first option out of range.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.write_buffer_size < 4096 {
            return Err(Error::InvalidArgument("write_buffer_size must be at least 4 KiB"));
        }
        if self.memory_budget.is_some_and(|b| b < MIN_MEMORY_BUDGET) {
            return Err(Error::InvalidArgument("memory_budget must be at least 8 MiB"));
        }
        if self.max_write_buffer_number < 2 {
            return Err(Error::InvalidArgument("max_write_buffer_number must be at least 2"));
        }
        if !(64..=(4 << 20)).contains(&self.block_size) {
            return Err(Error::InvalidArgument("block_size must be between 64 B and 4 MiB"));
        }
        if !(1..=1024).contains(&self.block_restart_interval) {
            return Err(Error::InvalidArgument("block_restart_interval must be 1 to 1024"));
        }
        if self.max_open_files == 0 {
            return Err(Error::InvalidArgument("max_open_files must be at least 1"));
        }
        if self.bits_per_key > 64 {
            return Err(Error::InvalidArgument("bits_per_key must be at most 64"));
        }
        if self.level0_file_num_compaction_trigger == 0 {
            return Err(Error::InvalidArgument("level0_file_num_compaction_trigger must be >= 1"));
        }
        if self.level0_slowdown_writes_trigger < self.level0_file_num_compaction_trigger
            || self.level0_stop_writes_trigger < self.level0_slowdown_writes_trigger
        {
            return Err(Error::InvalidArgument("L0 triggers must satisfy compaction <= slowdown <= stop"));
        }
        if !(2..=100).contains(&self.max_bytes_for_level_multiplier) {
            return Err(Error::InvalidArgument("max_bytes_for_level_multiplier must be 2 to 100"));
        }
        if self.max_bytes_for_level_base < 4096 {
            return Err(Error::InvalidArgument("max_bytes_for_level_base must be at least 4 KiB"));
        }
        if self.compaction_thread_nice.is_some_and(|n| !(-20..=19).contains(&n)) {
            return Err(Error::InvalidArgument("compaction_thread_nice must be in -20..=19"));
        }
        if self.max_background_jobs < 2 {
            return Err(Error::InvalidArgument("max_background_jobs must be at least 2"));
        }
        if self.target_file_size < 4096 {
            return Err(Error::InvalidArgument("target_file_size must be at least 4 KiB"));
        }
        Ok(())
    }
}

/// Options for one write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Fsync the WAL before the write returns. Without it the write reaches the operating
    /// system before it returns (it survives a process crash, not a power loss).
    pub sync: bool,
}

/// Which old versions compaction keeps for reads at past sequence numbers
/// ([`Options::history_retention`]). Live snapshots are always kept as well.
///
/// The *history floor* is a sequence number: every version at or above it survives
/// compaction together with the newest version below it, so `Db::snapshot_at(s)` works for
/// every `s` from the floor to the latest (it acts as a snapshot at every sequence number
/// from the floor up). The floor is stored in the MANIFEST and survives reopening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryRetention {
    /// No history (the default): only live snapshots keep old versions; a floor stored by
    /// an earlier open is cleared.
    #[default]
    Off,
    /// Keep history from the floor up. The floor starts at the latest sequence number when
    /// history is first turned on, and moves only forward, by `Db::set_history_floor`
    /// (etcd's `compact`).
    Manual,
    /// As `Manual`, and the floor also follows the latest sequence number, keeping the
    /// newest `n` sequence numbers: floor = max(stored floor, latest − n).
    Last(u64),
}

/// How long WAL files are kept after their memtable is flushed ([`Options::wal_retention`]),
/// in `archive/` under the database directory. A file is deleted when the archive holds
/// more than `max_bytes` (oldest first) or when it is older than `max_age`; both zero (the
/// default) keep none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalRetention {
    /// The archive's size limit, in bytes (0: no size limit if `max_age` is set).
    pub max_bytes: u64,
    /// The age limit of an archived WAL, by its modification time (zero: no age limit if
    /// `max_bytes` is set).
    pub max_age: std::time::Duration,
}

impl WalRetention {
    /// True if WALs are archived at all.
    pub fn is_enabled(&self) -> bool {
        self.max_bytes > 0 || !self.max_age.is_zero()
    }
}

/// Smallest [`Options::memory_budget`], in bytes.
pub const MIN_MEMORY_BUDGET: u64 = 8 << 20;

/// Smallest block cache a memory budget leaves, in bytes.
pub const MIN_BUDGET_BLOCK_CACHE: u64 = 1 << 20;

impl Options {
    /// The options with [`Options::memory_budget`] applied (write buffer size, read mode,
    /// initial block cache); unchanged without a budget.
    pub(crate) fn with_budget_applied(mut self) -> Self {
        if let Some(b) = self.memory_budget {
            self.write_buffer_size = usize::try_from(b / 8).unwrap_or(usize::MAX).max(4096);
            self.mmap_reads = false;
            self.block_cache_size = self.budget_block_cache(0).unwrap_or(self.block_cache_size);
        }
        self
    }

    /// Bytes the budget reserves for the memtables, in bytes: each write buffer, two arena
    /// chunks of slack (the chunk it may allocate past its size, and the index nodes'
    /// unused chunk capacity), and its key filter.
    pub(crate) fn budget_memtable_reservation(&self) -> u64 {
        let one =
            self.write_buffer_size + 2 * crate::memtable::btree::CHUNK_BYTES + self.memtable_filter_bytes();
        (self.max_write_buffer_number * one) as u64
    }

    /// The block cache capacity the budget leaves when the live tables pin
    /// `pinned_bytes`; `None` without a budget.
    pub(crate) fn budget_block_cache(&self, pinned_bytes: u64) -> Option<u64> {
        let b = self.memory_budget?;
        Some(b.saturating_sub(self.budget_memtable_reservation() + pinned_bytes).max(MIN_BUDGET_BLOCK_CACHE))
    }
}
