//! The read path (after LevelDB's `DBImpl::Get` and `NewIterator`): [`ReadOptions`],
//! point lookups (`get`, `multi_get`), iterator construction (`iter`, `range`, `prefix`,
//! `raw_iterator`), snapshots, and the internal-entry visitor for `shale idump`.
//!
//! Every read takes the current `Version` from its `ArcSwap` and the visible sequence
//! number; it takes none of the write-path locks (DESIGN.md §5.9).

use std::ops::{Bound, RangeBounds};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::iter::{merge_version, DbIterator, RawIterator};
use super::snapshot::Snapshot;
use super::{Db, DbInner};
use crate::error::{CorruptionKind, Error, Result};
use crate::iterator::InternalIterator;
use crate::key::{ParsedInternalKey, SequenceNumber, ValueType};
use crate::options::MAX_KEY_SIZE;
use crate::sstable::BlockReadOptions;
use crate::version::Version;

/// Options for one read (`Db::get_opt`, `Db::multi_get_opt`, `Db::iter_opt`,
/// `Db::range_opt`, `Db::prefix_opt`, `Db::raw_iterator_opt`), after RocksDB's
/// `ReadOptions`.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions<'a> {
    /// Read as of this snapshot instead of the latest state. It must come from the same
    /// database: another database's snapshot is [`Error::InvalidArgument`].
    pub snapshot: Option<&'a Snapshot>,
    /// Add data blocks read from disk to the block cache (default `true`; turn it off for
    /// a one-off scan so it does not evict hot blocks).
    pub fill_cache: bool,
    /// Check the CRC of every block read from disk (default `true`).
    pub verify_checksums: bool,
}

impl Default for ReadOptions<'_> {
    fn default() -> Self {
        ReadOptions { snapshot: None, fill_cache: true, verify_checksums: true }
    }
}

impl ReadOptions<'_> {
    pub(crate) fn block_options(&self) -> crate::sstable::BlockReadOptions {
        crate::sstable::BlockReadOptions {
            fill_cache: self.fill_cache,
            verify_checksums: self.verify_checksums,
        }
    }
}

/// A visitor of internal entries: `(user_key, seqno, value_type, value) -> keep going`.
pub type EntryVisitor<'a> = dyn FnMut(&[u8], SequenceNumber, ValueType, &[u8]) -> bool + 'a;

impl Db {
    /// The value of `key`, or `None` if it is absent or deleted.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a key longer than [`MAX_KEY_SIZE`];
    /// [`Error::Corruption`] naming the table and block offset if a block on the lookup
    /// path is damaged; [`Error::Io`]; [`Error::Closed`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.get_opt(key, &ReadOptions::default())
    }

    /// [`Db::get`] with read options (a snapshot, cache filling, checksum checks).
    ///
    /// # Errors
    /// As [`Db::get`]; [`Error::InvalidArgument`] for a snapshot of another database.
    pub fn get_opt(&self, key: impl AsRef<[u8]>, opts: &ReadOptions<'_>) -> Result<Option<Bytes>> {
        self.check_open()?;
        let seqno = self.inner.snapshot_seqno(opts)?;
        self.inner.get_at(key.as_ref(), seqno, opts.block_options())
    }

    /// The value of `key` and its expiry time (`None` for a key without one), or `None` if
    /// it is absent, deleted or expired: one lookup for TTL, PTTL and EXPIRETIME.
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn get_with_expiry(&self, key: impl AsRef<[u8]>) -> Result<Option<(Bytes, Option<SystemTime>)>> {
        self.check_open()?;
        Ok(self
            .inner
            .get_entry_at(key.as_ref(), None, ReadOptions::default().block_options())?
            .map(with_time))
    }

    /// The value of `key` and the sequence number of the put that wrote it (etcd's "mod
    /// revision"), or `None` if it is absent, deleted or expired.
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn get_with_seqno(&self, key: impl AsRef<[u8]>) -> Result<Option<(Bytes, SequenceNumber)>> {
        self.check_open()?;
        self.inner.get_with_seqno_at(key.as_ref(), None)
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
    /// As [`Db::get_opt`], per key.
    pub fn multi_get_opt<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        opts: &ReadOptions<'_>,
    ) -> Vec<Result<Option<Bytes>>> {
        if self.check_open().is_err() {
            return keys.iter().map(|_| Err(Error::Closed)).collect();
        }
        match self.inner.snapshot_seqno(opts) {
            Ok(seqno) => self.inner.multi_get_at(keys, seqno, opts.block_options()),
            Err(_) => keys.iter().map(|_| Err(foreign_snapshot())).collect(),
        }
    }

    /// A consistent view of the current state; see [`Snapshot`]. After `close`, every read
    /// through it returns [`Error::Closed`].
    pub fn snapshot(&self) -> Snapshot {
        // Register under the lock before reading the sequence number, so a compaction
        // that starts meanwhile already sees the snapshot.
        let mut snaps = self.inner.snapshots.lock();
        let seqno = self.inner.visible_seqno.load(Ordering::Acquire);
        *snaps.entry(seqno).or_insert(0) += 1;
        drop(snaps);
        Snapshot { inner: Arc::clone(&self.inner), seqno }
    }

    /// Every entry in key order; double-ended, so `.rev()` walks it backwards. Items are
    /// `Result<(key, value)>`; after `close` the next item is [`Error::Closed`].
    pub fn iter(&self) -> DbIterator {
        self.iter_opt(&ReadOptions::default())
    }

    /// [`Db::iter`] with read options. A snapshot of another database makes the first
    /// item [`Error::InvalidArgument`].
    pub fn iter_opt(&self, opts: &ReadOptions<'_>) -> DbIterator {
        self.inner.iter_at(Bound::Unbounded, Bound::Unbounded, opts)
    }

    /// The entries whose keys fall in `range` (any `RangeBounds`), in key order, e.g.
    /// `db.range(b"a".as_slice()..b"m")`; double-ended.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> DbIterator {
        self.range_opt(range, &ReadOptions::default())
    }

    /// [`Db::range`] with read options, e.g. a one-off scan with `fill_cache: false`.
    pub fn range_opt<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        opts: &ReadOptions<'_>,
    ) -> DbIterator {
        let (start, end) = own_bounds(&range);
        self.inner.iter_at(start, end, opts)
    }

    /// The entries whose keys start with `prefix`, in key order; double-ended.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> DbIterator {
        self.prefix_opt(prefix, &ReadOptions::default())
    }

    /// [`Db::prefix`] with read options.
    pub fn prefix_opt(&self, prefix: impl AsRef<[u8]>, opts: &ReadOptions<'_>) -> DbIterator {
        let (start, end) = prefix_bounds(prefix.as_ref());
        self.inner.iter_at(start, end, opts)
    }

    /// A cursor with `seek`, `seek_for_prev`, `next` and `prev`; see [`RawIterator`].
    pub fn raw_iterator(&self) -> RawIterator {
        self.raw_iterator_opt(&ReadOptions::default())
    }

    /// [`Db::raw_iterator`] with read options. A snapshot of another database leaves the
    /// cursor invalid with [`Error::InvalidArgument`] as its status after every seek.
    pub fn raw_iterator_opt(&self, opts: &ReadOptions<'_>) -> RawIterator {
        self.inner.raw_iterator_at(opts)
    }

    /// Calls `f(user_key, seqno, value_type, value)` for every internal entry — every
    /// version and tombstone in the memtables and tables — in internal-key order, then for
    /// every range tombstone as `f(start, seqno, ValueType::RangeDeletion, end)` (source by
    /// source: memtables newest first, then tables by level; tables hold fragments), until
    /// it returns false. For `shale idump`.
    ///
    /// # Errors
    /// [`Error::Corruption`] or [`Error::Io`] from a block read; [`Error::Closed`].
    pub fn for_each_internal_entry(&self, f: &mut EntryVisitor<'_>) -> Result<()> {
        self.check_open()?;
        let (version, _) = self.inner.read_point();
        let mut it = merge_version(&version, BlockReadOptions::default());
        it.seek_to_first()?;
        while it.valid() {
            let p = ParsedInternalKey::decode(it.key()).ok_or_else(|| {
                Error::corruption("<internal iterator>", 0, CorruptionKind::Malformed("bad key"))
            })?;
            if !f(p.user_key, p.seqno, p.value_type, &it.value()) {
                return Ok(());
            }
            it.next()?;
        }
        let mems = std::iter::once(&version.mem).chain(&version.imm).map(|m| m.range_tombstones());
        let tables = version
            .levels
            .iter()
            .flatten()
            .map(|t| t.table().range_tombstones().map(|f| f.tombstones().collect()).unwrap_or_default());
        for t in mems.chain(tables).flatten() {
            if !f(&t.start, t.seqno, ValueType::RangeDeletion, &t.end) {
                break;
            }
        }
        Ok(())
    }
}

/// An expiry in Unix milliseconds as a `SystemTime`.
pub(super) fn with_time((v, ms): (Bytes, Option<u64>)) -> (Bytes, Option<SystemTime>) {
    (v, ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)))
}

fn foreign_snapshot() -> Error {
    Error::InvalidArgument("ReadOptions::snapshot belongs to another database")
}

impl DbInner {
    /// The Version and sequence number a read uses. The Version is loaded first: it holds
    /// every write acknowledged before this call (a write's memtable is published before
    /// the write is inserted). Writes in memtables newer than the Version stay invisible
    /// even if the number covers them, which still reads a prefix of the write order. The
    /// other order would be wrong: a compaction finishing between the two loads could
    /// have dropped versions the older number needs.
    pub(super) fn read_point(&self) -> (Arc<Version>, SequenceNumber) {
        let version = self.versions.current();
        (version, self.visible_seqno.load(Ordering::Acquire))
    }

    /// The snapshot's sequence number from `opts`, or `None` for the latest state.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the snapshot belongs to another database.
    fn snapshot_seqno(&self, opts: &ReadOptions<'_>) -> Result<Option<SequenceNumber>> {
        match opts.snapshot {
            None => Ok(None),
            Some(s) if std::ptr::eq(Arc::as_ptr(&s.inner), self) => Ok(Some(s.seqno)),
            Some(_) => Err(foreign_snapshot()),
        }
    }

    /// A user iterator over `[start, end)` bounds as of `opts`' snapshot or the latest state.
    pub(super) fn iter_at(
        &self,
        start: Bound<Bytes>,
        end: Bound<Bytes>,
        opts: &ReadOptions<'_>,
    ) -> DbIterator {
        let (version, latest) = self.read_point();
        let mut it = DbIterator::new(
            version,
            latest,
            opts.block_options(),
            start,
            end,
            Arc::clone(&self.closed),
            Arc::clone(&self.opts.clock),
        );
        match self.snapshot_seqno(opts) {
            Ok(seqno) => it.set_seqno(seqno.unwrap_or(latest)),
            Err(e) => it.fail_with(e),
        }
        it
    }

    /// A raw cursor as of `opts`' snapshot or the latest state.
    pub(super) fn raw_iterator_at(&self, opts: &ReadOptions<'_>) -> RawIterator {
        let (version, latest) = self.read_point();
        let mut it = RawIterator::new(
            version,
            latest,
            opts.block_options(),
            Arc::clone(&self.closed),
            Arc::clone(&self.opts.clock),
        );
        match self.snapshot_seqno(opts) {
            Ok(seqno) => it.set_seqno(seqno.unwrap_or(latest)),
            Err(_) => it.fail_with(foreign_snapshot),
        }
        it
    }

    /// Point lookup of `key` as of `snapshot` (or the latest state).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an oversized key; as `Version::get`.
    pub(super) fn get_at(
        &self,
        key: &[u8],
        snapshot: Option<SequenceNumber>,
        ro: BlockReadOptions,
    ) -> Result<Option<Bytes>> {
        Ok(self.get_entry_at(key, snapshot, ro)?.map(|(v, _)| v))
    }

    /// As [`DbInner::get_at`], with the entry's expiry (Unix milliseconds). An entry whose
    /// expiry has passed by the clock reads as absent.
    pub(super) fn get_entry_at(
        &self,
        key: &[u8],
        snapshot: Option<SequenceNumber>,
        ro: BlockReadOptions,
    ) -> Result<Option<(Bytes, Option<u64>)>> {
        check_key(key)?;
        // As read_point, without the reference-count traffic: the guard lives only for
        // this lookup.
        let version = self.versions.load();
        let latest = self.visible_seqno.load(Ordering::Acquire);
        let found = version.get(key, snapshot.unwrap_or(latest), ro)?;
        Ok(self.unexpired(found))
    }

    /// The value of `key` as of `snapshot` (or the latest state) with its put's sequence
    /// number; an expired put reads as absent.
    pub(super) fn get_with_seqno_at(
        &self,
        key: &[u8],
        snapshot: Option<SequenceNumber>,
    ) -> Result<Option<(Bytes, SequenceNumber)>> {
        check_key(key)?;
        let version = self.versions.load();
        let latest = self.visible_seqno.load(Ordering::Acquire);
        let ro = ReadOptions::default().block_options();
        Ok(match version.get_with_seqno(key, snapshot.unwrap_or(latest), ro)? {
            Some((s, found @ Some(_))) => self.unexpired(found).map(|(v, _)| (v, s)),
            _ => None,
        })
    }

    /// `found` unless its expiry has passed by the clock.
    pub(super) fn unexpired(&self, found: Option<(Bytes, Option<u64>)>) -> Option<(Bytes, Option<u64>)> {
        match found {
            Some((_, Some(ms))) if self.opts.clock.now_millis() >= ms => None,
            f => f,
        }
    }

    /// Point lookups of `keys` in one view, run in key order, answered in input order.
    pub(super) fn multi_get_at<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        snapshot: Option<SequenceNumber>,
        ro: BlockReadOptions,
    ) -> Vec<Result<Option<Bytes>>> {
        let (version, latest) = self.read_point();
        let seqno = snapshot.unwrap_or(latest);
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].as_ref().cmp(keys[b].as_ref()));
        let mut out: Vec<Result<Option<Bytes>>> = keys.iter().map(|_| Ok(None)).collect();
        for i in order {
            let key = keys[i].as_ref();
            out[i] = check_key(key)
                .and_then(|()| version.get(key, seqno, ro))
                .map(|f| self.unexpired(f).map(|(v, _)| v));
        }
        out
    }
}

/// A lookup key must be a key that could have been written.
fn check_key(key: &[u8]) -> Result<()> {
    if key.len() > MAX_KEY_SIZE {
        return Err(Error::InvalidArgument("key longer than MAX_KEY_SIZE (64 KiB)"));
    }
    Ok(())
}

/// True if `k` lies within the bounds `start` and `end`.
pub(super) fn in_bounds(k: &[u8], start: &Bound<Bytes>, end: &Bound<Bytes>) -> bool {
    (match start {
        Bound::Included(s) => k >= s.as_ref(),
        Bound::Excluded(s) => k > s.as_ref(),
        Bound::Unbounded => true,
    }) && (match end {
        Bound::Included(e) => k <= e.as_ref(),
        Bound::Excluded(e) => k < e.as_ref(),
        Bound::Unbounded => true,
    })
}

/// Owned copies of a range's bounds.
pub(super) fn own_bounds<K: AsRef<[u8]>, R: RangeBounds<K>>(range: &R) -> (Bound<Bytes>, Bound<Bytes>) {
    let own = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k.as_ref())),
        Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k.as_ref())),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(range.start_bound()), own(range.end_bound()))
}

/// The bounds of the keys that start with `p`.
pub(super) fn prefix_bounds(p: &[u8]) -> (Bound<Bytes>, Bound<Bytes>) {
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
