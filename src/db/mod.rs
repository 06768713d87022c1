//! [`Db`]: the handle applications use. `Db` is `Send + Sync`; share it with an `Arc`.
//!
//! Threads: callers (readers and writers), one flush thread (`shaledb-flush`) and
//! `max_background_jobs - 1` compaction threads (`shaledb-compact-N`). Locks, in the order
//! they may nest:
//! 1. `write_queue` (group-commit queue), never held across I/O; a `PendingWrite`'s
//!    `result` mutex is taken under it;
//! 2. `wal` (the leader's WAL writer and sequence counter), held by the group leader
//!    during the WAL append, fsync and memtable insert, and during a memtable switch
//!    (old WAL fsync, new WAL create, directory fsync) and a write stall;
//! 3. `bg_mutex` (paired with `bg_cv`), taken under `wal` while stalled, and by
//!    `poison` and the background threads to signal progress; `poisoned` nests in it;
//! 4. `compacting` (the claims of running compactions), taken after `bg_mutex` by a
//!    manual compaction, alone by the background threads, never while installing;
//! 5. the `VersionSet` installer lock, held while a MANIFEST edit is written and the
//!    new Version published (never while holding `bg_mutex`);
//! 6. the memtable mutex, innermost, never held during I/O.
//!
//! Leaf locks, never held while taking another: `snapshots` (the live snapshot list and
//! the history floor), `watchers` (taken under `wal`) and the block and file caches'
//! internal shard locks.
//!
//! Readers take none of 1-5: they load the current `Version` from its `ArcSwap`.

mod background;
mod builder;
mod changes;
mod checkpoint;
mod flush;
mod iter;
mod phases;
mod read;
mod recovery;
mod repair;
mod replay_sort;
mod snapshot;
mod stats;
mod txn;
mod wal_archive;
mod wal_replay;
mod wal_writeback;
mod watch;
mod write;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

pub use changes::ChangeFeed;
pub use checkpoint::CheckpointInfo;
pub use iter::{DbIterator, RawIterator};
pub use phases::{PhaseLatency, WritePhase};
pub use read::{EntryVisitor, ReadOptions};
pub use recovery::RecoveryReport;
pub use repair::{repair, RepairReport};
pub use snapshot::Snapshot;
pub use stats::{DbStats, LevelStats, MemoryStats, StallStats};
pub use txn::{CasError, Transaction, TransactionOptions, TxnIterator};
pub use watch::{WatchEvent, Watcher, DEFAULT_WATCH_BUFFER};

use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::fs::{FileLock, FileSystem};
use crate::key::SequenceNumber;
use crate::options::{Options, WriteOptions};
use crate::version::set::VersionSet;

/// A message to a background thread.
#[derive(Debug, Clone)]
enum BgMsg {
    /// To the compaction thread: look for a compaction to run.
    Work,
    /// To the flush thread: this immutable memtable (always the oldest one not yet sent)
    /// must be written to L0.
    Flush(Arc<crate::memtable::MemTable>),
    /// Exit.
    Shutdown,
}

/// Shared state of an open database.
pub(crate) struct DbInner {
    dir: PathBuf,
    opts: Options,
    fs: Arc<dyn FileSystem>,
    versions: VersionSet,
    /// Highest sequence number whose write is in the memtable: the read snapshot.
    visible_seqno: AtomicU64,
    write_queue: Mutex<std::collections::VecDeque<Arc<write::PendingWrite>>>,
    write_queue_cv: Condvar,
    /// The group-commit leader's state. See the lock order in the module docs.
    wal: Mutex<write::WalState>,
    /// Set once by the first write-path or background failure; never cleared.
    poisoned: Mutex<Option<String>>,
    is_poisoned: AtomicBool,
    /// Paired with `bg_cv`: background progress (flush installed, compaction done, error).
    bg_mutex: Mutex<()>,
    bg_cv: Condvar,
    flush_tx: Sender<BgMsg>,
    compact_tx: Sender<BgMsg>,
    /// To the WAL writeback thread (`wal_writeback.rs`), if it runs.
    writeback_tx: Sender<BgMsg>,
    /// Set while a writeback request is queued or running: at most one at a time.
    writeback_in_flight: AtomicBool,
    stats: stats::Counters,
    /// The write phases' latency histograms, if `Options::write_phase_histograms`.
    phases: Option<phases::PhaseHistograms>,
    recovery: RecoveryReport,
    /// File numbers of the tables running compactions own. Taken after `bg_mutex` when
    /// both are held (manual compaction), never while installing a Version.
    compacting: Mutex<crate::compaction::picker::Claims>,
    /// Opened by `open_read_only`: every write path returns `Error::ReadOnly`.
    read_only: bool,
    /// Set by `close`; snapshots and iterators check it (shared with every iterator).
    closed: Arc<AtomicBool>,
    /// Live snapshots: sequence number -> how many `Snapshot`s hold it. A leaf lock.
    snapshots: Mutex<std::collections::BTreeMap<SequenceNumber, usize>>,
    /// The stored history floor (`HISTORY_OFF`: history is off); changed only under the
    /// `snapshots` lock, so a compaction's view of both is consistent.
    history_floor: AtomicU64,
    /// Registered watchers (`Db::watch`); a leaf lock, taken by the group leader under
    /// `wal`.
    watchers: Mutex<Vec<watch::WatchSub>>,
    /// True while `watchers` is not empty, so commits skip the lock otherwise.
    has_watchers: AtomicBool,
    /// The block cache and file cache shared by every open table.
    table_ctx: crate::sstable::TableContext,
    /// The identity of the tables this handle writes: the database id and this session's.
    table_id: crate::sstable::TableId,
}

/// An open shaledb database. See the crate docs for an example.
pub struct Db {
    inner: Arc<DbInner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    lock: Mutex<Option<Box<dyn FileLock>>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.inner.dir).finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (or, with `create_if_missing`, creates) the database in directory `path`,
    /// recovering from the MANIFEST and the WALs; see DESIGN.md §6 for the steps.
    ///
    /// # Errors
    /// - [`Error::Locked`] if another handle holds the directory;
    /// - [`Error::InvalidArgument`] for an option out of range, a missing database without
    ///   `create_if_missing`, or an existing one with `error_if_exists`;
    /// - [`Error::Corruption`] naming the file and offset for damaged metadata, tables or
    ///   mid-log WAL damage; [`Error::UnsupportedFormatVersion`]; [`Error::Io`].
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        Self::open_impl(path.as_ref(), opts, false)
    }

    /// Opens an existing database without changing anything on disk: no lock is taken, the
    /// WALs are replayed into memory only, no background thread runs, and writes,
    /// `flush` and `compact_range` return [`Error::ReadOnly`]. For inspection tools
    /// (RocksDB's `OpenForReadOnly`); another process may have it open for writing. An
    /// open that fails while a writer changed CURRENT or the MANIFEST meanwhile (a file
    /// it read was legitimately replaced or removed) starts again from CURRENT, up to 200
    /// times.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if there is no database; [`Error::Busy`] if every
    /// attempt lost its race with a writer; as [`Db::open`] for damage.
    pub fn open_read_only(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        Self::open_impl(path.as_ref(), opts, true)
    }

    fn open_impl(path: &Path, opts: Options, read_only: bool) -> Result<Db> {
        opts.validate()?;
        let opts = opts.with_budget_applied();
        let dir = path.to_path_buf();
        let rec = if read_only {
            recovery::recover_read_only(&dir, &opts)?
        } else {
            recovery::recover(&dir, &opts, false)?
        };
        let (flush_tx, flush_rx) = crossbeam_channel::unbounded();
        let (compact_tx, compact_rx) = crossbeam_channel::unbounded();
        let (writeback_tx, writeback_rx) = crossbeam_channel::unbounded();
        let history_floor = rec.versions.history_floor().unwrap_or(crate::version::edit::HISTORY_OFF);
        let phases = opts.write_phase_histograms.then(phases::PhaseHistograms::new);
        let inner = Arc::new(DbInner {
            fs: Arc::clone(&opts.fs),
            dir,
            opts,
            versions: rec.versions,
            visible_seqno: AtomicU64::new(rec.last_seqno),
            write_queue: Mutex::new(std::collections::VecDeque::new()),
            write_queue_cv: Condvar::new(),
            wal: Mutex::new(write::WalState::new(rec.wal, rec.last_seqno)),
            poisoned: Mutex::new(None),
            is_poisoned: AtomicBool::new(false),
            bg_mutex: Mutex::new(()),
            bg_cv: Condvar::new(),
            flush_tx,
            compact_tx,
            writeback_tx,
            writeback_in_flight: AtomicBool::new(false),
            stats: stats::Counters::default(),
            phases,
            recovery: rec.report,
            table_ctx: rec.table_ctx,
            table_id: rec.table_id,
            snapshots: Mutex::new(std::collections::BTreeMap::new()),
            history_floor: AtomicU64::new(history_floor),
            watchers: Mutex::new(Vec::new()),
            has_watchers: AtomicBool::new(false),
            closed: Arc::new(AtomicBool::new(false)),
            read_only,
            compacting: Mutex::new(crate::compaction::picker::Claims::default()),
        });
        inner.rebalance_memory_budget();
        // Background threads start only after recovery finished (docs/durability.md INV-23).
        let mut threads = Vec::new();
        if !read_only && inner.opts.inline_background {
            inner.compact_pending();
        } else if !read_only {
            threads.push(flush::spawn(Arc::clone(&inner), flush_rx)?);
            for i in 0..inner.opts.max_background_jobs - 1 {
                threads.push(background::spawn(i, Arc::clone(&inner), compact_rx.clone())?);
            }
            if inner.opts.wal_bytes_per_sync > 0 {
                threads.push(wal_writeback::spawn(Arc::clone(&inner), writeback_rx)?);
            }
            // Recovery may have left L0 over its trigger.
            let _ = inner.compact_tx.send(BgMsg::Work);
        }
        Ok(Db {
            inner,
            threads: Mutex::new(threads),
            lock: Mutex::new(rec.lock),
            closed: AtomicBool::new(false),
        })
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Sets `key` to `value`. Returns the write's sequence number.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a key above 64 KiB or a value above 64 MiB;
    /// [`Error::Io`] if the WAL append fails (the database is then poisoned);
    /// [`Error::Poisoned`]; [`Error::Closed`].
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<SequenceNumber> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(b)
    }

    /// Sets `key` to `value` until `ttl` from now (by the database's clock, millisecond
    /// precision): from then on every read treats the key as deleted, and compaction
    /// reclaims it. Returns the write's sequence number.
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn put_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> Result<SequenceNumber> {
        let mut b = WriteBatch::new();
        b.put_with_ttl(key, value, ttl);
        self.write(b)
    }

    /// Sets `key` to `value` until the instant `at` (millisecond precision; an instant
    /// already past writes an entry that reads as deleted). Returns the write's sequence
    /// number.
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn put_expire_at(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        at: std::time::SystemTime,
    ) -> Result<SequenceNumber> {
        let mut b = WriteBatch::new();
        b.put_expire_at(key, value, at);
        self.write(b)
    }

    /// Deletes `key` (a tombstone; deleting an absent key is not an error). Returns the
    /// write's sequence number.
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<SequenceNumber> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b)
    }

    /// Deletes every key `k` with `start <= k < end` as one write with one sequence
    /// number, in O(1) work at write time however many keys the range holds (a range
    /// tombstone, after RocksDB's `DeleteRange`). Reads from then on, and snapshots taken
    /// after it, see none of those keys; snapshots taken before still do. Compaction
    /// reclaims the covered entries (DESIGN.md §5.12). `start == end` deletes nothing.
    /// Returns the write's sequence number.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `start > end` or a bound above 64 KiB; otherwise as
    /// [`Db::put`].
    pub fn delete_range(&self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<SequenceNumber> {
        let mut b = WriteBatch::new();
        b.delete_range(start, end);
        self.write(b)
    }

    /// Applies `batch` atomically without fsync. Returns the sequence number of its last
    /// operation (its first is that minus `len - 1`).
    ///
    /// # Errors
    /// As [`Db::put`].
    pub fn write(&self, batch: WriteBatch) -> Result<SequenceNumber> {
        self.write_opt(batch, &WriteOptions::default())
    }

    /// Applies `batch` atomically; with `opts.sync` the WAL is fsynced before this returns.
    /// Concurrent writers are committed together by one leader (group commit).
    ///
    /// # Errors
    /// As [`Db::put`]; with `sync`, also [`Error::Io`] from the fsync.
    pub fn write_opt(&self, batch: WriteBatch, opts: &WriteOptions) -> Result<SequenceNumber> {
        self.check_writable()?;
        self.inner.write(batch, opts.sync)
    }

    /// Makes every acknowledged write durable without a write of its own (RocksDB's
    /// `SyncWAL`): fdatasyncs the live WAL (older WALs were fsynced when they were
    /// sealed). After `write_opt(.., sync: false)` then `sync_wal()`, the write has the
    /// guarantees of `sync: true`. It waits for a commit group in progress, then runs the
    /// fdatasync without the WAL lock, so other writers commit meanwhile (their writes
    /// need a later sync); a failed fsync poisons the database (docs/durability.md R7).
    ///
    /// # Errors
    /// [`Error::Io`] from the fsync; [`Error::Poisoned`]; [`Error::ReadOnly`];
    /// [`Error::Closed`].
    pub fn sync_wal(&self) -> Result<()> {
        self.check_writable()?;
        self.inner.sync_wal()
    }

    /// Hands the WAL records buffered under [`Options::manual_wal_flush`] to the operating
    /// system in one `write()` (RocksDB's `FlushWAL`); with `sync`, also fdatasyncs the WAL
    /// as [`Db::sync_wal`] does. Afterwards every write that returned before the call
    /// survives a process crash (and with `sync`, a power loss). Without
    /// `manual_wal_flush` nothing is buffered and only `sync` has an effect. A failed write
    /// or sync poisons the database (docs/durability.md R7).
    ///
    /// # Errors
    /// [`Error::Io`] from the write or the fsync; [`Error::Poisoned`];
    /// [`Error::ReadOnly`]; [`Error::Closed`].
    ///
    /// [`Options::manual_wal_flush`]: crate::options::Options::manual_wal_flush
    pub fn flush_wal(&self, sync: bool) -> Result<()> {
        self.check_writable()?;
        let mut wal = self.inner.wal.lock();
        self.inner.check_poisoned()?;
        let r = if sync { wal.sync() } else { wal.flush() };
        r.map_err(|e| self.inner.poison(e.into()))
    }

    /// An estimate of the number of live keys, without I/O, from counters the memtables
    /// and the tables' properties already hold (cost proportional to the number of tables)
    /// (RocksDB's
    /// `rocksdb.estimate-num-keys`): entries in the memtables and tables, minus twice the
    /// tombstones (a tombstone and the entry it hides). Overwritten keys count once per
    /// version until compaction merges them and deleted keys may count until then; expect
    /// the estimate to be high by the share of such versions and never to go below zero.
    pub fn estimate_num_keys(&self) -> u64 {
        self.inner.estimate_num_keys()
    }

    /// The bytes on disk of the tables holding keys in `[start, end)` (`None` leaves that
    /// end open), after RocksDB's `GetApproximateSizes`: whole tables inside the range
    /// count fully; a table the range cuts counts from the data block holding `start` to
    /// the one holding `end`, found through its index block. The error is below one data
    /// block (`block_size`, 4 KiB by default) per table the range cuts, plus whatever
    /// memtable data is not yet flushed (not counted).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `start > end`; [`Error::Corruption`] or [`Error::Io`]
    /// reading an index block; [`Error::Closed`].
    pub fn approximate_size(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<u64> {
        self.check_open()?;
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(Error::InvalidArgument("approximate_size: start is after end"));
            }
        }
        let v = self.inner.versions.load();
        let mut total = 0u64;
        for t in v.levels.iter().flatten() {
            let (lo, hi) = (t.meta.smallest_user_key(), t.meta.largest_user_key());
            if start.is_some_and(|s| hi < s) || end.is_some_and(|e| lo >= e) {
                continue;
            }
            let table = t.table();
            let from = match start {
                Some(s) if s > lo => table.approximate_offset_of(s)?,
                _ => 0,
            };
            let to = match end {
                Some(e) if e <= hi => table.approximate_offset_of(e)?,
                _ => t.meta.file_size,
            };
            total += to.saturating_sub(from);
        }
        Ok(total)
    }

    /// Turns the memtable (if not empty) into an L0 table and waits until every immutable
    /// memtable that existed has been flushed.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Poisoned`] if the switch or a flush failed; [`Error::Closed`].
    pub fn flush(&self) -> Result<()> {
        self.check_writable()?;
        self.inner.flush_and_wait()
    }

    /// Compacts every table whose keys overlap `[start, end]` (`None` leaves that end open)
    /// through to the last level, after flushing the memtable, and waits. Tombstones and
    /// shadowed versions that no live snapshot needs are dropped, so after
    /// `compact_range(None, None)` the tables hold each live key once.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `start > end`; [`Error::Io`] or [`Error::Corruption`]
    /// from a compaction (the database is then poisoned); [`Error::Poisoned`];
    /// [`Error::Closed`].
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.check_writable()?;
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(Error::InvalidArgument("compact_range: start is after end"));
            }
        }
        self.inner.compact_range(start, end)
    }

    /// The sequence number of the last acknowledged write.
    pub fn last_seqno(&self) -> SequenceNumber {
        self.inner.visible_seqno.load(Ordering::Acquire)
    }

    /// What recovery did when this handle was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// Tables per level, counters and the recovery report.
    pub fn stats(&self) -> DbStats {
        self.inner.stats()
    }

    /// Blocks until no flush or compaction is running or due (RocksDB's
    /// `WaitForCompact`): every immutable memtable is flushed and the compaction picker
    /// finds nothing to do. Returns at once on a read-only handle.
    ///
    /// # Errors
    /// [`Error::Poisoned`] if background work failed; [`Error::Closed`].
    pub fn wait_for_compaction(&self) -> Result<()> {
        self.check_open()?;
        if self.inner.read_only {
            return Ok(());
        }
        self.inner.wait_for_compaction()
    }

    /// Stops the background threads (waiting for a running flush or compaction), fsyncs
    /// the WAL and releases the directory lock. Idempotent and callable through an
    /// `Arc<Db>`: only the first call does the work (later calls return `Ok(())`), and
    /// afterwards every read or write through the handle, its snapshots and its iterators
    /// returns [`Error::Closed`]. Dropping the last handle closes it too.
    ///
    /// # Errors
    /// [`Error::Io`] if the final WAL fsync fails.
    pub fn close(&self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.closed.store(true, Ordering::Release);
        self.inner.drop_watchers();
        let _ = self.inner.flush_tx.send(BgMsg::Shutdown);
        for _ in 1..self.inner.opts.max_background_jobs {
            let _ = self.inner.compact_tx.send(BgMsg::Shutdown);
        }
        let _ = self.inner.writeback_tx.send(BgMsg::Shutdown);
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        let res = if self.inner.is_poisoned.load(Ordering::Acquire) || self.inner.read_only {
            Ok(())
        } else {
            self.inner.wal.lock().seal().map_err(Error::from)
        };
        self.lock.lock().take();
        res
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.inner.read_only {
            return Err(Error::ReadOnly);
        }
        Ok(())
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            log::error!("closing {}: {e}", self.inner.dir.display());
        }
    }
}

impl DbInner {
    /// The sequence numbers of the live snapshots, ascending, and the history floor, read
    /// together: what a compaction must keep.
    pub(super) fn retention_view(&self) -> (Vec<SequenceNumber>, Option<SequenceNumber>) {
        let snaps = self.snapshots.lock();
        (snaps.keys().copied().collect(), self.effective_history_floor())
    }

    /// Records the first failure and makes every later write fail (docs/durability.md R7).
    /// Wakes writers waiting on background progress. Returns `err` for the caller.
    fn poison(&self, err: Error) -> Error {
        {
            let mut p = self.poisoned.lock();
            if p.is_none() {
                log::error!("poisoning {}: {err}", self.dir.display());
                *p = Some(err.to_string());
            }
        }
        self.is_poisoned.store(true, Ordering::Release);
        let _g = self.bg_mutex.lock();
        self.bg_cv.notify_all();
        err
    }

    fn check_poisoned(&self) -> Result<()> {
        if self.is_poisoned.load(Ordering::Acquire) {
            let msg = self.poisoned.lock().clone().unwrap_or_default();
            return Err(Error::Poisoned(msg));
        }
        Ok(())
    }

    /// Wakes everyone waiting for background progress.
    fn notify_progress(&self) {
        let _g = self.bg_mutex.lock();
        self.bg_cv.notify_all();
    }
}
