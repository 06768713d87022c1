//! Counters updated on the write, flush and compaction paths (relaxed atomics), and the
//! [`DbStats`] snapshot that `Db::stats` returns.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::recovery::RecoveryReport;
use super::DbInner;
use crate::version::NUM_LEVELS;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    wal_bytes: AtomicU64,
    user_ops: AtomicU64,
    write_groups: AtomicU64,
    wal_syncs: AtomicU64,
    stall_count: AtomicU64,
    stall_micros: AtomicU64,
    flush_count: AtomicU64,
    flush_bytes: AtomicU64,
    compaction_count: AtomicU64,
    compaction_bytes_read: AtomicU64,
    compaction_bytes_written: AtomicU64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Counters {
    pub(crate) fn record_write(&self, wal_bytes: u64, ops: u64, _took: Duration, synced: bool) {
        self.wal_bytes.fetch_add(wal_bytes, Relaxed);
        self.user_ops.fetch_add(ops, Relaxed);
        self.write_groups.fetch_add(1, Relaxed);
        if synced {
            self.wal_syncs.fetch_add(1, Relaxed);
        }
    }
    pub(crate) fn record_stall(&self, took: Duration) {
        self.stall_count.fetch_add(1, Relaxed);
        self.stall_micros.fetch_add(micros(took), Relaxed);
    }
    pub(crate) fn record_flush(&self, bytes: u64, _took: Duration) {
        self.flush_count.fetch_add(1, Relaxed);
        self.flush_bytes.fetch_add(bytes, Relaxed);
    }
    pub(crate) fn record_compaction(&self, read: u64, written: u64, _took: Duration) {
        self.compaction_count.fetch_add(1, Relaxed);
        self.compaction_bytes_read.fetch_add(read, Relaxed);
        self.compaction_bytes_written.fetch_add(written, Relaxed);
    }
}

/// Tables and bytes in one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelStats {
    /// Level number, 0 to 6.
    pub level: usize,
    /// Number of tables.
    pub tables: usize,
    /// Sum of the tables' file sizes, in bytes.
    pub bytes: u64,
}

/// A snapshot of the database's shape and counters since open.
#[derive(Debug, Clone)]
pub struct DbStats {
    /// One entry per level, L0 to L6.
    pub levels: Vec<LevelStats>,
    /// Sequence number of the last acknowledged write.
    pub last_seqno: u64,
    /// Bytes charged to the mutable memtable.
    pub memtable_bytes: u64,
    /// Immutable memtables waiting for flush.
    pub immutable_memtables: usize,
    /// Bytes appended to WALs since open (batch payloads, before framing).
    pub wal_bytes: u64,
    /// Operations (puts and deletes) written since open.
    pub user_ops: u64,
    /// WAL appends (one per commit group) since open.
    pub write_groups: u64,
    /// WAL fsyncs requested by `sync` writes since open.
    pub wal_syncs: u64,
    /// Write stalls (waits for a flush) since open.
    pub stall_count: u64,
    /// Time spent stalled, in microseconds.
    pub stall_micros: u64,
    /// Memtable flushes since open.
    pub flush_count: u64,
    /// Bytes of tables written by flushes.
    pub flush_bytes: u64,
    /// Compactions since open.
    pub compaction_count: u64,
    /// Bytes of tables read by compactions.
    pub compaction_bytes_read: u64,
    /// Bytes of tables written by compactions.
    pub compaction_bytes_written: u64,
    /// The MANIFEST's file number.
    pub manifest_number: u64,
    /// The MANIFEST's size in bytes.
    pub manifest_bytes: u64,
    /// Table files opened since open (including reopens after a file-cache eviction).
    pub table_file_opens: u64,
    /// Table file handles held open now (at most `max_open_files`).
    pub open_table_files: usize,
    /// Block cache counters (all zero when the cache is off).
    pub block_cache: crate::sstable::cache::CacheStats,
    /// What recovery did at open.
    pub recovery: RecoveryReport,
}

impl DbInner {
    pub(super) fn stats(&self) -> DbStats {
        let v = self.versions.current();
        let c = &self.stats;
        let (manifest_number, manifest_bytes) = self.versions.manifest_info();
        DbStats {
            levels: (0..NUM_LEVELS)
                .map(|l| LevelStats { level: l, tables: v.levels[l].len(), bytes: v.level_bytes(l) })
                .collect(),
            last_seqno: self.visible_seqno.load(std::sync::atomic::Ordering::Acquire),
            memtable_bytes: v.mem.approximate_size() as u64,
            immutable_memtables: v.imm.len(),
            wal_bytes: c.wal_bytes.load(Relaxed),
            user_ops: c.user_ops.load(Relaxed),
            write_groups: c.write_groups.load(Relaxed),
            wal_syncs: c.wal_syncs.load(Relaxed),
            stall_count: c.stall_count.load(Relaxed),
            stall_micros: c.stall_micros.load(Relaxed),
            flush_count: c.flush_count.load(Relaxed),
            flush_bytes: c.flush_bytes.load(Relaxed),
            compaction_count: c.compaction_count.load(Relaxed),
            compaction_bytes_read: c.compaction_bytes_read.load(Relaxed),
            compaction_bytes_written: c.compaction_bytes_written.load(Relaxed),
            manifest_number,
            manifest_bytes,
            block_cache: self.table_ctx.block_cache.as_ref().map(|c| c.stats()).unwrap_or_default(),
            table_file_opens: self.table_ctx.file_cache.as_ref().map_or(0, |c| c.opens()),
            open_table_files: self.table_ctx.file_cache.as_ref().map_or(0, |c| c.len()),
            recovery: self.recovery.clone(),
        }
    }
}
