//! Counters updated on the write, flush and compaction paths (relaxed atomics), and the
//! [`DbStats`] snapshot that `Db::stats` returns, with write and space amplification
//! computed as RocksDB's compaction statistics define them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::recovery::RecoveryReport;
use super::DbInner;
use crate::compaction::{level_metadata, picker};
use crate::version::NUM_LEVELS;

/// Why a write waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StallCause {
    /// All memtables were full, waiting for a flush.
    Memtables,
    /// L0 reached `level0_slowdown_writes_trigger`: each write is delayed 1 ms.
    L0Slowdown,
    /// L0 reached `level0_stop_writes_trigger`: writes wait for compaction.
    L0Stop,
}

#[derive(Debug, Default)]
struct LevelCounters {
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    compactions: AtomicU64,
    trivial_moves: AtomicU64,
}

#[derive(Debug, Default)]
struct StallCounters {
    count: AtomicU64,
    micros: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    user_bytes: AtomicU64,
    wal_bytes: AtomicU64,
    user_ops: AtomicU64,
    write_groups: AtomicU64,
    wal_syncs: AtomicU64,
    wal_writebacks: AtomicU64,
    stalls: [StallCounters; 3],
    flush_count: AtomicU64,
    flush_bytes: AtomicU64,
    compaction_raw_bytes: AtomicU64,
    levels: [LevelCounters; NUM_LEVELS],
    /// Expired entries compaction dropped or turned into tombstones.
    expired: AtomicU64,
    /// Entries the compaction filter removed or changed.
    filtered: AtomicU64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Counters {
    /// Counts entries the compaction filter removed or changed.
    pub(crate) fn record_filtered(&self, n: u64) {
        self.filtered.fetch_add(n, Relaxed);
    }

    /// Counts expired entries a compaction reclaimed.
    pub(crate) fn record_expired(&self, n: u64) {
        self.expired.fetch_add(n, Relaxed);
    }

    pub(crate) fn record_write(&self, user_bytes: u64, wal_bytes: u64, ops: u64, synced: bool) {
        self.user_bytes.fetch_add(user_bytes, Relaxed);
        self.wal_bytes.fetch_add(wal_bytes, Relaxed);
        self.user_ops.fetch_add(ops, Relaxed);
        self.write_groups.fetch_add(1, Relaxed);
        if synced {
            self.wal_syncs.fetch_add(1, Relaxed);
        }
    }
    pub(crate) fn record_wal_writeback(&self) {
        self.wal_writebacks.fetch_add(1, Relaxed);
    }

    /// The counter compaction jobs add merged key and value bytes to.
    pub(crate) fn compaction_progress(&self) -> &AtomicU64 {
        &self.compaction_raw_bytes
    }
    pub(crate) fn record_stall(&self, cause: StallCause, took: Duration) {
        let c = &self.stalls[cause as usize];
        c.count.fetch_add(1, Relaxed);
        c.micros.fetch_add(micros(took), Relaxed);
    }
    pub(crate) fn record_flush(&self, bytes: u64, _took: Duration) {
        self.flush_count.fetch_add(1, Relaxed);
        self.flush_bytes.fetch_add(bytes, Relaxed);
        self.levels[0].bytes_written.fetch_add(bytes, Relaxed);
    }
    /// A compaction into `level` that read `read` and wrote `written` bytes.
    pub(crate) fn record_compaction(
        &self,
        level: usize,
        read: u64,
        written: u64,
        trivial: bool,
        _took: Duration,
    ) {
        let l = &self.levels[level];
        l.bytes_read.fetch_add(read, Relaxed);
        l.bytes_written.fetch_add(written, Relaxed);
        l.compactions.fetch_add(1, Relaxed);
        if trivial {
            l.trivial_moves.fetch_add(1, Relaxed);
        }
    }
}

/// One level's shape and compaction counters.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LevelStats {
    /// Level number, 0 to 6.
    pub level: usize,
    /// Number of tables.
    pub tables: usize,
    /// Sum of the tables' file sizes, in bytes.
    pub bytes: u64,
    /// The compaction picker's score (1 or more means a compaction is due).
    pub score: f64,
    /// Target size in bytes (0 for L0 and the empty levels above the base level).
    pub target_bytes: u64,
    /// Bytes read by compactions into this level.
    pub bytes_read: u64,
    /// Bytes written to this level (flushes for L0, compactions otherwise).
    pub bytes_written: u64,
    /// Compactions into this level, trivial moves included.
    pub compactions: u64,
    /// Of those, trivial moves (a MANIFEST edit, no rewrite).
    pub trivial_moves: u64,
    /// `bytes_written` over the user bytes written since open (0 before any write): this
    /// level's share of [`DbStats::write_amplification`].
    pub write_amplification: f64,
}

/// Count and total time of one kind of write stall.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StallStats {
    /// Writes that waited.
    pub count: u64,
    /// Total time waited, in microseconds.
    pub micros: u64,
}

/// Memory the engine holds now, by component, in bytes (issue 15's memory budget).
/// Not counted: the operating system's page cache of table files (memory-mapped reads
/// included), iterators' pinned blocks, and allocator overhead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MemoryStats {
    /// The mutable and immutable memtables' allocations (`MemTable::allocated_bytes`:
    /// arena chunks, index nodes, key filters, range tombstones), and the arena chunks
    /// kept from dropped memtables for the next ones (at most one write buffer,
    /// `MemTable::pool_bytes`).
    pub memtables: u64,
    /// Bytes charged to the blocks in the block cache.
    pub block_cache: u64,
    /// Index and filter blocks the live tables pin (`Table::pinned_bytes`).
    pub table_readers: u64,
    /// The sum of the above.
    pub total: u64,
    /// [`crate::Options::memory_budget`], if set: `total` stays within it unless the
    /// pinned blocks alone exceed it (see there).
    pub budget: Option<u64>,
}

/// A snapshot of the database's shape and counters since open.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DbStats {
    /// One entry per level, L0 to L6.
    pub levels: Vec<LevelStats>,
    /// The level L0 compacts into (dynamic level sizing).
    pub base_level: usize,
    /// Sequence number of the last acknowledged write.
    pub last_seqno: u64,
    /// Expired entries (TTL) compaction dropped or turned into tombstones so far.
    pub expired_entries_reclaimed: u64,
    /// Entries the compaction filter removed or changed so far.
    pub compaction_filter_decisions: u64,
    /// `Db::estimate_num_keys` at the time of the call.
    pub estimated_num_keys: u64,
    /// `Db::approximate_size` of the whole key space, in bytes (the tables on disk).
    pub approximate_size_bytes: u64,
    /// Bytes charged to the mutable memtable.
    pub memtable_bytes: u64,
    /// Immutable memtables waiting for flush.
    pub immutable_memtables: usize,
    /// Key and value bytes written by users since open.
    pub user_bytes: u64,
    /// Bytes appended to WALs since open (batch payloads, before framing).
    pub wal_bytes: u64,
    /// Operations (puts and deletes) written since open.
    pub user_ops: u64,
    /// WAL appends (one per commit group) since open.
    pub write_groups: u64,
    /// WAL fsyncs requested by `sync` writes since open.
    pub wal_syncs: u64,
    /// Background WAL fdatasyncs run since open because `Options::wal_bytes_per_sync`
    /// bytes were appended unsynced (RocksDB's `wal_bytes_per_sync`).
    pub wal_writebacks: u64,
    /// Memtable flushes since open.
    pub flush_count: u64,
    /// Bytes of tables written by flushes.
    pub flush_bytes: u64,
    /// Compactions since open (all levels, trivial moves included).
    pub compaction_count: u64,
    /// Bytes of tables read by compactions.
    pub compaction_bytes_read: u64,
    /// Bytes of tables written by compactions.
    pub compaction_bytes_written: u64,
    /// Key and value bytes merged by compactions since open (grows while a compaction
    /// runs: a progress measure).
    pub compaction_raw_bytes_processed: u64,
    /// Key and value bytes of all live tables, uncompressed (from their properties).
    pub raw_table_bytes: u64,
    /// (flush bytes + compaction bytes written) / user bytes, since open; 0 before any
    /// write.
    pub write_amplification: f64,
    /// Bytes of all tables over bytes of the last non-empty level: 1.0 when everything is
    /// fully compacted, which is when the last level holds exactly the live data.
    pub space_amplification: f64,
    /// Waits because every memtable was full.
    pub stall_memtables: StallStats,
    /// Writes delayed because L0 reached `level0_slowdown_writes_trigger`.
    pub stall_l0_slowdown: StallStats,
    /// Waits because L0 reached `level0_stop_writes_trigger`.
    pub stall_l0_stop: StallStats,
    /// Table files opened since open (including reopens after a file-cache eviction).
    pub table_file_opens: u64,
    /// Table file handles held open now (at most `max_open_files`).
    pub open_table_files: usize,
    /// Block cache counters (all zero when the cache is off).
    pub block_cache: crate::sstable::cache::CacheStats,
    /// The MANIFEST's file number.
    pub manifest_number: u64,
    /// The MANIFEST's size in bytes.
    pub manifest_bytes: u64,
    /// What recovery did at open.
    pub recovery: RecoveryReport,
    /// Memory held now, by component.
    pub memory: MemoryStats,
    /// Latency histograms of the write path's phases since open, one entry per
    /// [`crate::WritePhase`] in `WritePhase::ALL`'s order; empty unless
    /// [`crate::Options::write_phase_histograms`] is on.
    pub write_phases: Vec<super::phases::PhaseLatency>,
}

impl DbStats {
    /// Total time writes spent stalled, in microseconds.
    pub fn stall_micros(&self) -> u64 {
        self.stall_memtables.micros + self.stall_l0_slowdown.micros + self.stall_l0_stop.micros
    }
    /// Bytes of all tables.
    pub fn table_bytes(&self) -> u64 {
        self.levels.iter().map(|l| l.bytes).sum()
    }
}

impl DbInner {
    /// Under [`crate::Options::memory_budget`], gives the block cache what the memtables'
    /// reservation and the live tables' pinned index and filter blocks leave of the
    /// budget; nothing without one. Called after recovery and after every flush and
    /// compaction install.
    pub(super) fn rebalance_memory_budget(&self) {
        let Some(cache) = self.table_ctx.block_cache.as_ref() else { return };
        if self.opts.memory_budget.is_none() {
            return;
        }
        let v = self.versions.current();
        let pinned = v.levels.iter().flatten().map(|t| t.table().pinned_bytes() as u64).sum::<u64>();
        if let Some(capacity) = self.opts.budget_block_cache(pinned) {
            cache.set_capacity(capacity);
        }
    }

    /// See `Db::estimate_num_keys`.
    pub(super) fn estimate_num_keys(&self) -> u64 {
        let v = self.versions.load();
        let (mut entries, mut deletions) = (0u64, 0u64);
        for m in std::iter::once(&v.mem).chain(&v.imm) {
            let (n, d) = m.num_entries();
            entries += n;
            deletions += d;
        }
        for t in v.levels.iter().flatten() {
            let p = t.table().properties();
            entries += p.num_entries;
            deletions += p.num_deletions;
        }
        entries.saturating_sub(2 * deletions)
    }

    pub(super) fn stats(&self) -> DbStats {
        let v = self.versions.current();
        let c = &self.stats;
        let (manifest_number, manifest_bytes) = self.versions.manifest_info();
        let meta = level_metadata(&v);
        let po = picker::PickerOptions::from_options(&self.opts);
        let scores = picker::scores(&meta, &po);
        let targets = picker::level_targets(&meta, &po);
        let levels: Vec<LevelStats> = (0..NUM_LEVELS)
            .map(|l| LevelStats {
                level: l,
                tables: v.levels[l].len(),
                bytes: v.level_bytes(l),
                score: scores[l],
                target_bytes: targets.targets[l],
                bytes_read: c.levels[l].bytes_read.load(Relaxed),
                bytes_written: c.levels[l].bytes_written.load(Relaxed),
                compactions: c.levels[l].compactions.load(Relaxed),
                trivial_moves: c.levels[l].trivial_moves.load(Relaxed),
                write_amplification: {
                    let user = c.user_bytes.load(Relaxed);
                    if user == 0 {
                        0.0
                    } else {
                        c.levels[l].bytes_written.load(Relaxed) as f64 / user as f64
                    }
                },
            })
            .collect();
        let flush_bytes = c.flush_bytes.load(Relaxed);
        let compaction_bytes_written: u64 = levels[1..].iter().map(|l| l.bytes_written).sum();
        let user_bytes = c.user_bytes.load(Relaxed);
        let total: u64 = levels.iter().map(|l| l.bytes).sum();
        let last = levels.iter().rev().find(|l| l.bytes > 0).map_or(0, |l| l.bytes);
        let stall = |i: usize| StallStats {
            count: c.stalls[i].count.load(Relaxed),
            micros: c.stalls[i].micros.load(Relaxed),
        };
        DbStats {
            base_level: targets.base_level,
            last_seqno: self.visible_seqno.load(std::sync::atomic::Ordering::Acquire),
            estimated_num_keys: self.estimate_num_keys(),
            expired_entries_reclaimed: self.stats.expired.load(Relaxed),
            compaction_filter_decisions: self.stats.filtered.load(Relaxed),
            approximate_size_bytes: self
                .versions
                .load()
                .levels
                .iter()
                .flatten()
                .map(|t| t.meta.file_size)
                .sum(),
            memtable_bytes: v.mem.approximate_size() as u64,
            immutable_memtables: v.imm.len(),
            user_bytes,
            wal_bytes: c.wal_bytes.load(Relaxed),
            user_ops: c.user_ops.load(Relaxed),
            write_groups: c.write_groups.load(Relaxed),
            wal_syncs: c.wal_syncs.load(Relaxed),
            wal_writebacks: c.wal_writebacks.load(Relaxed),
            flush_count: c.flush_count.load(Relaxed),
            flush_bytes,
            compaction_count: levels[1..].iter().map(|l| l.compactions).sum(),
            compaction_bytes_read: levels.iter().map(|l| l.bytes_read).sum(),
            compaction_bytes_written,
            compaction_raw_bytes_processed: c.compaction_raw_bytes.load(Relaxed),
            raw_table_bytes: v
                .levels
                .iter()
                .flatten()
                .map(|t| {
                    let p = t.table().properties();
                    p.raw_key_size + p.raw_value_size
                })
                .sum(),
            write_amplification: if user_bytes == 0 {
                0.0
            } else {
                (flush_bytes + compaction_bytes_written) as f64 / user_bytes as f64
            },
            space_amplification: if last == 0 { 1.0 } else { total as f64 / last as f64 },
            stall_memtables: stall(StallCause::Memtables as usize),
            stall_l0_slowdown: stall(StallCause::L0Slowdown as usize),
            stall_l0_stop: stall(StallCause::L0Stop as usize),
            table_file_opens: self.table_ctx.file_cache.as_ref().map_or(0, |c| c.opens()),
            open_table_files: self.table_ctx.file_cache.as_ref().map_or(0, |c| c.len()),
            block_cache: self.table_ctx.block_cache.as_ref().map(|c| c.stats()).unwrap_or_default(),
            manifest_number,
            manifest_bytes,
            recovery: self.recovery.clone(),
            memory: {
                let memtables = std::iter::once(&v.mem)
                    .chain(v.imm.iter())
                    .map(|m| m.allocated_bytes() as u64)
                    .sum::<u64>()
                    + v.mem.pool_bytes() as u64;
                let block_cache = self.table_ctx.block_cache.as_ref().map_or(0, |c| c.stats().usage);
                let table_readers =
                    v.levels.iter().flatten().map(|t| t.table().pinned_bytes() as u64).sum::<u64>();
                MemoryStats {
                    memtables,
                    block_cache,
                    table_readers,
                    total: memtables + block_cache + table_readers,
                    budget: self.opts.memory_budget,
                }
            },
            write_phases: self
                .phases
                .as_ref()
                .map(super::phases::PhaseHistograms::report)
                .unwrap_or_default(),
            levels,
        }
    }
}
