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
//! Leaf locks, never held while taking another: `snapshots` (the live snapshot list) and
//! the block and file caches' internal shard locks.
//!
//! Readers take none of 1-5: they load the current `Version` from its `ArcSwap`.

mod background;
mod checkpoint;
mod flush;
/// The table-writing helpers, for the repair tool.
pub(crate) mod flush_support {
    pub(crate) use super::flush::{write_memtable, TableWriter};
}
mod recovery;
mod snapshot;
mod stats;
mod write;

use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex};

pub use checkpoint::CheckpointInfo;
pub use recovery::RecoveryReport;
pub use snapshot::Snapshot;
pub use stats::{DbStats, LevelStats, StallStats};

use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::fs::{FileLock, FileSystem};
use crate::iterator::{DbIterator, InternalIterator, RawIterator};
use crate::key::SequenceNumber;
use crate::options::{Options, ReadOptions, WriteOptions};
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
    stats: stats::Counters,
    recovery: RecoveryReport,
    /// File numbers of the tables running compactions own. Taken after `bg_mutex` when
    /// both are held (manual compaction), never while installing a Version.
    compacting: Mutex<crate::compaction::picker::Claims>,
    /// Opened by `open_read_only`: every write path returns `Error::ReadOnly`.
    read_only: bool,
    /// Set by `close`; snapshots check it.
    closed: AtomicBool,
    /// Live snapshots: sequence number -> how many `Snapshot`s hold it. A leaf lock.
    snapshots: Mutex<std::collections::BTreeMap<SequenceNumber, usize>>,
    /// The block cache and file cache shared by every open table.
    table_ctx: crate::sstable::TableContext,
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
    /// (RocksDB's `OpenForReadOnly`); another process may have it open for writing.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if there is no database; as [`Db::open`] for damage.
    pub fn open_read_only(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        Self::open_impl(path.as_ref(), opts, true)
    }

    fn open_impl(path: &Path, opts: Options, read_only: bool) -> Result<Db> {
        opts.validate()?;
        let dir = path.to_path_buf();
        let rec = recovery::recover(&dir, &opts, read_only)?;
        let (flush_tx, flush_rx) = crossbeam_channel::unbounded();
        let (compact_tx, compact_rx) = crossbeam_channel::unbounded();
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
            stats: stats::Counters::default(),
            recovery: rec.report,
            table_ctx: rec.table_ctx,
            snapshots: Mutex::new(std::collections::BTreeMap::new()),
            closed: AtomicBool::new(false),
            read_only,
            compacting: Mutex::new(crate::compaction::picker::Claims::default()),
        });
        // Background threads start only after recovery finished (RELIABILITY.md INV-23).
        let mut threads = Vec::new();
        if !read_only && inner.opts.inline_background {
            inner.compact_pending();
        } else if !read_only {
            threads.push(flush::spawn(Arc::clone(&inner), flush_rx)?);
            for i in 0..inner.opts.max_background_jobs - 1 {
                threads.push(background::spawn(i, Arc::clone(&inner), compact_rx.clone())?);
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

    /// The value of `key`, or `None` if it is absent or deleted.
    ///
    /// # Errors
    /// [`Error::Corruption`] naming the table and block offset if a block on the lookup
    /// path is damaged; [`Error::Io`]; [`Error::Closed`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.get_opt(key, &ReadOptions::default())
    }

    /// [`Db::get`] with read options (a snapshot, cache filling, checksum checks).
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn get_opt(&self, key: impl AsRef<[u8]>, opts: &ReadOptions<'_>) -> Result<Option<Bytes>> {
        self.check_open()?;
        self.inner.get_at(key.as_ref(), opts.snapshot.map(Snapshot::seqno), opts)
    }

    /// Looks up every key of `keys` in one consistent view and returns one result per key,
    /// in input order. Lookups run in key order, so neighbouring keys share cached blocks
    /// (the batched get of key-value stores such as kvs).
    ///
    /// # Errors
    /// Per key, the errors of [`Db::get`].
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Vec<Result<Option<Bytes>>> {
        self.multi_get_opt(keys, &ReadOptions::default())
    }

    /// [`Db::multi_get`] with read options.
    ///
    /// # Errors
    /// As [`Db::multi_get`].
    pub fn multi_get_opt<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        opts: &ReadOptions<'_>,
    ) -> Vec<Result<Option<Bytes>>> {
        if self.check_open().is_err() {
            return keys.iter().map(|_| Err(Error::Closed)).collect();
        }
        let (version, latest) = self.inner.read_point();
        let seqno = opts.snapshot.map_or(latest, Snapshot::seqno);
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].as_ref().cmp(keys[b].as_ref()));
        let mut out: Vec<Result<Option<Bytes>>> = keys.iter().map(|_| Ok(None)).collect();
        for i in order {
            out[i] = version.get(keys[i].as_ref(), seqno, opts.block_options());
        }
        out
    }

    /// A consistent view of the current state; see [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        // Register under the lock before reading the sequence number, so a compaction
        // that starts meanwhile already sees the snapshot.
        let mut snaps = self.inner.snapshots.lock();
        let seqno = self.inner.visible_seqno.load(Ordering::Acquire);
        *snaps.entry(seqno).or_insert(0) += 1;
        drop(snaps);
        Snapshot { inner: Arc::clone(&self.inner), seqno }
    }

    /// Every entry in key order; double-ended, so `.rev()` walks it backwards.
    pub fn iter(&self) -> DbIterator {
        self.range::<&[u8], _>(..)
    }

    /// [`Db::iter`] with read options.
    pub fn iter_opt(&self, opts: &ReadOptions<'_>) -> DbIterator {
        self.inner.iter_at(Bound::Unbounded, Bound::Unbounded, opts.snapshot.map(Snapshot::seqno), opts)
    }

    /// The entries whose keys fall in `range` (any `RangeBounds`), in key order, e.g.
    /// `db.range(b"a".as_slice()..b"m")`; double-ended.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIterator {
        let (start, end) = own_bounds(&range);
        self.inner.iter_at(start, end, None, &ReadOptions::default())
    }

    /// The entries whose keys start with `prefix`, in key order; double-ended.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIterator {
        let (start, end) = prefix_bounds(prefix.as_ref());
        self.inner.iter_at(start, end, None, &ReadOptions::default())
    }

    /// A cursor with `seek`, `seek_for_prev`, `next` and `prev`; see [`RawIterator`].
    pub fn raw_iterator(&self) -> RawIterator {
        self.raw_iterator_opt(&ReadOptions::default())
    }

    /// [`Db::raw_iterator`] with read options.
    pub fn raw_iterator_opt(&self, opts: &ReadOptions<'_>) -> RawIterator {
        let (version, latest) = self.inner.read_point();
        let seqno = opts.snapshot.map_or(latest, Snapshot::seqno);
        RawIterator::new(version, seqno, opts.block_options())
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
    /// [`Error::Io`] or [`Error::Corruption`] from a compaction (the database is then
    /// poisoned); [`Error::Poisoned`]; [`Error::Closed`].
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.check_writable()?;
        self.inner.compact_range(start, end)
    }

    /// Calls `f(user_key, seqno, value_type, value)` for every internal entry — every
    /// version and tombstone in the memtables and tables — in internal-key order, until it
    /// returns false. For `shale idump`.
    ///
    /// # Errors
    /// [`Error::Corruption`] or [`Error::Io`] from a block read.
    #[doc(hidden)]
    pub fn for_each_internal_entry(&self, f: &mut EntryVisitor<'_>) -> Result<()> {
        self.check_open()?;
        let (version, _) = self.inner.read_point();
        let mut it =
            crate::iterator::db_iter::merge_version(&version, crate::sstable::BlockReadOptions::default());
        it.seek_to_first()?;
        while it.valid() {
            let p = crate::key::ParsedInternalKey::decode(it.key()).ok_or_else(|| {
                Error::corruption(
                    "<internal iterator>",
                    0,
                    crate::error::CorruptionKind::Malformed("bad key"),
                )
            })?;
            if !f(p.user_key, p.seqno, p.value_type, &it.value()) {
                break;
            }
            it.next()?;
        }
        Ok(())
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

    /// Stops the background threads (waiting for a running flush or compaction), fsyncs
    /// the WAL and releases the directory lock.
    ///
    /// # Errors
    /// [`Error::Io`] if the final WAL fsync fails.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.closed.store(true, Ordering::Release);
        let _ = self.inner.flush_tx.send(BgMsg::Shutdown);
        for _ in 1..self.inner.opts.max_background_jobs {
            let _ = self.inner.compact_tx.send(BgMsg::Shutdown);
        }
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

/// A visitor of internal entries: `(user_key, seqno, value_type, value) -> keep going`.
pub type EntryVisitor<'a> = dyn FnMut(&[u8], SequenceNumber, crate::key::ValueType, &[u8]) -> bool + 'a;

/// Owned copies of a range's bounds.
fn own_bounds<K: AsRef<[u8]>, R: RangeBounds<K>>(range: &R) -> (Bound<Bytes>, Bound<Bytes>) {
    let own = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k.as_ref())),
        Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k.as_ref())),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(range.start_bound()), own(range.end_bound()))
}

/// The bounds of the keys that start with `p`.
fn prefix_bounds(p: &[u8]) -> (Bound<Bytes>, Bound<Bytes>) {
    let end = prefix_successor(p).map_or(Bound::Unbounded, |s| Bound::Excluded(Bytes::from(s)));
    (Bound::Included(Bytes::copy_from_slice(p)), end)
}

/// The smallest key greater than every key that starts with `p`, or `None` if there is
/// none (`p` is empty or all `0xff`).
fn prefix_successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut s = p.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

impl DbInner {
    /// The Version and sequence number a read uses. The Version is loaded first: it holds
    /// every write acknowledged before this call (a write's memtable is published before
    /// the write is inserted). Writes in memtables newer than the Version stay invisible
    /// even if the number covers them, which still reads a prefix of the write order. The
    /// other order would be wrong: a compaction finishing between the two loads could
    /// have dropped versions the older number needs.
    fn read_point(&self) -> (Arc<crate::version::Version>, SequenceNumber) {
        let version = self.versions.current();
        (version, self.visible_seqno.load(Ordering::Acquire))
    }

    fn iter_at(
        &self,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        snapshot: Option<SequenceNumber>,
        opts: &ReadOptions<'_>,
    ) -> DbIterator {
        let (version, latest) = self.read_point();
        DbIterator::new(version, snapshot.unwrap_or(latest), opts.block_options(), start, end)
    }

    fn get_at(
        &self,
        key: &[u8],
        snapshot: Option<SequenceNumber>,
        opts: &ReadOptions<'_>,
    ) -> Result<Option<Bytes>> {
        // As read_point, without the reference-count traffic: the guard lives only for
        // this lookup.
        let version = self.versions.load();
        let latest = self.visible_seqno.load(Ordering::Acquire);
        version.get(key, snapshot.unwrap_or(latest), opts.block_options())
    }

    /// The sequence numbers of the live snapshots, ascending.
    pub(super) fn live_snapshots(&self) -> Vec<SequenceNumber> {
        self.snapshots.lock().keys().copied().collect()
    }

    /// Records the first failure and makes every later write fail (RELIABILITY.md R7).
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

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
